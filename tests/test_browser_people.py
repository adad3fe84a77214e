"""Real browser, the team loop with people: the admin creates an annotator and a reviewer; the
annotator (forced to choose a password) corrects and submits and cannot approve; the reviewer
approves; the admin promotes a retrained model and rolls it back; the audit log, exported as CSV
from the Audit page, shows each step with the right person."""
from __future__ import annotations

import csv
import io
import re

import pytest

from lungseg_core import DEFAULT_MODEL
from lungseg_core.people.accounts import UserDirectory
from lungseg_core.workflow.corrections_store import SQLiteCorrectionsStore
from lungseg_core.models.samples import list_samples

from lungseg_testing.browser import draw_erase_stroke, wait_until_idle

from .conftest import browser_sign_in
from .people import approved_samples

TIMEOUT_MS = 90_000


@pytest.fixture()
def candidate(app_store, tmp_path, monkeypatch):
    """A retrained version of the fastest model in the app's models folder (a one-step fine-tune)."""
    from lungseg_core.learning.retraining import retrain

    monkeypatch.setenv("LUNGSEG_MODELS", str(app_store / "models"))
    store = approved_samples(SQLiteCorrectionsStore(tmp_path / "other-store"))
    return retrain("unet_small_bn", store, tmp_path / "job", epochs=1, size=64, batch_size=2, max_steps=1)["name"]


def _new_page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1400}, accept_downloads=True)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    return context, page


def _add_user(page, name: str, role: str) -> str:
    page.get_by_label("User name").fill(name)
    roles = page.get_by_test_id("stMultiSelect").filter(has_text="Roles").first
    roles.get_by_role("button", name=re.compile("Remove annotator|Clear all")).first.click()  # drop the default
    roles.click()
    page.get_by_role("option", name=role, exact=True).click()
    page.keyboard.press("Escape")
    page.get_by_role("button", name="Add user").click()
    page.get_by_text(f"One-time password for {name}").wait_for()
    page.get_by_test_id("stDataFrame").first.wait_for()
    one_time = page.get_by_test_id("stCode").locator("code").first.inner_text().strip()
    page.reload()  # still there after a reload, until its admin says it was handed over
    page.get_by_text(f"One-time password for {name}").wait_for()
    assert page.get_by_test_id("stCode").locator("code").first.inner_text().strip() == one_time
    page.get_by_role("button", name="Done: I have handed it over").click()
    page.get_by_text(f"One-time password for {name}").wait_for(state="detached")
    wait_until_idle(page)  # the run that Done started is over before the form is used again
    return one_time


def _first_sign_in(page, url: str, name: str, one_time: str, new_password: str) -> None:
    page.goto(url)
    page.get_by_label("User name").fill(name)
    page.get_by_label("Password", exact=True).fill(one_time)
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("Choose a new password").wait_for()
    page.get_by_label("Current password").fill(one_time)
    page.get_by_label(re.compile("^New password \\(")).fill(new_password)
    page.get_by_label("New password again").fill(new_password)
    page.get_by_role("button", name="Change password").click()
    page.get_by_text("Signed in as").wait_for()
    page.wait_for_function("document.cookie.includes('lungseg_session=')")


