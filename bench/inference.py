"""Inference speed of every registered model: ms per image, batch 1, preprocessing and
post-processing included (Segmenter.predict), median of N runs, on a sample X-ray given at the
model's own input size (the issue's measure: no resizing, post-processing at that size) and as a
512x512 upload (what the app does with the data's images); each model's speed as a ratio to the
study's full-width vanilla U-Net (64->1024) measured in the same run, at input size.
Also checks that bf16 masks agree with fp32 ones on the bundled samples.

    .venv/bin/python bench/inference.py [--runs 20] [--threads 2] [--precision bf16|fp32]
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from lungseg_core import (Segmenter, build_model, get_recipe, list_models, load_model, overlap_metrics,  # noqa: E402
                          read_xray, registered_names)
from lungseg_core.models.segmenter import default_precision  # noqa: E402

SAMPLES = ROOT / "samples"


SAMPLE_PATHS = sorted((SAMPLES / "images").glob("*.png"))


def sample_images() -> list[np.ndarray]:
    return [read_xray(p.read_bytes()).pixels for p in SAMPLE_PATHS]


def median_ms(fn: Callable[[], object], runs: int) -> float:
    """Median wall time of `fn` in ms over `runs` calls, after 3 warm-up calls."""
    for _ in range(3):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def time_predict(seg: Segmenter, image: np.ndarray, runs: int, tta: bool | None = None) -> float:
    return median_ms(lambda: seg.predict(image, tta=tta), runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--precision", choices=("fp32", "bf16"), default=default_precision())
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    image = sample_images()[0]
    shipped = set(list_models())
    print(f"# bench/inference.py --runs {args.runs} --threads {args.threads} --precision {args.precision}")
    print(f"# {torch.get_num_threads()} threads, torch {torch.__version__}, sample {SAMPLE_PATHS[0].name}; times include "
          f"preprocessing + post-processing, median of {args.runs}; 'at input size' = the image given at the "
          f"model's input size, '512^2 upload' = the {image.shape[1]}x{image.shape[0]} image itself")

    def at_size(size: int) -> np.ndarray:
        return cv2.resize(image, (size, size), interpolation=cv2.INTER_AREA)

    baseline_recipe = get_recipe("unet_vanilla_bce").with_overrides(width=64)
    baseline = Segmenter(baseline_recipe, build_model(baseline_recipe), precision=args.precision)
    base_ms = time_predict(baseline, at_size(baseline_recipe.input_size), args.runs, tta=False)
    rows = [("study vanilla U-Net 64->1024 (untrained, reference)", baseline_recipe.input_size, "off", base_ms,
             time_predict(baseline, image, args.runs, tta=False))]
    for name in registered_names():
        recipe = get_recipe(name)
        if name in shipped:
            seg = load_model(name, precision=args.precision)
        else:
            seg = Segmenter(recipe, build_model(recipe, load_pretrained=False), precision=args.precision)
        label = name + ("" if name in shipped else " (no weights: random init)")
        for tta in ([False, True] if recipe.tta_flip else [False]):
            rows.append((label, recipe.input_size, "on" if tta else "off",
                         time_predict(seg, at_size(recipe.input_size), args.runs, tta=tta),
                         time_predict(seg, image, args.runs, tta=tta)))
    print(f"\n{'model':<54}{'input':>7}{'TTA':>5}{'ms at input size':>18}{'x faster than vanilla':>23}"
          f"{'ms 512^2 upload':>17}")
    for label, size, tta, ms, upload_ms in rows:
        print(f"{label:<54}{size:>5}^2{tta:>5}{ms:>18.1f}{base_ms / ms:>22.1f}x{upload_ms:>17.1f}")

    if shipped:
        print("\n# bf16 vs fp32 mask agreement on the bundled samples (Dice between the two masks)")
        for name in sorted(shipped):
            fp32, bf16 = load_model(name, precision="fp32"), load_model(name, precision="bf16")
            dices = [overlap_metrics(fp32.predict(im), bf16.predict(im)).dice for im in sample_images()]
            print(f"{name:<30} min Dice {min(dices):.4f}  mean {np.mean(dices):.4f}")


if __name__ == "__main__":
    main()
