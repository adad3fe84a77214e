"""Pictures for review: mask overlays (fill or contour), probability and uncertainty heat maps,
and error maps (false positives / false negatives) — RGB uint8 at the image's own resolution."""
from __future__ import annotations

import cv2
import numpy as np

from .preprocessing import normalize_intensity

# One colour language on every page (and the editor's brushes): lung both agree on in the mask's
# blue, lung that is missing (a reference has it, a correction added it) green, lung that is extra
# (a reference lacks it, a correction removed it) red. `LEGEND` says so in words.
MASK_COLOUR = (0, 200, 255)
ADDED_COLOUR = (0, 220, 0)
REMOVED_COLOUR = (255, 0, 64)
FALSE_POSITIVE_COLOUR = REMOVED_COLOUR  # predicted lung, not in the reference: extra, red
FALSE_NEGATIVE_COLOUR = ADDED_COLOUR  # reference lung the model missed: missing, green
TRUE_POSITIVE_COLOUR = MASK_COLOUR
LEGEND = ":blue[■] lung both agree on · :green[■] lung missing, or added · :red[■] lung extra, or removed"


def display_gray(image: np.ndarray) -> np.ndarray:
    """Any X-ray array -> RGB uint8 for display (robust windowing, as the model sees it)."""
    gray = (normalize_intensity(image) * 255).astype(np.uint8)
    return np.repeat(gray[:, :, None], 3, axis=2)


def windowed_gray(image: np.ndarray, level: float = 0.5, width: float = 1.0, invert: bool = False) -> np.ndarray:
    """RGB uint8 for display with a window: grey levels level +- width/2 (on the robustly normalised
    0-1 scale) stretched to black-white, optionally inverted. (0.5, 1.0, False) = display_gray."""
    gray = normalize_intensity(image)
    width = max(float(width), 1e-3)
    shown = np.clip((gray - (level - width / 2)) / width, 0.0, 1.0)
    if invert:
        shown = 1.0 - shown
    g = (shown * 255).astype(np.uint8)
    return np.repeat(g[:, :, None], 3, axis=2)


def _blend(base: np.ndarray, where: np.ndarray, colour: tuple[int, int, int], opacity: float) -> np.ndarray:
    out = base.astype(np.float32)
    out[where] = (1 - opacity) * out[where] + opacity * np.array(colour, np.float32)
    return out.astype(np.uint8)


def contour_of(mask: np.ndarray, thickness: int | None = None) -> np.ndarray:
    """Bool outline of a mask, thickness scaled to the image size."""
    thickness = thickness or max(1, round(max(mask.shape) / 256))
    m = np.asarray(mask, np.uint8)
    kernel = np.ones((2 * thickness + 1, 2 * thickness + 1), np.uint8)
    return (m > 0) & (cv2.erode(m, kernel) == 0)


def mask_overlay(image: np.ndarray, mask: np.ndarray, opacity: float = 0.4, style: str = "fill",
                 colour: tuple[int, int, int] = MASK_COLOUR, base: np.ndarray | None = None) -> np.ndarray:
    """The X-ray with the mask drawn over it: filled (with its outline), contour only, or hidden.
    `base`: the RGB picture to draw on (a windowed X-ray); default display_gray(image)."""
    if style not in ("fill", "contour", "hidden"):
        raise ValueError("style must be 'fill', 'contour' or 'hidden'")
    base = display_gray(image) if base is None else base
    if style == "hidden":
        return base.copy()
    mask = np.asarray(mask, bool)
    outline = contour_of(mask)
    out = _blend(base, mask, colour, opacity) if style == "fill" else base
    return _blend(out, outline, colour, max(opacity, 0.85))


def heat_map(image: np.ndarray, values: np.ndarray, opacity: float = 0.5, vmax: float = 1.0) -> np.ndarray:
    """Values in [0, vmax] as a colour map over the X-ray (probability or uncertainty)."""
    base = display_gray(image)
    scaled = np.clip(np.asarray(values, np.float32) / max(vmax, 1e-6), 0, 1)
    colours = cv2.applyColorMap((scaled * 255).astype(np.uint8), cv2.COLORMAP_INFERNO)[:, :, ::-1]
    alpha = (opacity * scaled)[:, :, None]
    return (base * (1 - alpha) + colours * alpha).astype(np.uint8)


def error_map(image: np.ndarray, pred: np.ndarray, truth: np.ndarray, opacity: float = 0.55) -> np.ndarray:
    """False positives (extra lung) red, false negatives (missing lung) green, agreement blue."""
    pred, truth = np.asarray(pred, bool), np.asarray(truth, bool)
    out = display_gray(image)
    out = _blend(out, pred & truth, TRUE_POSITIVE_COLOUR, opacity * 0.5)
    out = _blend(out, pred & ~truth, FALSE_POSITIVE_COLOUR, opacity)
    return _blend(out, ~pred & truth, FALSE_NEGATIVE_COLOUR, opacity)


