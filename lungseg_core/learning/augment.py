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

import albumentations as A
import cv2

from .device_drawing import DrawDevices
from .severe_changes import SevereLungChanges

AUGMENTATIONS = ("none", "study", "robust", "severe")
#: A second mask that moves with the image and the lung mask: where the loss is not taken (`dataset`).
SPARED_TARGET = "spared"


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
        transforms.append(SevereLungChanges(p=0.35))
    if name in ("robust", "severe"):
        transforms += _photometric()
    return A.Compose(transforms, additional_targets={SPARED_TARGET: "mask"})
