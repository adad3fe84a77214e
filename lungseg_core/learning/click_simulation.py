"""Simulated annotators for click-to-fix: where the next click goes, what a wrong mask looks like,
and the standard measure of an interactive tool (number of clicks to reach a Dice, NoC).

The next click goes to the centre of the largest error (the point of the largest wrong region
farthest from its edge), positive where lung was missed and negative where non-lung was called
lung, as in the interactive segmentation literature (RITM, DeepEdit). Training uses the same rule
with some jitter, so the network sees clicks where people put them.
"""
from __future__ import annotations

from typing import Callable

import cv2
import numpy as np

from ..imaging.metrics import overlap_metrics
from ..models.click_fix import Click


def _components(mask: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    return count, labels, stats[:, cv2.CC_STAT_AREA]


def next_click(pred: np.ndarray, truth: np.ndarray, rng: np.random.Generator | None = None) -> Click | None:
    """A click at the centre of the largest error region (None when the mask is perfect). With `rng`,
    the click lands anywhere in the inner half of that region (training's jitter)."""
    best: tuple[int, np.ndarray, bool] | None = None
    for positive, error in ((True, truth & ~pred), (False, pred & ~truth)):
        if not error.any():
            continue
        count, labels, areas = _components(error)
        k = int(np.argmax(areas[1:])) + 1
        if best is None or areas[k] > best[0]:
            best = (int(areas[k]), labels == k, positive)
    if best is None:
        return None
    region = np.pad(best[1], 1).astype(np.uint8)  # the image border counts as an edge
    dist = cv2.distanceTransform(region, cv2.DIST_L2, 5)[1:-1, 1:-1]
    if rng is None:
        r, c = np.unravel_index(int(np.argmax(dist)), dist.shape)
    else:
        rows, cols = np.nonzero(dist >= 0.5 * float(dist.max()))
        i = int(rng.integers(len(rows)))
        r, c = rows[i], cols[i]
    return Click(float(r), float(c), best[2])


def _ellipse(shape: tuple[int, int], centre: tuple[int, int], axes: tuple[int, int], angle: float) -> np.ndarray:
    out = np.zeros(shape, dtype=np.uint8)
    cv2.ellipse(out, (int(centre[1]), int(centre[0])), (max(1, axes[1]), max(1, axes[0])), angle, 0, 360, 1, -1)
    return out.astype(bool)


def corrupt_mask(truth: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A plausible wrong lung mask: a missed region (a dense lobe left out), an added region over the
    heart, diaphragm or chest wall, a too tight or too loose outline, or several of these."""
    h, w = truth.shape
    out = truth.copy()
    rows, cols = np.nonzero(truth)
    for _ in range(int(rng.integers(1, 4))):
        kind = rng.choice(["miss", "miss_base", "add", "erode", "dilate"], p=[0.3, 0.2, 0.25, 0.125, 0.125])
        if kind in ("miss", "add") and len(rows):
            i = int(rng.integers(len(rows)))
            centre = (rows[i], cols[i])
            if kind == "add":  # from the lung edge outwards
                edge = truth & ~cv2.erode(truth.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
                er, ec = np.nonzero(edge)
                if len(er):
                    j = int(rng.integers(len(er)))
                    centre = (er[j], ec[j])
            axes = (int(rng.uniform(0.03, 0.16) * h), int(rng.uniform(0.03, 0.12) * w))
            blob = _ellipse((h, w), centre, axes, float(rng.uniform(0, 180)))
            out = out & ~blob if kind == "miss" else out | blob
        elif kind == "miss_base" and len(rows):  # the lower part of one lung, as with consolidation/effusion
            count, labels, areas = _components(truth)
            if count > 1:
                k = int(rng.integers(1, count))
                lung = labels == k
                lr = np.nonzero(lung.any(axis=1))[0]
                cut = int(lr[0] + rng.uniform(0.45, 0.85) * (lr[-1] - lr[0]))
                part = lung.copy()
                part[:cut] = False
                out &= ~part
        elif kind in ("erode", "dilate"):
            k = int(rng.integers(2, 7)) * 2 + 1
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))
            op = cv2.erode if kind == "erode" else cv2.dilate
            out = op(out.astype(np.uint8), kernel).astype(bool)
    return out


def dice(pred: np.ndarray, truth: np.ndarray) -> float:
    return overlap_metrics(pred, truth).dice


def clicks_to_reach(fix: Callable[[np.ndarray, list[Click]], np.ndarray], start: np.ndarray, truth: np.ndarray,
                    thresholds: tuple[float, ...] = (0.90, 0.95), max_clicks: int = 20) -> dict[str, float | int]:
    """NoC: clicks until Dice >= each threshold (0 if the start already is; max_clicks if never), with
    each next click at the centre of the largest error of the current mask. Also the Dice curve."""
    mask = start.astype(bool)
    clicks: list[Click] = []
    reached: dict[float, int] = {}
    curve = [dice(mask, truth)]
    for t in thresholds:
        if curve[0] >= t:
            reached[t] = 0
    while len(clicks) < max_clicks and len(reached) < len(thresholds):
        click = next_click(mask, truth)
        if click is None:
            break
        clicks.append(click)
        mask = fix(mask, clicks)
        curve.append(dice(mask, truth))
        for t in thresholds:
            if t not in reached and curve[-1] >= t:
                reached[t] = len(clicks)
    out: dict[str, float | int] = {f"noc{int(round(t * 100))}": reached.get(t, max_clicks) for t in thresholds}
    out["dice_start"] = curve[0]
    out["dice_end"] = curve[-1]
    out["clicks"] = len(clicks)
    return out


def brush_pixels_to_reach(start: np.ndarray, truth: np.ndarray,
                          thresholds: tuple[float, ...] = (0.90, 0.95)) -> dict[str, float | int]:
    """The brush alone, done perfectly: error regions painted over, largest first, each exactly (no
    spill); returns the pixels painted and strokes (regions) used to reach each Dice."""
    mask = start.astype(bool).copy()
    regions: list[np.ndarray] = []
    for error in (truth & ~mask, mask & ~truth):
        count, labels, areas = _components(error)
        regions += [labels == k for k in range(1, count)]
    regions.sort(key=lambda r: -int(r.sum()))
    out: dict[str, float | int] = {}
    painted, strokes = 0, 0
    pending = list(thresholds)
    for t in list(pending):
        if dice(mask, truth) >= t:
            out[f"px{int(round(t * 100))}"], out[f"strokes{int(round(t * 100))}"] = 0, 0
            pending.remove(t)
    for region in regions:
        if not pending:
            break
        mask ^= region
        painted += int(region.sum())
        strokes += 1
        current = dice(mask, truth)
        for t in list(pending):
            if current >= t:
                out[f"px{int(round(t * 100))}"], out[f"strokes{int(round(t * 100))}"] = painted, strokes
                pending.remove(t)
    return out
