"""Real browser, the new-hospital loop (issue 23), on a server and store of its own: the site's team
has approved corrections that draw the lung behind the heart; an admin retrains from the Retrain
page, reads the verdict, the map of the site's convention and the click network's verdict, and
promotes; an annotator's Next then opens the open case the refit estimator ranks worst (which the
shipped estimate had ranked level with another, and behind it by number)."""
from __future__ import annotations

import re

import numpy as np
import pytest

from lungseg_testing.browser import wait_until_idle
from lungseg_core import DEFAULT_MODEL
from lungseg_core.people.access_control import command_line_user
from lungseg_core.workflow.corrections_store import SQLiteCorrectionsStore
from lungseg_core.workflow.site_quality import MIN_EXAMPLES
from lungseg_core.workflow.worklist import Worklist

from .conftest import retrain_from_the_page, BROWSER_PEOPLE, add_browser_people, browser_sign_in
from .people import ANN, REV
from .site_films import SIGNALS, drawn_and_site_masks

TIMEOUT_MS = 240_000


def _film(seed: int, mask: np.ndarray) -> np.ndarray:
    """A film-like picture: dark lungs on a brighter body, with noise (the retrain reads it)."""
    rng = np.random.default_rng(seed)
    image = np.full(mask.shape, 170, np.float32) - 90 * mask + rng.normal(0, 12, mask.shape)
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def site_app(tmp_path_factory):
    from lungseg_testing.browser import streamlit_app

    root = tmp_path_factory.mktemp("site-loop-store")
    add_browser_people(root)
    store = SQLiteCorrectionsStore(root)
    worklist = Worklist(store)
    who = command_line_user()
    rng = np.random.default_rng(0)
    for i in range(MIN_EXAMPLES + 2):  # the site's approved corrections, of films the default segmented
        drawn, site = drawn_and_site_masks(int(rng.integers(-6, 7)), float(rng.uniform(0.85, 1.15)))
        case, _ = worklist.add_case(_film(i, site), who, label=f"site film {i + 1}")
        worklist.set_segmentation(case.number, drawn, {"estimated_dice": 0.97, "flags": [],
                                                       "signals": SIGNALS.as_dict()}, DEFAULT_MODEL, "v", who)
        record = store.save_correction(store.load_image(worklist.get(case.number).image_hash), drawn, site,
                                       actor=ANN, model_name=DEFAULT_MODEL, model_version="v", status="submitted")
        store.review(record.id, "approve", actor=REV)
    numbers = {}
    for name, seed, which in (("agrees", 100, 1), ("misses", 101, 0)):  # "agrees" first: it wins a tie
        drawn, site = drawn_and_site_masks(0, 1.0)
        case, _ = worklist.add_case(_film(seed, site), who, label=f"open film {name}")
        worklist.set_segmentation(case.number, (drawn, site)[which], {"estimated_dice": 0.97, "flags": [],
                                                                      "signals": SIGNALS.as_dict()},
                                  DEFAULT_MODEL, "v", who)
        numbers[name] = case.number
    with streamlit_app(env={"LUNGSEG_STORE": str(root)}) as url:
        yield url, root, numbers


def test_admin_retrains_on_the_site_reads_the_map_promotes_and_next_opens_the_worst(browser, site_app, tiny_data_dir,
                                                                                  monkeypatch):
    from lungseg_core.models.model_versions import default_model_name

    url, root, numbers = site_app
    monkeypatch.setenv("LUNGSEG_STORE", str(root))
    monkeypatch.setenv("LUNGSEG_MODELS", str(root / "models"))
    worklist = Worklist(SQLiteCorrectionsStore(root))
    assert worklist.get(numbers["misses"]).estimated_dice == worklist.get(numbers["agrees"]).estimated_dice

    context = browser.new_context(viewport={"width": 1400, "height": 1300})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    browser_sign_in(page, url, "admin")
    done, name = retrain_from_the_page(page, tiny_data_dir)
    assert re.search(rf"worklist estimate refit on {MIN_EXAMPLES + 2} corrections \(weighing [^)]*\), 2 open cases "
                     r"scored again",
                     done.inner_text())

    # the verdict, the map of the site's convention, the click network's verdict
    page.get_by_text(re.compile(r"Gate: not decided: too little evidence")).wait_for()
    page.get_by_text(re.compile("Where your team's corrections systematically add")).wait_for()
    page.get_by_text(re.compile("Click-to-fix: click network not fine-tuned")).wait_for()
    wait_until_idle(page)
    page.get_by_label("Why promote it").fill("site loop test")
    page.get_by_label("Why promote it").press("Enter")
    page.get_by_text(re.compile("I have read the gate's verdict \\(not decided")).click()
    wait_until_idle(page)
    page.get_by_role("button", name=f"Promote {name} to default…").click()
    page.get_by_role("button", name=f"Yes, make {name} the default").click()
    page.get_by_text(f"{name} is now the default model for every user").wait_for()
    assert default_model_name() == name
    context.close()

    misses, agrees = worklist.get(numbers["misses"]), worklist.get(numbers["agrees"])
    assert misses.quality.get("estimate") == "site" and misses.estimated_dice < agrees.estimated_dice

    other = browser.new_context(viewport={"width": 1400, "height": 1300})
    user_page = other.new_page()
    user_page.set_default_timeout(TIMEOUT_MS)
    browser_sign_in(user_page, url, "browser-annotator", BROWSER_PEOPLE["browser-annotator"][0])
    user_page.get_by_test_id("stSidebarNav").get_by_text("Worklist", exact=True).click()
    user_page.get_by_role("button", name="Next case").first.click()
    user_page.wait_for_url(re.compile(rf"/Correct\?case={numbers['misses']}$"))
    user_page.get_by_text(f"Current case: Case {numbers['misses']}").wait_for()
    other.close()
