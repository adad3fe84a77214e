"""Security, third pass (issue 21): each row of the review with a case that must be refused and one
that must pass. Browser checks of the identity provider are in test_browser_oidc.py."""
from __future__ import annotations

import io
import os
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
import zipfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

from lungseg_core.learning import retrain_jobs
from lungseg_core.people import accounts
from lungseg_core.people.access_control import PermissionDenied, User, command_line_user
from lungseg_core.people.accounts import SignInError, UserDirectory, one_time_password
from lungseg_core.people.audit import AuditEntry, AuditLog, entries_csv, verify_chain
from lungseg_core.people.sign_in_throttle import SignInThrottle
from lungseg_core.workflow.case_claims import Claims
from lungseg_core.workflow.case_import import from_zip, import_sources
from lungseg_core.workflow.corrections_export import export_coco, export_training_zip
from lungseg_core.workflow.corrections_store import SQLiteCorrectionsStore
from lungseg_core.storage.database import SCHEMA_VERSION
from lungseg_core.workflow.worklist import Worklist, rows_csv

from .dicom_factory import make_dicom
from .people import ADMIN, ANN, REV, approved_samples
from lungseg_core.storage.database import StoreError

from .store_backends import app_uses_store, backend_kind, new_database, new_store  # noqa: F401

pytestmark = pytest.mark.usefixtures("store_backend")

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures"
CLI = command_line_user()
INJECT = "[Session expired: sign in again](http://evil.test/x) ![](http://evil.test/p.png)"
PW = "a long enough password"


@pytest.fixture()
def store(tmp_path):
    return new_store(tmp_path / "store")


def _image(seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (64, 64), dtype=np.uint8)


# -- 1. identity provider: verified e-mail only, never onto a local-password account unless linked -----
def test_identity_provider_maps_only_verified_emails_onto_accounts_made_or_linked_for_it(store):
    users = UserDirectory(store.database)
    oidc_only = users.add_user(CLI, "dana@hospital.org", "reviewer", None)
    users.add_user(CLI, "boss", "admin", PW)
    users.add_user(CLI, "boss@hospital.org", "admin", PW + "2")
    assert users.identity_user({"email": "dana@hospital.org", "email_verified": True}) == oidc_only
    assert users.identity_user({"email": "DANA@hospital.org", "email_verified": "true"}) == oidc_only
    refused = [{"email": "dana@hospital.org"},                                   # not said to be verified
               {"email": "dana@hospital.org", "email_verified": False},
               {"preferred_username": "boss", "sub": "boss"},                    # no e-mail: never by user name
               {"sub": "dana@hospital.org"},                                     # nor by subject id
               {"email": "boss@hospital.org", "email_verified": True}]           # a local-password account
    for claims in refused:
        assert users.identity_user(claims) is None, claims
    # a provider that verifies every address itself: trusted by setting, still never a local-password account
    assert users.identity_user({"email": "dana@hospital.org"}, trust_provider_emails=True) == oidc_only
    assert users.identity_user({"email": "boss@hospital.org"}, trust_provider_emails=True) is None
    # an admin links the local account: now it is reachable (and audited)
    with pytest.raises(PermissionDenied):
        users.link_identity(ANN, "boss@hospital.org", "boss@hospital.org")
    users.link_identity(CLI, "boss@hospital.org", "boss@hospital.org", "same person")
    assert users.identity_user({"email": "boss@hospital.org", "email_verified": True}).username == "boss@hospital.org"
    assert users.identity_user({"email": "boss@hospital.org", "email_verified": False}) is None
    assert AuditLog(store.database).entries(CLI, action="identity_linked")[0].target == "boss@hospital.org"
    users.set_active(CLI, "dana@hospital.org", False)
    assert users.identity_user({"email": "dana@hospital.org", "email_verified": True}) is None


