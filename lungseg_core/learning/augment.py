"""Training augmentations (albumentations), applied to the train split only.

"study": the study's set (horizontal flip, scale/zoom, affine, pad-if-needed, perspective).
"robust": the study's set plus intensity, blur, noise and occlusion changes, wires and devices
drawn over the chest, and inverted grey levels, because the models are used on X-rays from other
scanners, AP views, opacities and devices (bench/robustness.py measures each of these).
"severe": "robust" plus the diseased chest of `severe_changes` (dense consolidation, effusion,
white-out, a large heart, AP projection) drawn on a third of the images with the lung label kept,
so that the lung is the anatomical region whatever its density (bench/severe_changes.py).
"""
from __future__ import annotations

from typing import Any

import albumentations as A
import cv2
import numpy as np

AUGMENTATIONS = ("none", "study", "robust", "severe")


def _geometric(size: int, soft_masks: bool) -> list[A.BasicTransform]:
    # soft (fractional) masks are resampled like images; binary ones by nearest neighbour
    mask_interp = cv2.INTER_LINEAR if soft_masks else cv2.INTER_NEAREST
    return [
        A.HorizontalFlip(p=0.5),
        A.Affine(scale=(0.85, 1.15), translate_percent=(-0.06, 0.06), rotate=(-10, 10), shear=(-4, 4),
                 border_mode=cv2.BORDER_CONSTANT, fill=0, fill_mask=0, mask_interpolation=mask_interp, p=0.8),
        A.Perspective(scale=(0.02, 0.06), mask_interpolation=mask_interp, p=0.3),
        A.PadIfNeeded(min_height=size, min_width=size, border_mode=cv2.BORDER_CONSTANT, fill=0, fill_mask=0),
        A.CenterCrop(size, size),
    ]


class DrawDevices(A.ImageOnlyTransform):
    """Radio-opaque lines (ECG leads, lines, tubes), electrode rings and a pacemaker-like box drawn
    over the image; the lung mask is left as it is, because the lung lies under them."""

    def get_params_dependent_on_data(self, params: dict[str, Any], data: dict[str, Any]) -> dict[str, Any]:
        h, w = data["image"].shape[:2]
        rng = self.random_generator
        wires = []
        for _ in range(int(rng.integers(1, 5))):
            pts = np.stack([np.linspace(rng.uniform(0, w), rng.uniform(0, w), 6),
                            np.linspace(rng.uniform(0, h / 3), rng.uniform(h / 2, h), 6)], axis=1)
            pts += rng.normal(0, 0.025 * w, pts.shape)
            wires.append((pts.astype(np.int32), int(rng.integers(1, max(2, w // 80) + 1))))
        rings = [(int(rng.uniform(0.1, 0.9) * w), int(rng.uniform(0.1, 0.9) * h), int(rng.integers(3, max(4, w // 40))))
                 for _ in range(int(rng.integers(0, 4)))]
        box = None
        if rng.random() < 0.3:
            x, y = int(rng.uniform(0.1, 0.8) * w), int(rng.uniform(0.1, 0.4) * h)
            box = (x, y, x + int(rng.uniform(0.05, 0.1) * w), y + int(rng.uniform(0.04, 0.08) * h))
        return {"wires": wires, "rings": rings, "box": box, "level": float(rng.uniform(0.85, 1.0))}

    def apply(self, img: np.ndarray, wires: list, rings: list, box: tuple | None, level: float,
              **params: Any) -> np.ndarray:
        out = np.ascontiguousarray(img.copy())
        for pts, thickness in wires:
            cv2.polylines(out, [pts], False, level, thickness=thickness)
        for x, y, r in rings:
            cv2.circle(out, (x, y), r, level, thickness=max(1, r // 3))
        if box is not None:
            cv2.rectangle(out, box[:2], box[2:], level, thickness=-1)
        return out


def _photometric() -> list[A.BasicTransform]:
    return [
        A.RandomBrightnessContrast(brightness_limit=0.2, contrast_limit=0.25, p=0.6),
        A.RandomGamma(gamma_limit=(70, 150), p=0.5),
        A.OneOf([A.GaussianBlur(blur_limit=(3, 5), p=1.0), A.Downscale(scale_range=(0.5, 0.8), p=1.0)], p=0.2),
        A.GaussNoise(std_range=(0.01, 0.05), p=0.25),
        # Opaque blobs (devices, effusions, consolidations) over the lung: the mask is kept.
        A.CoarseDropout(num_holes_range=(1, 4), hole_height_range=(0.05, 0.15), hole_width_range=(0.05, 0.15),
                        fill="random_uniform", fill_mask=None, p=0.3),
        DrawDevices(p=0.3),
        A.InvertImg(p=0.1),  # grey levels flipped by an export that ignored MONOCHROME1/2
    ]


def build_augmentation(name: str, size: int, soft_masks: bool = False) -> A.Compose | None:
    """Pipeline over float32 [0,1] image and mask ({0,1}, or [0,1] lung fractions), both size x size."""
    if name not in AUGMENTATIONS:
        raise KeyError(f"unknown augmentation {name!r}; valid: {', '.join(AUGMENTATIONS)}")
    if name == "none":
        return None
    transforms = _geometric(size, soft_masks)
    if name == "severe":
        from ..imaging.severe_changes import SevereLungChanges

        transforms.append(SevereLungChanges(p=0.35))
    if name in ("robust", "severe"):
        transforms += _photometric()
    return A.Compose(transforms)
