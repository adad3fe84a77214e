"""Drawing-canvas objects (Fabric.js JSON from streamlit-drawable-canvas) turned into mask edits.

The editor reads the canvas's objects, not its rendered pixels: a brush stroke becomes a line of
exactly the chosen width in image pixels, a polygon fills exactly its corners (no outline added),
a point is a click for click-to-fix. Each object becomes one step of the page's single undo
history and the canvas is emptied, so nothing can stay on screen that the mask does not hold.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import cv2
import numpy as np

from .mask_editing import Viewport

ADD_RGB = (0, 255, 0)
ERASE_RGB = (255, 0, 64)
_RGBA = re.compile(r"rgba?\(\s*(\d+)\s*,\s*(\d+)\s*,\s*(\d+)")


@dataclass(frozen=True)
class CanvasGeometry:
    """A canvas of width x height showing `viewport` of the image: maps canvas to image pixels."""

    viewport: Viewport
    width: int
    height: int

    @property
    def scale(self) -> float:
        """Image pixels per canvas pixel."""
        return self.viewport.width / self.width

    def to_image(self, points: np.ndarray) -> np.ndarray:
        """N x 2 canvas (x, y) -> N x 2 image (x, y), continuous coordinates (pixel centres at .5)."""
        pts = np.asarray(points, np.float64)
        sx, sy = self.viewport.width / self.width, self.viewport.height / self.height
        return np.stack([self.viewport.x0 + pts[:, 0] * sx, self.viewport.y0 + pts[:, 1] * sy], axis=1)

    def brush_canvas_px(self, brush_image_px: float) -> int:
        """The canvas stroke width that draws a brush this many image pixels wide."""
        return max(1, int(round(brush_image_px / self.scale)))


@dataclass(frozen=True)
class CanvasEdit:
    """One object from the canvas: a stroke or polygon (a bool mask over the image) or a click."""

    kind: str  # "stroke" | "polygon" | "click"
    adds: bool
    region: np.ndarray | None = None  # image-size bool mask (strokes, polygons)
    point: tuple[float, float] | None = None  # image (row, col) (clicks)


def is_add_colour(css: str | None) -> bool:
    """The add colour (green) vs the erase colour (red) of a canvas object."""
    m = _RGBA.match(css or "")
    if not m:
        return True
    r, g, _ = (int(v) for v in m.groups())
    return g > r


def _quadratic(p0: np.ndarray, c: np.ndarray, p1: np.ndarray, steps: int = 6) -> np.ndarray:
    t = np.linspace(0, 1, steps + 1)[1:, None]
    return (1 - t) ** 2 * p0 + 2 * (1 - t) * t * c + t ** 2 * p1


def path_points(path: list[list[Any]]) -> np.ndarray:
    """A Fabric path (M / L / Q / C commands, absolute) as a polyline of canvas points."""
    pts: list[np.ndarray] = []
    current = np.zeros(2)
    for cmd in path:
        op, args = str(cmd[0]).upper(), np.asarray(cmd[1:], np.float64)
        if op in ("M", "L") and len(args) >= 2:
            current = args[-2:]
            pts.append(current[None])
        elif op == "Q" and len(args) >= 4:
            pts.append(_quadratic(current, args[0:2], args[2:4]))
            current = args[2:4]
        elif op == "C" and len(args) >= 6:  # cubic: sampled through its control polygon's quadratic
            pts.append(_quadratic(current, (args[0:2] + args[2:4]) / 2, args[4:6]))
            current = args[4:6]
    return np.concatenate(pts) if pts else np.zeros((0, 2))


def _placed(obj: dict[str, Any], pts: np.ndarray) -> np.ndarray:
    """Points in canvas coordinates after the object's own move (left/top of its centre)."""
    if len(pts) == 0 or obj.get("originX") != "center" or "left" not in obj:
        return pts
    centre = (pts.min(axis=0) + pts.max(axis=0)) / 2
    scale = np.array([float(obj.get("scaleX", 1) or 1), float(obj.get("scaleY", 1) or 1)])
    return (pts - centre) * scale + np.array([float(obj["left"]), float(obj["top"])])


def _raster_polyline(points_img: np.ndarray, width_img: float, shape: tuple[int, int]) -> np.ndarray:
    out = np.zeros(shape, np.uint8)
    shift = 4  # sub-pixel precision for OpenCV
    pts = np.round((points_img - 0.5) * (1 << shift)).astype(np.int32)
    thickness = max(1, int(round(width_img)))
    if len(pts) == 1:
        cv2.circle(out, tuple(pts[0]), max(1, (thickness << shift) // 2), 1, -1, cv2.LINE_8, shift)
    else:
        cv2.polylines(out, [pts], False, 1, thickness, cv2.LINE_8, shift)
        radius = max(1, (thickness << shift) // 2)  # round caps
        for end in (pts[0], pts[-1]):
            cv2.circle(out, tuple(end), radius, 1, -1, cv2.LINE_8, shift)
    return out.astype(bool)


def _raster_polygon(points_img: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """Pixels whose centre lies inside the polygon (its corners exactly, nothing added)."""
    out = np.zeros(shape, np.uint8)
    shift = 4
    pts = np.round((points_img - 0.5) * (1 << shift)).astype(np.int32)
    cv2.fillPoly(out, [pts], 1, cv2.LINE_8, shift)
    return out.astype(bool)


def canvas_edits(objects: list[dict[str, Any]], geometry: CanvasGeometry, shape: tuple[int, int]) -> list[CanvasEdit]:
    """Every canvas object, in drawing order, as an edit of the image-size mask."""
    edits: list[CanvasEdit] = []
    for obj in objects or []:
        kind = str(obj.get("type", "")).lower()
        if kind == "path":
            pts = _placed(obj, path_points(obj.get("path") or []))
            if len(pts):
                width = float(obj.get("strokeWidth", 1)) * geometry.scale
                edits.append(CanvasEdit("stroke", is_add_colour(obj.get("stroke")),
                                        _raster_polyline(geometry.to_image(pts), width, shape)))
        elif kind == "polygon":
            pts = _placed(obj, np.array([[p["x"], p["y"]] for p in obj.get("points") or []], np.float64))
            if len(pts) >= 3:
                edits.append(CanvasEdit("polygon", is_add_colour(obj.get("fill")),
                                        _raster_polygon(geometry.to_image(pts), shape)))
        elif kind == "circle":  # a point: origin left/centre, drawn with its stroke around it
            x = float(obj.get("left", 0)) + (float(obj.get("width", 0)) + float(obj.get("strokeWidth", 0))) / 2
            y = float(obj.get("top", 0))
            if obj.get("originY") == "top":
                y += (float(obj.get("height", 0)) + float(obj.get("strokeWidth", 0))) / 2
            (ix, iy), = geometry.to_image(np.array([[x, y]]))
            edits.append(CanvasEdit("click", is_add_colour(obj.get("fill")),
                                    point=(float(np.clip(iy - 0.5, 0, shape[0] - 1)),
                                           float(np.clip(ix - 0.5, 0, shape[1] - 1)))))
    return edits


def apply_edit(mask: np.ndarray, edit: CanvasEdit) -> np.ndarray:
    """A stroke or polygon applied to a mask (clicks need the click-to-fix model: not here)."""
    if edit.region is None:
        return np.asarray(mask, bool).copy()
    return (mask | edit.region) if edit.adds else (mask & ~edit.region)
