"""The review state machine through the store: every transition from every status, separation of
duties, new versions, claims under contention, audit entries and deletion."""
import multiprocessing
import shutil
from pathlib import Path

import numpy as np
import pytest

from lungseg_core.people.access_control import command_line_user as _cli
READER = _cli()
from lungseg_core.people.access_control import PermissionDenied
from lungseg_core.people.audit import AuditLog
from lungseg_core.workflow.case_claims import ClaimHeldError, Claims
from lungseg_core.workflow.corrections_store import StoreError
from lungseg_core.workflow.review_workflow import STATUSES, TRANSITIONS, WorkflowError
from lungseg_core.storage.database import SCHEMA_VERSION

from .people import ADMIN, ANN, ANN2, REV, REV2
from .store_backends import backend_kind, new_database, new_store  # noqa: F401

pytestmark = pytest.mark.usefixtures("store_backend")

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _case(seed=0, shape=(40, 48)):
    rng = np.random.default_rng(seed)
    image = rng.integers(0, 255, shape).astype(np.uint8)
    mask = np.zeros(shape, bool)
    mask[5:35, 5:20] = True
    fixed = mask.copy()
    fixed[30:35, 5:20] = False
    return image, mask, fixed


def _save(store, actor=ANN, status="draft", parent=None, seed=0):
    image, mask, fixed = _case(seed)
    return store.save_correction(image, mask, fixed, actor=actor, model_name="m", model_version="1",
                                 status=status, parent_id=parent)


def _version_in(store, status, seed):
    """A fresh case whose latest version has `status`."""
    if status == "draft":
        return _save(store, seed=seed)
    rec = _save(store, status="submitted", seed=seed)
    if status == "approved":
        store.review(rec.id, "approve", REV)
    elif status == "rejected":
        store.review(rec.id, "reject", REV)
    return store.get(rec.id)


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("action", list(TRANSITIONS))
def test_every_action_from_every_status(tmp_path, status, action):
    store = new_store(tmp_path)
    rec = _version_in(store, status, seed=1)
    actor = ANN if action == "submit" else REV2
    source, target = TRANSITIONS[action]
    if status == source:
        assert store.review(rec.id, action, actor).status == target
    else:
        with pytest.raises(WorkflowError, match=f"cannot {action} a {status} version"):
            store.review(rec.id, action, actor)
        assert store.get(rec.id).status == status


def test_separation_of_duties_and_roles(tmp_path):
    store = new_store(tmp_path)
    both = REV.__class__("pat", frozenset({"annotator", "reviewer"}))
    own = _save(store, actor=both, status="submitted")
    with pytest.raises(WorkflowError, match="nobody reviews their own correction"):
        store.review(own.id, "approve", both)
    with pytest.raises(WorkflowError, match="own"):
        store.review(own.id, "reject", both)
    with pytest.raises(PermissionDenied, match="reviewer role"):
        store.review(own.id, "approve", ANN)
    assert store.review(own.id, "approve", REV).status == "approved"
    draft = _save(store, actor=ANN, seed=2)
    with pytest.raises(WorkflowError, match="only its author"):
        store.review(draft.id, "submit", ANN2)
    with pytest.raises(PermissionDenied, match="save correction"):
        _save(store, actor=REV.__class__("v", frozenset()), seed=3)


def test_new_versions_follow_the_workflow(tmp_path):
    store = new_store(tmp_path)
    v1 = _save(store, status="submitted")
    with pytest.raises(WorkflowError, match="already has a correction"):  # no second, unrelated "version 1"
        _save(store, actor=ANN2)
    with pytest.raises(WorkflowError, match="wait for its review"):
        _save(store, parent=v1.id)
    store.review(v1.id, "reject", REV, "base of the left lung missing")
    v2 = _save(store, parent=v1.id, status="submitted")  # rejected -> new version -> submitted
    with pytest.raises(WorkflowError, match="newer version"):
        store.review(v1.id, "approve", REV)
    store.review(v2.id, "approve", REV)
    with pytest.raises(WorkflowError, match="reopen it first"):
        _save(store, parent=v2.id)
    with pytest.raises(WorkflowError, match="approval is a reviewer's separate step"):
        _save(store, status="approved", seed=9)
    store.review(v2.id, "reopen", REV2, "see the costophrenic angle")
    store.review(v2.id, "reject", REV2)
    v3 = _save(store, parent=v2.id)
    with pytest.raises(WorkflowError, match="saved a newer version"):  # a stale editor continuing v2
        _save(store, parent=v2.id, actor=ANN2)
    assert [r.id for r in store.history(v3.id)] == [v1.id, v2.id, v3.id]
    assert store.latest_version(v3.image_hash).id == v3.id


