"""What a predicted lung mask says about itself, without a reference: quality signals and flags.

Two kinds of evidence, as a reviewer would look for them:
- the model's own doubt: how much its mask changes under test-time flips and a small shift-and-
  scale (`view_agreement`), how wide the band of probabilities between 0.25 and 0.75 is along the
  outline (`edge_uncertainty`), and where along the outline that doubt sits (heart, base, apex, wall);
- anatomy: exactly two lungs, a right/left area ratio and a lung share of the image inside what
  the training references show, no holes, a roughly convex outline, not cut by the image border.

Everything is computed on model-size (256 x 256) maps, so the cost does not grow with the file.
Thresholds come from the train split's reference masks at 256 x 256 (0.5th-99.5th percentiles,
rounded outward): R/L ratio 0.72-3.8 (98 % within 0.79-1.58), lung share 0.11-0.40, solidity of
the less convex lung >= 0.77. The edge and border limits were set from the val split's
masks (bench/quality_estimate.py prints their spread).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import cv2
import numpy as np

from ..imaging.lung_measurements import LEFT, RIGHT, split_lungs

#: Plausible ranges (train references, see the module docstring).
RATIO_RANGE = (0.7, 1.9)
SHARE_RANGE = (0.12, 0.42)
MIN_SOLIDITY = 0.75
MAX_HOLE_SHARE = 0.005
MAX_BORDER_SHARE = 0.05  # share of the outline lying on the image's edge
MIN_VIEW_AGREEMENT = 0.95
EDGE_REACH = 6  # px (at 256 x 256) either side of the outline
MAX_SIDE_UNCERTAINTY = 3.0  # undecided band wider than this (model px) along one side
UNCERTAIN = (0.25, 0.75)

_SIDE_WORDS = {"medial": "along the heart and mediastinum", "base": "at the diaphragm",
               "apex": "at the apex", "lateral": "along the chest wall"}


@dataclass(frozen=True)
class QualitySignals:
    view_agreement: float
    edge_uncertainty: float  # mean width (model px) of the band where p is 0.25-0.75 along the outline
    soft_dice: float
    lungs: int
    right_left_ratio: float | None
    lung_share: float
    hole_share: float
    solidity: float
    border_share: float
    removed_share: float
    uncertain_sides: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def dice(a: np.ndarray, b: np.ndarray) -> float:
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int(np.logical_and(a, b).sum()) / total


def _outline(mask: np.ndarray) -> np.ndarray:
    m = mask.astype(np.uint8)
    return m.astype(bool) & ~cv2.erode(m, np.ones((3, 3), np.uint8), borderType=cv2.BORDER_CONSTANT).astype(bool)


def _solidity(labels: np.ndarray) -> float:
    """Area over convex-hull area of the less convex lung (1.0 for no lung)."""
    values = []
    for k in (RIGHT, LEFT):
        lung = (labels == k).astype(np.uint8)
        if not lung.any():
            continue
        contours, _ = cv2.findContours(lung, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        hull_area = cv2.contourArea(cv2.convexHull(np.concatenate(contours)))
        values.append(min(1.0, float(lung.sum()) / max(hull_area, 1.0)))
    return min(values) if values else 1.0


def hole_share(mask: np.ndarray) -> float:
    """Background pixels enclosed by lung (not reachable from the image border), over lung area."""
    if not mask.any():
        return 0.0
    background = (~mask).astype(np.uint8)
    n, comp = cv2.connectedComponents(background, connectivity=4)
    border_labels = set(np.unique(np.concatenate([comp[0], comp[-1], comp[:, 0], comp[:, -1]]))) - {0}
    enclosed = background.astype(bool) & ~np.isin(comp, list(border_labels))
    return float(enclosed.sum() / mask.sum())


def _side_of_outline(labels: np.ndarray, outline: np.ndarray) -> dict[str, np.ndarray]:
    """Split each lung's outline into medial / lateral / apex / base by its position in the lung's box."""
    sides = {name: np.zeros(outline.shape, bool) for name in _SIDE_WORDS}
    for k in (RIGHT, LEFT):
        ys, xs = np.nonzero(labels == k)
        if len(ys) == 0:
            continue
        y0, y1, x0, x1 = ys.min(), ys.max(), xs.min(), xs.max()
        oy, ox = np.nonzero(outline & (labels == k))
        ry = (oy - y0) / max(1, y1 - y0)
        rx = (ox - x0) / max(1, x1 - x0)
        medial_x = rx if k == RIGHT else 1 - rx  # patient's right lung is on the image's left
        name = np.where(ry > 0.8, "base", np.where(ry < 0.15, "apex", np.where(medial_x > 0.5, "medial", "lateral")))
        for side in _SIDE_WORDS:
            pick = name == side
            sides[side][oy[pick], ox[pick]] = True
    return sides


def quality_signals(views: np.ndarray, raw_mask: np.ndarray | None = None,
                    mask: np.ndarray | None = None) -> QualitySignals:
    """Signals from V x S x S probability views (view 0 = the plain image, all mapped back onto it).
    `mask` is the post-processed mask at the same size (default: view 0 thresholded and cleaned)."""
    from ..imaging.postprocess import clean_lung_mask

    views = np.asarray(views, np.float32)
    prob = views.mean(axis=0)
    raw = views[0] >= 0.5 if raw_mask is None else np.asarray(raw_mask, bool)
    mask = clean_lung_mask(raw) if mask is None else np.asarray(mask, bool)
    agreement = float(np.mean([dice(views[0] >= 0.5, v >= 0.5) for v in views[1:]])) if len(views) > 1 else 1.0
    outline = _outline(mask)
    uncertain = ((prob > UNCERTAIN[0]) & (prob < UNCERTAIN[1])).astype(np.uint8)
    # Width of the undecided band along the outline, in model pixels: uncertain pixels within
    # EDGE_REACH px of an outline, per outline pixel. A confident edge is ~1-2 px wide.
    kernel = np.ones((2 * EDGE_REACH + 1, 2 * EDGE_REACH + 1), np.uint8)
    near_outline = cv2.dilate(outline.astype(np.uint8), kernel).astype(bool)
    edge_uncertainty = float((uncertain.astype(bool) & near_outline).sum() / max(1, outline.sum()))
    labels = split_lungs(mask)
    sides = _side_of_outline(labels, outline)
    uncertain_sides = {}
    for side, px in sides.items():
        if px.sum() >= 8:
            reach = cv2.dilate(px.astype(np.uint8), kernel).astype(bool)
            uncertain_sides[side] = round(float((uncertain.astype(bool) & reach).sum() / px.sum()), 3)
    n_lungs = cv2.connectedComponents(mask.astype(np.uint8), connectivity=8)[0] - 1
    right, left = int((labels == RIGHT).sum()), int((labels == LEFT).sum())
    frame = np.concatenate([mask[0], mask[-1], mask[:, 0], mask[:, -1]])
    soft = float(2 * (prob * mask).sum() / max(1e-6, prob.sum() + mask.sum()))
    return QualitySignals(
        view_agreement=round(agreement, 4), edge_uncertainty=round(edge_uncertainty, 4), soft_dice=round(soft, 4),
        lungs=int(n_lungs), right_left_ratio=round(right / left, 4) if left and right else None,
        lung_share=round(float(mask.mean()), 4), hole_share=round(hole_share(mask), 4),
        solidity=round(_solidity(labels), 4), border_share=round(float(frame.sum() / max(1, outline.sum())), 4),
        removed_share=round(float((raw & ~mask).sum() / max(1, raw.sum())), 4), uncertain_sides=uncertain_sides)


def flags(s: QualitySignals) -> list[str]:
    """What a reviewer should look at first, in plain words (empty when nothing stands out)."""
    out: list[str] = []
    if s.lungs == 0 or s.lung_share == 0:
        return ["no lung found"]
    if s.lungs == 1:
        out.append("one lung only")
    if s.right_left_ratio is not None:
        if s.right_left_ratio > RATIO_RANGE[1]:
            out.append("left lung much smaller than right")
        elif s.right_left_ratio < RATIO_RANGE[0]:
            out.append("right lung much smaller than left")
    if s.lung_share < SHARE_RANGE[0]:
        out.append("lungs small for the image")
    elif s.lung_share > SHARE_RANGE[1]:
        out.append("lungs unusually large for the image")
    if s.hole_share > MAX_HOLE_SHARE:
        out.append("hole inside a lung")
    if s.solidity < MIN_SOLIDITY:
        out.append("irregular outline")
    if s.border_share > MAX_BORDER_SHARE:
        out.append("lung cut by the image border")
    if s.view_agreement < MIN_VIEW_AGREEMENT:
        out.append("mask changes when the image is flipped or shifted")
    for side, share in sorted(s.uncertain_sides.items(), key=lambda kv: -kv[1]):
        if share > MAX_SIDE_UNCERTAINTY:
            out.append(f"uncertain edge {_SIDE_WORDS[side]}")
    return out
