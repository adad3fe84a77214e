"""Per-person figures for admins: cases done, median minutes from claim to submission, share approved
the first time; only admins may read them (they come from the audit log)."""
from __future__ import annotations

import numpy as np
import pytest

from lungseg_core.people.access_control import PermissionDenied
from lungseg_core.people.audit import AuditLog
from lungseg_core.workflow.team_figures import team_figures
from lungseg_core.workflow.worklist import Worklist

from .people import ADMIN, ANN, ANN2, REV
from .store_backends import new_database, new_store  # noqa: F401

pytestmark = pytest.mark.usefixtures("store_backend")


def _film(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 255, (64, 64), dtype=np.uint8)


def _mask() -> np.ndarray:
    m = np.zeros((64, 64), bool)
    m[10:50, 8:28] = m[10:50, 36:56] = True
    return m


def test_cases_done_time_and_first_time_approval_per_person(tmp_path):
    store = new_store(tmp_path / "store")
    worklist = Worklist(store)
    for i in range(5):
        worklist.add_case(_film(i), ADMIN)
    audit = AuditLog(store.database)

    def work(person, outcome):
        case = worklist.next_case(person)  # claims it (audited)
        image = store.load_image(case.image_hash)
        record = store.save_correction(image, _mask(), _mask(), actor=person, model_name="m", model_version="v",
                                       status="submitted")
        if outcome:
            store.review(record.id, outcome, actor=REV)
        return record

    work(ANN, "approve")
    work(ANN2, "approve")
    work(ANN, None)  # waiting for review: counted as done, not in the approval share
    rejected = work(ANN, "reject")
    image = store.load_image(rejected.image_hash)  # ann fixes the rejected one: still not "first time"
    again = store.save_correction(image, _mask(), _mask(), actor=ANN, model_name="m", model_version="v",
                                  status="submitted", parent_id=rejected.id)
    store.review(again.id, "approve", actor=REV)
    store.save_correction(_film(99), _mask(), _mask(), actor=ANN2, model_name="m", model_version="v")  # a draft only

    rows = {r.username: r for r in team_figures(store, worklist, audit, ADMIN)}
    assert set(rows) == {"ann", "amy"}
    ann, amy = rows["ann"], rows["amy"]
    assert ann.cases_done == 3 and amy.cases_done == 1
    assert ann.decided_cases == 2 and ann.approved_first_time == 0.5
    assert amy.approved_first_time == 1.0
    assert ann.timed_cases == 3 and ann.median_minutes is not None and 0 <= ann.median_minutes < 1
    assert list(rows) == ["ann", "amy"]  # most cases first
    assert ann.as_row()["approved first time"] == "50%"
    for someone in (ANN, REV):
        with pytest.raises(PermissionDenied):
            team_figures(store, worklist, audit, someone)
