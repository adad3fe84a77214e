"""Real browser: open a sample, draw an erase stroke across a lung on the canvas, save; the
Review page lists the case, the stored mask differs from the model's exactly under the stroke;
the export zip reads back."""
from __future__ import annotations

import csv
import io
import zipfile

import numpy as np

from lungseg_core.workflow.corrections_store import SQLiteCorrectionsStore
from lungseg_core.models.samples import list_samples

from lungseg_testing.browser import draw_erase_stroke

from .conftest import browser_sign_in

TIMEOUT_MS = 90_000
BRUSH_IMAGE_PX = 6  # the default brush width, in image pixels whatever the canvas size


def test_draw_erase_stroke_save_review_export(browser, app_url, app_store, tmp_path):
    sample = list_samples()[0]
    context = browser.new_context(viewport={"width": 1400, "height": 1400}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    browser_sign_in(page, app_url, "browser-annotator")
    page.goto(f"{app_url}/Correct")
    page.get_by_text("Open an X-ray here").wait_for()
    page.get_by_test_id("stSelectbox").filter(has_text="sample case").click()
    page.get_by_role("option", name=sample.label).click()
    page.get_by_role("button", name="Open sample").click()
    y = 300
    box = draw_erase_stroke(page, y, 80, 620, 20)
    assert 400 <= round(box["width"]) <= 700  # sized to the window
    x_to = min(620, int(box["width"]) - 4)
    page.get_by_label("Note (what was fixed)").fill("erased a band")
    page.get_by_test_id("stRadio").filter(has_text="Status").get_by_text("submitted", exact=True).click()
    page.get_by_role("button", name="Save correction").click()
    page.get_by_text("Saved version 1").wait_for()

    store = SQLiteCorrectionsStore(app_store)
    (record,) = [r for r in store.list_corrections() if r.note == "erased a band"]
    assert record.annotator == "browser-annotator"
    original, corrected = store.load_mask(record.original_mask_hash), store.load_mask(record.corrected_mask_hash)
    diff = original ^ corrected
    assert diff.any() and not (corrected & ~original).any()  # only erased
    scale = 512 / box["width"]
    half = BRUSH_IMAGE_PX / 2 + 2.5  # a brush of 6 image px (+ anti-aliasing, sub-pixel mouse positions)
    rows, cols = np.nonzero(diff)
    assert rows.min() >= y * scale - half and rows.max() <= y * scale + half  # the brush's width in image px
    assert cols.min() >= 80 * scale - half and cols.max() <= x_to * scale + half
    band = np.zeros_like(original)
    band[round(y * scale) - 1:round(y * scale) + 2, round(120 * scale):round((x_to - 40) * scale)] = True
    assert not (corrected & band).any()  # the core of the stroke is erased

    context.clear_cookies()  # another person at the same browser
    browser_sign_in(page, app_url, "browser-reviewer")
    page.goto(f"{app_url}/Review")
    page.get_by_text("Review corrections").wait_for()
    page.get_by_test_id("stDataFrame").first.wait_for()
    page.get_by_text(f"{record.id[:8]} · submitted").first.wait_for()  # the thumbnail of the saved case
    page.get_by_role("button", name="Approve", exact=True).click()
    page.get_by_text(f"{record.id[:8]} · approved").first.wait_for()
    assert store.get(record.id).status == "approved"
    export = page.get_by_role("button", name="Training data (zip)")
    page.wait_for_function("el => !el.disabled", arg=export.element_handle())
    with page.expect_download() as info:
        export.click()
    data = open(info.value.path(), "rb").read()
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        # other browser tests share this store: this correction is exported once, whatever else is
        rows_ = [r for r in csv.DictReader(io.StringIO(zf.read("manifest.csv").decode()))
                 if r["correction_id"] == record.id]
        assert len(rows_) == 1
        exported = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(io.BytesIO(zf.read(rows_[0]["mask_path"]))))
        assert np.array_equal(exported > 127, corrected)
    context.close()