def test_admin_annotator_reviewer_promotion_rollback_and_audit(browser, app_url, app_store, candidate):
    sample = list_samples()[2]
    admin_ctx, admin = _new_page(browser)
    browser_sign_in(admin, app_url, "admin")
    admin.goto(f"{app_url}/Users")
    admin.get_by_text("Add a user").wait_for()
    ann_once = _add_user(admin, "nurse-ann", "annotator")
    rev_once = _add_user(admin, "dr-rev", "reviewer")

    # the annotator: first sign-in, a correction, submitted; no way to approve it
    ann_ctx, ann = _new_page(browser)
    _first_sign_in(ann, app_url, "nurse-ann", ann_once, "ann picks her own 1")
    ann.reload()  # the session survives a reload
    ann.get_by_text("Signed in as nurse-ann").wait_for()
    ann.goto(f"{app_url}/Correct")
    ann.get_by_test_id("stSelectbox").filter(has_text="sample case").click()
    ann.get_by_role("option", name=sample.label).click()
    ann.get_by_role("button", name="Open sample").click()
    draw_erase_stroke(ann, 320, 100, 600, 25)
    ann.get_by_label("Note (what was fixed)").fill("people test")
    ann.get_by_test_id("stRadio").filter(has_text="Status").get_by_text("submitted", exact=True).click()
    ann.get_by_role("button", name="Save correction").click()
    ann.get_by_text("Saved version 1").wait_for()
    store = SQLiteCorrectionsStore(app_store)
    (record,) = [r for r in store.list_corrections() if r.note == "people test"]
    assert record.annotator == "nurse-ann" and record.status == "submitted"
    ann.goto(f"{app_url}/Review")
    ann.get_by_text("Review corrections").wait_for()
    ann.get_by_test_id("stSelectbox").filter(has_text="Annotator").click()
    ann.get_by_role("option", name="nurse-ann").click()
    ann.get_by_text("Reviewing needs the reviewer role.").wait_for()
    if ann.get_by_role("button", name="Approve", exact=True).count():
        ann.screenshot(path="/tmp/people-approve.png", full_page=True)
    assert ann.get_by_role("button", name="Approve", exact=True).count() == 0
    assert UserDirectory(app_store / "store.sqlite").get("nurse-ann").roles == {"annotator"}
    ann_ctx.close()

    # the reviewer approves it
    rev_ctx, rev = _new_page(browser)
    _first_sign_in(rev, app_url, "dr-rev", rev_once, "rev picks his own 1")
    rev.goto(f"{app_url}/Review")
    rev.get_by_test_id("stSelectbox").filter(has_text="Annotator").click()
    rev.get_by_role("option", name="nurse-ann").click()
    rev.get_by_label("Review note").fill("edge fine")
    rev.get_by_role("button", name="Approve", exact=True).click()
    rev.get_by_text(f"{record.id[:8]} · approved").first.wait_for()
    assert store.get(record.id).status == "approved"
    rev_ctx.close()

    # the admin reads the evidence, promotes the candidate, then rolls back
    admin.goto(f"{app_url}/Retrain")
    admin.get_by_text("Choose the default model").wait_for()
    admin.get_by_text(re.compile("Gate: (recommends|does not recommend|not decided)")).wait_for()
    wait_until_idle(admin)
    admin.get_by_label("Why promote it").fill("browser test promotion")
    admin.get_by_label("Why promote it").press("Enter")
    admin.get_by_text(re.compile("I have read the gate's verdict")).click()  # 4 corrections: not decided
    wait_until_idle(admin)
    admin.get_by_role("button", name=f"Promote {candidate} to default…").click()
    admin.get_by_role("button", name=f"Yes, make {candidate} the default").click()
    admin.get_by_text(f"Every user segments with {candidate}").wait_for()
    wait_until_idle(admin)
    admin.get_by_label("Why roll back").fill("browser test rollback")
    admin.get_by_label("Why roll back").press("Enter")
    admin.get_by_role("button", name=f"Roll back to {DEFAULT_MODEL}").click()
    admin.get_by_text(f"Every user segments with {DEFAULT_MODEL}").wait_for()

    # the audit page, exported as CSV, has each step with its person
    admin.goto(f"{app_url}/Audit")
    admin.get_by_text("Audit log").first.wait_for()
    with admin.expect_download() as info:
        admin.get_by_role("button", name="Export CSV").click()
    rows = list(csv.DictReader(io.StringIO(open(info.value.path()).read())))
    steps = [(r["actor"], r["action"], r["target"]) for r in rows]
    expected = [("admin", "user_added", "nurse-ann"), ("admin", "user_added", "dr-rev"),
                ("nurse-ann", "password_changed", "nurse-ann"), ("nurse-ann", "correction_saved", record.id),
                ("nurse-ann", "submitted", record.id), ("dr-rev", "approved", record.id),
                ("admin", "promoted", candidate), ("admin", "rolled_back", DEFAULT_MODEL)]
    position = -1
    for step in expected:  # each step, in the order it happened (other tests' entries may come between)
        assert step in steps[position + 1:], (step, steps)
        position = steps.index(step, position + 1)
    assert {"nurse-ann", "dr-rev", "admin"} <= {r["actor"] for r in rows if r["action"] == "sign_in"}
    assert next(r for r in rows if r["action"] == "promoted" and r["target"] == candidate)["reason"] == \
        "browser test promotion [promoted against the gate: not decided: too little evidence]"
    admin_ctx.close()
