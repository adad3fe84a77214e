"""Shared fixtures: the bundled sample cases and a tiny data folder in the training layout."""
from __future__ import annotations

import csv
import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "samples"


def sample_cases() -> list[dict[str, str]]:
    with open(SAMPLES / "manifest.csv", newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture()
def tiny_data_dir(tmp_path: Path) -> Path:
    """The four sample cases laid out as a data folder: 2 train, 1 val, 1 test."""
    splits = ["train", "train", "val", "test"]
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    with open(tmp_path / "manifest.csv", "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["id", "source", "split", "image_path", "mask_path"])
        for row, split in zip(sample_cases(), splits):
            shutil.copy(SAMPLES / row["image_path"], tmp_path / row["image_path"])
            shutil.copy(SAMPLES / row["mask_path"], tmp_path / row["mask_path"])
            writer.writerow([row["id"], row["source"], split, row["image_path"], row["mask_path"]])
    return tmp_path


@pytest.fixture(autouse=True, scope="session")
def _one_torch_thread():
    """Tests run beside other work on 2 cores; one intra-op thread avoids oversubscription."""
    import torch

    torch.set_num_threads(1)


#: Browser tests get one more try when they fail (pytest-rerunfailures; Playwright's own runner
#: recommends retries on CI for the same reason). They drive a real Streamlit server and chromium on
#: 2 busy cores, where a click can land while a run is still re-drawing the page. A failure that
#: repeats still fails; one that passes on its second try is reported ("1 rerun" in the summary, R in
#: the progress line) and is a flake to chase, not a pass to forget.
BROWSER_TEST_RERUNS = 1


def pytest_collection_modifyitems(config, items) -> None:  # type: ignore[no-untyped-def]
    if not config.pluginmanager.hasplugin("rerunfailures"):
        return
    for item in items:
        if item.path.name.startswith("test_browser_"):
            item.add_marker(pytest.mark.flaky(reruns=BROWSER_TEST_RERUNS))


#: Accounts of the browser tests' server: user name -> (password, roles)
BROWSER_PEOPLE = {"admin": ("head of imaging 1", "admin"),
                  "browser-annotator": ("draws lungs daily", "annotator"),
                  "browser-reviewer": ("checks every edge", "reviewer")}


@pytest.fixture(scope="session")
def app_store(tmp_path_factory) -> Path:
    """The corrections store used by the app server in browser tests, with an admin, an annotator
    and a reviewer (BROWSER_PEOPLE)."""
    root = tmp_path_factory.mktemp("browser-store")
    add_browser_people(root)
    return root


def add_browser_people(store_dir: Path) -> None:
    """The admin, annotator and reviewer of BROWSER_PEOPLE, in the store at `store_dir`."""
    from lungseg_core.people.accounts import UserDirectory

    users = UserDirectory(Path(store_dir) / "store.sqlite")
    admin = users.create_first_admin("admin", BROWSER_PEOPLE["admin"][0])
    for name, (password, roles) in BROWSER_PEOPLE.items():
        if name != "admin":
            users.add_user(admin, name, roles, password, must_change_password=False)


def browser_sign_in(page, url: str, username: str, password: str | None = None) -> None:
    """Sign in on the app's sign-in form (the session cookie then keeps the browser signed in)."""
    page.goto(url)
    page.get_by_label("User name").fill(username)
    page.get_by_label("Password", exact=True).fill(password or BROWSER_PEOPLE[username][0])
    page.get_by_role("button", name="Sign in").click()
    page.get_by_text("Signed in as").wait_for()
    page.wait_for_function("document.cookie.includes('lungseg_session=')")  # what a reload signs in with


@pytest.fixture(scope="session")
def app_url(app_store):
    """`streamlit run app.py` on a loopback port, shared by the browser tests."""
    from lungseg_testing.browser import streamlit_app

    with streamlit_app(env={"LUNGSEG_STORE": str(app_store)}) as url:
        yield url


@pytest.fixture(scope="session")
def browser():
    """Debian's chromium driven by Playwright."""
    from playwright.sync_api import sync_playwright

    from lungseg_testing.browser import launch_chromium

    with sync_playwright() as p:
        b = launch_chromium(p)
        yield b
        b.close()



def retrain_from_the_page(page, data_dir: Path, base: str = "unet_small_bn"):  # type: ignore[no-untyped-def]
    """On the Retrain page as an admin: start a retrain of `base` with `data_dir` as the base data and
    wait for it; returns the "done" line's locator and the new version's name."""
    import re

    page.get_by_test_id("stSidebarNav").get_by_text("Retrain", exact=True).click()
    page.get_by_text("Retrain from corrections").wait_for()
    page.get_by_test_id("stSelectbox").filter(has_text="Start from").click()
    page.get_by_role("option", name=base, exact=True).click()
    data = page.get_by_label(re.compile("Base training data"))
    data.fill(str(data_dir))
    data.press("Enter")
    page.get_by_role("button", name="Start retraining").click()
    done = page.get_by_text(re.compile(rf"Last job .*: done — ({re.escape(base)}-ft\d+) saved as a candidate"))
    done.wait_for()
    return done, re.search(rf"({re.escape(base)}-ft\d+)", done.inner_text()).group(1)


@pytest.fixture()
def env(tmp_path, monkeypatch):
    """A retraining environment of its own (models, jobs, store under tmp_path) whose store holds the
    four samples as approved corrections."""
    from lungseg_core.workflow.corrections_store import SQLiteCorrectionsStore

    from .people import approved_samples

    monkeypatch.setenv("LUNGSEG_MODELS", str(tmp_path / "models"))
    monkeypatch.setenv("LUNGSEG_JOBS", str(tmp_path / "jobs"))
    monkeypatch.setenv("LUNGSEG_STORE", str(tmp_path / "store"))
    return approved_samples(SQLiteCorrectionsStore(tmp_path / "store"))


@pytest.fixture(scope="session")
def postgres_url(tmp_path_factory) -> str:
    """A real PostgreSQL server for the session (Debian's binaries; tools/run_tests.sh installs them).
    Not skipped when missing: a store suite that silently ran on one database would prove half."""
    from lungseg_testing.postgres import postgres_available, postgres_server

    if not postgres_available():
        pytest.fail("PostgreSQL's server is not installed (run tools/run_tests.sh, which installs it)")
    with postgres_server(tmp_path_factory.mktemp("postgres")) as url:
        yield url
    from lungseg_core.storage.postgres_database import close_pools

    close_pools()


def pytest_generate_tests(metafunc) -> None:  # type: ignore[no-untyped-def]
    """Tests that use `store_backend` run on SQLite and on Postgres (`sqlite_only` ones on SQLite)."""
    if "store_backend" in metafunc.fixturenames:
        kinds = ["sqlite"] if metafunc.definition.get_closest_marker("sqlite_only") else ["sqlite", "postgres"]
        metafunc.parametrize("store_backend", kinds, indirect=True)


@pytest.fixture()
def store_backend(request):  # type: ignore[no-untyped-def]
    """The database this test's stores use (see tests/store_backends.py)."""
    from tests.store_backends import CURRENT, Backend

    backend = Backend("postgres", request.getfixturevalue("postgres_url")) if request.param == "postgres" \
        else Backend("sqlite")
    CURRENT.append(backend)
    yield backend
    CURRENT.pop()
