"""Working copies: unsaved edits kept per person and case, gone after a save or discard; a
release-3 store upgrades with nothing lost."""
from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from lungseg_core import DEFAULT_MODEL, Worklist
from lungseg_core.people.access_control import PermissionDenied
from lungseg_core.storage.database import SCHEMA_VERSION
from lungseg_core.workflow.working_copies import WorkingCopies, mask_digest
from tests.people import ANN, ANN2, NOBODY
from .store_backends import new_database, new_store  # noqa: F401

pytestmark = pytest.mark.usefixtures("store_backend")

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.fixture()
def store(tmp_path):
    return new_store(tmp_path / "store")


def _image_and_mask():
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (64, 64), dtype=np.uint8)
    mask = np.zeros((64, 64), bool)
    mask[10:50, 8:28] = True
    return image, mask


def test_working_copy_is_kept_per_person_and_replaced(store):
    copies = WorkingCopies(store)
    _, mask = _image_and_mask()
    edited = mask.copy()
    edited[20:30, 8:28] = False
    copies.keep(ANN, "h1", edited, mask_digest(mask), 3)
    got = copies.get(ANN, "h1")
    assert np.array_equal(got.mask, edited) and got.steps == 3 and got.start_hash == mask_digest(mask)
    assert copies.get(ANN2, "h1") is None and copies.get(ANN, "h2") is None  # per person, per case
    copies.keep(ANN, "h1", mask, mask_digest(mask), 4)
    assert np.array_equal(copies.get(ANN, "h1").mask, mask) and copies.count() == 1
    with pytest.raises(PermissionDenied):
        copies.keep(NOBODY, "h1", mask, "x", 1)


def test_saving_the_case_or_discarding_removes_it_and_discard_is_audited(store):
    copies = WorkingCopies(store)
    image, mask = _image_and_mask()
    edited = mask.copy()
    edited[0:5, 0:5] = True
    case, _ = Worklist(store).add_case(image, ANN)
    copies.keep(ANN, case.image_hash, edited, mask_digest(mask), 1)
    copies.keep(ANN2, case.image_hash, edited, mask_digest(mask), 1)
    store.save_correction(image, mask, edited, actor=ANN, model_name=DEFAULT_MODEL, model_version="v")
    assert copies.get(ANN, case.image_hash) is None  # saved: done with
    assert copies.get(ANN2, case.image_hash) is not None  # another person's is theirs
    assert copies.discard(ANN2, case.image_hash) and not copies.discard(ANN2, case.image_hash)
    con = store.database.connect()
    assert con.execute("SELECT COUNT(*) FROM audit_log WHERE action = 'working_copy_discarded' AND actor = 'amy'"
                       ).fetchone()[0] == 1


def test_a_damaged_working_copy_reads_as_none(store):
    copies = WorkingCopies(store)
    _, mask = _image_and_mask()
    copies.keep(ANN, "h1", mask, "s", 1)
    con = store.database.connect()
    con.execute("UPDATE working_copies SET mask_png = ?", (b"not a png",))
    con.commit()
    assert copies.get(ANN, "h1") is None


@pytest.mark.sqlite_only
def test_store_written_by_release_3_upgrades_with_nothing_lost(tmp_path):
    """tests/fixtures/store_release3 was written by release 3's code (tests/fixtures/make_store_release3.py)
    before the working-copies step existed."""
    shutil.copytree(FIXTURES / "store_release3", tmp_path / "store")
    con = sqlite3.connect(tmp_path / "store" / "store.sqlite")
    assert con.execute("PRAGMA user_version").fetchone()[0] == 2  # release 3's schema
    con.close()
    store = new_store(tmp_path / "store")
    con = sqlite3.connect(tmp_path / "store" / "store.sqlite")
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION >= 3
    cases = Worklist(store).list_cases()
    assert [(c.number, c.status) for c in cases] == [(1, "segmented"), (2, "in progress"), (3, "approved")]
    assert cases[0].label == "imported film" and cases[0].mask_hash
    assert len(store.list_corrections()) == 2
    assert con.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 2
    assert con.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0] >= 6
    draft = [r for r in store.list_corrections() if r.status == "draft"][0]
    assert store.load_mask(draft.corrected_mask_hash).sum() < store.load_mask(draft.original_mask_hash).sum()
    copies = WorkingCopies(store)  # the new table works on the upgraded store
    copies.keep(ANN, cases[1].image_hash, store.load_mask(draft.corrected_mask_hash), "s", 1)
    assert copies.get(ANN, cases[1].image_hash) is not None


def test_a_restored_working_copy_keeps_its_undo_steps(tmp_path):
    from lungseg_app.editing import EditSession
    from lungseg_core.imaging.mask_editing import EditHistory
    from lungseg_core.workflow.working_copies import MAX_KEPT_STEPS, unpack_history

    store = new_store(tmp_path / "store")
    copies = WorkingCopies(store)
    start = np.zeros((40, 50), bool)
    steps = []
    for i in range(3):  # three strokes
        mask = (steps[-1] if steps else start).copy()
        mask[5 + 10 * i: 10 + 10 * i, 5:20] = True
        steps.append(mask)
    copies.keep(ANN, "a" * 64, steps[-1], "s", 3, steps)
    kept = copies.get(ANN, "a" * 64)
    assert len(kept.history) == 3 and all(np.array_equal(a, b) for a, b in zip(kept.history, steps))
    session = EditSession("a" * 64, "m", EditHistory(start))
    session.restore(kept)
    assert session.history.position == 3 and np.array_equal(session.history.current, steps[-1])
    session.undo()
    assert np.array_equal(session.history.current, steps[1])  # one stroke back, not all of them
    copies.keep(ANN, "b" * 64, steps[-1], "s", 3, steps[:2])  # steps that do not end at the mask: not used
    assert copies.get(ANN, "b" * 64).history == ()
    assert unpack_history(b"not an archive", (40, 50)) == () and unpack_history(None, (40, 50)) == ()
    many = [start.copy() for _ in range(MAX_KEPT_STEPS + 5)]
    copies.keep(ANN, "c" * 64, many[-1], "s", len(many), many)
    assert len(copies.get(ANN, "c" * 64).history) == MAX_KEPT_STEPS  # bounded