def test_audit_has_every_change_with_who_and_why(tmp_path):
    store = new_store(tmp_path)
    v1 = _save(store, status="draft")
    store.review(v1.id, "submit", ANN)
    store.review(v1.id, "approve", REV, "clean edge")
    store.review(v1.id, "reopen", REV2, "missed the apex")
    store.review(v1.id, "reject", REV2, "apex")
    store.delete_case(v1.image_hash, ADMIN, "wrong upload")
    got = [(e.actor, e.action, e.reason) for e in AuditLog(store.database).entries(READER)][::-1]
    assert got == [("ann", "correction_saved", ""), ("ann", "submitted", ""), ("rev", "approved", "clean edge"),
                   ("rita", "reopened", "missed the apex"), ("rita", "rejected", "apex"),
                   ("root", "case_deleted", "wrong upload")]


def test_delete_case_removes_every_version_and_file_but_keeps_shared_ones(tmp_path):
    store = new_store(tmp_path)
    v1 = _save(store, status="submitted", seed=4)
    store.review(v1.id, "reject", REV)
    _save(store, parent=v1.id, seed=4)
    keep = _save(store, seed=5)  # another X-ray: same mask files (content-addressed), must survive
    files_before = {p.name for p in (tmp_path / "blobs").rglob("*.png")}
    with pytest.raises(PermissionDenied):
        store.delete_case(v1.image_hash, REV, "not mine to delete")
    with pytest.raises(StoreError, match="reason"):
        store.delete_case(v1.image_hash, ADMIN, " ")
    removed = store.delete_case(v1.image_hash, ADMIN, "patient asked")
    assert removed == 1  # only the image: both masks are shared with the other case
    assert [r.id for r in store.list_corrections()] == [keep.id]
    left = {p.name for p in (tmp_path / "blobs").rglob("*.png")}
    assert f"{v1.image_hash}.png" not in left and left == files_before - {f"{v1.image_hash}.png"}
    assert store.load_mask(keep.corrected_mask_hash).any()
    entry = AuditLog(store.database).entries(READER, action="case_deleted")[0]
    assert entry.detail == {"versions": 2, "files": 1} and entry.target == v1.image_hash[:12]


def test_claims_block_a_second_editor_and_lapse(tmp_path):
    store = new_store(tmp_path)
    claims = Claims(store.database)
    image, mask, fixed = _case(7)
    from lungseg_core.workflow.corrections_store import image_for_storage, png_of  # the hash the store will give it
    import hashlib

    image_hash = hashlib.sha256(png_of(image_for_storage(image))).hexdigest()
    claims.claim(ANN, image_hash)
    claims.claim(ANN, image_hash)  # renewing one's own claim
    with pytest.raises(ClaimHeldError, match="ann is editing this X-ray"):
        claims.claim(ANN2, image_hash)
    with pytest.raises(ClaimHeldError):  # the store refuses the other person's save too
        store.save_correction(image, mask, fixed, actor=ANN2, model_name="m", model_version="1")
    store.save_correction(image, mask, fixed, actor=ANN, model_name="m", model_version="1")
    claims.claim(ANN2, "b" * 64, minutes=-1)  # an expired claim holds nothing
    assert claims.holder("b" * 64) is None
    claims.claim(ANN, "b" * 64)
    claims.release(ANN, image_hash)
    assert claims.holder(image_hash) is None


def _claim_in_process(args):
    db, who, barrier = args
    from lungseg_core.people.access_control import User

    barrier.wait()
    try:
        Claims(db).claim(User(who, frozenset({"annotator"})), "c" * 64)
        return who
    except ClaimHeldError:
        return None


