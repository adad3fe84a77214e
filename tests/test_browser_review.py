"""Real-browser tests: Playwright driving Debian's chromium against `streamlit run app.py`."""
from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from lungseg_core import list_models, load_model, overlap_metrics, read_mask, read_xray
from lungseg_core.models.samples import list_samples

from lungseg_testing.browser import wait_until_idle
from lungseg_app.navigation import PAGES

from .conftest import browser_sign_in

TIMEOUT_MS = 90_000


@pytest.fixture()
def page(browser, app_url):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    browser_sign_in(pg, app_url, "browser-annotator")
    pg.goto(f"{app_url}/Segment")
    pg.get_by_text("Upload a chest X-ray or open a sample case").wait_for()
    yield pg
    context.close()


def _metric_value(page, label: str) -> str:
    metric = page.get_by_test_id("stMetric").filter(has=page.get_by_test_id("stMetricLabel").get_by_text(label, exact=True))
    return metric.get_by_test_id("stMetricValue").inner_text().strip()


def _pick_model(page, name: str) -> None:
    page.get_by_test_id("stSidebar").get_by_test_id("stSelectbox").click()
    page.get_by_role("option", name=name, exact=True).click()


def test_upload_pick_model_overlay_and_iou(page, tmp_path):
    sample = list_samples()[3]
    model = list_models()[-1]
    _pick_model(page, model)
    inputs = page.locator("input[type=file]")
    inputs.nth(0).set_input_files(str(sample.image_path))
    overlay = page.get_by_test_id("stImage").locator("img")
    overlay.first.wait_for(state="visible")
    caption = page.get_by_text(re.compile(rf"uploaded X-ray · {model} · Mask overlay"))
    caption.first.wait_for()
    # the outgoing layout can show it twice while the page re-renders; once a run completes, once only
    expect(caption).to_have_count(1, timeout=60_000)
    wait_until_idle(page)  # the X-ray inputs move beside the picture: the mask goes into the reference uploader
    page.get_by_test_id("stFileUploader").filter(has_text="Reference mask").locator("input[type=file]") \
        .set_input_files(str(sample.mask_path))
    page.get_by_test_id("stMetricLabel").get_by_text("IoU", exact=True).wait_for()
    image = read_xray(sample.image_path.read_bytes()).pixels
    expected = overlap_metrics(load_model(model).predict(image), read_mask(sample.mask_path.read_bytes(), image.shape))
    assert _metric_value(page, "IoU") == f"{expected.iou:.3f}"
    assert _metric_value(page, "Dice") == f"{expected.dice:.3f}"


def test_bad_file_shows_error_and_page_keeps_working(page, tmp_path):
    bad = tmp_path / "scan.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"truncated")
    page.locator("input[type=file]").nth(0).set_input_files(str(bad))
    page.get_by_text(re.compile("scan.png: .*(damaged|not an image)")).wait_for()
    page.locator("input[type=file]").nth(0).set_input_files(str(list_samples()[0].image_path))
    page.get_by_test_id("stImage").locator("img").first.wait_for(state="visible")
    page.get_by_test_id("stMetricLabel").get_by_text("Share of image").wait_for()  # figures shown again


def test_the_menu_starts_at_home_and_pages_keep_their_addresses(page, app_url):
    nav = page.get_by_test_id("stSidebarNav")
    nav.get_by_text("Home", exact=True).wait_for()
    assert [t.strip() for t in nav.locator("a").all_inner_texts()] == [title for _, title, _ in PAGES]
    nav.get_by_text("Home", exact=True).click()
    page.get_by_text("Open your own X-ray").wait_for()
    assert page.url.rstrip("/") == app_url.rstrip("/")
    nav.get_by_text("Correct", exact=True).click()
    page.wait_for_url(f"{app_url}/Correct")  # the address links and bookmarks use
