"""Whole-mask tools an annotator reaches for after the model's mask: remove small islands, fill holes,
smooth the outline, grow or shrink by N pixels. Each returns a new mask (the editor commits it as one
undo step) and never touches the input. Sizes are in image pixels, so a tool does the same to a
film whatever the canvas's zoom."""
from __future__ import annotations

import cv2
import numpy as np

from .postprocess import fill_small_holes

#: islands smaller than this share of the mask go ("remove islands")
ISLAND_SHARE = 0.02


def remove_islands(mask: np.ndarray, min_share: float = ISLAND_SHARE) -> np.ndarray:
    """Keep the two lungs (the two largest pieces) and any other piece at least `min_share` of the mask."""
    mask = np.asarray(mask, bool)
    if not mask.any():
        return mask.copy()
    n, comp, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    order = np.argsort(areas)[::-1]
    keep = {int(i) + 1 for rank, i in enumerate(order) if rank < 2 or areas[i] >= min_share * mask.sum()}
    return np.isin(comp, list(keep))


def fill_holes(mask: np.ndarray) -> np.ndarray:
    """Every background region the lungs enclose becomes lung (post-processing's hole filling, any size)."""
    return fill_small_holes(mask, max_fraction=1.0)


def smooth(mask: np.ndarray, radius_px: int = 3) -> np.ndarray:
    """A smoother outline: opening then closing with a disc of `radius_px` (small spurs and notches go)."""
    mask = np.asarray(mask, bool)
    if radius_px < 1:
        return mask.copy()
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius_px + 1,) * 2)
    m = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, disc)
    return cv2.morphologyEx(m, cv2.MORPH_CLOSE, disc).astype(bool)


def grow(mask: np.ndarray, pixels: int) -> np.ndarray:
    """Grow the outline by `pixels` (negative: shrink), a disc so the outline keeps its shape."""
    mask = np.asarray(mask, bool)
    if pixels == 0:
        return mask.copy()
    r = abs(int(pixels))
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2)
    op = cv2.dilate if pixels > 0 else cv2.erode
    return op(mask.astype(np.uint8), disc, borderType=cv2.BORDER_CONSTANT, borderValue=0).astype(bool)


TOOLS = {"Remove islands": remove_islands, "Fill holes": fill_holes, "Smooth outline": smooth}