# -- 2. a disabled or signed-out person acts no more, whatever object the caller kept ----------------------
def test_library_refuses_a_kept_user_object_once_the_account_is_disabled_or_cut(store, monkeypatch, tmp_path):
    users = UserDirectory(store.database)
    users.add_user(CLI, ANN.username, ANN.roles, None)
    users.add_user(CLI, ADMIN.username, ADMIN.roles, None)
    worklist = Worklist(store)
    case, _ = worklist.add_case(_image(), ANN)  # the kept object works while the account does
    users.set_active(CLI, ANN.username, False)
    for act in (lambda: worklist.add_case(_image(1), ANN),
                lambda: worklist.set_label(case.number, "x", ANN),
                lambda: worklist.next_case(ANN),
                lambda: Claims(store.database).claim(ANN, case.image_hash),
                lambda: store.save_correction(_image(2), np.zeros((64, 64), bool), np.ones((64, 64), bool), actor=ANN,
                                              model_name="m", model_version="v")):
        with pytest.raises(PermissionDenied, match="disabled"):
            act()
    # an admin whose admin role was removed cannot start or cancel jobs with the object kept from before
    monkeypatch.setenv("LUNGSEG_JOBS", str(tmp_path / "jobs"))
    users.add_user(CLI, "second-admin", "admin", None)
    users.set_roles(CLI, ADMIN.username, "annotator")
    from lungseg_core.workflow import batch_segmentation as batch

    with pytest.raises(PermissionDenied):
        retrain_jobs.start_job("m", store.address, None, actor=ADMIN)
    with pytest.raises(PermissionDenied):
        retrain_jobs.cancel_job(actor=ADMIN, audit_log=AuditLog(store.database))
    users.set_active(CLI, ADMIN.username, False)
    with pytest.raises(PermissionDenied):
        batch.start_job(store.address, ADMIN)
    assert batch.running_job() is None and retrain_jobs.active_job() is None  # nothing was started


def _acting_script() -> None:
    import streamlit as st

    from lungseg_app.auth import acting_user

    who = acting_user()
    st.write(f"acting: {who.username if who else None}")


def test_acting_user_reads_the_session_again(store, monkeypatch):
    """What fragments and callbacks ask before changing anything."""
    from lungseg_app.auth import TOKEN_KEY, USER_KEY

    app_uses_store(monkeypatch, store.root)
    users = UserDirectory(store.database)
    users.add_user(CLI, "ann", "annotator", PW, must_change_password=False)
    _, token = users.sign_in("ann", PW)
    at = AppTest.from_function(_acting_script)
    at.session_state[TOKEN_KEY], at.session_state[USER_KEY] = token, "ann"
    assert "acting: ann" in at.run().markdown[0].value
    users.sign_out(token)  # signed out elsewhere (another tab): this page's fragment must not act
    assert "acting: None" in at.run().markdown[0].value
    _, token2 = users.sign_in("ann", PW)
    at.session_state[TOKEN_KEY] = token2
    assert "acting: ann" in at.run().markdown[0].value
    users.set_active(CLI, "ann", False)
    assert "acting: None" in at.run().markdown[0].value


# -- 3. user text is text, never markdown ---------------------------------------------------------------------
def _unescaped_markdown(at: AppTest) -> list[str]:
    """Every shown string in which the injected link or image is still live markdown."""
    shown = [e.value for kind in ("markdown", "caption", "warning", "info", "error", "success", "title", "header",
                                  "subheader") for e in getattr(at, kind)]
    shown += [e.value for e in at.sidebar.caption]
    return [s for s in shown if isinstance(s, str) and ("](http" in s or "![" in s)]


def _page(path: str, store: SQLiteCorrectionsStore, user: User) -> AppTest:
    from .signed_in import sign_in_as

    at = AppTest.from_file(str(ROOT / path), default_timeout=120)
    sign_in_as(at, store, user)
    return at


