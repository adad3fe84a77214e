"""The diseased-chest robustness set: severe changes drawn on val-split X-rays (never test) with the
lung label unchanged, and how every shipped model segments them.

For each val image and each change (dense consolidation of a lobe or a whole lung, pleural
effusion, white-out, a large heart, AP projection, and two of them with devices drawn on top),
with a fixed seed per (image, change), prints per model: Dice, recall and precision over the
whole lung, and recall inside the changed region ("how much of the dense lung is still called
lung"), the figure that shows masks shrinking where the disease is.

    .venv/bin/python bench/severe_changes.py --data ../shared/data/cxr-lungs [--models a,b] [--limit N]
    # writes bench/results/severe_changes.json and bench/results/severe_examples.png
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lungseg_core import list_models, load_model  # noqa: E402
from lungseg_core.learning.dataset import load_gray, load_mask, read_manifest  # noqa: E402
from lungseg_core.learning.severe_changes import CHANGES, apply_change  # noqa: E402

CONDITIONS = ("none", *CHANGES, "consolidation_lobe+devices", "effusion+devices")


def build_set(data: Path, limit: int | None) -> list[dict]:
    """Every (val image, condition): the changed 8-bit image, its lung mask and changed region."""
    items = []
    for i, case in enumerate(read_manifest(data, "val", limit)):
        raw = load_gray(case.image_path).astype(np.float32)
        image = raw / max(float(raw.max()), 1.0)
        mask = load_mask(case.mask_path)
        for j, condition in enumerate(CONDITIONS):
            if condition == "none":
                out, new_mask, changed = image, mask, np.zeros_like(mask)
            else:
                name, _, extra = condition.partition("+")
                rng = np.random.default_rng(10_000 * i + j)
                out, new_mask, changed = apply_change(name, image, mask, rng, devices=extra == "devices")
            items.append({"case": case.id, "source": case.source, "condition": condition,
                          "image": np.round(np.clip(out, 0, 1) * 255).astype(np.uint8),
                          "mask": np.asarray(new_mask) > 0.5, "changed": np.asarray(changed, bool)})
    return items


def score(pred: np.ndarray, truth: np.ndarray, changed: np.ndarray) -> dict[str, float]:
    tp = float((pred & truth).sum())
    out = {"dice": 2 * tp / max(1.0, float(pred.sum() + truth.sum())), "recall": tp / max(1.0, float(truth.sum())),
           "precision": tp / max(1.0, float(pred.sum()))}
    region = changed & truth
    if region.any():
        out["recall_in_change"] = float((pred & region).sum()) / float(region.sum())
    return out


def examples(items: list[dict], path: Path) -> None:
    """Two val images under every condition: lung outline green, changed region orange."""
    cases = list(dict.fromkeys(it["case"] for it in items))[:2]
    rows = []
    for case in cases:
        tiles = []
        for it in (x for x in items if x["case"] == case):
            tile = cv2.cvtColor(it["image"], cv2.COLOR_GRAY2BGR)
            for region, colour in ((it["mask"], (0, 220, 0)), (it["changed"], (0, 160, 255))):
                contours, _ = cv2.findContours(region.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
                cv2.drawContours(tile, contours, -1, colour, 2)
            tile = cv2.resize(tile, (256, 256), interpolation=cv2.INTER_AREA)
            cv2.putText(tile, it["condition"], (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 0), 1)
            tiles.append(tile)
        rows.append(np.hstack(tiles))
    cv2.imwrite(str(path), np.vstack(rows))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data" / "cxr-lungs")
    parser.add_argument("--models", help="comma-separated (default: every shipped model)")
    parser.add_argument("--limit", type=int, help="first N val images of each source (smoke runs)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results" / "severe_changes.json")
    args = parser.parse_args()
    started = time.perf_counter()
    items = build_set(args.data, args.limit)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    examples(items, args.out.with_name("severe_examples.png"))
    print(f"{len(items)} images ({len(items) // len(CONDITIONS)} val X-rays x {len(CONDITIONS)} conditions), "
          f"built in {time.perf_counter() - started:.0f} s")
    names = args.models.split(",") if args.models else list_models()
    results: dict[str, dict[str, dict[str, float]]] = {}
    for name in names:
        seg = load_model(name)
        per: dict[str, list[dict[str, float]]] = {c: [] for c in CONDITIONS}
        t0 = time.perf_counter()
        for it in items:
            per[it["condition"]].append(score(seg.predict(it["image"]), it["mask"], it["changed"]))
        results[name] = {c: {k: float(np.mean([s[k] for s in scores if k in s]))
                             for k in ("dice", "recall", "precision", "recall_in_change")
                             if any(k in s for s in scores)} for c, scores in per.items()}
        changed_only = [results[name][c] for c in CHANGES]
        results[name]["mean_of_changes"] = {k: float(np.mean([r[k] for r in changed_only]))
                                            for k in ("dice", "recall", "precision", "recall_in_change")}
        print(f"\n{name} ({time.perf_counter() - t0:.0f} s)")
        print(f"{'condition':<30}{'Dice':>8}{'recall':>8}{'prec.':>8}{'recall in change':>18}")
        for c, r in results[name].items():
            print(f"{c:<30}{r['dice']:>8.4f}{r['recall']:>8.4f}{r['precision']:>8.4f}"
                  f"{r.get('recall_in_change', float('nan')):>18.4f}")
    args.out.write_text(json.dumps({"conditions": list(CONDITIONS), "val_images": len(items) // len(CONDITIONS),
                                    "results": results}, indent=1))
    print(f"\nwrote {args.out} and {args.out.with_name('severe_examples.png')}")
    print(f"\n{'model':<26}{'Dice (none)':>12}{'Dice (changes)':>16}{'recall in change':>18}")
    for name, r in results.items():
        print(f"{name:<26}{r['none']['dice']:>12.4f}{r['mean_of_changes']['dice']:>16.4f}"
              f"{r['mean_of_changes']['recall_in_change']:>18.4f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
