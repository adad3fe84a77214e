"""One function owns "file bytes -> 2-D X-ray array + metadata" (PNG, JPEG, 16-bit PNG, DICOM).

Why one place: every format has quirks (EXIF rotation, palettes, alpha, MONOCHROME1, VOI LUT,
decompression bombs) and the app, CLI and training must all see the same pixels.
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageReadError

#: Largest accepted image, in pixels (about 12k x 12k); bigger files are refused before decoding.
MAX_PIXELS = 150_000_000
#: Smallest side we accept: anything smaller cannot show lungs.
MIN_SIDE = 32

DICOM_MAGIC_OFFSET = 128


@dataclass
class XrayImage:
    """A decoded X-ray: `pixels` is 2-D (uint8, uint16 or float32), `meta` holds no identifiers."""

    pixels: np.ndarray
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.pixels.shape)  # type: ignore[return-value]

    @property
    def pixel_spacing_mm(self) -> tuple[float, float] | None:
        spacing = self.meta.get("pixel_spacing_mm")
        return tuple(spacing) if spacing else None  # type: ignore[return-value]


def _looks_like_dicom(data: bytes) -> bool:
    return len(data) > DICOM_MAGIC_OFFSET + 4 and data[DICOM_MAGIC_OFFSET:DICOM_MAGIC_OFFSET + 4] == b"DICM"


def _to_gray(img: Image.Image) -> np.ndarray:
    """Any PIL mode -> 2-D array, keeping 16-bit depth where the file has it."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N"):
        return np.asarray(img, dtype=np.uint16).copy()
    if mode == "I":
        arr = np.asarray(img, dtype=np.int64)
        lo, hi = int(arr.min()), int(arr.max())
        if lo >= 0 and hi <= 65535:
            return arr.astype(np.uint16)
        return arr.astype(np.float32)
    if mode == "F":
        return np.asarray(img, dtype=np.float32).copy()
    if mode in ("1", "L"):
        return np.asarray(img.convert("L"), dtype=np.uint8).copy()
    if mode in ("LA", "RGBA", "PA") or (mode == "P" and "transparency" in img.info):
        # Transparent parts are shown as black, as a viewer on a dark background would.
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        img = Image.alpha_composite(background, rgba)
    return np.asarray(img.convert("L"), dtype=np.uint8).copy()


def _read_raster(data: bytes) -> XrayImage:
    try:
        with Image.open(io.BytesIO(data)) as img:
            fmt = img.format or "unknown"
            w, h = img.size
            if w * h > MAX_PIXELS:
                raise ImageReadError(
                    f"The image is {w}x{h} pixels, larger than the {MAX_PIXELS // 1_000_000} megapixel "
                    "limit. Export it at a smaller size (a chest X-ray needs no more than about 4000x4000)."
                )
            img.load()
            img = ImageOps.exif_transpose(img) or img
            pixels = _to_gray(img)
    except ImageReadError:
        raise
    except Image.DecompressionBombError as exc:
        raise ImageReadError(
            "The image is too large to open safely (decompression-bomb guard). "
            "Export it at a smaller size."
        ) from exc
    except UnidentifiedImageError as exc:
        raise ImageReadError(
            "This file is not an image we can read. Upload a PNG, JPEG or DICOM chest X-ray."
        ) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(
            f"The image file is damaged or truncated ({exc}). Export it again and re-upload."
        ) from exc
    return XrayImage(pixels, {"format": fmt.upper(), "bit_depth": 16 if pixels.dtype == np.uint16 else 8})


