import io
import json

import numpy as np
import pytest
from PIL import Image

from lungseg_core.imaging.case_report import (figures_record, image_hash, load_ground_truth, png_bytes, records_csv,
                                      records_json)
from lungseg_core.errors import MaskError
from lungseg_core.imaging.lung_measurements import measure_lungs
from lungseg_core.imaging.metrics import overlap_metrics


def _png(arr):
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def test_image_hash_depends_on_pixels_and_dtype():
    a = np.zeros((4, 4), np.uint8)
    assert image_hash(a) == image_hash(a.copy())
    assert image_hash(a) != image_hash(a.astype(np.uint16))
    b = a.copy()
    b[0, 0] = 1
    assert image_hash(a) != image_hash(b)


def test_ground_truth_notes_and_errors():
    m = np.zeros((50, 50), np.uint8)
    m[10:40, 10:40] = 255
    gt = load_ground_truth(_png(m), (50, 50))
    assert gt.notes == [] and gt.mask.sum() == 900
    gt = load_ground_truth(_png(m), (100, 100))
    assert "resized" in gt.notes[0] and gt.mask.shape == (100, 100)
    assert "empty" in load_ground_truth(_png(np.zeros((50, 50), np.uint8)), (50, 50)).notes[0]
    with pytest.raises(MaskError, match="every pixel"):
        load_ground_truth(_png(np.full((50, 50), 255, np.uint8)), (50, 50))


def test_records_and_png():
    mask = np.zeros((20, 20), bool)
    mask[2:10, 2:8] = True
    mask[2:10, 12:18] = True
    rec = figures_record("m", measure_lungs(mask), overlap_metrics(mask, mask), "case", 0.01)
    assert rec["iou_vs_reference"] == 1.0 and rec["total_area_px"] == 96
    assert records_csv([rec]).splitlines()[0].startswith("case,model,")
    assert json.loads(records_json([rec]))[0]["model"] == "m"
    back = np.asarray(Image.open(io.BytesIO(png_bytes(mask))))
    assert back.dtype == np.uint8 and set(np.unique(back)) == {0, 255}


def test_download_names_say_which_case_model_and_day():
    from lungseg_core.imaging.case_report import download_name

    assert download_name("CHNCXR_0001_0.png", "unet_lite0", "mask", "png", "2026-12-01") == \
        "CHNCXR_0001_0_mask_unet_lite0_2026-12-01.png"
    assert download_name("Case 3 · ward 2/../x", "m", "figures", "csv", "d") == "Case-3-ward-2-..-x_figures_m_d.csv"
    assert download_name("", "m", "overlay", "png", "d") == "xray_overlay_m_d.png"