def test_labels_notes_names_and_link_parameters_show_as_text(store, monkeypatch):
    app_uses_store(monkeypatch, store.root)
    users = UserDirectory(store.database)
    users.add_user(CLI, "rev", "reviewer", None, display_name=INJECT)
    approved_samples(store)
    worklist = Worklist(store)
    first = worklist.list_cases()[0]
    worklist.set_label(first.number, INJECT, ANN)
    review = _page("pages/5_Review.py", store, REV)
    review.query_params["case"] = str(first.number)
    review.run()
    assert not review.exception
    assert any("\\[Session expired" in m.value for m in review.markdown), "the label is shown (escaped)"
    assert "Signed in as" in " ".join(c.value for c in review.sidebar.caption)
    assert _unescaped_markdown(review) == []
    link = _page("pages/5_Review.py", store, REV)
    link.query_params["case"] = INJECT  # a crafted link to share
    link.run()
    assert any("cannot be opened" in w.value for w in link.warning) and _unescaped_markdown(link) == []
    correct = _page("pages/4_Correct.py", store, ANN)
    correct.query_params["case"] = str(first.number)
    correct.run()
    assert not correct.exception and _unescaped_markdown(correct) == []
    assert any("Session expired" in c.value for c in [*correct.caption, *correct.sidebar.caption])


# -- 4. sign-in throttling -------------------------------------------------------------------------------------
class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_twenty_wrong_passwords_are_slowed_audited_once_per_burst_then_the_right_one_works(store):
    clock = _Clock()
    users = UserDirectory(store.database, throttle=SignInThrottle(clock=clock))
    users.add_user(CLI, "alice", "annotator", PW, must_change_password=False)
    refused_fast = 0
    for i in range(20):
        started = time.perf_counter()
        with pytest.raises(SignInError) as err:
            users.sign_in("alice", f"wrong {i}", client="10.0.0.9")
        if "too many failed sign-ins" in str(err.value):
            refused_fast += 1
            assert time.perf_counter() - started < 0.05  # refused without running argon2
    assert refused_fast == 15  # the first 5 are checked; after that each must wait
    with pytest.raises(SignInError, match="too many"):
        users.sign_in("alice", PW, client="10.0.0.9")  # the right password waits out the back-off too
    with pytest.raises(SignInError, match="too many"):
        users.sign_in("alice", PW, client="10.0.0.77")  # from another address: the user name is throttled
    clock.now += 2.1  # the back-off after 5 failures is 2 s
    assert users.sign_in("alice", PW, client="10.0.0.9")[0].username == "alice"
    log = AuditLog(store.database)
    assert len(log.entries(CLI, action="sign_in_failed")) == 1 and len(log.entries(CLI, action="sign_in_throttled")) == 1
    clock.now += 1
    users.sign_in("alice", PW, client="10.0.0.9")  # a success cleared the count


