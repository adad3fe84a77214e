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

from ..errors import ImageReadError

#: Largest accepted image, in pixels, checked from the header before decoding. The largest chest
#: detectors are about 4300 x 4300 (18.5 MP); 6000 x 6000 leaves room for scans of film. A 12000 x
#: 12000 16-bit PNG (296 KB on disk) would otherwise cost ~3 GB to decode and scale.
MAX_PIXELS = 36_000_000
#: Longest side over shortest side: a chest film is about 0.8-1.25; 32 x 4,000,000 is not an X-ray.
MAX_ASPECT = 4.0
#: Smallest side we accept: anything smaller cannot show lungs.
MIN_SIDE = 32
#: Plausible detector pixel spacing in mm (0.05 mm: mammography-fine; 1 mm: a coarse film scan).
SPACING_RANGE_MM = (0.05, 1.0)
#: The formats the raster reader opens (PIL is not allowed to guess among its other 40).
RASTER_FORMATS = ("PNG", "JPEG")
#: File types the app's uploaders accept (the reader's formats).
UPLOAD_TYPES = ("png", "jpg", "jpeg", "dcm", "dicom")

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


def _looks_like_raw_dicom(data: bytes) -> bool:
    """A DICOM data set written without the 128-byte preamble and 'DICM' (some PACS exports): it
    starts with a group 0x0002 or 0x0008 tag, little- or big-endian."""
    return len(data) > 8 and data[:2] in (b"\x02\x00", b"\x08\x00", b"\x00\x02", b"\x00\x08")


def _check_size(width: int, height: int, what: str) -> None:
    """Refuse from the header, before any pixel is decoded (memory stays bounded)."""
    if width * height > MAX_PIXELS:
        raise ImageReadError(
            f"The {what} is {width}x{height} pixels, larger than the {MAX_PIXELS // 1_000_000} megapixel limit. "
            "Export it at a smaller size (a chest X-ray needs no more than about 4000x4000).")
    if min(width, height) > 0 and max(width, height) / min(width, height) > MAX_ASPECT:
        raise ImageReadError(
            f"The {what} is {width}x{height} pixels: far too long and thin for a chest X-ray (longest side more "
            f"than {MAX_ASPECT:g} times the shortest). Check that the right file was chosen.")


def plausible_spacing(value: Any) -> tuple[float, float] | None:
    """(row, column) spacing in mm if both are finite and within SPACING_RANGE_MM, else None."""
    try:
        dy, dx = (float(v) for v in value)
    except (TypeError, ValueError):
        return None
    lo, hi = SPACING_RANGE_MM
    if all(np.isfinite(v) and lo <= v <= hi for v in (dy, dx)):
        return (dy, dx)
    return None


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
        with Image.open(io.BytesIO(data), formats=RASTER_FORMATS) as img:
            fmt = img.format or "unknown"
            w, h = img.size
            _check_size(w, h, "image")
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
            "This file is not an image we can read (PNG, JPEG and DICOM are). Upload a PNG, JPEG or DICOM "
            "chest X-ray, or export it in one of those formats."
        ) from exc
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageReadError(
            f"The image file is damaged or truncated ({exc}). Export it again and re-upload."
        ) from exc
    return XrayImage(pixels, {"format": fmt.upper(), "bit_depth": 16 if pixels.dtype == np.uint16 else 8})


