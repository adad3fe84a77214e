"""Turning canvas strokes into mask edits, and the edit history (undo / redo / reset).

The canvas has no eraser, so add and erase strokes are drawn in two colours on one canvas and
told apart here: mask = (base ∪ add) \\ erase (where an add and an erase stroke overlap, the
colour on top — the later stroke — wins). The canvas shows a viewport of the image (the whole
image, or a zoomed region for fine edges); its pixels map back to exactly that region.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

ADD_COLOUR = (0, 255, 0)
ERASE_COLOUR = (255, 0, 64)
ADD_CSS = "rgba(0, 255, 0, 0.55)"
ERASE_CSS = "rgba(255, 0, 64, 0.55)"
MIN_ALPHA = 40  # anti-aliased fringes fainter than this are not part of the stroke


@dataclass(frozen=True)
class Viewport:
    """The image region shown on the canvas, in image pixels: rows y0:y1, columns x0:x1."""

    x0: int
    y0: int
    x1: int
    y1: int

    @classmethod
    def whole(cls, shape: tuple[int, int]) -> "Viewport":
        return cls(0, 0, int(shape[1]), int(shape[0]))

    @classmethod
    def zoom(cls, shape: tuple[int, int], centre_x: float, centre_y: float, factor: float) -> "Viewport":
        """A region 1/factor of the image on each side, centred where asked, kept inside the image."""
        h, w = shape
        vw, vh = max(8, round(w / factor)), max(8, round(h / factor))
        x0 = int(np.clip(round(centre_x - vw / 2), 0, w - vw))
        y0 = int(np.clip(round(centre_y - vh / 2), 0, h - vh))
        return cls(x0, y0, x0 + vw, y0 + vh)

    @property
    def width(self) -> int:
        return self.x1 - self.x0

    @property
    def height(self) -> int:
        return self.y1 - self.y0

    def canvas_size(self, max_width: int = 700) -> tuple[int, int]:
        """(width, height) of a canvas showing this region at most max_width wide, aspect kept."""
        scale = max_width / self.width
        return max_width, max(1, round(self.height * scale))

    def crop(self, array: np.ndarray) -> np.ndarray:
        return array[self.y0:self.y1, self.x0:self.x1]


def stroke_layers(canvas_rgba: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(add, erase) bool layers at canvas resolution, from the canvas's RGBA stroke image."""
    rgba = np.asarray(canvas_rgba)
    if rgba.ndim != 3 or rgba.shape[2] != 4:
        raise ValueError(f"expected an RGBA canvas image, got shape {rgba.shape}")
    painted = rgba[:, :, 3] >= MIN_ALPHA
    red, green = rgba[:, :, 0].astype(np.int16), rgba[:, :, 1].astype(np.int16)
    return painted & (green > red), painted & (red >= green)


def canvas_to_image(layer: np.ndarray, viewport: Viewport, shape: tuple[int, int]) -> np.ndarray:
    """A canvas-resolution bool layer -> bool mask of the full image, set only inside the viewport.

    Each image pixel of the viewport takes the value of the canvas pixel at its centre
    (nearest neighbour), so a stroke covers exactly the image pixels under it.
    """
    out = np.zeros(shape, bool)
    region = cv2.resize(layer.astype(np.uint8), (viewport.width, viewport.height), interpolation=cv2.INTER_NEAREST)
    out[viewport.y0:viewport.y1, viewport.x0:viewport.x1] = region > 0
    return out


def apply_strokes(base: np.ndarray, canvas_rgba: np.ndarray | None, viewport: Viewport) -> np.ndarray:
    """mask = (base ∪ add) \\ erase, with the strokes mapped from the canvas to the image."""
    base = np.asarray(base, bool)
    if canvas_rgba is None:
        return base.copy()
    add, erase = stroke_layers(canvas_rgba)
    add_img = canvas_to_image(add, viewport, base.shape)
    erase_img = canvas_to_image(erase, viewport, base.shape)
    return (base | add_img) & ~erase_img


@dataclass
class EditHistory:
    """Committed versions of the working mask, for undo / redo / reset to the model's mask."""

    original: np.ndarray
    versions: list[np.ndarray] = field(default_factory=list)
    position: int = 0

    def __post_init__(self) -> None:
        self.original = np.asarray(self.original, bool).copy()
        if not self.versions:
            self.versions = [self.original.copy()]

    @property
    def current(self) -> np.ndarray:
        return self.versions[self.position]

    def commit(self, mask: np.ndarray) -> None:
        mask = np.asarray(mask, bool)
        if np.array_equal(mask, self.current):
            return
        self.versions = self.versions[: self.position + 1] + [mask.copy()]
        self.position += 1

    def undo(self) -> bool:
        if self.position == 0:
            return False
        self.position -= 1
        return True

    def redo(self) -> bool:
        if self.position >= len(self.versions) - 1:
            return False
        self.position += 1
        return True

    def reset(self) -> None:
        self.commit(self.original)


@dataclass(frozen=True)
class EditFigures:
    added_px: int
    removed_px: int
    iou_with_model: float


def edit_figures(original: np.ndarray, edited: np.ndarray) -> EditFigures:
    from .metrics import overlap_metrics

    original, edited = np.asarray(original, bool), np.asarray(edited, bool)
    return EditFigures(int(np.count_nonzero(edited & ~original)), int(np.count_nonzero(original & ~edited)),
                       overlap_metrics(edited, original).iou)
