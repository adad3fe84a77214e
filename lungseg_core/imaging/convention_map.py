"""Where a site's corrections systematically redraw the lung: the convention map, in chest-normalised
coordinates (each film's lung box, with a margin, resized to GRID x GRID, so lungs of every size
and position line up). Mask geometry only (NumPy/OpenCV): the retraining gate
(`learning/convention_gate`) and the worklist's site estimate (`workflow/site_quality`) both read it.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import cv2
import numpy as np

GRID = 64
MARGIN = 0.10  # of the lung box's size, each side: the map reaches a little beyond the parent's outline
ZONE_SHARE = 0.20  # a cell is in a zone when at least this share of films changed it the same way ...
OPPOSITE_AT_MOST = 0.25  # ... and at most this many as often the other way (shifts and erosions go both ways)


# -- chest-normalised coordinates ---------------------------------------------------------------------
def chest_frame(lungs: np.ndarray) -> tuple[int, int, int, int]:
    """(y0, y1, x0, x1) of the lungs' box with MARGIN each side, inside the image (the whole image
    when there is no lung)."""
    h, w = lungs.shape
    ys, xs = np.nonzero(lungs)
    if ys.size == 0:
        return 0, h, 0, w
    y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
    my, mx = int(round((y1 - y0) * MARGIN)), int(round((x1 - x0) * MARGIN))
    return max(0, y0 - my), min(h, y1 + my), max(0, x0 - mx), min(w, x1 + mx)


def to_chest(values: np.ndarray, frame: tuple[int, int, int, int]) -> np.ndarray:
    y0, y1, x0, x1 = frame
    crop = np.asarray(values, np.float32)[y0:y1, x0:x1]
    return cv2.resize(crop, (GRID, GRID), interpolation=cv2.INTER_AREA)


def from_chest(grid: np.ndarray, frame: tuple[int, int, int, int], shape: tuple[int, int]) -> np.ndarray:
    y0, y1, x0, x1 = frame
    out = np.zeros(shape, np.float32)
    out[y0:y1, x0:x1] = cv2.resize(np.asarray(grid, np.float32), (x1 - x0, y1 - y0), interpolation=cv2.INTER_LINEAR)
    return out


# -- the convention map ----------------------------------------------------------------------------------
@dataclass
class ConventionMap:
    """Per chest cell, the share of `films` whose correction added lung there and the share that
    removed lung there (chest coordinates)."""

    added: np.ndarray    # GRID x GRID in [0, 1]
    removed: np.ndarray
    films: int

    @property
    def mean_change(self) -> np.ndarray:
        return self.added - self.removed

    @property
    def add_zone(self) -> np.ndarray:
        return (self.added >= ZONE_SHARE) & (self.removed <= OPPOSITE_AT_MOST * self.added)

    @property
    def remove_zone(self) -> np.ndarray:
        return (self.removed >= ZONE_SHARE) & (self.added <= OPPOSITE_AT_MOST * self.removed)

    @property
    def empty(self) -> bool:
        return not (self.add_zone.any() or self.remove_zone.any())

    def zones_in(self, parent: np.ndarray, grow: int = 1) -> tuple[np.ndarray, np.ndarray]:
        """(add, remove) zones in the image of one film, placed by the parent's mask of it, `grow`
        cells more each way (the gate's one cell: a zone's edge varies from film to film)."""
        frame = chest_frame(parent)
        kernel = np.ones((2 * grow + 1, 2 * grow + 1), np.uint8)
        return tuple(from_chest(cv2.dilate(z.astype(np.uint8), kernel).astype(np.float32), frame, parent.shape) >= 0.5
                     for z in (self.add_zone, self.remove_zone))  # type: ignore[return-value]


def learn_convention(parents: Sequence[np.ndarray], corrected: Sequence[np.ndarray]) -> ConventionMap:
    """The map from the training corrections and the parent's masks of the same films."""
    if not parents:
        return ConventionMap(np.zeros((GRID, GRID), np.float32), np.zeros((GRID, GRID), np.float32), 0)
    added = np.zeros((GRID, GRID), np.float32)
    removed = np.zeros((GRID, GRID), np.float32)
    for p, c in zip(parents, corrected):
        p, c = np.asarray(p, bool), np.asarray(c, bool)
        frame = chest_frame(p)
        added += to_chest((c & ~p).astype(np.float32), frame)
        removed += to_chest((p & ~c).astype(np.float32), frame)
    smooth = (lambda a: cv2.GaussianBlur(a / len(parents), (5, 5), 1.0))
    return ConventionMap(smooth(added), smooth(removed), len(parents))


def share_in_zone(parent: np.ndarray, corrected: np.ndarray, cmap: ConventionMap) -> tuple[int, int]:
    """(pixels where corrected and parent differ in the zones' direction, all pixels where they differ)."""
    parent, corrected = np.asarray(parent, bool), np.asarray(corrected, bool)
    added, removed = corrected & ~parent, parent & ~corrected
    add_zone, remove_zone = cmap.zones_in(parent)
    return int((added & add_zone).sum() + (removed & remove_zone).sum()), int(added.sum() + removed.sum())


def outside_the_map(parent: np.ndarray, candidate: np.ndarray, cmap: ConventionMap) -> np.ndarray:
    """The candidate's mask with its convention-consistent changes undone: what it changed elsewhere."""
    parent, candidate = np.asarray(parent, bool), np.asarray(candidate, bool)
    add_zone, remove_zone = cmap.zones_in(parent)
    hybrid = candidate.copy()
    hybrid[add_zone & candidate & ~parent] = False
    hybrid[remove_zone & ~candidate & parent] = True
    return hybrid


def map_picture(cmap: ConventionMap, size: int = 256) -> np.ndarray:
    """RGB picture of the map: green where the site adds lung, red where it removes (the app's colour
    language), grey lungs' box outline for orientation (chest coordinates: the patient's right on the
    image's left)."""
    m = cv2.resize(cmap.mean_change, (size, size), interpolation=cv2.INTER_LINEAR)
    rgb = np.full((size, size, 3), 24, np.float32)
    pos, neg = np.clip(m, 0, 1), np.clip(-m, 0, 1)
    rgb[..., 1] += 230 * pos
    rgb[..., 0] += 230 * neg
    rgb[..., 2] += 60 * neg
    inset = int(round(size * MARGIN / (1 + 2 * MARGIN)))
    cv2.rectangle(rgb, (inset, inset), (size - inset, size - inset), (110, 110, 110), 1)
    for zone, colour in ((cmap.add_zone, (80, 255, 80)), (cmap.remove_zone, (255, 80, 110))):
        z = cv2.resize(zone.astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST)
        contours, _ = cv2.findContours(z, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(rgb, contours, -1, colour, 1)
    return np.clip(rgb, 0, 255).astype(np.uint8)