def _read_dicom(data: bytes, preamble: bool = True) -> XrayImage:
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.pixels import apply_modality_lut, apply_voi_lut, pixel_array

    notes: list[str] = []
    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=True)
    except (InvalidDicomError, OSError, ValueError, EOFError, KeyError, TypeError) as exc:
        raise ImageReadError(f"The DICOM file could not be parsed ({exc}). Export it again from the PACS "
                             "(as a standard DICOM file, with its 128-byte preamble) and re-upload.") from exc
    if not preamble:
        notes.append("This DICOM file has no 128-byte preamble (a non-standard export); it was read anyway.")
    if "PixelData" not in ds:
        raise ImageReadError(
            "This DICOM file has no image in it (no PixelData): it may be a report or a "
            "structured document. Upload the DICOM of the radiograph itself."
        )
    rows, cols = int(ds.get("Rows", 0) or 0), int(ds.get("Columns", 0) or 0)
    _check_size(cols, rows, "DICOM image")
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    samples = int(ds.get("SamplesPerPixel", 1) or 1)
    try:
        # Decode only the frame we show: a 60-frame file would otherwise decode every frame.
        arr = pixel_array(ds, index=0) if frames > 1 else ds.pixel_array
    except Exception as exc:  # pydicom raises many types for bad/unsupported pixel data
        raise ImageReadError(
            f"The DICOM pixel data cannot be decoded ({exc}). It may be truncated or use an "
            "unsupported compression; export it uncompressed and re-upload."
        ) from exc
    if frames > 1:
        notes.append(f"This DICOM holds {frames} frames; the first is shown. If the radiograph is another frame, "
                     "export that frame as its own file.")
    if arr.ndim == 3 and samples == 1:
        arr = arr[0]
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):  # colour (e.g. secondary capture): shown as grey
        arr = np.asarray(Image.fromarray(np.clip(arr[..., :3], 0, 255).astype(np.uint8)).convert("L"))
        notes.append("This DICOM is a colour picture (a screen capture?), converted to grey; the original "
                     "radiograph gives better masks.")
    if arr.ndim != 2:
        raise ImageReadError(f"The DICOM pixel data has shape {arr.shape}, not a single 2-D radiograph. Export "
                             "one frame as a greyscale DICOM and re-upload.")
    img = np.asarray(apply_modality_lut(arr, ds), dtype=np.float32)
    try:
        windowed = np.asarray(apply_voi_lut(img, ds), dtype=np.float32)
        if float(windowed.max()) > float(windowed.min()):
            img = windowed
        elif float(img.max()) > float(img.min()):
            notes.append("The file's display window (VOI) flattens the image; the full range is shown instead.")
    except Exception:  # a broken VOI LUT must not block reading: fall back to full range
        notes.append("The file's display window (VOI) could not be applied; the full range is shown instead.")
    if str(ds.get("PhotometricInterpretation", "")).upper() == "MONOCHROME1":
        img = img.max() + img.min() - img  # MONOCHROME1: high values are dark
    meta: dict[str, Any] = {"format": "DICOM", "bit_depth": int(ds.get("BitsStored", 16) or 16)}
    raw_spacing = ds.get("PixelSpacing") or ds.get("ImagerPixelSpacing")
    if raw_spacing is not None:
        spacing = plausible_spacing(raw_spacing)
        if spacing is not None:
            meta["pixel_spacing_mm"] = spacing
        else:
            shown = ", ".join(str(v) for v in raw_spacing) if hasattr(raw_spacing, "__iter__") else str(raw_spacing)
            notes.append(f"The pixel spacing in the file ({shown[:40]} mm) is not plausible for a chest X-ray "
                         f"({SPACING_RANGE_MM[0]}-{SPACING_RANGE_MM[1]} mm): sizes are given in pixels only.")
    if str(ds.get("BurnedInAnnotation", "")).strip().upper() == "YES":
        meta["warnings"] = ["The file says text is burned into the pixels (BurnedInAnnotation = YES): it may show "
                            "the patient's name or ID. Do not share the image or its overlay outside care."]
    if notes:
        meta["notes"] = notes
    return XrayImage(img, meta)


def _decode(data: bytes) -> XrayImage:
    """Bytes -> 2-D array with the checks every picture needs (size, shape, finite values)."""
    if not data:
        raise ImageReadError("The file is empty (0 bytes). Choose the X-ray file again.")
    if _looks_like_dicom(data):
        image = _read_dicom(data)
    else:
        try:
            image = _read_raster(data)
        except ImageReadError:
            if not _looks_like_raw_dicom(data):
                raise
            image = _read_dicom(data, preamble=False)
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
    from ..errors import MaskError

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
