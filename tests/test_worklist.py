"""Worklist cases: one case per X-ray, statuses from the review state machine, "Next" priorities and
claims under contention, deletion, export, and a store written by release 2 upgraded in place."""
import multiprocessing
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from lungseg_core.people.access_control import command_line_user as _cli
READER = _cli()
from lungseg_core.people.access_control import PermissionDenied, User
from lungseg_core.people.audit import AuditLog
from lungseg_core.workflow.review_workflow import case_status
from lungseg_core.storage.database import SCHEMA_VERSION
from lungseg_core.workflow.worklist import REVIEWER_QUEUE, Worklist, rows_csv

from .people import ADMIN, ANN, ANN2, NOBODY, REV
from .store_backends import new_database, new_store  # noqa: F401

pytestmark = pytest.mark.usefixtures("store_backend")

FIXTURES = Path(__file__).resolve().parent / "fixtures"


def _xray(seed, shape=(60, 72)):
    return np.random.default_rng(seed).integers(0, 4000, shape).astype(np.uint16)


def _lungs(shape=(60, 72)):
    mask = np.zeros(shape, bool)
    mask[10:50, 8:30] = True
    mask[10:50, 42:64] = True
    return mask


def _segmented(worklist, seed, estimate=0.97, flags=()):
    case, _ = worklist.add_case(_xray(seed), ANN)
    worklist.set_segmentation(case.number, _lungs(), {"estimated_dice": estimate, "flags": list(flags)}, "m", "v1", ANN)
    return worklist.get(case.number)


@pytest.fixture()
def worklist(tmp_path):
    return Worklist(new_store(tmp_path / "store"))


def test_the_same_pixels_twice_are_one_case(worklist):
    first, new = worklist.add_case(_xray(1), ANN, label="ward 3")
    again, new_again = worklist.add_case(_xray(1).copy(), ANN2, label="other label")
    other, _ = worklist.add_case(_xray(2), ANN)
    assert new and not new_again and again.number == first.number and other.number == first.number + 1
    assert worklist.get(first.number).label == "ward 3" and first.status == "new" and first.thumb_hash


def test_case_status_follows_its_versions(worklist):
    store = worklist.store
    case, _ = worklist.add_case(_xray(3), ANN)
    assert worklist.get(case.number).status == "new"
    worklist.set_segmentation(case.number, _lungs(), {"estimated_dice": 0.9, "flags": []}, "m", "v1", ANN)
    assert worklist.get(case.number).status == "segmented"
    image = store.load_image(case.image_hash)
    draft = store.save_correction(image, _lungs(), _lungs(), actor=ANN, model_name="m", model_version="v1")
    assert worklist.get(case.number).status == "in progress"
    store.review(draft.id, "submit", ANN)
    assert worklist.get(case.number).status == "submitted"
    store.review(draft.id, "reject", REV)
    assert worklist.get(case.number).status == "rejected"
    v2 = store.save_correction(image, _lungs(), _lungs(), actor=ANN, model_name="m", model_version="v1",
                               status="submitted", parent_id=draft.id)
    store.review(v2.id, "approve", REV)
    done = worklist.get(case.number)
    assert done.status == "approved" and done.latest_version_id == v2.id and done.latest_author == "ann"
    assert [case_status(False, None), case_status(True, None), case_status(True, "draft")] == \
        ["new", "segmented", "in progress"]
    assert worklist.counts()["approved"] == 1


def test_a_correction_of_an_image_not_in_the_worklist_makes_it_a_case(worklist):
    rec = worklist.store.save_correction(_xray(4), _lungs(), _lungs(), actor=ANN, model_name="m", model_version="v",
                                         case_label="from Segment")
    case = worklist.by_image(rec.image_hash)
    assert case is not None and case.label == "from Segment" and case.status == "in progress"
    assert case.mask_hash == rec.original_mask_hash


def test_next_case_priority_own_draft_then_flagged_and_lowest_estimate(worklist):
    good = _segmented(worklist, 10, 0.98)
    low = _segmented(worklist, 11, 0.80)
    flagged = _segmented(worklist, 12, 0.95, flags=["one lung only"])
    assert worklist.next_case(ANN).number == flagged.number  # flagged first, then lowest estimate
    assert worklist.next_case(ANN).number == flagged.number  # what I hold comes back (reload)
    assert worklist.next_case(ANN2).number == low.number     # someone else holds the flagged one
    assert worklist.next_case(ANN2, after=low.number).number == good.number
    assert worklist.get(good.number).holder == "amy"
    assert worklist.next_case(User("ali", frozenset({"annotator"}))) is None  # everything is held


def test_reviewers_next_skips_their_own_submissions(worklist):
    store = worklist.store
    a = _segmented(worklist, 20)
    b = _segmented(worklist, 21)
    for case, author in ((a, REV), (b, ANN)):
        store.save_correction(store.load_image(case.image_hash), _lungs(), _lungs(), actor=author, model_name="m",
                              model_version="v1", status="submitted")
    assert worklist.next_case(REV, REVIEWER_QUEUE).number == b.number
    with pytest.raises(PermissionDenied):
        worklist.next_case(ANN, REVIEWER_QUEUE)
    with pytest.raises(PermissionDenied):
        worklist.next_case(NOBODY)


def _next_in_process(args):
    root, who, barrier = args
    worklist = Worklist(new_store(root))
    barrier.wait()
    case = worklist.next_case(User(who, frozenset({"annotator"})))
    return case.number if case else None


