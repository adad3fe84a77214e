"""Real browser, the editor at 1280x720: the whole X-ray in view; every control (tools, the canvas's
own toolbar, brush width, polygon, click-to-fix, undo/redo, overview zoom, mask display, window,
invert, shortcuts) used, then saved; the stored mask equals the mask drawn on screen. A reload
brings unsaved edits back, and they can be discarded."""
from __future__ import annotations

import io
import tempfile
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from lungseg_app.brush_cursor import RING_ID
from lungseg_testing.browser import (click_when_settled, hole_centres, metric_value, pick_mask_style, pick_tool,
                                      steady_box, streamlit_app, the_canvas, wait_for_mask_style, wait_for_tool,
                                      wait_metric_change, wait_until_idle, working_copy_steps)
from lungseg_core.models.samples import list_samples
from lungseg_core.workflow.corrections_store import SQLiteCorrectionsStore
from lungseg_core.workflow.working_copies import WorkingCopies

from .conftest import add_browser_people, browser_sign_in

TIMEOUT_MS = 120_000
SCREEN_MASK_FAILURE = Path(tempfile.gettempdir()) / "editor_screen_mask_failure.png"


def _open_sample(page, url):  # type: ignore[no-untyped-def]
    page.goto(f"{url}/Correct")
    page.get_by_text("Open an X-ray here").wait_for()
    page.get_by_test_id("stSelectbox").filter(has_text="sample case").click()
    page.get_by_role("option", name=list_samples()[0].label).click()
    page.get_by_role("button", name="Open sample").click()
    page.get_by_text("Brush width").first.wait_for()
    wait_until_idle(page)
    canvas = the_canvas(page)
    wait_until_idle(page)
    return canvas


def _annotator_page(browser, url: str, width: int, height: int):  # type: ignore[no-untyped-def]
    """A signed-in annotator's page at this window size."""
    page = browser.new_context(viewport={"width": width, "height": height}).new_page()
    page.set_default_timeout(TIMEOUT_MS)
    browser_sign_in(page, url, "browser-annotator")
    return page


def _stroke(page, box, y: float, x0: float, x1: float) -> None:  # type: ignore[no-untyped-def]
    page.mouse.move(box["x"] + x0, box["y"] + y)
    page.mouse.down()
    for x in np.linspace(x0, x1, 25):
        page.mouse.move(box["x"] + float(x), box["y"] + y)
    page.mouse.up()


def _shot(canvas) -> np.ndarray:  # type: ignore[no-untyped-def]
    return np.asarray(Image.open(io.BytesIO(canvas.screenshot())).convert("RGB")).astype(int)


