"""Reader hardening: pixel and aspect caps from the header, one decoded frame of a multi-frame
DICOM, implausible pixel spacing, a flattening VOI window, colour multi-frame, DICOM without
preamble, BurnedInAnnotation, formats PIL may open."""
import io
import resource
import tracemalloc

import numpy as np
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from lungseg_core import read_xray
from lungseg_core.errors import ImageReadError
from lungseg_core.imaging.image_io import MAX_PIXELS

from .dicom_factory import DX_SOP_CLASS, make_dicom


def _png(arr) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _dicom(arr: np.ndarray, preamble: bool = True, **fields) -> bytes:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DX_SOP_CLASS
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID, ds.SOPInstanceUID, ds.Modality = DX_SOP_CLASS, meta.MediaStorageSOPInstanceUID, "DX"
    rgb = arr.ndim == 4 or (arr.ndim == 3 and arr.shape[-1] == 3)
    frames = arr.shape[0] if arr.ndim == 4 or (arr.ndim == 3 and not rgb) else 1
    ds.Rows, ds.Columns = (arr.shape[1:3] if frames > 1 else arr.shape[:2])
    ds.SamplesPerPixel = 3 if rgb else 1
    ds.PhotometricInterpretation = "RGB" if rgb else "MONOCHROME2"
    bits = 8 if rgb else 16
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = bits, bits, bits - 1, 0
    if rgb:
        ds.PlanarConfiguration = 0
    if frames > 1:
        ds.NumberOfFrames = frames
    for key, value in fields.items():
        setattr(ds, key, value)
    ds.PixelData = arr.astype(np.uint8 if rgb else np.uint16).tobytes()
    buf = io.BytesIO()
    if preamble:
        ds.save_as(buf, enforce_file_format=True)
    else:
        ds.save_as(buf, implicit_vr=False, little_endian=True)  # data set only: no preamble, no 'DICM'
    return buf.getvalue()


def test_huge_png_is_refused_from_its_header_without_decoding():
    side = int(np.sqrt(MAX_PIXELS)) + 100
    img = Image.new("I;16", (side, side))
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    tracemalloc.start()
    with pytest.raises(ImageReadError, match="megapixel limit"):
        read_xray(buf.getvalue())
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 50_000_000, f"{peak / 1e6:.0f} MB allocated while refusing"


def test_absurd_aspect_ratio_is_refused():
    with pytest.raises(ImageReadError, match="long and thin"):
        read_xray(_png(np.zeros((40, 400), np.uint8) + np.arange(400, dtype=np.uint8)[None] % 200))


def test_multi_frame_dicom_decodes_only_the_first_frame():
    frames = np.stack([np.full((256, 256), 100 * (i + 1), np.uint16) for i in range(60)])
    frames[0, :128] = 4000
    data = _dicom(frames)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    image = read_xray(data)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert image.pixels.shape == (256, 256) and image.pixels.max() == 4000  # the first frame
    assert any("60 frames; the first is shown" in n for n in image.meta["notes"])
    assert grown_mb < 6  # 60 frames of 128 KB would be 7.5 MB as uint16 and 15 MB as float32


def test_colour_multi_frame_dicom_gets_a_message_and_reads_the_first_frame():
    frames = np.zeros((3, 64, 64, 3), np.uint8)
    frames[0, :, :32] = 200
    image = read_xray(_dicom(frames))
    assert image.pixels.shape == (64, 64)
    assert any("colour picture" in n for n in image.meta["notes"])


@pytest.mark.parametrize("spacing", [["-0.2", "-0.2"], ["1e30", "1e30"], ["nan", "0.2"], ["0", "0"], ["5", "5"]])
def test_implausible_pixel_spacing_is_ignored_with_a_note(spacing):
    pixels = (np.arange(64 * 64).reshape(64, 64) % 4000).astype(np.uint16)
    image = read_xray(_dicom(pixels, PixelSpacing=spacing))
    assert image.pixel_spacing_mm is None
    assert any("not plausible" in n for n in image.meta["notes"])


def test_plausible_spacing_is_kept():
    pixels = (np.arange(64 * 64).reshape(64, 64) % 4000).astype(np.uint16)
    assert read_xray(make_dicom(pixels, spacing=(0.143, 0.143))).pixel_spacing_mm == (0.143, 0.143)


def test_a_window_that_flattens_the_image_falls_back_to_the_full_range():
    pixels = (np.arange(64 * 64).reshape(64, 64) % 4000).astype(np.uint16)
    image = read_xray(make_dicom(pixels, window=(100000, 1)))  # everything below the window: one flat value
    assert float(image.pixels.max()) > float(image.pixels.min())
    assert any("full range" in n for n in image.meta["notes"])


def test_dicom_without_preamble_is_read_with_a_note():
    pixels = (np.arange(64 * 64).reshape(64, 64) % 4000).astype(np.uint16)
    data = _dicom(pixels, preamble=False)
    assert data[128:132] != b"DICM"
    image = read_xray(data)
    assert image.pixels.shape == (64, 64)
    assert any("no 128-byte preamble" in n for n in image.meta["notes"])


def test_burned_in_annotation_is_a_warning():
    pixels = (np.arange(64 * 64).reshape(64, 64) % 4000).astype(np.uint16)
    image = read_xray(_dicom(pixels, BurnedInAnnotation="YES"))
    assert "BurnedInAnnotation = YES" in image.meta["warnings"][0]


def test_formats_other_than_png_and_jpeg_are_not_opened():
    buf = io.BytesIO()
    Image.fromarray((np.arange(64 * 64).reshape(64, 64) % 255).astype(np.uint8)).save(buf, format="TIFF")
    with pytest.raises(ImageReadError, match="not an image we can read"):
        read_xray(buf.getvalue())
