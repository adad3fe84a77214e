"""Real browser, the daily flow's wrong-data items (issue 22): a note typed on one case is not
carried to the next, and Enter in the Note field does not save."""
from __future__ import annotations

from lungseg_app.local_server import draw_erase_stroke
from lungseg_core.models.samples import list_samples
from lungseg_core.workflow.corrections_store import SQLiteCorrectionsStore

from .conftest import browser_sign_in

TIMEOUT_MS = 90_000


def _open_sample(page, label: str) -> None:
    page.get_by_test_id("stSelectbox").filter(has_text="sample case").click()
    page.get_by_role("option", name=label).click()
    page.get_by_role("button", name="Open sample").click()


def test_a_note_stays_with_its_case_and_enter_does_not_save(browser, app_url, app_store):
    first, second = list_samples()[2], list_samples()[3]
    context = browser.new_context(viewport={"width": 1400, "height": 1400})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    browser_sign_in(page, app_url, "browser-annotator")
    page.goto(f"{app_url}/Correct")
    page.get_by_text("Open an X-ray here").wait_for()
    _open_sample(page, first.label)
    draw_erase_stroke(page, 320, 100, 500, 20)
    note = page.get_by_label("Note (what was fixed)")
    note.fill("note of the first case")
    note.press("Enter")  # must not save
    page.wait_for_timeout(1500)
    store = SQLiteCorrectionsStore(app_store)
    assert not [r for r in store.list_corrections() if r.note == "note of the first case"]
    page.get_by_role("button", name="Save correction").click()
    page.get_by_text("Saved version 1").wait_for()
    assert [r.status for r in store.list_corrections() if r.note == "note of the first case"] == ["draft"]
    page.get_by_test_id("stSidebarNav").get_by_text("Correct", exact=True).click()
    _open_sample(page, second.label)
    page.get_by_text(f"Current case: {second.label}").wait_for()
    assert page.get_by_label("Note (what was fixed)").input_value() == ""  # nothing carried over
    draw_erase_stroke(page, 320, 100, 500, 20)
    page.get_by_role("button", name="Save correction").click()
    page.get_by_text("Saved version 1").wait_for()
    notes = {r.note for r in store.list_corrections() if r.note != "note of the first case"}
    assert "note of the first case" not in notes
    context.close()
