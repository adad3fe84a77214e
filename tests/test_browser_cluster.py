"""Real browser through the outgrown configuration (issue 25): Postgres, two Streamlit servers on one store,
HAProxy in front with sticky sessions. Two annotators pinned to different servers take Next at the same
moment and get different cases; one saves, the other's Worklist shows it; an admin on server 2 cancels
the background segmentation an admin started on server 1."""
from __future__ import annotations

import re

import numpy as np
import pytest
from PIL import Image

from lungseg_core.models.samples import list_samples
from lungseg_core.people.access_control import command_line_user
from lungseg_core.people.accounts import UserDirectory
from lungseg_core.workflow import batch_segmentation as batch
from lungseg_core.workflow.corrections_store import open_store
from lungseg_core.workflow.worklist import Worklist
from lungseg_testing.browser import wait_until_idle
from lungseg_testing.cluster import SERVER_COOKIE, app_cluster
from lungseg_testing.postgres import postgres_available

from .conftest import browser_sign_in

TIMEOUT_MS = 120_000
PEOPLE = {"admin": ("head of imaging 1", "admin"), "ann-one": ("draws lungs daily", "annotator"),
          "ann-two": ("draws lungs nightly", "annotator")}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory, monkeypatch_module):
    if not postgres_available():
        pytest.fail("PostgreSQL's server is not installed (run tools/run_tests.sh, which installs it)")
    folder = tmp_path_factory.mktemp("cluster")
    monkeypatch_module.setenv("LUNGSEG_JOBS", str(folder / "files" / "jobs"))  # this process reads the same jobs
    with app_cluster(folder) as running:
        store = open_store(running.store_address)
        users = UserDirectory(store.database)
        admin = users.create_first_admin("admin", PEOPLE["admin"][0])
        for name, (password, roles) in PEOPLE.items():
            if name != "admin":
                users.add_user(admin, name, roles, password, must_change_password=False)
        worklist = Worklist(store)
        for i, sample in enumerate(list_samples()):  # 12 new cases: enough work for a job to be cancelled
            image = np.asarray(Image.open(sample.image_path))
            for j, variant in enumerate((image, image[:, ::-1], np.roll(image, 9, axis=0))):
                worklist.add_case(np.ascontiguousarray(variant), command_line_user(), label=f"film {i}.{j}")
        yield running, worklist


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


def _pinned(browser, cluster, server: str, who: str):  # type: ignore[no-untyped-def]
    """A browser signed in as `who` whose every request (websocket included) the proxy sends to `server`."""
    context = browser.new_context(viewport={"width": 1400, "height": 1100})
    context.add_cookies([{"name": SERVER_COOKIE, "value": server, "url": cluster.url}])
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    browser_sign_in(page, cluster.url, who, PEOPLE[who][0])
    page.get_by_test_id("stSidebarNav").get_by_text("Worklist", exact=True).click()
    wait_until_idle(page)
    return context, page


def test_two_annotators_on_two_servers_get_different_cases_and_see_each_others_work(browser, cluster):
    running, worklist = cluster
    (ctx_a, page_a), (ctx_b, page_b) = (_pinned(browser, running, running.server_names[0], "ann-one"),
                                        _pinned(browser, running, running.server_names[1], "ann-two"))
    page_a.get_by_role("button", name="Next case").first.click()  # both at once: the two servers race
    page_b.get_by_role("button", name="Next case").first.click()
    got = []
    for page in (page_a, page_b):
        page.wait_for_url(re.compile(r"/Correct\?case=\d+$"))
        got.append(int(page.url.rsplit("=", 1)[1]))
    assert got[0] != got[1]
    assert [worklist.get(n).holder for n in got] == ["ann-one", "ann-two"]
    assert {c["name"]: c["value"] for c in ctx_a.cookies()}[SERVER_COOKIE] == running.server_names[0]
    assert {c["name"]: c["value"] for c in ctx_b.cookies()}[SERVER_COOKIE] == running.server_names[1]

    wait_until_idle(page_a)
    page_a.get_by_role("button", name="Save correction").click()  # on server 1
    page_a.get_by_text(f"of case {got[0]}").first.wait_for()
    assert worklist.get(got[0]).status == "in progress" and worklist.get(got[0]).latest_author == "ann-one"
    page_b.get_by_test_id("stSidebarNav").get_by_text("Worklist", exact=True).click()  # on server 2
    page_b.get_by_test_id("stMetric").filter(has_text="In progress").get_by_text("1", exact=True).wait_for()
    ctx_a.close()
    ctx_b.close()


def test_a_job_started_on_one_server_is_followed_and_cancelled_on_the_other(browser, cluster):
    running, worklist = cluster
    ctx_a, page_a = _pinned(browser, running, running.server_names[0], "admin")
    page_a.get_by_role("button", name=re.compile(r"Segment \d+ new cases in the background")).click()
    page_a.get_by_text("Segmenting:").wait_for()  # server 1 started it
    ctx_b, page_b = _pinned(browser, running, running.server_names[1], "admin")
    page_b.get_by_text("Segmenting:").wait_for()  # server 2 follows it
    page_b.get_by_role("button", name="Cancel segmentation").click()
    page_b.get_by_text("Last batch segmentation:").wait_for()
    last = batch.latest()
    assert last is not None and last.get("state") == "cancelled", last
    assert sum(c.status == "segmented" for c in worklist.list_cases()) < 12  # stopped part-way
    ctx_a.close()
    ctx_b.close()
