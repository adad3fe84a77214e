"""Real browser, the daily flow (issue 22), on a server and store of its own: a note typed on one
case is not carried to the next and Enter in the Note field does not save; Save is on screen
beside the canvas, and the canvas does not move when a save is made or Save and next is used,
at 1280x720 and 1920x1080."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from lungseg_testing.browser import draw_erase_stroke, page_report, the_canvas, wait_until_idle
from lungseg_core.models.samples import list_samples
from lungseg_core.people.access_control import command_line_user
from lungseg_core.workflow.corrections_store import SQLiteCorrectionsStore
from lungseg_core.workflow.worklist import Worklist

from .conftest import add_browser_people, browser_sign_in

TIMEOUT_MS = 90_000


@pytest.fixture(scope="module")
def flow_app(tmp_path_factory):
    """Its own store (the shared one's samples belong to other tests), with the samples as cases."""
    from lungseg_testing.browser import streamlit_app

    root = tmp_path_factory.mktemp("daily-flow-store")
    add_browser_people(root)
    worklist = Worklist(SQLiteCorrectionsStore(root))
    for i, sample in enumerate(list_samples()):
        image = np.asarray(Image.open(sample.image_path))
        worklist.add_case(image, command_line_user(), label=f"film {i + 1}")
        worklist.add_case(np.ascontiguousarray(image[:, ::-1]), command_line_user(), label=f"film {i + 1} mirrored")
    with streamlit_app(env={"LUNGSEG_STORE": str(root)}) as url:
        yield url, root


def _open(page, url: str, number: int) -> None:
    page.goto(f"{url}/Correct?case={number}")
    page.get_by_text(f"Current case: Case {number}").wait_for()


def _annotator_on_a_free_case(browser, url: str, root, width: int, height: int):  # type: ignore[no-untyped-def]
    """(context, page, case number) of the annotator, signed in, on Correct with a case nobody holds
    (not 1 or 2)."""
    context = browser.new_context(viewport={"width": width, "height": height})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    browser_sign_in(page, url, "browser-annotator")
    number = next(c.number for c in Worklist(SQLiteCorrectionsStore(root)).list_cases()
                  if c.number > 2 and c.status in ("new", "segmented") and c.holder is None)
    _open(page, url, number)
    return context, page, number


def test_a_note_stays_with_its_case_and_enter_does_not_save(browser, flow_app):
    url, root = flow_app
    context = browser.new_context(viewport={"width": 1400, "height": 1400})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    browser_sign_in(page, url, "browser-annotator")
    _open(page, url, 1)
    draw_erase_stroke(page, 320, 100, 500, 20)
    note = page.get_by_label("Note (what was fixed)")
    note.fill("note of the first case")
    note.press("Enter")  # must not save
    page.wait_for_timeout(1500)
    store = SQLiteCorrectionsStore(root)
    assert not [r for r in store.list_corrections() if r.note == "note of the first case"]
    page.get_by_role("button", name="Save correction").click()
    page.get_by_text("Saved version 1").first.wait_for()
    assert [r.status for r in store.list_corrections() if r.note == "note of the first case"] == ["draft"]
    _open(page, url, 2)
    wait_until_idle(page)
    assert page.get_by_label("Note (what was fixed)").input_value() == ""  # nothing carried over
    draw_erase_stroke(page, 320, 100, 500, 20)
    page.get_by_role("button", name="Save correction").click()
    page.get_by_text("Saved version 1").first.wait_for()
    assert sorted(r.note for r in store.list_corrections()) == ["", "note of the first case"]
    context.close()


@pytest.mark.parametrize("width, height", [(1280, 720), (1920, 1080)])
def test_save_is_on_screen_and_the_canvas_never_moves(browser, flow_app, width, height):
    url, root = flow_app
    context, page, number = _annotator_on_a_free_case(browser, url, root, width, height)
    draw_erase_stroke(page, 200, 60, 300, 20)
    before = the_canvas(page).bounding_box()
    save = page.get_by_role("button", name="Save correction")
    box = save.bounding_box()
    assert box is not None and box["y"] + box["height"] <= height, f"Save at y={box} in a {height} px window"
    assert page.evaluate("window.scrollY") == 0
    for name in ("Save correction", "Save and next ▶"):  # whole labels, not "Save c…" and "S…"
        button = page.get_by_role("button", name=name)
        shown = button.bounding_box()
        assert shown is not None and shown["y"] + shown["height"] <= height, f"{name!r} below the window"
        cut = button.evaluate("b => [b, ...b.querySelectorAll('*')].some(e => e.scrollWidth > e.clientWidth + 1)")
        assert not cut, f"{name!r} is cut at {width}x{height}"
    save.click()
    page.get_by_text("Saved version 1").first.wait_for()
    wait_until_idle(page)
    assert the_canvas(page).bounding_box() == before  # the notice did not push the canvas
    draw_erase_stroke(page, 240, 60, 300, 20)
    page.get_by_role("button", name="Save and next ▶").click()
    try:  # the toast, and the next case's status line ("No edits yet · before: Saved version 2 of case N")
        page.get_by_text(f"Saved version 2 of case {number}").first.wait_for()
    except Exception as exc:
        raise AssertionError(f"Save and next did not say it saved; {page_report(page)}") from exc
    wait_until_idle(page)
    assert the_canvas(page).bounding_box() == before  # the next case's canvas sits where this one did
    assert page.evaluate("window.scrollY") == 0
    context.close()


def test_brush_keys_pressed_quickly_are_all_counted(browser, flow_app):
    """Eight Alt+K presses 250 ms apart widen the brush by eight, three quick Alt+J narrow it by three
    (Streamlit's own shortcuts merged presses that came while the page ran: 6 -> 11)."""
    import re

    from lungseg_testing.browser import wait_for_tool

    url, root = flow_app
    context, page, _ = _annotator_on_a_free_case(browser, url, root, 1400, 1000)
    wait_for_tool(page, "Add brush")
    caption = page.get_by_test_id("stCaptionContainer").filter(has_text="On the canvas:").first.inner_text()
    width = int(re.search(r"(\d+) px wide", caption).group(1))
    page.get_by_role("heading", name="Correct").click()  # focus on the page, not in a text box
    for _ in range(8):
        page.keyboard.press("Alt+K")
        page.wait_for_timeout(250)
    wait_for_tool(page, f"Add brush, {width + 8} px wide")
    for _ in range(3):
        page.keyboard.press("Alt+J")
        page.wait_for_timeout(40)
    wait_for_tool(page, f"Add brush, {width + 5} px wide")
    page.wait_for_timeout(1500)  # nothing arrives late to change it again
    wait_for_tool(page, f"Add brush, {width + 5} px wide")
    context.close()


def test_question_mark_lists_every_shortcut_and_typing_it_in_the_note_does_not(browser, flow_app):
    url, root = flow_app
    context, page, _ = _annotator_on_a_free_case(browser, url, root, 1400, 1000)
    wait_until_idle(page)
    page.get_by_label("Note (what was fixed)").fill("why?")  # a ? typed in a field stays text
    wait_until_idle(page)
    assert page.get_by_text("Keyboard shortcuts", exact=True).count() == 0 or \
        not page.get_by_role("dialog").is_visible()
    page.get_by_role("heading", name="Correct").click()
    page.keyboard.press("Shift+Slash")  # "?"
    dialog = page.get_by_role("dialog")
    dialog.get_by_text("save and open the next case").wait_for()
    for keys in ("Alt+K / Alt+J", "Ctrl+Enter", "Alt+1 … Alt+6", "? or Alt+H"):
        assert dialog.get_by_text(keys, exact=True).count() == 1, keys
    context.close()


def test_wheel_zooms_and_a_right_drag_sets_the_window_on_the_x_ray(browser, flow_app):
    import re

    url, root = flow_app
    context, page, _ = _annotator_on_a_free_case(browser, url, root, 1400, 1000)
    wait_until_idle(page)
    whole = page.get_by_role("button", name=re.compile("^Whole image"))
    assert whole.is_disabled()
    box = the_canvas(page).bounding_box()
    page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.4)
    for _ in range(3):
        page.mouse.wheel(0, -120)  # wheel up: zoom in about the pointer
    page.wait_for_function("() => { const b = [...document.querySelectorAll('button')]"
                           ".find(b => b.innerText.startsWith('Whole image')); return b && !b.disabled; }")
    wait_until_idle(page)
    box = the_canvas(page).bounding_box()
    x, y = box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5
    page.mouse.move(x, y)
    page.mouse.down(button="right")
    page.mouse.move(x + box["width"] * 0.1, y - box["height"] * 0.2, steps=5)
    page.mouse.up(button="right")
    page.wait_for_url(re.compile(r"level=70"))  # up by a fifth of the X-ray: window centre 50 -> 70 %
    assert "Pixels added  0" in page_report(page)  # neither gesture drew anything
    context.close()
