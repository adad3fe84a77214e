"""App tests with streamlit.testing (AppTest): each page's logic without a browser."""
from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from lungseg_core import DEFAULT_MODEL, list_models, load_model, overlap_metrics, read_mask, read_xray
from lungseg_core.models.samples import list_samples

from lungseg_core.workflow.corrections_store import SQLiteCorrectionsStore

from .dicom_factory import PATIENT_ID, make_dicom
from .people import ANN
from .signed_in import sign_in_as

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 120


@pytest.fixture(autouse=True)
def _store(tmp_path, monkeypatch):
    monkeypatch.setenv("LUNGSEG_STORE", str(tmp_path / "store"))


def _page(path: str) -> AppTest:
    """The page as a signed-in annotator sees it."""
    import os

    at = AppTest.from_file(str(ROOT / path), default_timeout=TIMEOUT)
    sign_in_as(at, SQLiteCorrectionsStore(os.environ["LUNGSEG_STORE"]), ANN)
    return at


def _png(arr: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _metric(at: AppTest, label: str) -> str:
    values = [m.value for m in at.metric if m.label == label]
    assert values, f"no metric {label!r}; metrics: {[m.label for m in at.metric]}"
    return values[0]


def _upload(at: AppTest, key: str, name: str, data: bytes, mime: str = "image/png") -> AppTest:
    at.file_uploader(key=key).set_value((name, data, mime))
    return at.run()


def test_home_lists_models_and_opens_a_sample():
    at = _page("app.py").run()
    assert not at.exception
    assert at.title[0].value == "LungSeg Studio"
    table = at.dataframe[0].value
    assert DEFAULT_MODEL in list(table["model"])
    sample = list_samples()[0]
    at.button(key=f"open_{sample.id}").click().run()
    assert not at.exception
    assert at.session_state["case"].label == sample.label


def test_segment_sample_iou_matches_library():
    sample = list_samples()[1]
    at = _page("pages/1_Segment.py").run()
    assert "Upload a chest X-ray" in at.info[0].value
    at.selectbox(key="_sample_widget").set_value(sample.label).run()
    at.button(key="_open_sample").click().run()
    assert not at.exception
    image = read_xray(sample.image_path.read_bytes()).pixels
    truth = read_mask(sample.mask_path.read_bytes(), image.shape)
    expected = overlap_metrics(load_model(DEFAULT_MODEL).predict(image), truth)
    assert _metric(at, "IoU") == f"{expected.iou:.3f}"
    assert _metric(at, "Dice") == f"{expected.dice:.3f}"
    # display changes do not need a new prediction and keep the page whole
    at.radio(key="_view").set_value("Errors vs reference").run()
    at.slider(key="_opacity").set_value(0.8).run()
    assert not at.exception and _metric(at, "IoU") == f"{expected.iou:.3f}"


@pytest.mark.parametrize("name, data, message", [
    ("notes.png", b"hello, not an X-ray", "not an image"),  # the uploader takes only image types
    ("empty.png", b"", "empty"),
    ("black.png", _png(np.zeros((300, 300), np.uint8)), "single flat colour"),
    ("report.dcm", make_dicom(None), "no image in it"),
])
def test_bad_upload_shows_error_and_page_keeps_working(name, data, message):
    at = _page("pages/1_Segment.py").run()
    _upload(at, "xray_upload", name, data, "application/octet-stream")
    assert not at.exception
    assert any(message in e.value for e in at.error), [e.value for e in at.error]
    good = list_samples()[0].image_path.read_bytes()
    _upload(at, "xray_upload", "good.png", good)
    assert not at.exception and not at.error
    assert _metric(at, "Share of image").endswith("%")


def test_reference_mask_of_other_size_and_not_binary_is_explained():
    sample = list_samples()[0]
    at = _page("pages/1_Segment.py").run()
    _upload(at, "xray_upload", "x.png", sample.image_path.read_bytes())
    truth = read_mask(sample.mask_path.read_bytes())
    soft = np.asarray(Image.fromarray(truth.astype(np.uint8) * 200).resize((256, 256), Image.BILINEAR))
    _upload(at, "truth_upload", "mask.png", _png(soft))
    warnings = " ".join(w.value for w in at.warning)
    assert "resized to the image" in warnings and "not binary" in warnings
    assert float(_metric(at, "Dice")) > 0.9
    _upload(at, "truth_upload", "white.png", _png(np.full((512, 512), 255, np.uint8)))
    assert any("every pixel" in e.value for e in at.error)


def test_dicom_upload_gives_physical_sizes_and_keeps_no_identifiers():
    sample = list_samples()[0]
    pixels = np.asarray(Image.open(sample.image_path)).astype(np.uint16) * 16
    at = _page("pages/1_Segment.py").run()
    _upload(at, "xray_upload", "chest.dcm", make_dicom(pixels, spacing=(0.35, 0.35)), "application/dicom")
    assert not at.exception
    assert _metric(at, "Lung height").endswith("mm")
    case = at.session_state["case"]
    assert case.meta["pixel_spacing_mm"] == (0.35, 0.35)
    assert PATIENT_ID not in repr(case.meta) and "Doe" not in repr(case.meta) and "Doe" not in case.label


def test_compare_page_runs_every_model():
    at = _page("pages/2_Compare.py").run()
    assert "Open an X-ray" in at.info[0].value
    at = _page("app.py").run()
    at.button(key=f"open_{list_samples()[2].id}").click().run()
    at.switch_page("pages/2_Compare.py").run()
    assert not at.exception
    table = at.dataframe[0].value
    assert list(table["model"]) == list_models()
    assert "IoU" in table.columns and (table["IoU"] > 0).all()


def test_models_page_shows_every_card():
    at = _page("pages/3_Models.py").run()
    assert not at.exception
    assert len(at.expander) == len(list_models())
    assert any("Test split" in md.value for md in at.markdown)
