"""The daily flow's wrong data (issue 22), without a browser: the note belongs to its case, a
submission reaches the reviewers' Next, and a promotion the gate did not recommend needs a yes."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from lungseg_core.models.model_versions import PromotionError, default_model_name, promote, promotion_history
from lungseg_core.models.registry import DEFAULT_MODEL
from lungseg_core.models.samples import list_samples
from lungseg_core.models.weights_store import weights_dir
from lungseg_core.people.audit import AuditLog
from lungseg_core.workflow.worklist import REVIEWER_QUEUE, Worklist

from .people import ADMIN, ANN, REV
from .signed_in import sign_in_as
from .store_backends import app_uses_store, new_database, new_store  # noqa: F401

pytestmark = pytest.mark.usefixtures("store_backend")

ROOT = Path(__file__).resolve().parent.parent


def test_a_submission_is_released_to_the_reviewers_next(tmp_path):
    store = new_store(tmp_path / "store")
    worklist = Worklist(store)
    image = np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8)
    case, _ = worklist.add_case(image, ANN)
    worklist.set_segmentation(case.number, np.ones((64, 64), bool), {}, "m", "v", ANN)
    taken = worklist.next_case(ANN)  # the annotator takes it with Next (a claim)
    assert taken.number == case.number and worklist.get(case.number).holder == ANN.username
    assert worklist.next_case(REV, REVIEWER_QUEUE) is None  # nothing submitted yet
    store.save_correction(image, np.ones((64, 64), bool), np.zeros((64, 64), bool), actor=ANN, model_name="m",
                          model_version="v", status="submitted")
    assert worklist.get(case.number).holder is None  # handed to the reviewers
    offered = worklist.next_case(REV, REVIEWER_QUEUE)
    assert offered is not None and offered.number == case.number
    # a draft saved and submitted later (the review action) releases it too
    case2, _ = worklist.add_case(image[::-1].copy(), ANN)
    worklist.next_case(ANN)
    draft = store.save_correction(image[::-1].copy(), np.ones((64, 64), bool), np.zeros((64, 64), bool), actor=ANN,
                                  model_name="m", model_version="v", status="draft")
    assert worklist.get(case2.number).holder == ANN.username
    store.review(draft.id, "submit", actor=ANN)
    assert worklist.get(case2.number).holder is None


def _version_with_gate(folder: Path, name: str, gate: dict) -> None:
    (folder / f"{name}.safetensors").write_bytes((weights_dir() / f"{DEFAULT_MODEL}.safetensors").read_bytes())
    card = json.loads((weights_dir() / f"{DEFAULT_MODEL}.json").read_text())
    card["lineage"] = {"parent": DEFAULT_MODEL, "created": "2026-01-01", "gate": gate}
    (folder / f"{name}.json").write_text(json.dumps(card))


def test_a_version_the_gate_did_not_recommend_is_promoted_only_against_the_gate(tmp_path, monkeypatch):
    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.setenv("LUNGSEG_MODELS", str(models))
    log = AuditLog(new_database(tmp_path / "store.sqlite"))
    _version_with_gate(models, f"{DEFAULT_MODEL}-ft1", {"decided": False, "promote": False, "reason": "3 held back"})
    _version_with_gate(models, f"{DEFAULT_MODEL}-ft2", {"decided": True, "promote": False, "reason": "val fell"})
    _version_with_gate(models, f"{DEFAULT_MODEL}-ft3", {"decided": True, "promote": True, "reason": "better"})
    for name, words in ((f"{DEFAULT_MODEL}-ft1", "not decided"), (f"{DEFAULT_MODEL}-ft2", "does not recommend")):
        with pytest.raises(PromotionError, match=words):
            promote(name, ADMIN, "looks fine to me", log)
        assert default_model_name() == DEFAULT_MODEL
    promote(f"{DEFAULT_MODEL}-ft3", ADMIN, "the gate recommends it", log)  # recommended: a reason is enough
    assert default_model_name() == f"{DEFAULT_MODEL}-ft3"
    promote(f"{DEFAULT_MODEL}-ft2", ADMIN, "our own reading", log, against_gate=True)
    assert default_model_name() == f"{DEFAULT_MODEL}-ft2"
    assert "promoted against the gate: does not recommend promotion" in promotion_history()[-1]["reason"]


def _sample_case_on_correct(tmp_path: Path, monkeypatch) -> tuple[AppTest, int]:  # type: ignore[no-untyped-def]
    """A store holding the first sample as a case, opened on Correct by its link."""
    from PIL import Image

    app_uses_store(monkeypatch, tmp_path / "store")
    store = new_store(tmp_path / "store")
    number = Worklist(store).add_case(np.asarray(Image.open(list_samples()[0].image_path)), ANN)[0].number
    at = _correct_page(tmp_path / "store")
    at.query_params["case"] = str(number)
    at.run()
    return at, number


def _correct_page(store_root: Path) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages/4_Correct.py"), default_timeout=120)
    sign_in_as(at, new_store(store_root), ANN)
    return at


def test_the_note_and_label_start_empty_on_each_case_and_after_a_save(tmp_path, monkeypatch):
    app_uses_store(monkeypatch, tmp_path / "store")
    from PIL import Image

    store = new_store(tmp_path / "store")
    worklist = Worklist(store)
    numbers = [worklist.add_case(np.asarray(Image.open(s.image_path)), ANN, label=f"film {i}")[0].number
               for i, s in enumerate(list_samples()[:2])]
    at = _correct_page(tmp_path / "store")
    at.query_params["case"] = str(numbers[0])
    at.run()

    def field(prefix: str):  # type: ignore[no-untyped-def]
        return next(w for w in [*at.text_input, *at.radio] if w.key.startswith(prefix))

    at.button(key="_reset").click().run()
    field("_note_").set_value("case one's note")
    field("_status_").set_value("submitted")
    next(b for b in at.button if b.key == "_save").click().run()  # case one saved, submitted, with its note
    at.query_params["case"] = str(numbers[1])  # the next case, by its link
    at.run()
    assert at.session_state["case"].number == numbers[1]
    assert field("_note_").value == ""  # the note is not carried over ...
    assert field("_status_").value == "submitted"  # ... the way of working is (in view beside Save)
    at.button(key="_reset").click().run()
    field("_note_").set_value("case two's note")
    next(b for b in at.button if b.key == "_save").click().run()
    assert sorted((r.note, r.status) for r in store.list_corrections()) == [("case one's note", "submitted"),
                                                                            ("case two's note", "submitted")]
    at.run()
    assert field("_note_").value == ""  # saved: the fields start afresh for the next version
    assert "All edits saved" in [c.value for c in at.caption]  # what leaving now would do, said beside Save


def test_the_audit_page_names_cases_by_number(tmp_path, monkeypatch):
    app_uses_store(monkeypatch, tmp_path / "store")
    store = new_store(tmp_path / "store")
    worklist = Worklist(store)
    image = np.random.default_rng(1).integers(0, 255, (64, 64), dtype=np.uint8)
    case, _ = worklist.add_case(image, ANN)
    record = store.save_correction(image, np.ones((64, 64), bool), np.zeros((64, 64), bool), actor=ANN,
                                   model_name="m", model_version="v", status="submitted")
    store.review(record.id, "approve", actor=REV)
    at = AppTest.from_file(str(ROOT / "pages/8_Audit.py"), default_timeout=120)
    sign_in_as(at, store, ADMIN)
    at.run()
    assert not at.exception
    targets = list(at.dataframe[0].value["target"])
    assert f"case {case.number} ({record.id[:8]})" in targets  # the approval, by its case


def test_a_reload_keeps_the_brush_window_and_mask_style(tmp_path, monkeypatch):
    from lungseg_app.editor_view import remembered_prefs

    assert remembered_prefs({"brush": "14", "level": "40", "width": "300", "invert": "1", "mask": "Outline"}) == \
        {"_brush": 14, "_level": 40, "_invert": True, "_mask_style": "Outline"}  # width 300 is out of range
    assert remembered_prefs({"brush": "x", "mask": "<b>"}) == {}
    at, number = _sample_case_on_correct(tmp_path, monkeypatch)
    at.text_input(key="_brush_target").set_value("7#1").run()  # Alt+K, as the page script sends it
    assert at.query_params["brush"] in ("7", ["7"])  # kept in the address ...
    reloaded = _correct_page(tmp_path / "store")  # ... so a reload (a new session) starts from it
    reloaded.query_params["case"] = str(number)
    reloaded.query_params["brush"] = "7"
    reloaded.query_params["level"] = "35"
    reloaded.run()
    assert not reloaded.exception
    assert reloaded.slider(key="_level").value == 35
    assert any(s.value == 7 for s in reloaded.slider if s.key.startswith("_brush@"))


def test_mask_tools_are_one_undo_step_each(tmp_path, monkeypatch):
    at, _ = _sample_case_on_correct(tmp_path, monkeypatch)
    edit = at.session_state["edit_session"]
    start, area = edit.history.position, int(edit.history.current.sum())
    at.number_input(key="_mt_px").set_value(4).run()
    at.button(key="_mt_grow").click().run()
    edit = at.session_state["edit_session"]
    assert edit.history.position == start + 1 and int(edit.history.current.sum()) > area
    at.button(key="_mt_shrink").click().run()
    assert at.session_state["edit_session"].history.position == start + 2
    at.button(key="_undo").click().run()
    at.button(key="_undo").click().run()
    assert int(at.session_state["edit_session"].history.current.sum()) == area  # two undos: back to the start
    assert not at.exception
    position = at.session_state["edit_session"].history.position
    at.selectbox(key="_mt_preview").set_value("Grow").run()  # a preview shows, and changes nothing
    images: list = []

    def find_images(node) -> None:  # type: ignore[no-untyped-def]
        for child in getattr(node, "children", {}).values():
            if getattr(child, "type", "") == "image":
                images.append(child)
            find_images(child)

    find_images(at._tree)
    assert any("Grow would add" in i.proto.imgs[0].caption and "remove 0 px" in i.proto.imgs[0].caption for i in images)
    assert at.session_state["edit_session"].history.position == position
    assert int(at.session_state["edit_session"].history.current.sum()) == area and not at.exception


def test_the_brush_keys_message_carries_a_width_not_a_step():
    from lungseg_app.brush_keys import brush_keys_html, parse_target

    assert parse_target("14#3") == 14 and parse_target("14") == 14
    assert parse_target("99#1") == 60 and parse_target("0#2") == 1  # the slider's range
    assert parse_target("") is None and parse_target("x#1") is None and parse_target(None) is None
    script = brush_keys_html(9)
    assert "window.__lungsegBrushWidth = 9;" in script and ".st-key-_brush_target input" in script


def test_wheel_pan_and_window_gestures_move_the_view_as_a_viewer_does():
    from lungseg_app.view_gestures import apply_gesture, parse_gesture
    from lungseg_core.imaging.mask_editing import Viewport

    whole = Viewport.whole((512, 512))
    zoom = parse_gesture('{"k": "zoom", "r": 2, "x": 0.25, "y": 0.75}#3')
    view, level, width = apply_gesture(zoom, whole, (512, 512), 50, 100)
    assert (view.width, view.height) == (256, 256) and (level, width) == (50, 100)
    assert (view.x0 + 0.25 * view.width, view.y0 + 0.75 * view.height) == (128, 384)  # the point stays under the pointer
    assert apply_gesture(parse_gesture('{"k": "zoom", "r": 0.1, "x": 0.5, "y": 0.5}#4'), view, (512, 512), 50, 100)[0] \
        == whole  # out as far as it goes: the whole image
    deep = whole
    for _ in range(10):
        deep = apply_gesture(zoom, deep, (512, 512), 50, 100)[0]
    assert deep.width == 64  # 8x at most
    panned = apply_gesture(parse_gesture('{"k": "pan", "dx": 0.5, "dy": 0}#5'), view, (512, 512), 50, 100)[0]
    assert panned.x0 == 0 and panned.width == 256  # dragged right by half a view, held inside the image
    assert apply_gesture(parse_gesture('{"k": "pan", "dx": 0.5, "dy": 0.5}#6'), whole, (512, 512), 50, 100)[0] == whole
    _, level, width = apply_gesture(parse_gesture('{"k": "window", "dx": 0.2, "dy": -0.1}#7'), view, (512, 512), 50, 60)
    assert (level, width) == (60, 80)
    _, level, width = apply_gesture(parse_gesture('{"k": "window", "dx": -2, "dy": 2}#8'), view, (512, 512), 50, 60)
    assert (level, width) == (0, 5)  # within the sliders' ranges
    for bad in ("", "nonsense#1", '{"k": "explode"}#2', '{"k": "zoom", "r": "x"}#3', None):
        assert parse_gesture(bad) is None


def test_a_run_the_browser_started_before_it_saw_next_does_not_go_back(tmp_path, monkeypatch):
    """Next moves the page to another case and its link; a run the browser had started with the old
    `?case=` still in its address (a canvas or window event racing the move) must not reopen the case
    just left. Once the browser has shown the new link, the old one is a real request again."""
    from PIL import Image

    from lungseg_app.case_navigation import link_is_stale

    from lungseg_app.case_navigation import STALE_LINK_SECONDS

    assert link_is_stale("4", ("4", 100.0), 101.0)
    assert not link_is_stale("5", ("4", 100.0), 101.0) and not link_is_stale(None, ("4", 100.0), 101.0)
    assert not link_is_stale("4", None, 101.0) and not link_is_stale("4", ("4", 100.0), 100.0 + STALE_LINK_SECONDS)
    app_uses_store(monkeypatch, tmp_path / "store")
    store = new_store(tmp_path / "store")
    worklist = Worklist(store)
    numbers = [worklist.add_case(np.asarray(Image.open(s.image_path)), ANN)[0].number for s in list_samples()[:2]]
    at = _correct_page(tmp_path / "store")
    at.query_params["case"] = str(numbers[0])
    at.run()
    at.button(key="_nav_next").click().run()
    assert at.session_state["case"].number == numbers[1]
    at.query_params["case"] = str(numbers[0])  # the late run: the browser's address still says the old case
    at.run()
    assert at.session_state["case"].number == numbers[1]
    assert not at.exception
    monkeypatch.setattr("lungseg_app.case_navigation.STALE_LINK_SECONDS", 0.0)  # later on ...
    at.query_params["case"] = str(numbers[0])  # ... a link to the first case is a request again
    at.run()
    assert at.session_state["case"].number == numbers[0]