def test_password_checks_at_once_are_bounded(store, monkeypatch):
    """16 sign-ins at once: at most 2 argon2 verifications run together (each ~64 MiB)."""
    users = UserDirectory(store.database, throttle=SignInThrottle(max_concurrent=2, queue_wait_s=30))
    users.add_user(CLI, "bob", "annotator", PW, must_change_password=False)
    running, peak, lock = [0], [0], threading.Lock()
    real = accounts._HASHER

    class Counting:
        def verify(self, stored, password):  # type: ignore[no-untyped-def]
            with lock:
                running[0] += 1
                peak[0] = max(peak[0], running[0])
            try:
                time.sleep(0.05)
                return real.verify(stored, password)
            finally:
                with lock:
                    running[0] -= 1

        def __getattr__(self, name):  # type: ignore[no-untyped-def]
            return getattr(real, name)

    monkeypatch.setattr(accounts, "_HASHER", Counting())
    threads = [threading.Thread(target=lambda i=i: pytest.raises(SignInError, users.sign_in, f"user{i}", "wrong"))
               for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak[0] == 2


# -- 5. a full disk: read-only with a banner, nothing lost -----------------------------------------------------
@pytest.fixture()
def tiny_disk(tmp_path):
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"a tmpfs cannot be mounted here ({done.stderr.decode().strip()}): needs root, as in CI")
    yield mount
    subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_full_disk_keeps_sessions_and_pages_working_read_only(tiny_disk, monkeypatch):
    root = tiny_disk / "store"
    app_uses_store(monkeypatch, root)
    store = new_store(root)
    users = UserDirectory(store.database)
    users.add_user(CLI, "ann", "annotator", PW, must_change_password=False)
    _, token = users.sign_in("ann", PW)
    worklist = Worklist(store)
    case, _ = worklist.add_case(_image(), ANN)
    filler = tiny_disk / "filler"
    with open(filler, "wb") as fh:  # fill the disk to the last byte
        try:
            while True:
                fh.write(b"\0" * 65536)
                fh.flush()
        except OSError:
            pass
    assert store.write_problem() is not None
    assert users.session_user(token).username == "ann"  # the session holds (not extended)
    page = _page("pages/0_Worklist.py", store, ANN)
    page.run()
    assert not page.exception
    assert any("Read-only for now" in e.value for e in page.error)
    with pytest.raises(Exception) as err:
        worklist.add_case(_image(5), ANN)
    assert "could not" in str(err.value) or "disk" in str(err.value).lower()
    filler.unlink()  # space again: the same session writes
    assert store.write_problem() is None
    assert worklist.add_case(_image(5), ANN)[1]
    assert users.session_user(token).username == "ann"
    assert [c.number for c in worklist.list_cases()] == [case.number, case.number + 1]


# -- 6. exports and audit reads check roles and are audited, in the library ---------------------------------
def test_exports_and_audit_reads_take_the_actor_check_the_role_and_are_audited(store):
    approved_samples(store)
    for export in (lambda who: export_training_zip(store, who), lambda who: export_coco(store, who)):
        with pytest.raises(PermissionDenied):
            export(ANN)
        assert export(REV)
    log = AuditLog(store.database)
    assert {e.target for e in log.entries(CLI, action="corrections_exported")} == {"training zip", "COCO JSON"}
    with pytest.raises(PermissionDenied):
        log.entries(REV)
    with pytest.raises(PermissionDenied):
        log.actors(ANN)
    log.entries(ADMIN, record_read=True)
    assert log.entries(CLI, action="audit_read")[0].actor == ADMIN.username
    assert log.entries(CLI, action="audit_read")[0].detail == {}  # no filter set: nothing said of one
    log.entries(ADMIN, actor=REV.username, since="2026-01-01", record_read=True)
    assert log.entries(CLI, action="audit_read")[0].detail == {"actor": REV.username, "since": "2026-01-01"}


# -- 7 & 14. sessions: own password change, absolute limit ------------------------------------------------------
def test_own_password_change_ends_the_other_sessions_and_sessions_have_an_absolute_limit(store):
    users = UserDirectory(store.database)
    users.add_user(CLI, "carol", "annotator", PW, must_change_password=False)
    carol, here = users.sign_in("carol", PW)
    _, elsewhere = users.sign_in("carol", PW)
    users.change_own_password(carol, PW, PW + " changed", current_token=here)
    assert users.session_user(elsewhere) is None and users.session_user(here).username == "carol"
    con = store.database.connect()
    eight_days_ago = (datetime.now(timezone.utc) - timedelta(days=8)).isoformat()
    con.execute("UPDATE auth_sessions SET created_at = ?", (eight_days_ago,))  # still extended (sliding) ...
    con.commit()
    assert users.session_user(here) is None  # ... but older than SESSION_MAX_DAYS