def test_two_people_claiming_together_one_gets_it(tmp_path):
    Claims(new_database(tmp_path / "store.sqlite"))
    for _ in range(5):
        db = tmp_path / f"round{_}.sqlite"
        Claims(db)
        with multiprocessing.Manager() as manager:
            barrier = manager.Barrier(2)
            with multiprocessing.get_context("fork").Pool(2) as pool:
                winners = pool.map(_claim_in_process, [(db, "ann", barrier), (db, "amy", barrier)])
        assert sorted(w is not None for w in winners) == [False, True]
        assert Claims(db).holder("c" * 64).username in winners


@pytest.mark.sqlite_only
def test_store_written_by_release_1_upgrades_in_place(tmp_path):
    shutil.copytree(FIXTURES / "store_release1", tmp_path / "store")
    store = new_store(tmp_path / "store")
    records = store.list_corrections()
    assert len(records) == 3 and {r.annotator for r in records} == {"alice", "bob"}
    first = next(r for r in records if r.note == "first")
    assert first.status == "approved" and first.case_label == "demo 1" and first.pixel_spacing_mm == (0.2, 0.2)
    assert [c.status for c in store.status_changes(first.id)] == ["submitted", "approved"]
    for r in records:
        assert store.load_image(r.image_hash).shape == (r.height, r.width)
        assert store.load_mask(r.corrected_mask_hash).shape == (r.height, r.width)
    import sqlite3

    assert sqlite3.connect(tmp_path / "store" / "store.sqlite").execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
    # the upgraded store works with the new workflow: bob's submitted v2 can be reviewed by someone else
    latest_bob = next(r for r in store.list_corrections(latest_only=True) if r.annotator == "bob")
    assert store.review(latest_bob.id, "approve", REV).status == "approved"
    new_store(tmp_path / "store")  # opening again changes nothing
    assert len(store.list_corrections()) == 3


def test_deleting_the_only_case_leaves_no_file_behind(tmp_path):
    store = new_store(tmp_path)
    v1 = _save(store, status="submitted", seed=11)
    store.review(v1.id, "reject", REV)
    _save(store, parent=v1.id, seed=11)
    assert len(list((tmp_path / "blobs").rglob("*.png"))) == 3  # image, model mask, corrected mask
    assert store.delete_case(v1.image_hash, ADMIN, "patient request") == 3
    assert not list((tmp_path / "blobs").rglob("*.png")) and store.list_corrections() == []

    con = store.database.connect()
    assert con.execute("SELECT COUNT(*) FROM status_changes").fetchone()[0] == 0
    assert con.execute("SELECT COUNT(*) FROM claims").fetchone()[0] == 0


def test_a_claim_waits_on_the_row_not_only_on_the_stores_write_lock(tmp_path):
    """Postgres: another server's transaction inserting a claim (without the store's write lock) makes
    a claim on the same X-ray wait on the row, then refuse; it does not overwrite the other's claim."""
    import threading
    import time

    if backend_kind() != "postgres":
        pytest.skip("row locks are Postgres's; SQLite's write transaction holds the whole file")
    db = new_database(tmp_path / "store.sqlite")
    Claims(db)
    other = db.connect()
    result: list[object] = []
    try:
        other.raw.execute("BEGIN")
        other.execute("INSERT INTO claims (image_hash, username, expires_at) VALUES (?, ?, ?)",
                      ("c" * 64, "amy", "2999-01-01T00:00:00+00:00"))

        def claim() -> None:
            try:
                result.append(Claims(db).claim(ANN, "c" * 64))
            except ClaimHeldError as exc:
                result.append(exc)

        worker = threading.Thread(target=claim)
        worker.start()
        watcher = db.connect()
        try:
            for _ in range(200):  # until the claim waits on the other transaction's row
                if watcher.execute("SELECT count(*) FROM pg_locks WHERE NOT granted").fetchone()[0]:
                    break
                time.sleep(0.05)
            else:
                raise AssertionError("the claim did not wait for the other transaction")
        finally:
            watcher.close()
        other.raw.execute("COMMIT")
        worker.join(30)
    finally:
        other.close()
    assert len(result) == 1 and isinstance(result[0], ClaimHeldError), result
    assert Claims(db).holder("c" * 64).username == "amy"
