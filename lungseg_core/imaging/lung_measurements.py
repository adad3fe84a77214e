"""Organ characteristics of a lung mask: area of each lung and both, right/left ratio, height,
width and share of the image — in pixels, and in mm / cm² when the DICOM gives pixel spacing.

Convention: a PA chest X-ray is displayed with the patient's right lung on the image's left.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np

RIGHT, LEFT = 1, 2


def split_lungs(mask: np.ndarray) -> np.ndarray:
    """Label map: 1 = patient's right lung (image left), 2 = patient's left lung, 0 = background.

    Two components are told apart by their centroids. A single component that spans both halves
    (lungs touching) is cut at the emptiest column of the middle 40 % of the image.
    """
    mask = np.asarray(mask, dtype=bool)
    labels = np.zeros(mask.shape, np.uint8)
    if not mask.any():
        return labels
    h, w = mask.shape
    n, comp, stats, centroids = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    order = np.argsort(stats[1:, cv2.CC_STAT_AREA])[::-1] + 1
    if n - 1 >= 2:
        a, b = order[:2]
        right, left = (a, b) if centroids[a][0] <= centroids[b][0] else (b, a)
        labels[comp == right] = RIGHT
        labels[comp == left] = LEFT
        for extra in order[2:]:  # any further pieces go to the nearer lung
            labels[comp == extra] = RIGHT if centroids[extra][0] < w / 2 else LEFT
        return labels
    cols = mask.sum(axis=0)
    left_share = cols[: w // 2].sum() / max(1, cols.sum())
    if 0.2 < left_share < 0.8:
        lo, hi = int(0.3 * w), int(0.7 * w)
        cut = lo + int(np.argmin(cols[lo:hi]))
        labels[:, :cut][mask[:, :cut]] = RIGHT
        labels[:, cut:][mask[:, cut:]] = LEFT
    else:
        labels[mask] = RIGHT if left_share >= 0.5 else LEFT
    return labels


@dataclass(frozen=True)
class LungFigures:
    right_area_px: int
    left_area_px: int
    total_area_px: int
    right_left_ratio: float | None
    share_of_image: float
    height_px: int
    width_px: int
    right_area_cm2: float | None = None
    left_area_cm2: float | None = None
    total_area_cm2: float | None = None
    height_mm: float | None = None
    width_mm: float | None = None

    def as_dict(self) -> dict[str, float | int | None]:
        return asdict(self)


def measure_lungs(mask: np.ndarray, pixel_spacing_mm: tuple[float, float] | None = None) -> LungFigures:
    """Figures for a bool mask at the image's own resolution; spacing is (row mm, column mm)."""
    labels = split_lungs(mask)
    right = int(np.count_nonzero(labels == RIGHT))
    left = int(np.count_nonzero(labels == LEFT))
    rows = np.flatnonzero(labels.any(axis=1))
    cols = np.flatnonzero(labels.any(axis=0))
    height = int(rows[-1] - rows[0] + 1) if rows.size else 0
    width = int(cols[-1] - cols[0] + 1) if cols.size else 0
    figures = dict(right_area_px=right, left_area_px=left, total_area_px=right + left,
                   right_left_ratio=(right / left) if left else None,
                   share_of_image=(right + left) / labels.size, height_px=height, width_px=width)
    if pixel_spacing_mm:
        dy, dx = pixel_spacing_mm
        cm2 = dy * dx / 100.0
        figures.update(right_area_cm2=right * cm2, left_area_cm2=left * cm2, total_area_cm2=(right + left) * cm2,
                       height_mm=height * dy, width_mm=width * dx)
    return LungFigures(**figures)