def test_sign_out_page_deletes_the_cookie(store, monkeypatch):
    from lungseg_app.auth import TOKEN_KEY, USER_KEY

    app_uses_store(monkeypatch, store.root)
    users = UserDirectory(store.database)
    users.add_user(CLI, "ann", "annotator", PW, must_change_password=False)
    _, token = users.sign_in("ann", PW)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120)
    at.session_state[TOKEN_KEY], at.session_state[USER_KEY] = token, "ann"
    at.run()
    at.sidebar.button(key="_sign_out").click().run()
    assert users.session_user(token) is None
    frames = [str(getattr(e, "proto", "")) for e in at.get("iframe")] + [str(e) for e in at.sidebar]
    assert any("max-age=0" in f for f in frames), "the sign-in screen deletes the session cookie"


# -- 8. every change audited in its transaction ----------------------------------------------------------------
def test_cases_added_and_segmented_are_audited_and_a_failed_promotion_leaves_no_entry(store, monkeypatch, tmp_path):
    worklist = Worklist(store)
    case, _ = worklist.add_case(_image(), ANN)
    worklist.set_segmentation(case.number, np.ones((64, 64), bool), {}, "m", "v", ANN)
    log = AuditLog(store.database)
    assert log.entries(CLI, action="case_added")[0].target == f"case {case.number}"
    assert log.entries(CLI, action="case_segmented")[0].detail == {"model": "m", "version": "v"}
    from lungseg_core import DEFAULT_MODEL
    from lungseg_core.models import model_versions

    monkeypatch.setattr(model_versions, "default_model_name", lambda directory=None: "some-other-model")

    def broken_write(*_args, **_kwargs):  # type: ignore[no-untyped-def]
        raise OSError("disk full")

    monkeypatch.setattr(model_versions, "atomic_write", broken_write)
    with pytest.raises(OSError):
        model_versions.promote(DEFAULT_MODEL, ADMIN, "better", log, tmp_path / "models")
    assert log.entries(CLI, action="promoted") == []


# -- 9. burned-in annotations warned on import --------------------------------------------------------------
def test_import_warns_about_burned_in_annotations(store):
    from pydicom import dcmread
    from pydicom.filebase import DicomBytesIO

    ds = dcmread(DicomBytesIO(make_dicom((np.arange(64 * 64).reshape(64, 64) % 4000).astype(np.uint16))))
    ds.BurnedInAnnotation = "YES"
    buf = io.BytesIO()
    ds.save_as(buf)
    report = import_sources(Worklist(store), [("film.dcm", lambda: buf.getvalue(), len(buf.getvalue()))], ANN)
    assert report.added and len(report.warnings) == 1 and "BurnedInAnnotation" in report.warnings[0][1]
    assert "1 with a warning" in report.summary()


# -- 10. CSV formula injection ---------------------------------------------------------------------------------
def test_csv_cells_that_would_run_as_formulas_are_escaped():
    entry = AuditEntry(1, "2026-01-01", "=hyperlink(\"http://evil\")", "sign_in_failed", "+1", {}, "@sum(1)")
    text = entries_csv([entry])
    assert "'=hyperlink" in text and "'+1" in text and "'@sum(1)" in text
    assert "'-3" in rows_csv([{"case": 1, "label": "-3+cmd"}]) and ",plain" in rows_csv([{"case": 1, "label": "plain"}])


# -- 11. claims: listing and releasing ------------------------------------------------------------------------
def test_claims_are_listed_released_by_their_holder_or_a_reviewer_and_all_at_sign_out(store):
    claims = Claims(store.database)
    claims.claim(ANN, "a" * 64)
    claims.claim(ANN, "b" * 64)
    assert {c.image_hash[0] for c in claims.live()} == {"a", "b"}
    with pytest.raises(PermissionDenied):
        claims.release(User("amy", frozenset({"annotator"})), "a" * 64)
    assert claims.release(REV, "a" * 64)
    assert AuditLog(store.database).entries(CLI, action="claim_released")[0].detail == {"holder": "ann"}
    assert claims.release_all("ann") == 1 and claims.live() == []


