"""Real browser and a real PACS (Orthanc, started here): an annotator searches the PACS on the Worklist,
imports what is ticked; a reviewer opens the approved case on Review and sends its SEG + SR back,
which then lie in the PACS beside the source image."""
from __future__ import annotations

import re
from datetime import date

import pytest

from lungseg_core.pacs.connection import PacsSettings, client
from lungseg_core.pacs.sources import PacsSources
from lungseg_core.workflow.corrections_store import SQLiteCorrectionsStore
from lungseg_core.workflow.worklist import Worklist
from lungseg_testing.browser import wait_until_idle
from lungseg_testing.orthanc import PASSWORD, USER, orthanc_available, orthanc_server

from .conftest import add_browser_people, browser_sign_in
from .test_pacs import NAMES, _approve_first_case, _films, _radiograph

pytestmark = pytest.mark.skipif(not orthanc_available(), reason="Orthanc is installed by tools/run_tests.sh")
TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def pacs_app(tmp_path_factory):
    from lungseg_testing.browser import streamlit_app

    with orthanc_server(tmp_path_factory.mktemp("orthanc")) as url:
        settings = PacsSettings(url, USER, PASSWORD)
        films = [_radiograph(p, n, "DX") for p, n in zip(_films()[:3], NAMES)]
        for ds in films:
            ds.StudyDate = date.today().strftime("%Y%m%d")  # inside the panel's default range (the last week)
        client(settings).store_instances(films)
        root = tmp_path_factory.mktemp("pacs-store")
        add_browser_people(root)
        env = {"LUNGSEG_STORE": str(root), "LUNGSEG_PACS_URL": url, "LUNGSEG_PACS_USER": USER,
               "LUNGSEG_PACS_PASSWORD": PASSWORD}
        with streamlit_app(env=env) as app_url:
            yield app_url, root, settings, films


def test_search_import_then_send_the_approved_segmentation_back(browser, pacs_app):
    url, root, settings, films = pacs_app
    context = browser.new_context(viewport={"width": 1400, "height": 1400})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    browser_sign_in(page, url, "browser-annotator")
    page.get_by_test_id("stSidebarNav").get_by_text("Worklist", exact=True).click()
    page.get_by_text("From the PACS").click()
    page.get_by_role("button", name="Search the PACS").click()
    import_button = page.get_by_role("button", name="Import 3 radiograph(s)")
    import_button.wait_for()
    wait_until_idle(page)
    import_button.click()
    page.get_by_text("3 new case(s) from the PACS").wait_for()
    context.close()

    store = SQLiteCorrectionsStore(root)
    worklist = Worklist(store)
    cases = worklist.list_cases()
    sources = PacsSources(store.database)
    assert {sources.of(c.image_hash).sop_uid for c in cases} == {d.SOPInstanceUID for d in films}
    case = worklist.get(_approve_first_case(root))

    reviewer = browser.new_context(viewport={"width": 1400, "height": 1400})
    page = reviewer.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    browser_sign_in(page, url, "browser-reviewer")
    page.goto(f"{url}/Review?case={case.number}")
    send = page.get_by_role("button", name="Send SEG + SR to the PACS")
    send.wait_for()
    wait_until_idle(page)
    send.click()
    page.get_by_text(re.compile(f"Sent the segmentation of case {case.number} to the PACS")).wait_for()
    source = sources.of(case.image_hash)
    stored = client(settings).search_for_instances(study_instance_uid=source.study_uid,
                                                   search_filters={"Modality": "SEG"})
    assert len(stored) == 1
    page.get_by_role("button", name="DICOM SEG").wait_for()  # and the same files to download
    reviewer.close()
