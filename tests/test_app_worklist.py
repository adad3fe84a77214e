"""AppTest of the Worklist page and worklist navigation on Correct and Review: import with a bad
file, the table and counts, Next (claimed), Save and next, a case link, Previous, export."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from lungseg_core import DEFAULT_MODEL, load_model
from lungseg_core.workflow.batch_segmentation import segment_cases
from lungseg_core.workflow.corrections_store import SQLiteCorrectionsStore
from lungseg_core.models.samples import list_samples
from lungseg_core.workflow.worklist import Worklist

from .people import ANN, REV
from .signed_in import sign_in_as

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture()
def store_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("LUNGSEG_STORE", str(tmp_path / "store"))
    monkeypatch.setenv("LUNGSEG_JOBS", str(tmp_path / "jobs"))
    return tmp_path / "store"


def _segmented_worklist(store_dir) -> Worklist:
    worklist = Worklist(SQLiteCorrectionsStore(store_dir))
    for s in list_samples()[:3]:
        worklist.add_case(np.asarray(Image.open(s.image_path)), ANN)
    segment_cases(worklist, load_model(DEFAULT_MODEL), ANN)
    return worklist


def _page(name, store_dir, user, query=None) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / name), default_timeout=120)
    sign_in_as(at, SQLiteCorrectionsStore(store_dir), user)
    if query:
        at.query_params.update(query)
    at.run()
    assert not at.exception, at.exception
    return at


def test_worklist_import_lists_bad_files_and_shows_the_table(store_dir):
    at = _page("0_Worklist.py", store_dir, ANN)
    assert any("No cases yet" in i.value for i in at.info)
    # the uploader is not driveable with several files in AppTest: import through the same library call
    from lungseg_core.workflow.case_import import from_uploads, import_sources

    samples = list_samples()
    files = [(s.image_path.name, s.image_path.read_bytes()) for s in samples[:2]] + [("bad.png", b"nope")]
    report = import_sources(Worklist(SQLiteCorrectionsStore(store_dir)), from_uploads(files), ANN)
    at.session_state["_wl_report"] = report
    at.run()
    assert any("2 new cases, 1 could not be read" in w.value for w in at.warning)
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["New"] == "2" and metrics["Segmented"] == "0"
    table = at.dataframe[-1].value
    assert list(table["case"]) == [1, 2] and list(table["status"]) == ["new", "new"]
    assert any(b.label.startswith("Segment 2 new cases") for b in at.button)
    assert not any(b.key == "_wl_csv" for b in at.get("download_button"))  # annotators cannot export


def test_next_opens_the_most_urgent_case_in_correct_then_save_and_next(store_dir):
    worklist = _segmented_worklist(store_dir)
    worst = min(worklist.list_cases(), key=lambda c: (0 if c.flags else 1, c.estimated_dice))
    at = _page("4_Correct.py", store_dir, ANN)
    at.button(key="_start_next").click().run()
    assert not at.exception
    assert at.session_state["case"].number == worst.number and worklist.get(worst.number).holder == "ann"
    assert at.query_params["case"] == [str(worst.number)] or at.query_params["case"] == str(worst.number)
    next(w for w in at.radio if w.key.startswith("_status_")).set_value("submitted")
    at.button(key="_save_and_next").click().run()
    assert not at.exception
    assert worklist.get(worst.number).status == "submitted"
    now = at.session_state["case"].number
    assert now != worst.number and worklist.get(now).holder == "ann"
    assert any(f"case {worst.number}" in s.value for s in at.toast)
    at.button(key="_nav_prev").click().run()  # back to the case just saved
    assert at.session_state["case"].number == worst.number


def test_leaving_with_unsaved_edits_asks_first(store_dir):
    _segmented_worklist(store_dir)
    at = _page("4_Correct.py", store_dir, ANN)
    at.button(key="_start_next").click().run()
    first = at.session_state["case"].number
    edit = at.session_state["edit_session"]
    changed = edit.history.current.copy()
    changed[:10, :10] = ~changed[:10, :10]
    edit.history.commit(changed)
    at.button(key="_nav_next").click().run()
    assert at.session_state["case"].number == first and any("not saved" in w.value for w in at.warning)
    at.button(key="_nav_drop").click().run()
    assert at.session_state["case"].number != first


def test_a_case_link_opens_that_case_on_review_and_next_skips_own_work(store_dir):
    worklist = _segmented_worklist(store_dir)
    store = worklist.store
    for case in worklist.list_cases()[:2]:
        store.save_correction(store.load_image(case.image_hash), store.load_mask(case.mask_hash),
                              store.load_mask(case.mask_hash), actor=ANN, model_name="m", model_version="v",
                              status="submitted")
    at = _page("5_Review.py", store_dir, REV, {"case": "2"})
    assert at.session_state["case"].number == 2
    assert any("Case 2" in m.value for m in at.markdown) or any("Case 2" in c.value for c in at.caption)
    at.button(key="_nav_next").click().run()
    assert at.session_state["case"].number == 1  # the other submission
    bad = _page("5_Review.py", store_dir, REV, {"case": "99"})
    assert any("case '99'" in w.value for w in bad.warning)


def test_reviewer_exports_every_case(store_dir):
    _segmented_worklist(store_dir)
    at = _page("0_Worklist.py", store_dir, REV)
    keys = [b.key for b in at.get("download_button")]
    assert "_wl_csv" in keys and "_wl_json" in keys
    table = at.dataframe[-1].value
    assert len(table) == 3 and table["est. Dice"].between(0.5, 1.0).all()


def test_segment_page_adds_its_xray_to_the_worklist(store_dir):
    sample = list_samples()[1]
    at = _page("1_Segment.py", store_dir, ANN)
    at.selectbox(key="_sample_widget").set_value(sample.label).run()
    at.button(key="_open_sample").click().run()
    at.text_input(key="_seg_wl_label").set_value("teaching case")
    at.button(key="_seg_add_case").click().run()
    assert not at.exception
    case = Worklist(SQLiteCorrectionsStore(store_dir)).get(1)
    assert case.label == "teaching case" and case.status == "segmented" and case.estimated_dice > 0.5
    assert any("Case 1 · teaching case" in c.value for c in at.caption)


def test_approve_and_next_clears_the_note_and_opens_the_next_submission(store_dir):
    worklist = _segmented_worklist(store_dir)
    store = worklist.store
    for case in worklist.list_cases()[:2]:
        mask = store.load_mask(case.mask_hash)
        store.save_correction(store.load_image(case.image_hash), mask, mask, actor=ANN, model_name="m",
                              model_version="v", status="submitted")
    at = _page("5_Review.py", store_dir, REV, {"case": "1"})
    note = next(t for t in at.text_input if t.key.startswith("_review_note"))
    note.set_value("edges fine")
    # these corrections changed nothing: approving asks for a confirmation first
    assert any("changed nothing" in w.value for w in at.warning)
    assert at.button(key="_approve_next").disabled
    next(c for c in at.checkbox if c.key.startswith("_unchanged_ok_")).check().run()
    at.button(key="_approve_next").click().run()
    assert not at.exception
    assert worklist.get(1).status == "approved" and at.session_state["case"].number == 2
    assert store.status_changes(worklist.get(1).latest_version_id)[-1].note == "edges fine"
    assert next(t for t in at.text_input if t.key.startswith("_review_note")).value == ""


def test_tool_shortcut_buttons_pick_the_tool(store_dir):
    _segmented_worklist(store_dir)
    at = _page("4_Correct.py", store_dir, ANN)
    at.button(key="_start_next").click().run()
    at.button(key="_tool_key_2").click().run()
    (tool,) = [r for r in at.radio if r.label == "Tool"]
    assert tool.value == "Erase brush" and at.session_state["_tool"] == "Erase brush"
