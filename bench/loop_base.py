"""Train the cross-site loop bench's base model: another hospital's model that never saw Montgomery.

`bench/loop.py` simulates a site whose films the model did not learn from: Shenzhen's train
cases only (val: Shenzhen's val cases), the default's recipe family (unet_lite0_slim: ImageNet
Lite0 encoder, robust augmentation). Montgomery's train cases then play the site's corrections.
Resumes from its checkpoint if interrupted. Usage:

    .venv/bin/python bench/loop_base.py [--epochs 20] [--work bench/loop_work]
"""
from __future__ import annotations

import argparse
import csv
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

DATA = ROOT.parent / "shared" / "data" / "cxr-lungs"
BASE_RECIPE = "unet_lite0_slim"
BASE_NAME = "loop_base"


def site_manifest(work: Path, data: Path = DATA) -> Path:
    """A data folder whose train/val are Shenzhen only (images linked, not copied)."""
    folder = work / "shenzhen_only"
    folder.mkdir(parents=True, exist_ok=True)
    for sub in ("shenzhen", "montgomery"):
        link = folder / sub
        if not link.exists():
            link.symlink_to(data / sub)
    with open(data / "manifest.csv", newline="") as src:
        rows = list(csv.DictReader(src))
    kept = [r for r in rows if r["source"] == "shenzhen"]
    with open(folder / "manifest.csv", "w", newline="") as out:
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(kept)
    return folder


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--work", default=str(ROOT / "bench" / "loop_work"))
    args = parser.parse_args()
    from lungseg_core.models.registry import get_recipe
    from lungseg_core.learning.training import TrainOptions, train

    work = Path(args.work)
    data = site_manifest(work)
    train(get_recipe(BASE_RECIPE), TrainOptions(data_dir=data, out_dir=work, epochs=args.epochs,
                                                output_name=BASE_NAME, evaluate_test=False))
    print(f"wrote {work / (BASE_NAME + '.safetensors')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
