"""Real browser, the model lifecycle: an admin retrains from the Retrain page, reads the gate's
evidence, promotes the candidate, a new session segments with it as the default, and the admin
rolls back."""
from __future__ import annotations

import re

from lungseg_testing.browser import wait_until_idle
from lungseg_core import DEFAULT_MODEL
from lungseg_core.workflow.corrections_store import SQLiteCorrectionsStore
from lungseg_core.models.samples import list_samples

from .conftest import retrain_from_the_page, browser_sign_in
from .people import approved_samples

TIMEOUT_MS = 180_000


def test_retrain_read_evidence_promote_segment_rollback(browser, app_url, app_store, tiny_data_dir, monkeypatch):
    from lungseg_core.models.model_versions import default_model_name

    monkeypatch.setenv("LUNGSEG_MODELS", str(app_store / "models"))  # what the app server reads
    approved_samples(SQLiteCorrectionsStore(app_store), mirrored=True)  # four approved corrections, new X-rays

    context = browser.new_context(viewport={"width": 1400, "height": 1200})
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    browser_sign_in(page, app_url, "admin")
    done, name = retrain_from_the_page(page, tiny_data_dir)
    assert "started by admin" in done.inner_text()

    # the evidence, in plain words, then an explicit promotion with a reason
    page.get_by_text(re.compile(r"Lineage:.*unet_small_bn → " + re.escape(name))).wait_for()
    page.get_by_text(re.compile("Gate: not decided: too little evidence")).wait_for()
    wait_until_idle(page)
    page.get_by_text("Recall falling while precision holds").wait_for()
    assert default_model_name() != name  # a candidate is never the default by itself
    page.get_by_label("Why promote it").fill("lifecycle test")
    page.get_by_label("Why promote it").press("Enter")
    promote_button = page.get_by_role("button", name=f"Promote {name} to default…")
    assert promote_button.is_disabled()  # a gate that did not recommend: a reason alone is not enough
    page.get_by_text(re.compile("I have read the gate's verdict \\(not decided")).click()
    wait_until_idle(page)
    promote_button.click()
    page.get_by_text(re.compile(f"Make {re.escape(name)} the default model for every user now")).wait_for()
    assert default_model_name() != name  # asked first
    page.get_by_role("button", name=f"Yes, make {name} the default").click()
    page.get_by_text(f"Every user segments with {name}").wait_for()
    page.get_by_text(f"{name} is now the default model for every user").wait_for()
    wait_until_idle(page)
    assert default_model_name() == name

    # a new session segments with the new default
    other = browser.new_context(viewport={"width": 1400, "height": 1200})
    user_page = other.new_page()
    user_page.set_default_timeout(TIMEOUT_MS)
    browser_sign_in(user_page, app_url, "browser-annotator")
    user_page.get_by_test_id("stSidebarNav").get_by_text("Segment", exact=True).click()
    user_page.get_by_test_id("stSelectbox").filter(has_text="sample case").click()
    user_page.get_by_role("option", name=list_samples()[1].label).click()
    user_page.get_by_role("button", name="Open sample").click()
    user_page.get_by_text(re.compile(rf"· {re.escape(name)} · Mask overlay")).first.wait_for()
    other.close()

    # roll back to the previous default
    page.get_by_label("Why roll back").fill("lifecycle test rollback")
    page.get_by_label("Why roll back").press("Enter")
    page.get_by_role("button", name=f"Roll back to {DEFAULT_MODEL}").click()  # the newest earlier default
    page.get_by_text(f"Every user segments with {DEFAULT_MODEL}").wait_for()
    assert default_model_name() == DEFAULT_MODEL
    context.close()
