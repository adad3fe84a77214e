"""Real browser, the worklist loop: an annotator imports 3 X-rays (and a bad file) on the Worklist
page, segments them in the background, takes Next, erases a band, Save and next; a reviewer follows
a case link to Review and approves it. The stored masks and statuses are checked in the store."""
from __future__ import annotations

import re

import numpy as np
from PIL import Image

from lungseg_testing.browser import draw_erase_stroke, streamlit_app, wait_for_tool, wait_until_idle
from lungseg_core.workflow.corrections_store import SQLiteCorrectionsStore
from lungseg_core.models.samples import list_samples
from lungseg_core.workflow.worklist import Worklist

from .conftest import add_browser_people, browser_sign_in

TIMEOUT_MS = 120_000


def test_import_segment_next_edit_save_and_next_review(browser, tmp_path):
    store_dir = tmp_path / "store"
    add_browser_people(store_dir)
    files = []
    for i, s in enumerate(list_samples()[:3]):
        path = tmp_path / f"film_{i}.png"
        path.write_bytes(s.image_path.read_bytes())
        files.append(str(path))
    (tmp_path / "broken.png").write_text("not an image")  # the uploader filters by extension; the reader sees it
    files.append(str(tmp_path / "broken.png"))

    with streamlit_app(env={"LUNGSEG_STORE": str(store_dir), "LUNGSEG_JOBS": str(tmp_path / "jobs")}) as url:
        context = browser.new_context(viewport={"width": 1400, "height": 1400})
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        browser_sign_in(page, url, "browser-annotator")
        page.goto(f"{url}/Worklist")
        page.get_by_text("No cases yet").wait_for()
        page.locator("input[type=file]").set_input_files(files)
        for name in ("film_0.png", "film_1.png", "film_2.png", "broken.png"):
            page.get_by_text(name).wait_for()
        wait_until_idle(page)
        page.get_by_role("button", name="Import", exact=True).click()
        try:
            page.get_by_text("3 new cases, 1 could not be read").wait_for()
        except Exception:
            page.screenshot(path=str(tmp_path.parent / "worklist_failure.png"), full_page=True)
            raise
        page.get_by_role("button", name="Segment 3 new cases in the background").click()
        page.get_by_text("3 of 3 cases segmented").wait_for()
        worklist = Worklist(SQLiteCorrectionsStore(store_dir))
        cases = worklist.list_cases()
        assert [c.status for c in cases] == ["segmented"] * 3 and all(c.estimated_dice for c in cases)
        first = min(cases, key=lambda c: (0 if c.flags else 1, c.estimated_dice, c.number))

        page.reload()  # counts and the table after a reload
        wait_until_idle(page)
        page.get_by_test_id("stMetric").filter(has_text="Segmented").get_by_text("3").wait_for()
        page.get_by_role("button", name="Next case").first.click()
        page.wait_for_url(re.compile(rf"/Correct\?case={first.number}$"))
        assert worklist.get(first.number).holder == "browser-annotator"
        wait_for_tool(page, "Add brush")  # the page is drawn down to the figures: its shortcuts are there
        page.get_by_role("heading", name="Correct").click()  # focus on the page, not in a text box
        page.keyboard.press("Alt+2")  # the erase brush's shortcut
        wait_for_tool(page, "Erase brush")
        draw_erase_stroke(page, 300, 80, 620, 20)
        page.get_by_test_id("stRadio").filter(has_text="Status").get_by_text("submitted", exact=True).click()
        wait_until_idle(page)
        page.get_by_role("button", name="Save and next").click()
        page.get_by_text(f"of case {first.number}").first.wait_for()
        saved = worklist.get(first.number)
        assert saved.status == "submitted" and saved.latest_author == "browser-annotator"
        record = worklist.store.get(saved.latest_version_id)
        original, corrected = (worklist.store.load_mask(record.original_mask_hash),
                               worklist.store.load_mask(record.corrected_mask_hash))
        assert (original & ~corrected).sum() > 500 and not (corrected & ~original).any()
        second = [c for c in worklist.list_cases() if c.holder == "browser-annotator" and c.number != first.number]
        assert len(second) == 1  # "and next" opened and claimed it
        page.wait_for_url(re.compile(rf"/Correct\?case={second[0].number}$"))

        context.clear_cookies()
        browser_sign_in(page, url, "browser-reviewer")
        page.goto(f"{url}/Review?case={first.number}")  # the link a colleague sends
        page.get_by_role("heading", name=f"Case {first.number}").wait_for()
        page.get_by_role("button", name="Approve", exact=True).click()
        wait_until_idle(page)
        assert worklist.get(first.number).status == "approved"
        page.goto(f"{url}/Worklist")
        page.get_by_text("1 of 3 cases approved").wait_for()
        context.close()
    assert np.asarray(Image.open(list_samples()[0].image_path)).ndim == 2