# -- 12. the first-run screen behind a proxy needs the setup token ----------------------------------------------
def test_first_run_screen_needs_the_setup_token_when_not_plainly_local(store, monkeypatch):
    import lungseg_app.auth as auth

    app_uses_store(monkeypatch, store.root)
    monkeypatch.setattr(auth, "first_run_allowed_without_token", lambda: False)
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    token = auth.setup_token()
    at.text_input(key="_first_user").set_value("alice")
    at.text_input(key="_first_password").set_value(PW)
    at.text_input(key="_first_again").set_value(PW)
    at.text_input(key="_first_token").set_value("a guess")
    at.button(key="FormSubmitter:first_admin-Create admin and sign in").click().run()
    assert any("Wrong setup token" in e.value for e in at.error) and UserDirectory(store.database).count() == 0
    at.text_input(key="_first_token").set_value(token)
    at.button(key="FormSubmitter:first_admin-Create admin and sign in").click().run()
    assert UserDirectory(store.database).get("alice") is not None


def test_proxy_headers_mean_not_local():
    import lungseg_app.auth as auth

    assert auth._PROXY_HEADERS and "x-forwarded-for" in auth._PROXY_HEADERS


# -- 13. zip members are read in bounded chunks -----------------------------------------------------------------
def test_a_zip_bomb_member_is_refused_without_inflating_it(tmp_path):
    import tracemalloc

    path = tmp_path / "bomb.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("huge.png", b"\0" * (200 * 1024 * 1024))  # 200 MB of zeros: ~200 KB packed
    buf = io.BytesIO()
    Image.fromarray(_image()).save(buf, format="PNG")
    with zipfile.ZipFile(path, "a") as zf:
        zf.writestr("film.png", buf.getvalue())
    tracemalloc.start()
    results = []
    for name, read, _size in from_zip(path):
        try:
            results.append((name, len(read())))
        except Exception as exc:  # noqa: BLE001
            results.append((name, str(exc)))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert "MB allowed for one X-ray in a zip" in dict(results)["huge.png"] and isinstance(dict(results)["film.png"], int)
    assert peak < 20 * 1024 * 1024, f"peak {peak / 1e6:.0f} MB"


# -- 15. orphan files swept -------------------------------------------------------------------------------------
def test_store_check_finds_and_repair_removes_old_orphan_files(store):
    worklist = Worklist(store)
    worklist.add_case(_image(), ANN)
    orphan = store.blob_path(store.put_blob(b"left by a kill -9"))
    young = store.blob_path(store.put_blob(b"a save in progress"))
    old = time.time() - 7200
    os.utime(orphan, (old, old))
    for path in store.blobs.glob("*/*"):
        if path not in (orphan, young):
            os.utime(path, (old, old))
    assert store.orphan_files() == [orphan]
    env = {**os.environ, "LUNGSEG_STORE": str(store.root), "LUNGSEG_STORE_URL": store.address}
    out = subprocess.run([sys.executable, "-m", "lungseg_core", "store", "check"], capture_output=True, text=True,
                         env=env, cwd=ROOT)
    assert out.returncode == 0 and "1 orphan file(s)" in out.stdout and orphan.exists()
    out = subprocess.run([sys.executable, "-m", "lungseg_core", "store", "check", "--repair"], capture_output=True,
                         text=True, env=env, cwd=ROOT)
    assert out.returncode == 0 and "removed 1 orphan" in out.stdout
    assert not orphan.exists() and young.exists() and len(worklist.list_cases()) == 1
    worklist.store.load_image(worklist.list_cases()[0].image_hash)  # what records use is untouched
    assert AuditLog(store.database).entries(CLI, action="store_repaired")[0].detail == {"removed": 1}


# -- 16. one-time passwords never hold the user name ------------------------------------------------------------
def test_one_time_passwords_never_contain_the_user_name(store):
    users = UserDirectory(store.database)
    for _ in range(3000):
        assert "ab" not in one_time_password("ab").lower()
    for i in range(50):
        users.add_user(CLI, f"a{i % 10}", "annotator", one_time_password(f"a{i % 10}")) if users.get(f"a{i % 10}") is None \
            else users.reset_password(CLI, f"a{i % 10}", one_time_password(f"a{i % 10}"))


