"""Post-processing a clinician expects of a lung mask: two lungs, no speckles, no pin holes."""
from __future__ import annotations

import cv2
import numpy as np

#: Components smaller than this share of the image are speckles, never a lung.
MIN_COMPONENT_FRACTION = 0.002
#: Holes smaller than this share of the image are filled; bigger "holes" may be the heart
#: enclosed by touching lungs and are left alone.
MAX_HOLE_FRACTION = 0.02
MAX_LUNGS = 2


def keep_lungs(mask: np.ndarray, max_components: int = MAX_LUNGS) -> np.ndarray:
    """Keep the largest `max_components` connected components that are not speckles."""
    mask = np.asarray(mask, dtype=bool)
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return mask.copy()
    areas = stats[1:, cv2.CC_STAT_AREA]
    order = np.argsort(areas)[::-1][:max_components]
    min_area = MIN_COMPONENT_FRACTION * mask.size
    keep = [i + 1 for i in order if areas[i] >= min_area] or [int(order[0]) + 1]
    return np.isin(labels, keep)


def fill_small_holes(mask: np.ndarray, max_fraction: float = MAX_HOLE_FRACTION) -> np.ndarray:
    """Fill background regions enclosed by the mask that are smaller than max_fraction of the image."""
    mask = np.asarray(mask, dtype=bool)
    n, labels, stats, _ = cv2.connectedComponentsWithStats((~mask).astype(np.uint8), connectivity=4)
    out = mask.copy()
    h, w = mask.shape
    max_area = max_fraction * mask.size
    for i in range(1, n):
        x, y, bw, bh, area = stats[i]
        touches_border = x == 0 or y == 0 or x + bw == w or y + bh == h
        if not touches_border and area <= max_area:
            out[labels == i] = True
    return out


def clean_lung_mask(mask: np.ndarray) -> np.ndarray:
    """Speckles removed, at most two lungs kept, small holes filled."""
    return fill_small_holes(keep_lungs(mask))
