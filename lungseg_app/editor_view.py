"""What the Correct page draws: the canvas background (windowed X-ray + mask as fill, outline or
hidden), the overview with the zoom box, the canvas size that fits the browser window, and the
zoom state driven by clicks and drags on the overview."""
from __future__ import annotations

import io
from pathlib import Path
from typing import Any
from dataclasses import dataclass

import cv2
import numpy as np
import streamlit as st
from PIL import Image

from lungseg_core.imaging.mask_editing import Viewport
from lungseg_core.imaging.overlay import mask_overlay, windowed_gray
from lungseg_core.models.click_fix import ClickFixer, click_weights_for, load_click_fixer
from lungseg_core.models.model_versions import default_model_name

VIEW_KEY = "_view"  # the image region on the canvas (session key, per case)
WINDOW_KEY = "_window_size"
DEFAULT_WINDOW = (1280, 720)  # until the browser has told its size
MASK_STYLES = {"Fill": "fill", "Outline": "contour", "Hidden": "hidden"}


@dataclass(frozen=True)
class Display:
    style: str = "fill"
    level: float = 0.5
    width: float = 1.0
    invert: bool = False


def cached_click_fixer() -> ClickFixer | None:
    """The click-to-fix network of the default model version (its site-tuned one when retraining's
    click gate took it, else the nearest ancestor's, else the shipped one; None when none is installed)."""
    path = click_weights_for(default_model_name())
    return _click_fixer_at(str(path)) if path is not None else None


@st.cache_resource(show_spinner=False, max_entries=4)
def _click_fixer_at(path: str) -> ClickFixer:
    return load_click_fixer(weights=Path(path))


def window_size() -> tuple[int, int]:
    """The browser window's inner size (streamlit-js-eval). The component is drawn on every run, in
    the sidebar, so that its arrival never shifts the page's own elements (which would re-create the
    canvas)."""
    value = None
    try:
        from streamlit_js_eval import streamlit_js_eval

        with st.sidebar:
            value = streamlit_js_eval(js_expressions="[window.parent.innerWidth, window.parent.innerHeight]",
                                      key="_js_window")
    except Exception:  # noqa: BLE001 - a missing component only costs the default size
        value = None
    if isinstance(value, list) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
        st.session_state[WINDOW_KEY] = (int(value[0]), int(value[1]))
    return st.session_state.get(WINDOW_KEY) or DEFAULT_WINDOW


def canvas_box(window: tuple[int, int], sidebar: bool = True) -> tuple[int, int]:
    """(max width, max height) of the canvas so that the whole picture is in view without scrolling:
    the left ~62 % of the main column, and the window's height less the header and the nav row."""
    w, h = window
    main = w - (300 if sidebar and w >= 768 else 0) - 160
    return max(240, int(main * 0.62) - 12), max(240, h - 185)


def canvas_size(view: Viewport, box: tuple[int, int]) -> tuple[int, int]:
    scale = min(box[0] / view.width, box[1] / view.height)
    return max(1, round(view.width * scale)), max(1, round(view.height * scale))


@st.cache_data(show_spinner=False, max_entries=4)
def _windowed(_pixels: np.ndarray, key: str, level: float, width: float, invert: bool) -> np.ndarray:
    return windowed_gray(_pixels, level, width, invert)


def background(pixels: np.ndarray, case_key: str, mask: np.ndarray, view: Viewport, size: tuple[int, int],
               display: Display) -> bytes:
    """The canvas background: the viewport of the windowed X-ray with the mask as chosen, as JPEG
    bytes. It is sent after every edit: JPEG at quality 95 without chroma subsampling (no colour
    bleeding at the mask's edge) encodes in ~2 ms where the component's own PNG took ~130 ms."""
    base = _windowed(pixels, case_key, display.level, display.width, display.invert)
    picture = mask_overlay(None, view.crop(mask), opacity=0.3, style=display.style, base=view.crop(base))
    zoomed = size[0] > view.width * 1.5
    return jpeg_bytes(Image.fromarray(picture).resize(size, Image.NEAREST if zoomed else Image.BILINEAR))