# -- 17. job liveness by heartbeat, not only by process id ---------------------------------------------------------
def test_a_job_of_another_host_is_alive_while_its_heartbeat_is_fresh(tmp_path, monkeypatch):
    import json

    monkeypatch.setenv("LUNGSEG_JOBS", str(tmp_path / "jobs"))
    job_dir = tmp_path / "jobs" / "job-1"
    job_dir.mkdir(parents=True)
    lock = tmp_path / "jobs" / retrain_jobs.RETRAIN_LOCK
    info = {"id": "job-1", "dir": str(job_dir), "pid": 999_999_999, "host": "another-host"}
    lock.write_text(json.dumps({**info, "beat": time.time()}))
    assert retrain_jobs.active_job()["id"] == "job-1"  # a pid unknown here is not taken for a dead job
    assert lock.exists()
    lock.write_text(json.dumps({**info, "beat": time.time() - 2 * retrain_jobs.HEARTBEAT_STALE_S}))
    assert retrain_jobs.active_job() is None and not lock.exists()  # a silent heartbeat: gone
    # on this host, the process id still decides, and the heartbeat is renewed by the job
    retrain_jobs.acquire({"id": "job-2", "dir": str(job_dir), "pid": os.getpid()}, retrain_jobs.RETRAIN_LOCK, "A job")
    before = json.loads(lock.read_text())["beat"]
    time.sleep(0.01)
    assert retrain_jobs.beat(job_dir) and json.loads(lock.read_text())["beat"] > before
    assert not retrain_jobs.beat(tmp_path / "another-job")


def test_a_job_is_alive_while_its_heartbeat_in_the_database_is_fresh(store, tmp_path, monkeypatch):
    """What every app server agrees on, whatever host it runs on: the database's heartbeat (issue 25)."""
    import json

    from lungseg_core.storage.job_beats import JobBeats

    monkeypatch.setenv("LUNGSEG_JOBS", str(tmp_path / "jobs"))
    job_dir = tmp_path / "jobs" / "job-9"
    job_dir.mkdir(parents=True)
    lock = tmp_path / "jobs" / retrain_jobs.RETRAIN_LOCK
    info = {"id": "job-9", "dir": str(job_dir), "pid": 999_999_999, "host": "another-host"}
    retrain_jobs.acquire(info, retrain_jobs.RETRAIN_LOCK, "A job", store.address)
    beats = JobBeats(store.database)
    assert beats.last_beat("job-9") == pytest.approx(time.time(), abs=5)
    stale = json.loads(lock.read_text())
    # as a job on another host would have it: its process id means nothing here, its file beat is stale
    lock.write_text(json.dumps({**stale, "host": "another-host", "beat": time.time() - 10 * retrain_jobs.HEARTBEAT_STALE_S}))
    assert retrain_jobs.active_job(address=store.address)["id"] == "job-9"  # the database's beat is fresh
    with pytest.raises(retrain_jobs.JobBusyError):
        retrain_jobs.acquire({"id": "job-x", "dir": str(tmp_path), "pid": os.getpid()}, retrain_jobs.RETRAIN_LOCK,
                             "A job", store.address)
    con = store.database.connect()
    con.execute("UPDATE job_beats SET beat_at = ? WHERE job_id = 'job-9'",
                (time.time() - 2 * retrain_jobs.HEARTBEAT_STALE_S,))
    con.close()
    assert retrain_jobs.active_job(address=store.address) is None and not lock.exists()  # its beat lapsed: gone
    # on this host a process that has ended is dead at once, however fresh its beat
    ended = subprocess.Popen(["true"])
    ended.wait()
    retrain_jobs.acquire({"id": "job-10", "dir": str(job_dir), "pid": ended.pid}, retrain_jobs.RETRAIN_LOCK,
                         "A job", store.address)
    assert beats.last_beat("job-10") is not None
    assert retrain_jobs.active_job(address=store.address) is None
    # a job that releases its lock takes its heartbeat row with it
    retrain_jobs.acquire({"id": "job-11", "dir": str(job_dir), "pid": os.getpid()}, retrain_jobs.RETRAIN_LOCK,
                         "A job", store.address)
    assert retrain_jobs.beat(job_dir) and beats.last_beat("job-11") is not None
    retrain_jobs.release(job_dir, retrain_jobs.RETRAIN_LOCK, store.address)
    assert beats.last_beat("job-11") is None and retrain_jobs.active_job(address=store.address) is None