def agreement_map(image: np.ndarray, masks: list[np.ndarray], opacity: float = 0.55) -> np.ndarray:
    """Share of models that call each pixel lung: the mask's blue where all agree, warm where they differ."""
    stack = np.stack([np.asarray(m, bool) for m in masks]).astype(np.float32)
    share = stack.mean(axis=0)
    disagreement = 1.0 - np.abs(2 * share - 1)  # 0 where unanimous, 1 where split evenly
    out = _blend(display_gray(image), share == 1.0, TRUE_POSITIVE_COLOUR, opacity * 0.6)
    return np.where(disagreement[:, :, None] > 0, heat_map(image, disagreement, opacity=0.9), out).astype(np.uint8)


VIEWS = ("Mask overlay", "Probability", "Uncertainty", "Errors vs reference")


def _fit(arr: np.ndarray, max_side: int | None, interpolation: int) -> np.ndarray:
    h, w = arr.shape[:2]
    if not max_side or max(h, w) <= max_side:
        return arr
    scale = max_side / max(h, w)
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    if arr.dtype == bool:
        return cv2.resize(arr.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST) > 0
    return cv2.resize(arr, size, interpolation=interpolation)


def unit_float(values: np.ndarray) -> np.ndarray:
    """A [0, 1] map as float32, from float or from the 8-bit form the app caches (value / 255)."""
    values = np.asarray(values)
    return values.astype(np.float32) / 255.0 if values.dtype == np.uint8 else values.astype(np.float32, copy=False)


def render_view(view: str, image: np.ndarray, mask: np.ndarray, probability: np.ndarray | None = None,
                uncertainty: np.ndarray | None = None, truth: np.ndarray | None = None, opacity: float = 0.4,
                style: str = "fill", max_side: int | None = None) -> np.ndarray:
    """The picture for one of VIEWS; with max_side, drawn at display size (cheap on huge images)."""
    if view not in VIEWS:
        raise ValueError(f"unknown view {view!r}; valid: {', '.join(VIEWS)}")
    img = _fit(np.asarray(image), max_side, cv2.INTER_AREA)
    m = _fit(np.asarray(mask, bool), max_side, cv2.INTER_NEAREST)
    if view == "Probability" and probability is not None:
        return heat_map(img, _fit(unit_float(probability), max_side, cv2.INTER_AREA), opacity=max(opacity, 0.05))
    if view == "Uncertainty" and uncertainty is not None:
        u = _fit(unit_float(uncertainty), max_side, cv2.INTER_AREA)
        return heat_map(img, u, opacity=max(opacity, 0.05), vmax=max(0.2, float(u.max())))
    if view == "Errors vs reference" and truth is not None:
        return error_map(img, m, _fit(np.asarray(truth, bool), max_side, cv2.INTER_NEAREST), opacity=max(opacity, 0.05))
    return mask_overlay(img, m, opacity=opacity, style=style)


def change_map(image: np.ndarray, before: np.ndarray, after: np.ndarray, opacity: float = 0.6) -> np.ndarray:
    """What a correction changed: the kept lung faint, added lung green, removed lung red."""
    before, after = np.asarray(before, bool), np.asarray(after, bool)
    out = _blend(display_gray(image), before & after, MASK_COLOUR, opacity * 0.35)
    out = _blend(out, after & ~before, ADDED_COLOUR, opacity)
    return _blend(out, before & ~after, REMOVED_COLOUR, opacity)



def change_zoom(image: np.ndarray, before: np.ndarray, after: np.ndarray, margin: float = 0.25,
                min_side: int = 96, out_side: int = 720) -> np.ndarray | None:
    """The change map cropped to the changed pixels (with a margin, at least `min_side` px of the
    image) and enlarged to `out_side`: a 200-pixel correction is a sliver at full view. None when
    nothing changed."""
    before, after = np.asarray(before, bool), np.asarray(after, bool)
    rows, cols = np.nonzero(before ^ after)
    if rows.size == 0:
        return None
    h, w = before.shape
    side = max(min_side, int((1 + 2 * margin) * max(rows.max() - rows.min() + 1, cols.max() - cols.min() + 1)))
    side = min(side, h, w)
    r0 = int(np.clip((rows.min() + rows.max()) // 2 - side // 2, 0, h - side))
    c0 = int(np.clip((cols.min() + cols.max()) // 2 - side // 2, 0, w - side))
    crop = change_map(image[r0:r0 + side, c0:c0 + side], before[r0:r0 + side, c0:c0 + side],
                      after[r0:r0 + side, c0:c0 + side])
    return cv2.resize(crop, (out_side, out_side), interpolation=cv2.INTER_NEAREST)