def jpeg_bytes(picture: Image.Image, quality: int = 95) -> bytes:
    out = io.BytesIO()
    picture.convert("RGB").save(out, format="JPEG", quality=quality, subsampling=0)
    return out.getvalue()


def overview(pixels: np.ndarray, case_key: str, mask: np.ndarray, view: Viewport, display: Display,
             side: int = 220) -> Image.Image:
    """The whole image, small, with the region on the canvas drawn as a yellow box."""
    base = _windowed(pixels, case_key, display.level, display.width, display.invert)
    picture = mask_overlay(None, mask, opacity=0.25, style="contour" if display.style == "hidden" else display.style,
                           base=base)
    h, w = mask.shape
    scale = side / max(h, w)
    small = cv2.resize(picture, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    if view != Viewport.whole((h, w)):
        cv2.rectangle(small, (round(view.x0 * scale), round(view.y0 * scale)),
                      (round(view.x1 * scale) - 1, round(view.y1 * scale) - 1), (255, 220, 0), 2)
    return Image.fromarray(small)


def view_from_overview(event: dict, shape: tuple[int, int], current: Viewport) -> Viewport:
    """A click on the overview centres the zoomed region there (zooming 2x from the whole image);
    a drag draws the region itself."""
    h, w = shape
    sx, sy = w / max(1, event.get("width") or w), h / max(1, event.get("height") or h)
    if "x1" in event:
        x1, y1, x2, y2 = (float(event[k]) for k in ("x1", "y1", "x2", "y2"))
        if abs(x2 - x1) * sx >= 16 and abs(y2 - y1) * sy >= 16:
            a = (np.clip(min(x1, x2) * sx, 0, w), np.clip(min(y1, y2) * sy, 0, h))
            b = (np.clip(max(x1, x2) * sx, 0, w), np.clip(max(y1, y2) * sy, 0, h))
            # keep the image's aspect so the canvas keeps its shape: grow the shorter side
            bw, bh = b[0] - a[0], b[1] - a[1]
            factor = max(1.0, min(w / max(bw, 1), h / max(bh, 1)))
            return Viewport.zoom(shape, (a[0] + b[0]) / 2, (a[1] + b[1]) / 2, factor)
        cx, cy = x1 * sx, y1 * sy
    else:
        cx, cy = float(event["x"]) * sx, float(event["y"]) * sy
    factor = max(2.0, w / current.width)
    return Viewport.zoom(shape, cx, cy, factor)


def zoom_by(view: Viewport, shape: tuple[int, int], ratio: float) -> Viewport:
    h, w = shape
    factor = float(np.clip(w / view.width * ratio, 1.0, 8.0))
    if factor <= 1.0:
        return Viewport.whole(shape)
    return Viewport.zoom(shape, (view.x0 + view.x1) / 2, (view.y0 + view.y1) / 2, factor)


#: Display settings kept in the page's address (so a reload keeps them): state key -> (parameter, lowest, highest)
PREF_PARAMS = {"_brush": ("brush", 1, 60), "_level": ("level", 0, 100), "_wwidth": ("width", 5, 100),
               "_invert": ("invert", 0, 1)}


def remembered_prefs(params: Any) -> dict[str, Any]:
    """The editor's display settings found in the address (`?brush=12&level=40&width=80&invert=1
    &mask=Outline`), each checked; anything else is ignored."""
    prefs: dict[str, Any] = {}
    for key, (name, low, high) in PREF_PARAMS.items():
        try:
            value = int(params.get(name))
        except (TypeError, ValueError):
            continue
        if low <= value <= high:
            prefs[key] = bool(value) if key == "_invert" else value
    mask = params.get("mask")
    if mask in MASK_STYLES:
        prefs["_mask_style"] = mask
    return prefs


def remember_prefs(params: Any, values: dict[str, Any], defaults: dict[str, Any]) -> None:
    """Write the settings that differ from the defaults into the address (and drop the others)."""
    for key, value in values.items():
        name = "mask" if key == "_mask_style" else PREF_PARAMS[key][0]
        text = str(int(value)) if key != "_mask_style" else str(value)
        if value == defaults.get(key):
            if name in params:
                del params[name]
        elif params.get(name) != text:
            params[name] = text