# -- 18. the audit log: append-only and hash-chained ------------------------------------------------------------
def test_audit_log_refuses_updates_and_deletes_and_verify_finds_a_row_edited_by_hand(store):
    log = AuditLog(store.database)
    for i in range(1000):
        log.append("root", "case_labelled", str(i))
    report = verify_chain(store.database)
    assert report.ok and report.rows == 1000
    con = store.database.connect()
    with pytest.raises((sqlite3.DatabaseError, StoreError), match="append-only"):
        con.execute("UPDATE audit_log SET actor = 'someone else' WHERE seq = 10")
    with pytest.raises((sqlite3.DatabaseError, StoreError), match="append-only"):
        con.execute("DELETE FROM audit_log WHERE seq = 10")
    if backend_kind() == "postgres":
        with pytest.raises(StoreError, match="append-only"):
            con.execute("TRUNCATE audit_log")
    env = {**os.environ, "LUNGSEG_STORE": str(store.root), "LUNGSEG_STORE_URL": store.address}
    ok = subprocess.run([sys.executable, "-m", "lungseg_core", "audit", "verify"], capture_output=True, text=True,
                        env=env, cwd=ROOT)
    assert ok.returncode == 0 and "1000 rows" in ok.stdout
    # what someone with the database file (or the database's owner) could do behind the app's back
    con.execute("DROP TRIGGER audit_log_no_update" if backend_kind() == "sqlite"
                else "ALTER TABLE audit_log DISABLE TRIGGER audit_log_no_change")
    con.execute("UPDATE audit_log SET actor = 'someone else' WHERE seq = 500")
    con.close()
    assert verify_chain(store.database).broken == [500]
    bad = subprocess.run([sys.executable, "-m", "lungseg_core", "audit", "verify"], capture_output=True, text=True,
                         env=env, cwd=ROOT)
    assert bad.returncode == 1 and "rows 500" in bad.stderr


@pytest.mark.sqlite_only
def test_store_written_by_release_4_upgrades_with_its_audit_log_chained(tmp_path):
    """tests/fixtures/store_release4 was written by release 4's code (make_store_release4.py), schema 3."""
    shutil.copytree(FIXTURES / "store_release4", tmp_path / "store")
    con = sqlite3.connect(tmp_path / "store" / "store.sqlite")
    assert con.execute("PRAGMA user_version").fetchone()[0] == 3
    before = con.execute("SELECT seq, at, actor, action, target, detail, reason FROM audit_log ORDER BY seq").fetchall()
    con.close()
    store = new_store(tmp_path / "store")
    con = store.database.connect()
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 6
    after = con.execute("SELECT seq, at, actor, action, target, detail, reason FROM audit_log ORDER BY seq").fetchall()
    assert after == before and len(before) >= 26  # every row kept, unchanged
    assert verify_chain(store.database).ok
    cases = Worklist(store).list_cases()
    assert [(c.number, c.status) for c in cases] == [(1, "segmented"), (2, "in progress"), (3, "approved")]
    assert len(store.list_corrections()) == 2 and con.execute("SELECT COUNT(*) FROM working_copies").fetchone()[0] == 1
    assert con.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 2
    AuditLog(store.database).append("root", "case_labelled", "after upgrade")
    assert verify_chain(store.database).ok
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        con.execute("DELETE FROM audit_log")