def test_two_sessions_asking_for_next_together_get_different_cases(tmp_path):
    for round_ in range(4):
        root = tmp_path / f"round{round_}"
        worklist = Worklist(new_store(root))
        for seed in range(3):
            _segmented(worklist, 100 + seed, 0.9 + seed / 100)
        with multiprocessing.Manager() as manager:
            barrier = manager.Barrier(2)
            with multiprocessing.get_context("fork").Pool(2) as pool:
                got = pool.map(_next_in_process, [(root, "ann", barrier), (root, "amy", barrier)])
        assert None not in got and got[0] != got[1]
        assert sorted(got) == [1, 2]  # the two most urgent (lowest estimates), one each
        assert {worklist.get(n).holder for n in got} == {"ann", "amy"}


def test_deleting_a_case_removes_its_row_and_every_file(worklist, tmp_path):
    case = _segmented(worklist, 30)
    worklist.store.save_correction(worklist.store.load_image(case.image_hash), _lungs(), ~_lungs(), actor=ANN,
                                   model_name="m", model_version="v1")
    assert len(list((tmp_path / "store" / "blobs").rglob("*.png"))) == 4  # image, thumbnail, model mask, correction
    worklist.store.delete_case(case.image_hash, ADMIN, "wrong patient")
    assert worklist.list_cases() == [] and not list((tmp_path / "store" / "blobs").rglob("*.png"))


def test_export_needs_the_reviewer_role_and_is_audited(worklist):
    _segmented(worklist, 40, 0.91, flags=["hole inside a lung"])
    with pytest.raises(PermissionDenied):
        worklist.export_rows(ANN)
    rows = worklist.export_rows(REV)
    assert rows[0]["case"] == 1 and rows[0]["estimated_dice"] == 0.91 and rows[0]["flags"] == "hole inside a lung"
    assert rows_csv(rows).splitlines()[0].startswith("case,label,status")
    assert AuditLog(worklist.database).entries(READER, action="cases_exported")


def test_labels_and_roles(worklist):
    case, _ = worklist.add_case(_xray(50), ANN)
    assert worklist.set_label(case.number, "  bed 4 ", ANN).label == "bed 4"
    with pytest.raises(PermissionDenied):
        worklist.add_case(_xray(51), NOBODY)


@pytest.mark.sqlite_only
def test_store_written_by_release_2_upgrades_to_cases(tmp_path):
    shutil.copytree(FIXTURES / "store_release2", tmp_path / "store")
    store = new_store(tmp_path / "store")
    assert sqlite3.connect(tmp_path / "store" / "store.sqlite").execute("PRAGMA user_version").fetchone()[0] \
        == SCHEMA_VERSION
    assert len(store.list_corrections()) == 4  # nothing lost
    worklist = Worklist(store)
    cases = worklist.list_cases()
    assert [c.number for c in cases] == [1, 2, 3]  # numbered by first save
    assert [c.status for c in cases] == ["approved", "in progress", "submitted"]
    assert cases[0].label == "ward 3 film" and cases[0].pixel_spacing_mm == (0.15, 0.15)
    assert cases[1].holder == "amy"  # release 2's claim is kept
    assert all(c.mask_hash and c.model_name for c in cases)
    assert worklist.ensure_thumbnails(worklist.list_cases()) == 3 and all(c.thumb_hash for c in worklist.list_cases())
    # users and audit carried over
    con = sqlite3.connect(tmp_path / "store" / "store.sqlite")
    assert con.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 2
    assert con.execute("SELECT COUNT(*) FROM audit_log").fetchone()[0] >= 12
    # the upgraded store keeps working: the submitted v2 is reviewed by someone else
    assert worklist.next_case(REV, REVIEWER_QUEUE).number == 3
    new_store(tmp_path / "store")  # opening again changes nothing
    assert len(worklist.list_cases()) == 3


def test_a_case_given_to_one_person_is_offered_to_them_first_and_to_nobody_else(tmp_path):
    from lungseg_core.people.access_control import PermissionDenied, command_line_user
    from lungseg_core.people.accounts import UserDirectory
    from lungseg_core.workflow.corrections_store import StoreError
    from lungseg_core.workflow.worklist import Worklist

    from .people import ADMIN, ANN, ANN2, REV

    store = new_store(tmp_path / "store")
    users = UserDirectory(store.database)
    for person in (ANN, ANN2):
        users.add_user(command_line_user(), person.username, person.roles, None)
    worklist = Worklist(store)
    numbers = []
    for seed in range(3):
        image = np.random.default_rng(seed).integers(0, 255, (64, 64), dtype=np.uint8)
        case, _ = worklist.add_case(image, ANN)
        worklist.set_segmentation(case.number, np.ones((64, 64), bool), {"estimated_dice": 0.9 + seed / 100}, "m",
                                  "v", ANN)
        numbers.append(case.number)
    with pytest.raises(PermissionDenied):
        worklist.assign(numbers[2], ANN.username, ANN)  # an annotator does not hand out work
    with pytest.raises(StoreError, match="not an active annotator"):
        worklist.assign(numbers[2], "nobody-here", REV)
    assert worklist.assign(numbers[2], ANN.username, REV).assigned_to == ANN.username
    assert worklist.next_case(ANN).number == numbers[2]  # given to me: first, though its estimate is best
    offered = {worklist.next_case(ANN2, after=None).number, worklist.next_case(ANN2, after=numbers[0]).number}
    assert numbers[2] not in offered  # never to anyone else
    assert worklist.assign(numbers[2], None, ADMIN).assigned_to is None
    assert [e.detail for e in __import__("lungseg_core.people.audit", fromlist=["x"]).AuditLog(store.database)
            .entries(ADMIN, action="case_assigned")] == [{"to": None}, {"to": "ann"}]