def _read_dicom(data: bytes) -> XrayImage:
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=True)
    except (InvalidDicomError, OSError, ValueError, EOFError) as exc:
        raise ImageReadError(f"The DICOM file could not be parsed ({exc}).") from exc
    if "PixelData" not in ds:
        raise ImageReadError(
            "This DICOM file has no image in it (no PixelData): it may be a report or a "
            "structured document. Upload the DICOM of the radiograph itself."
        )
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    if rows * cols > MAX_PIXELS:
        raise ImageReadError(f"The DICOM image is {cols}x{rows} pixels, larger than the limit.")
    try:
        arr = ds.pixel_array
    except Exception as exc:  # pydicom raises many types for bad/unsupported pixel data
        raise ImageReadError(
            f"The DICOM pixel data cannot be decoded ({exc}). It may be truncated or use an "
            "unsupported compression; export it uncompressed and re-upload."
        ) from exc
    if arr.ndim == 3 and int(ds.get("SamplesPerPixel", 1)) == 1:
        arr = arr[0]  # multi-frame: the first frame is the radiograph
    if arr.ndim == 3:  # colour DICOM (e.g. secondary capture)
        arr = np.asarray(Image.fromarray(arr.astype(np.uint8)).convert("L"))
    img = apply_modality_lut(arr, ds)
    try:
        img = apply_voi_lut(img, ds)
    except Exception:  # a broken VOI LUT must not block reading: fall back to full range
        pass
    img = np.asarray(img, dtype=np.float32)
    if str(ds.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        img = img.max() + img.min() - img  # MONOCHROME1: high values are dark
    meta: dict[str, Any] = {"format": "DICOM", "bit_depth": int(ds.get("BitsStored", 16) or 16)}
    spacing = ds.get("PixelSpacing") or ds.get("ImagerPixelSpacing")
    if spacing is not None and len(spacing) == 2:
        try:
            meta["pixel_spacing_mm"] = (float(spacing[0]), float(spacing[1]))
        except (TypeError, ValueError):
            pass
    return XrayImage(img, meta)


def _decode(data: bytes) -> XrayImage:
    """Bytes -> 2-D array with the checks every picture needs (size, shape, finite values)."""
    if not data:
        raise ImageReadError("The file is empty (0 bytes). Choose the X-ray file again.")
    image = _read_dicom(data) if _looks_like_dicom(data) else _read_raster(data)
    pixels = image.pixels
    if pixels.ndim != 2:
        raise ImageReadError(f"Expected a single grayscale image, got an array of shape {pixels.shape}.")
    if min(pixels.shape) < MIN_SIDE:
        raise ImageReadError(
            f"The image is only {pixels.shape[1]}x{pixels.shape[0]} pixels; a chest X-ray needs "
            f"at least {MIN_SIDE} pixels a side."
        )
    if not np.isfinite(pixels).all():
        raise ImageReadError("The image contains invalid (NaN/inf) pixel values.")
    image.meta["height"], image.meta["width"] = int(pixels.shape[0]), int(pixels.shape[1])
    return image


def read_xray(data: bytes) -> XrayImage:
    """Decode uploaded bytes into a 2-D X-ray. Keeps no patient identifiers (only size/spacing).

    Raises ImageReadError with a message the user can act on for every kind of bad input.
    """
    image = _decode(data)
    if float(image.pixels.max()) == float(image.pixels.min()):
        raise ImageReadError(
            "The image is a single flat colour (for example all black): there is nothing to segment."
        )
    return image


def decode_mask_pixels(data: bytes) -> np.ndarray:
    """A mask file's raw 2-D pixels (a flat, all-empty mask is allowed); MaskError if unreadable."""
    from .errors import MaskError

    try:
        return _decode(data).pixels
    except ImageReadError as exc:
        raise MaskError(f"The mask could not be read: {exc}") from exc


def binarize_mask(pixels: np.ndarray, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Bool HxW: thresholded at half the pixel range, resized (nearest) to `shape` if it differs."""
    pixels = np.asarray(pixels, dtype=np.float32)
    lo, hi = float(pixels.min()), float(pixels.max())
    mask = pixels > (lo + hi) / 2 if hi > lo else np.full(pixels.shape, hi > 0, dtype=bool)
    if shape is not None and mask.shape != tuple(shape):
        import cv2

        mask = cv2.resize(mask.astype(np.uint8), (shape[1], shape[0]), interpolation=cv2.INTER_NEAREST) > 0
    return mask


def read_mask(data: bytes, shape: tuple[int, int] | None = None) -> np.ndarray:
    """Decode a mask file into bool HxW; non-binary masks are thresholded at half their range,
    and a mask of another size is resized (nearest) to `shape`."""
    return binarize_mask(decode_mask_pixels(data), shape)
