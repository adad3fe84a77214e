"""Train the heart-shadow model (`lungseg_core/models/heart_model.py`) on JSRT's SCR heart masks.

The default lung network and weights, taught the heart instead: JSRT train split (148 films) to
learn, val (50) to pick the epoch, test (49) reported only. Nothing of the site bench's 50
corrections is special here; the bench that reads the model (bench/site_quality.py) reports its
figures on the films outside this model's train split as well, where it never saw the heart.

    .venv/bin/python tools/train_heart.py            # writes weights/heart.{safetensors,json,md}
    .venv/bin/python tools/train_heart.py --epochs 2 --out /tmp/heart   # a quick look
    .venv/bin/python tools/train_heart.py --exclude ids.txt --work W --out W   # bench/site_quality.py's own
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

JSRT = ROOT.parent / "shared" / "data" / "jsrt-scr"


def heart_data(dest: Path, exclude: set[str] = frozenset()) -> int:
    """`dest/manifest.csv`: JSRT's films with the SCR heart mask as the label (absolute paths), less
    the films `exclude` names (bench/site_quality.py keeps its site's corrections out)."""
    dest.mkdir(parents=True, exist_ok=True)
    rows = [r for r in csv.DictReader((JSRT / "manifest.csv").open(newline="")) if r["id"] not in exclude]
    with (dest / "manifest.csv").open("w", newline="") as fh:
        out = csv.writer(fh)
        out.writerow(["id", "source", "split", "image_path", "mask_path"])
        for r in rows:
            out.writerow([r["id"], "jsrt", r["split"], JSRT / r["image_path"], JSRT / r["heart_mask_path"]])
    return len(rows)


def heart_markdown(card: dict) -> str:
    """The card's page, said of a heart model (the renderer speaks of lungs)."""
    from lungseg_core.models.model_card import render_markdown


    text = render_markdown(card)
    for lung, heart in (
            ("Written by the training code (`python -m lungseg_core train`).", "Written by `tools/train_heart.py`."),
            ("soft (lung-fraction) targets", "soft (heart-fraction) targets"),
            ("post-processing keeps the two largest components and fills small holes",
             ("the app keeps the largest piece (`heart_model.heart_mask`); the figures below are the training "
              "code's, which keeps the two largest pieces as it does for lungs")),
            ("## Data terms\n\n", ("## Data terms\n\nHeart masks: JSRT (Shiraishi et al., AJR 2000;174:71-74) with the "
                                   "SCR annotations (van Ginneken et al., Medical Image Analysis 2006;10(1):19-40), "
                                   "for research; it starts from the lung default's weights, so their terms hold "
                                   "too: "))):
        text = text.replace(lung, heart)
    return text


def main() -> None:
    import torch

    from lungseg_core.learning.training import TrainOptions, train
    from lungseg_core.models.heart_model import HEART_MODEL, heart_recipe
    from lungseg_core.models.registry import DEFAULT_MODEL
    from lungseg_core.models.weights_store import save_card, weights_dir, weights_path

    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=16)
    ap.add_argument("--work", type=Path, default=ROOT / "bench" / "site_work" / "heart")
    ap.add_argument("--out", type=Path, default=weights_dir())
    ap.add_argument("--card-only", action="store_true", help="write the card's page again from its JSON")
    ap.add_argument("--exclude", type=Path, help="a file of JSRT ids (one a line) to keep out of all splits")
    args = ap.parse_args()
    if args.card_only:
        card = json.loads((args.out / f"{HEART_MODEL}.json").read_text())
        save_card(HEART_MODEL, args.out, card, heart_markdown(card))
        return
    torch.set_num_threads(2)
    exclude = set(args.exclude.read_text().split()) if args.exclude else set()
    heart_data(args.work / "data", exclude)
    recipe = heart_recipe()
    card = train(recipe, TrainOptions(data_dir=args.work / "data", out_dir=args.work / "out", epochs=args.epochs,
                                      resume=True, init_weights=weights_path(DEFAULT_MODEL), output_name=HEART_MODEL,
                                      evaluate_test=True))
    card["training"]["data_dir"] = "jsrt-scr (heart_mask_path: the SCR heart masks)"
    card["training"]["init_weights"] = f"{DEFAULT_MODEL} (the shipped lung default: its features, a new target)"
    card["training"]["trained_by"] = "tools/train_heart.py" + (f" (less {len(exclude)} films)" if exclude else "")
    card["recipe"]["init_from"] = DEFAULT_MODEL
    args.out.mkdir(parents=True, exist_ok=True)
    shutil.copy2(weights_path(HEART_MODEL, args.work / "out"), args.out / f"{HEART_MODEL}.safetensors")
    save_card(HEART_MODEL, args.out, card, heart_markdown(card))
    print({k: card.get(k) for k in ("val", "test")})


if __name__ == "__main__":
    main()
