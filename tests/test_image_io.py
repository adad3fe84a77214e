import io
import struct
import zlib

import numpy as np
import pytest
from PIL import Image

from lungseg_core.errors import ImageReadError, MaskError
from lungseg_core.imaging.image_io import read_mask, read_xray

from .conftest import SAMPLES, sample_cases
from .dicom_factory import PATIENT_ID, PATIENT_NAME, make_dicom


def _gradient(h: int = 64, w: int = 80, hi: int = 255) -> np.ndarray:
    return (np.linspace(0, hi, w)[None, :] * np.ones((h, 1))).astype(np.uint16 if hi > 255 else np.uint8)


def _png(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG", **kw)
    return buf.getvalue()


def _jpeg(img: Image.Image, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG", **kw)
    return buf.getvalue()


def test_sample_png_reads_as_8bit_gray():
    row = sample_cases()[0]
    image = read_xray((SAMPLES / row["image_path"]).read_bytes())
    assert image.pixels.shape == (512, 512) and image.pixels.dtype == np.uint8
    assert image.meta["format"] == "PNG" and image.meta["width"] == 512


def test_16bit_png_keeps_depth():
    arr = _gradient(hi=60000)
    image = read_xray(_png(Image.fromarray(arr)))
    assert image.pixels.dtype == np.uint16
    assert image.pixels.max() == arr.max()
    assert image.meta["bit_depth"] == 16


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "P", "LA", "1"])
def test_colour_modes_become_2d_gray(mode):
    base = Image.fromarray(_gradient()).convert("RGB")
    img = base.convert(mode) if mode != "P" else base.convert("P", palette=Image.Palette.ADAPTIVE)
    pixels = read_xray(_png(img)).pixels
    assert pixels.ndim == 2 and pixels.shape == (64, 80)


def test_rgba_transparent_area_is_black():
    rgba = Image.fromarray(np.full((40, 40, 4), 200, np.uint8), "RGBA")
    arr = np.asarray(rgba).copy()
    arr[:, :, 3] = 255
    arr[:, :20, 3] = 0
    pixels = read_xray(_png(Image.fromarray(arr, "RGBA"))).pixels
    assert pixels[:, :20].max() == 0 and pixels[:, 20:].min() == 200


def test_jpeg_and_cmyk_jpeg():
    img = Image.fromarray(_gradient())
    assert read_xray(_jpeg(img)).pixels.shape == (64, 80)
    cmyk = read_xray(_jpeg(img.convert("CMYK")))
    assert cmyk.pixels.shape == (64, 80) and cmyk.meta["format"] == "JPEG"


def test_exif_orientation_applied():
    img = Image.fromarray(_gradient(64, 80))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 CW on display
    pixels = read_xray(_jpeg(img, exif=exif.tobytes())).pixels
    assert pixels.shape == (80, 64)


def test_dicom_monochrome2_with_spacing_and_no_identifiers():
    arr = _gradient(64, 80, hi=4000)
    image = read_xray(make_dicom(arr, spacing=(0.143, 0.15)))
    assert image.pixels.shape == (64, 80)
    assert image.pixel_spacing_mm == (0.143, 0.15)
    assert image.pixels[0, -1] > image.pixels[0, 0]  # bright stays bright
    text = repr(image.meta)
    assert PATIENT_NAME.split("^")[0] not in text and PATIENT_ID not in text
    assert set(image.meta) <= {"format", "bit_depth", "pixel_spacing_mm", "height", "width"}


def test_dicom_monochrome1_is_inverted():
    arr = _gradient(64, 80, hi=4000)
    image = read_xray(make_dicom(arr, photometric="MONOCHROME1"))
    assert image.pixels[0, 0] > image.pixels[0, -1]  # low stored value = bright in MONOCHROME1


def test_dicom_voi_window_applied():
    arr = _gradient(64, 80, hi=4000)
    windowed = read_xray(make_dicom(arr, window=(1000, 500))).pixels
    # values below 750 and above 1250 saturate: fewer distinct levels than the raw gradient
    assert len(np.unique(windowed)) < len(np.unique(arr))
    assert windowed[0, 0] == windowed[0, 5]


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"this is a text file, not an image" * 10, "not an image"),
    (b"\x00" * 200 + b"junk", "not an image"),
])
def test_bad_bytes_raise_typed_error(data, message):
    with pytest.raises(ImageReadError, match=message):
        read_xray(data)


def test_truncated_png():
    data = _png(Image.fromarray(np.random.default_rng(0).integers(0, 255, (256, 256), dtype=np.uint8)))
    with pytest.raises(ImageReadError, match="damaged or truncated"):
        read_xray(data[: len(data) // 2])


def _png_header_only(width: int, height: int) -> bytes:
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\x00" * 10)) + chunk(b"IEND", b"")


def test_decompression_bomb_refused_before_decoding():
    with pytest.raises(ImageReadError, match="larger than|too large"):
        read_xray(_png_header_only(60000, 60000))


def test_dicom_without_pixel_data():
    with pytest.raises(ImageReadError, match="no image in it"):
        read_xray(make_dicom(None))


def test_flat_black_image():
    with pytest.raises(ImageReadError, match="single flat colour"):
        read_xray(_png(Image.new("L", (128, 128), 0)))


def test_tiny_image():
    with pytest.raises(ImageReadError, match="at least"):
        read_xray(_png(Image.fromarray(_gradient(10, 10))))


def test_read_mask_thresholds_and_resizes():
    soft = np.zeros((50, 60), np.uint8)
    soft[:, 30:] = 200
    soft[:, 28:30] = 90  # soft edge below half range
    mask = read_mask(_png(Image.fromarray(soft)), shape=(100, 120))
    assert mask.dtype == bool and mask.shape == (100, 120)
    assert mask[:, 62:].all() and not mask[:, :56].any()


def test_read_mask_empty_and_bad():
    assert not read_mask(_png(Image.new("L", (64, 64), 0))).any()
    with pytest.raises(MaskError):
        read_mask(b"not a mask")
