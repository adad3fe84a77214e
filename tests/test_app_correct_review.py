"""AppTest of the Correct and Review pages: canvas strokes (injected as the canvas would send
them) become a saved version; Review lists it, approves it and exports it."""
from __future__ import annotations

import base64
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from lungseg_core.workflow.corrections_store import SQLiteCorrectionsStore
from lungseg_core.imaging.mask_editing import ERASE_COLOUR, Viewport
from lungseg_core.models.samples import list_samples

from .people import ANN, REV
from .signed_in import sign_in_as

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def store_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LUNGSEG_STORE", str(tmp_path / "store"))
    return tmp_path / "store"


def _canvas_value(rgba: np.ndarray) -> dict:
    buf = io.BytesIO()
    Image.fromarray(rgba).save(buf, format="PNG")
    data = "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()
    return {"drawing": {"raw": {"objects": [{"type": "path"}]}, "data": data}, "backgroundFit": None}


def _open_sample_on_correct(sample, store_dir, user=ANN) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages/4_Correct.py"), default_timeout=120)
    sign_in_as(at, SQLiteCorrectionsStore(store_dir), user)
    at.run()
    at.selectbox(key="_sample_widget").set_value(sample.label).run()
    at.button(key="_open_sample").click().run()
    assert not at.exception
    return at


def _metric(at: AppTest, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_erase_stroke_saved_as_new_version_then_reviewed_and_exported(store_dir):
    sample = list_samples()[0]
    at = _open_sample_on_correct(sample, store_dir)
    edit = at.session_state["edit_session"]
    model_mask = edit.history.original
    vp = Viewport.whole(model_mask.shape)
    w, h = vp.canvas_size(700)
    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[300:330, 50:650, :3] = ERASE_COLOUR  # a band across both lungs
    rgba[300:330, 50:650, 3] = 140
    at.session_state[edit.canvas_key] = _canvas_value(rgba)
    at.run()
    removed = int(_metric(at, "Pixels removed").replace(",", ""))
    assert removed > 1000 and _metric(at, "Pixels added") == "0"

    at.text_input(key="_note").set_value("cut a band")
    at.radio(key="_status").set_value("submitted")
    at.button(key="_save").click().run()
    assert any("Saved version 1" in s.value for s in at.success)

    store = SQLiteCorrectionsStore(store_dir)
    (record,) = store.list_corrections()
    original = store.load_mask(record.original_mask_hash)
    corrected = store.load_mask(record.corrected_mask_hash)
    assert np.array_equal(original, model_mask)
    diff = original & ~corrected
    assert int(diff.sum()) == removed and not (corrected & ~original).any()
    rows = np.flatnonzero(diff.any(axis=1))
    scale = 512 / 700
    assert rows.min() >= int(300 * scale) - 1 and rows.max() <= int(330 * scale) + 1  # exactly where the band went

    assert record.annotator == ANN.username and record.status == "submitted", record  # the author is the signed-in user
    # a submitted version waits for its review: saving over it is refused, the edit stays on the page
    at.button(key="_save").click().run()
    assert any("Not saved" in e.value and "wait for its review" in e.value for e in at.error), [e.value for e in at.error] + [s.value for s in at.success]
    assert len(store.list_corrections()) == 1 and int(_metric(at, "Pixels removed").replace(",", "")) == removed

    review = AppTest.from_file(str(ROOT / "pages/5_Review.py"), default_timeout=120)
    sign_in_as(review, store, ANN)
    review.run()
    assert not review.exception
    assert len(review.dataframe[0].value) == 1
    assert not [b for b in review.button if b.key == "_approve"]  # an annotator cannot approve
    review = AppTest.from_file(str(ROOT / "pages/5_Review.py"), default_timeout=120)
    sign_in_as(review, store, REV)
    review.run()
    latest = record
    review.button(key="_approve").click().run()
    assert not review.exception
    assert store.get(latest.id).status == "approved"
    zip_button = review.get("download_button")
    assert zip_button, "export buttons missing"
    data = __import__("lungseg_core.workflow.corrections_export", fromlist=["x"]).export_training_zip(store)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert "manifest.csv" in zf.namelist() and len([n for n in zf.namelist() if n.startswith("masks/")]) == 1


def test_undo_redo_reset_and_zoom(store_dir):
    at = _open_sample_on_correct(list_samples()[1], store_dir)
    edit = at.session_state["edit_session"]
    vp = Viewport.whole(edit.history.original.shape)
    w, h = vp.canvas_size(700)
    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[10:40, 10:40] = (*ERASE_COLOUR, 140)
    rgba[10:40, 10:40, :3] = (0, 255, 0)
    at.session_state[edit.canvas_key] = _canvas_value(rgba)
    at.run()
    added = _metric(at, "Pixels added")
    assert added != "0"
    at.button(key="_apply").click().run()
    assert _metric(at, "Pixels added") == added and at.session_state["edit_session"].history.position == 1
    at.button(key="_undo").click().run()
    assert _metric(at, "Pixels added") == "0"
    at.button(key="_redo").click().run()
    assert _metric(at, "Pixels added") == added
    at.button(key="_reset").click().run()
    assert _metric(at, "Pixels added") == "0"
    at.select_slider(key="_zoom").set_value(4).run()
    assert not at.exception
    assert at.slider(key="_zoom_x").value == 256
