"""AppTest of the Correct and Review pages: canvas strokes (injected as the canvas would send
them) become a saved version; Review lists it, approves it and exports it."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from lungseg_core.workflow.corrections_store import SQLiteCorrectionsStore
from lungseg_core.imaging.mask_editing import ADD_CSS, ERASE_CSS
from lungseg_core.models.samples import list_samples

from .people import ANN, REV
from .signed_in import sign_in_as

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def store_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LUNGSEG_STORE", str(tmp_path / "store"))
    return tmp_path / "store"


def _canvas_value(objects: list[dict]) -> dict:
    """What the drawing canvas sends: its objects (Fabric.js JSON)."""
    return {"drawing": {"raw": {"objects": objects}, "data": None}, "backgroundFit": None}


def _stroke(x0: float, x1: float, y: float, width: float, erase: bool) -> dict:
    colour = ERASE_CSS if erase else ADD_CSS
    return {"type": "Path", "originX": "center", "originY": "center", "left": (x0 + x1) / 2, "top": y,
            "stroke": colour, "strokeWidth": width, "path": [["M", x0, y], ["L", x1, y]]}


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
    geometry = at.session_state["_canvas_geometry"]
    scale = 512 / geometry.width
    y, half = 240 / scale, 15  # a 30 image-px band across both lungs, at image row 240
    at.session_state[edit.canvas_key] = _canvas_value([_stroke(20, geometry.width - 20, y, 2 * half / scale, True)])
    at.run()
    removed = int(_metric(at, "Pixels removed").replace(",", ""))
    assert removed > 1000 and _metric(at, "Pixels added") == "0"

    next(w for w in at.text_input if w.key.startswith("_note_")).set_value("cut a band")
    next(w for w in at.radio if w.key.startswith("_status_")).set_value("submitted")
    at.button(key="_save").click().run()
    assert any("Saved version 1" in s.value for s in at.toast)

    store = SQLiteCorrectionsStore(store_dir)
    (record,) = store.list_corrections()
    original = store.load_mask(record.original_mask_hash)
    corrected = store.load_mask(record.corrected_mask_hash)
    assert np.array_equal(original, model_mask)
    diff = original & ~corrected
    assert int(diff.sum()) == removed and not (corrected & ~original).any()
    rows = np.flatnonzero(diff.any(axis=1))
    assert rows.min() >= 240 - half - 1 and rows.max() <= 240 + half + 1  # exactly where the band went

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
    row = review.dataframe[0].value.iloc[0]
    assert row["case"] >= 1 and row["version"] == 1  # the table says which case and which version
    assert not [b for b in review.button if b.key == "_approve"]  # an annotator cannot approve
    review = AppTest.from_file(str(ROOT / "pages/5_Review.py"), default_timeout=120)
    sign_in_as(review, store, REV)
    review.run()
    latest = record
    review.button(key="_approve").click().run()
    assert not review.exception
    assert store.get(latest.id).status == "approved"
    assert any("Approved" in t.value for t in review.toast)  # said, not silent
    assert f"{latest.id[:8]}" in review.selectbox(key=next(s.key for s in review.selectbox
                                                            if s.key.startswith("_f_case_"))).value  # stays put
    zip_button = review.get("download_button")
    assert zip_button, "export buttons missing"
    data = __import__("lungseg_core.workflow.corrections_export", fromlist=["x"]).export_training_zip(store, REV)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        assert "manifest.csv" in zf.namelist() and len([n for n in zf.namelist() if n.startswith("masks/")]) == 1


def test_undo_redo_reset_and_zoom(store_dir):
    at = _open_sample_on_correct(list_samples()[1], store_dir)
    edit = at.session_state["edit_session"]
    square = {"type": "Polygon", "originX": "center", "originY": "center", "left": 25, "top": 25, "fill": ADD_CSS,
              "stroke": ADD_CSS, "strokeWidth": 1, "points": [{"x": 10, "y": 10}, {"x": 40, "y": 10},
                                                               {"x": 40, "y": 40}, {"x": 10, "y": 40}]}
    at.session_state[edit.canvas_key] = _canvas_value([square])
    at.run()
    added = _metric(at, "Pixels added")
    assert added != "0" and at.session_state["edit_session"].history.position == 1
    at.run()  # the canvas still reports the same drawing: it is not applied twice
    assert _metric(at, "Pixels added") == added and at.session_state["edit_session"].history.position == 1
    at.button(key="_undo").click().run()
    assert _metric(at, "Pixels added") == "0"
    at.button(key="_redo").click().run()
    assert _metric(at, "Pixels added") == added
    at.button(key="_reset").click().run()
    assert _metric(at, "Pixels added") == "0"
    at.button(key="_zoom_in").click().run()
    assert not at.exception and at.session_state["_view"].width == 256
    at.button(key="_zoom_all").click().run()
    assert at.session_state["_view"].width == 512


def test_unsaved_edit_is_kept_in_the_store_and_restored_in_a_new_session(store_dir):
    """A new browser session (a reload) of the same person gets the edit back from the store."""
    sample = list_samples()[1]
    at = _open_sample_on_correct(sample, store_dir)
    edit = at.session_state["edit_session"]
    geometry = at.session_state["_canvas_geometry"]
    at.session_state[edit.canvas_key] = _canvas_value([_stroke(20, geometry.width - 20, geometry.height / 2, 20, True)])
    at.run()
    removed = _metric(at, "Pixels removed")
    assert removed != "0"
    number = at.session_state["case"].number
    assert number is not None  # the edited X-ray became a case
    again = AppTest.from_file(str(ROOT / "pages/4_Correct.py"), default_timeout=120)
    sign_in_as(again, SQLiteCorrectionsStore(store_dir), ANN)
    again.query_params["case"] = str(number)
    again.run()
    assert not again.exception
    assert any("Restored your unsaved edits" in i.value for i in again.info)
    assert _metric(again, "Pixels removed") == removed
