"""Robustness: mean per-image Dice of each model when the X-rays are changed the way other
hospitals' images differ from these two sets (exposure, contrast, noise, blur, low resolution,
a wider field of view, rotation, devices drawn over the chest, an opacity in a lung, inverted
grey levels). Geometric changes move the reference mask with the image; the others keep it.

Runs on the validation split by default (a stress test, not a score to report as test results).

    .venv/bin/python bench/robustness.py --data ../shared/data/cxr-lungs [--split val] [--models a,b]
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Callable

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from lungseg_core import DEFAULT_MODEL, list_models, load_model, overlap_metrics  # noqa: E402
from lungseg_core.learning.dataset import load_gray, load_mask, read_manifest  # noqa: E402

Pair = tuple[np.ndarray, np.ndarray]  # (uint8 image, bool mask)


def _intensity(fn: Callable[[np.ndarray, np.random.Generator], np.ndarray]) -> Callable[[Pair, np.random.Generator], Pair]:
    """A grey-level change (float image, rng -> float image); the mask is kept."""
    def apply(pair: Pair, rng: np.random.Generator) -> Pair:
        image, mask = pair
        return np.clip(fn(image.astype(np.float32), rng), 0, 255).astype(np.uint8), mask
    return apply


def _warp(image: np.ndarray, mask: np.ndarray, matrix: np.ndarray) -> Pair:
    h, w = image.shape
    warped = cv2.warpAffine(image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
    warped_mask = cv2.warpAffine(mask.astype(np.uint8), matrix, (w, h), flags=cv2.INTER_NEAREST, borderValue=0)
    return warped, warped_mask.astype(bool)


def zoom_out(pair: Pair, rng: np.random.Generator) -> Pair:
    """A wider field of view (AP/portable films show more neck and abdomen): shrink by 0.8 into a dark border."""
    h, w = pair[0].shape
    return _warp(*pair, cv2.getRotationMatrix2D((w / 2, h / 2), 0.0, 0.8))


def rotate(pair: Pair, rng: np.random.Generator) -> Pair:
    h, w = pair[0].shape
    return _warp(*pair, cv2.getRotationMatrix2D((w / 2, h / 2), 8.0, 1.0))


def devices(pair: Pair, rng: np.random.Generator) -> Pair:
    """ECG leads and wires (bright curves) and a pacemaker-like box over the chest; mask unchanged."""
    image = pair[0].copy()
    h, w = image.shape
    for _ in range(4):
        pts = np.stack([np.linspace(rng.uniform(0, w), rng.uniform(0, w), 6),
                        np.linspace(rng.uniform(0, h / 3), rng.uniform(h / 2, h), 6)], axis=1)
        pts += rng.normal(0, 12, pts.shape)
        cv2.polylines(image, [pts.astype(np.int32)], False, 245, thickness=3)
    x, y = int(rng.uniform(0.55, 0.7) * w), int(rng.uniform(0.15, 0.3) * h)
    cv2.rectangle(image, (x, y), (x + w // 12, y + h // 16), 250, thickness=-1)
    return image, pair[1]


def opacity(pair: Pair, rng: np.random.Generator) -> Pair:
    """A soft bright patch (consolidation/effusion-like) in the lower part of one lung; the lung field stays lung."""
    image, mask = pair
    inner = cv2.erode(mask.astype(np.uint8), np.ones((51, 51), np.uint8)).astype(bool)  # well inside a lung
    ys, xs = np.nonzero(inner if inner.any() else mask)
    if len(ys) == 0:
        return pair
    lower = ys >= np.percentile(ys, 50)
    i = rng.integers(lower.sum())
    cy, cx = ys[lower][i], xs[lower][i]
    yy, xx = np.mgrid[:image.shape[0], :image.shape[1]]
    blob = 0.8 * np.exp(-(((yy - cy) / 45.0) ** 2 + ((xx - cx) / 55.0) ** 2))
    out = image.astype(np.float32) * (1 - blob) + 230 * blob
    return np.clip(out, 0, 255).astype(np.uint8), mask


PERTURBATIONS: dict[str, Callable[[Pair, np.random.Generator], Pair]] = {
    "none": lambda pair, rng: pair,
    "dark (gamma 1.6)": _intensity(lambda x, rng: 255 * (x / 255) ** 1.6),
    "bright (gamma 0.6)": _intensity(lambda x, rng: 255 * (x / 255) ** 0.6),
    "low contrast (64-192)": _intensity(lambda x, rng: 64 + x / 2),
    "noise (sigma 12)": _intensity(lambda x, rng: x + rng.normal(0, 12, x.shape)),
    "blur (sigma 2.5)": _intensity(lambda x, rng: cv2.GaussianBlur(x, (0, 0), 2.5)),
    "low resolution (128^2)": _intensity(
        lambda x, rng: cv2.resize(cv2.resize(x, (128, 128), interpolation=cv2.INTER_AREA), x.shape[::-1])),
    "wider field of view (x0.8)": zoom_out,
    "rotated 8 degrees": rotate,
    "devices and wires": devices,
    "opacity in a lung": opacity,
    "inverted grey levels": _intensity(lambda x, rng: 255 - x),
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--split", default="val")
    parser.add_argument("--models", default=f"{DEFAULT_MODEL},unet_lite0,unet_lite0_512,unet_bn_bce_jaccard_dice,unet_effb3")
    parser.add_argument("--limit", type=int)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    names = [n for n in args.models.split(",") if n in set(list_models())]
    cases = read_manifest(args.data, args.split, args.limit)
    pairs = [(load_gray(c.image_path), load_mask(c.mask_path)) for c in cases]
    print(f"# bench/robustness.py --split {args.split} ({len(cases)} images), mean per-image Dice of the "
          f"post-processed mask at full resolution; same random draws for every model")
    print(f"{'change':<28}" + "".join(f"{n:>26}" for n in names))
    segmenters = {n: load_model(n) for n in names}
    for label, perturb in PERTURBATIONS.items():
        rng = np.random.default_rng(0)
        changed = [perturb(pair, rng) for pair in pairs]
        cells = []
        for name in names:
            dice = [overlap_metrics(segmenters[name].predict(image), mask).dice for image, mask in changed]
            cells.append(f"{np.mean(dice):>26.4f}")
        print(f"{label:<28}" + "".join(cells), flush=True)


if __name__ == "__main__":
    main()
