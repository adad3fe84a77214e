"""Where the validation Dice of these data tops out: every shipped model alone, the best
ensemble (mean probability) of each size over all combinations of them, and an oracle that
picks the best model for every image after seeing its reference mask (an upper bound for any
model selection). Validation split only: nothing here looks at the test split.

    .venv/bin/python bench/val_ceiling.py --data ../shared/data/cxr-lungs [--models a,b,...]
"""
from __future__ import annotations

import argparse
import itertools
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from lungseg_core import Segmenter, list_models, load_model, overlap_metrics  # noqa: E402
from lungseg_core.learning.dataset import load_gray, load_mask, read_manifest  # noqa: E402


def per_image_dice(probabilities: np.ndarray, truths: list[np.ndarray]) -> np.ndarray:
    return np.array([overlap_metrics(Segmenter.mask_from_probability(p), t).dice
                     for p, t in zip(probabilities, truths)])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--models", help="comma-separated names (default: every shipped model)")
    args = parser.parse_args()
    names = args.models.split(",") if args.models else list_models()
    cases = read_manifest(args.data, "val")
    images = [load_gray(c.image_path) for c in cases]
    truths = [load_mask(c.mask_path) > 0 for c in cases]
    probs: dict[str, np.ndarray] = {}
    for name in names:
        seg = load_model(name)
        probs[name] = np.stack([seg.predict_proba(im) for im in images]).astype(np.float16)
    print(f"# bench/val_ceiling.py: val split ({len(cases)} images), mean per-image Dice of the post-processed "
          f"mask at full resolution")
    singles = {n: per_image_dice(probs[n].astype(np.float32), truths) for n in names}
    for n in names:
        print(f"alone     {singles[n].mean():.4f}  {n}")
    for size in range(2, len(names) + 1):
        best = max(((combo, per_image_dice(np.mean([probs[n].astype(np.float32) for n in combo], axis=0),
                                           truths).mean())
                    for combo in itertools.combinations(names, size)), key=lambda t: t[1])
        print(f"ensemble  {best[1]:.4f}  best of {size}: {' + '.join(best[0])}")
    oracle = np.max(np.stack(list(singles.values())), axis=0)
    print(f"oracle    {oracle.mean():.4f}  the best model for each image, chosen with its reference mask")
    worst = np.argsort(oracle)[:5]
    print("# hardest images for every model (best Dice any model reaches): "
          + ", ".join(f"{cases[i].id} {oracle[i]:.3f}" for i in worst))


if __name__ == "__main__":
    main()