def _settled_shot(page, canvas, unlike: np.ndarray | None = None) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The canvas once its picture has stopped changing (and differs from `unlike`, if given)."""
    last, same = None, 0
    for _ in range(120):
        page.wait_for_timeout(250)
        now = _shot(canvas)
        changed = unlike is None or (now.shape == unlike.shape and (np.abs(now - unlike).sum(axis=2) > 24).sum() > 500)
        same = same + 1 if last is not None and changed and np.array_equal(now, last) else 0
        last = now
        if same >= 4:  # a second without change
            return now
    return last


def _screen_mask(page, canvas) -> np.ndarray:  # type: ignore[no-untyped-def]
    """The mask as drawn on screen: the canvas with the mask filled minus the canvas with it hidden,
    each picture taken once the canvas has settled on it. Hidden is pictured again afterwards and
    must match, so that a display change still arriving (window, invert) cannot pass for the mask."""
    for _ in range(4):
        pick_mask_style(page, "Hidden")
        hidden = _settled_shot(page, canvas)
        pick_mask_style(page, "Fill")
        filled = _settled_shot(page, canvas, unlike=hidden)
        pick_mask_style(page, "Hidden")
        again = _settled_shot(page, canvas, unlike=filled)
        mask = np.abs(filled - hidden).sum(axis=2) > 24
        # a display change still arriving shows as Hidden differing from itself, or as a "mask"
        # covering most of the canvas (the lungs are about a fifth of it)
        if (np.abs(again - hidden).sum(axis=2) > 24).mean() < 0.002 and mask.mean() < 0.5:
            return mask
    Image.fromarray(np.hstack([hidden, filled, again]).astype(np.uint8)).save(SCREEN_MASK_FAILURE)
    raise AssertionError(f"the canvas never settled on one picture per mask style: hidden | filled | hidden "
                         f"again in {SCREEN_MASK_FAILURE}")


def test_every_control_then_the_stored_mask_is_the_one_on_screen(browser, tmp_path):
    store_dir = tmp_path / "store"
    add_browser_people(store_dir)
    with streamlit_app(env={"LUNGSEG_STORE": str(store_dir)}) as url:
        page = _annotator_page(browser, url, 1280, 720)
        canvas = _open_sample(page, url)
        box = steady_box(page, canvas)
        # the whole X-ray is in view without scrolling
        assert box["y"] >= 0 and box["y"] + box["height"] <= 720 and box["width"] >= 400, box
        scale = 512 / box["width"]

        # erase brush, 20 image px wide, across the lower lungs
        pick_tool(page, "Erase brush")
        page.get_by_role("heading", name="Correct").click()
        for width in range(7, 21):
            page.keyboard.press("Alt+K")  # wider brush (6 -> 20), a pixel a key press
            wait_for_tool(page, f"Erase brush, {width} px wide")
        # the brush's size under the pointer: a ring as wide as 20 image px on screen, centred on it
        ring = page.locator(f"#{RING_ID}")
        cx, cy = box["x"] + 0.5 * box["width"], box["y"] + 0.4 * box["height"]
        page.mouse.move(cx - 5, cy)
        page.mouse.move(cx, cy)
        ring.wait_for(state="visible")
        rbox = ring.bounding_box()
        assert abs(rbox["width"] - 20 / scale) <= 1.5, (rbox, scale)
        assert abs(rbox["x"] + rbox["width"] / 2 - cx) <= 1.5 and abs(rbox["y"] + rbox["height"] / 2 - cy) <= 1.5
        y = 0.62 * box["height"]
        _stroke(page, box, y, 0.15 * box["width"], 0.85 * box["width"])
        removed = wait_metric_change(page, "Pixels removed", "0")
        wait_until_idle(page)
        # the canvas's own toolbar is not shown: the page's Undo / Redo / Reset are the one history
        assert page.locator("button.dc-icon-button").count() and not page.locator("button.dc-icon-button").first.is_visible()
        assert metric_value(page, "Pixels removed") == removed

        # a click-to-fix click in the erased band gives the lung back there
        pick_tool(page, "Fix: add lung (click)")
        page.mouse.move(cx + 5, cy)  # no brush, no ring
        ring.wait_for(state="hidden")
        page.mouse.click(box["x"] + 0.3 * box["width"], box["y"] + y)
        after_click = wait_metric_change(page, "Pixels removed", removed)
        assert int(after_click.replace(",", "")) < int(removed.replace(",", ""))
        wait_until_idle(page)

        # page undo / redo walk the same history
        page.locator(".st-key-_undo button").click()
        assert wait_metric_change(page, "Pixels removed", after_click) == removed
        wait_until_idle(page)
        page.locator(".st-key-_redo button").click()
        assert wait_metric_change(page, "Pixels removed", removed) == after_click
        wait_until_idle(page)

        # an add polygon fills exactly its corners (outside the lungs: a 40x40 image-px square)
        pick_tool(page, "Add polygon")
        added_before = metric_value(page, "Pixels added")
        corners = [(10, 10), (50, 10), (50, 50), (10, 50)]
        for cx, cy in corners + corners[:1]:
            page.mouse.click(box["x"] + cx / scale, box["y"] + cy / scale)
            page.wait_for_timeout(250)
        added = int(wait_metric_change(page, "Pixels added", added_before).replace(",", ""))
        assert abs(added - 40 * 40) <= 4 * 40, added  # corners exact to a pixel row, no brush outline
        wait_until_idle(page)

        # overview: a click zooms there; the canvas keeps its size; a stroke in the zoomed view lands in place
        overview = page.locator("iframe[title='streamlit_image_coordinates.streamlit_image_coordinates']")
        frame = overview.content_frame
        frame.locator("img").click(position={"x": 60, "y": 60})
        page.get_by_role("button", name="Whole image").wait_for(state="visible")
        page.wait_for_function("() => [...document.querySelectorAll('button')].some(b => b.innerText.includes("
                               "'Whole image') && !b.disabled)")
        wait_until_idle(page)
        pick_tool(page, "Add brush")
        zbox = steady_box(page, canvas)
        before = metric_value(page, "Pixels added")
        _stroke(page, zbox, 0.9 * zbox["height"], 0.1 * zbox["width"], 0.2 * zbox["width"])
        wait_metric_change(page, "Pixels added", before)
        wait_until_idle(page)
        page.get_by_role("button", name="Whole image").click()
        wait_until_idle(page)

        # display: outline, window, invert; Alt+M hides and shows the mask
        pick_mask_style(page, "Outline")
        page.get_by_text("Brightness / contrast").click()
        slider = page.get_by_test_id("stSlider").filter(has_text="Window width").get_by_role("slider")
        slider.focus()
        for _ in range(5):
            page.keyboard.press("ArrowLeft")
        wait_until_idle(page)
        page.get_by_text("Invert", exact=True).click()
        wait_until_idle(page)
        page.get_by_role("heading", name="Correct").click()
        page.keyboard.press("Alt+M")
        wait_for_mask_style(page, "Hidden")
        page.get_by_text("Invert", exact=True).click()  # back to the plain picture for the comparison
        wait_until_idle(page)
        slider.focus()
        for _ in range(5):
            page.keyboard.press("ArrowRight")
        wait_until_idle(page)

        pick_mask_style(page, "Outline")
        on_screen = _screen_mask(page, canvas)
        page.get_by_test_id("stRadio").filter(has_text="Status").get_by_text("submitted", exact=True).click()
        wait_until_idle(page)
        page.get_by_role("button", name="Save correction").click()
        page.get_by_text("Saved version 1").wait_for()

    store = SQLiteCorrectionsStore(store_dir)
    (record,) = store.list_corrections()
    stored = store.load_mask(record.corrected_mask_hash)
    original = store.load_mask(record.original_mask_hash)
    assert (stored & ~original).sum() >= 1500 and (original & ~stored).sum() > 300  # the polygon, brush, erase
    assert stored[15:45, 15:45].all()  # the polygon
    shown = cv2.resize(on_screen.astype(np.uint8), stored.shape[::-1], interpolation=cv2.INTER_NEAREST) > 0
    iou = (shown & stored).sum() / max(1, (shown | stored).sum())
    if iou <= 0.97:  # keep the evidence: on screen | stored
        Image.fromarray((np.hstack([shown, stored]) * 255).astype(np.uint8)).save(SCREEN_MASK_FAILURE)
    assert iou > 0.97, (iou, str(SCREEN_MASK_FAILURE))  # the stored mask is the one drawn on screen
    assert WorkingCopies(store).count() == 0  # the save took the working copy's place


def test_a_reload_brings_unsaved_edits_back_and_they_can_be_discarded(browser, tmp_path):
    store_dir = tmp_path / "store"
    add_browser_people(store_dir)
    with streamlit_app(env={"LUNGSEG_STORE": str(store_dir)}) as url:
        page = _annotator_page(browser, url, 1440, 900)
        canvas = _open_sample(page, url)
        box = steady_box(page, canvas)
        assert box["y"] + box["height"] <= 900
        pick_tool(page, "Erase brush")
        _stroke(page, box, 0.5 * box["height"], 0.1 * box["width"], 0.9 * box["width"])
        removed = wait_metric_change(page, "Pixels removed", "0")
        wait_until_idle(page)
        assert "case=" in page.url  # the edited X-ray became a case: its link reopens it
        page.reload()
        page.get_by_text("Restored your unsaved edits").wait_for()
        assert metric_value(page, "Pixels removed") == removed
        click_when_settled(page, page.get_by_role("button", name="Discard them"))
        wait_metric_change(page, "Pixels removed", removed)
        assert metric_value(page, "Pixels removed") == "0"
        wait_until_idle(page)
        page.reload()
        the_canvas(page)
        wait_until_idle(page)
        assert page.get_by_text("Restored your unsaved edits").count() == 0
    assert WorkingCopies(SQLiteCorrectionsStore(store_dir)).count() == 0


def test_quick_successive_strokes_all_reach_the_mask(browser, tmp_path):
    """The editor's canvas reports a stroke at once (its bundle's 200 ms delay removed), so emptying
    it after one stroke cannot cancel the next stroke's report; the bundle is loaded as a file once."""
    store_dir = tmp_path / "store"
    add_browser_people(store_dir)
    with streamlit_app(env={"LUNGSEG_STORE": str(store_dir)}) as url:
        page = _annotator_page(browser, url, 1280, 720)
        bundles: list[str] = []
        page.on("request", lambda r: bundles.append(r.url) if r.url.endswith(".js") and "canvas" in r.url else None)
        canvas = _open_sample(page, url)
        box = steady_box(page, canvas)
        pick_tool(page, "Erase brush")
        scale = box["width"] / 512
        for x, y in hole_centres(5, spacing=30):
            _stroke(page, box, y * scale, (x - 8) * scale, (x + 8) * scale)
            page.wait_for_timeout(250)
        steps = 0
        for _ in range(120):  # the last stroke's answer can still be on its way
            page.wait_for_timeout(500)
            steps = working_copy_steps(store_dir)
            if steps >= 5:
                break
        assert steps == 5
        assert [u.rsplit("/", 1)[-1] for u in bundles] == ["index-canvas.js"]
