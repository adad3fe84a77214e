"""What the store keeps of a PACS source (its own table, UIDs and the PACS's address only), deleted with
the case; and a store written by release 5 (tests/fixtures/store_release5, made by
make_store_release5.py with that release's code) upgrades in place with nothing lost."""
from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import numpy as np

import pytest

from lungseg_core.pacs.sources import PacsSources
from lungseg_core.people.audit import verify_chain
from lungseg_core.storage.database import SCHEMA_VERSION
from lungseg_core.workflow.worklist import Worklist

from .people import ADMIN, ANN
from .store_backends import new_database, new_store  # noqa: F401

pytestmark = pytest.mark.usefixtures("store_backend")

FIXTURES = Path(__file__).parent / "fixtures"


@pytest.mark.sqlite_only
def test_store_written_by_release_5_upgrades_with_everything_kept(tmp_path):
    shutil.copytree(FIXTURES / "store_release5", tmp_path / "store")
    con = sqlite3.connect(tmp_path / "store" / "store.sqlite")
    assert con.execute("PRAGMA user_version").fetchone()[0] == 4
    tables = ("corrections", "status_changes", "users", "audit_log", "cases", "claims",
              "working_copies (username, image_hash, mask_png, start_hash, steps, updated_at)")

    def rows(table: str) -> list:
        name, _, columns = table.partition(" ")
        return con.execute(f"SELECT {columns.strip('()') or '*'} FROM {name} ORDER BY 1").fetchall()

    before = {t: rows(t) for t in tables}
    con.close()
    store = new_store(tmp_path / "store")
    con = store.database.connect()
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 6
    assert {t: rows(t) for t in tables} == before
    assert verify_chain(store.database).ok
    cases = Worklist(store).list_cases()
    assert [(c.number, c.status, c.assigned_to) for c in cases] == [(1, "segmented", "ann"), (2, "in progress", None),
                                                                    (3, "approved", None)]
    assert con.execute("SELECT COUNT(*) FROM pacs_sources").fetchone()[0] == 0


def test_a_case_keeps_only_its_pacs_uids_and_loses_them_with_the_case(tmp_path):
    store = new_store(tmp_path / "store")
    worklist = Worklist(store)
    case, _ = worklist.add_case(np.random.default_rng(0).integers(0, 255, (64, 64), dtype=np.uint8), ANN)
    sources = PacsSources(store.database)
    sources.remember(case.image_hash, "https://pacs/dicom-web", "1.2.3", "1.2.3.4", "1.2.3.4.5")
    sources.remember(case.image_hash, "https://other/dicom-web", "9", "9.9", "9.9.9")  # a duplicate keeps the first
    kept = sources.of(case.image_hash)
    assert (kept.pacs_url, kept.study_uid, kept.series_uid, kept.sop_uid) == ("https://pacs/dicom-web", "1.2.3",
                                                                             "1.2.3.4", "1.2.3.4.5")
    columns = [d[0] for d in store.database.connect().execute("SELECT * FROM pacs_sources LIMIT 0").description]
    assert columns == ["image_hash", "pacs_url", "study_uid", "series_uid", "sop_uid", "added_at"]  # nothing else
    store.delete_case(case.image_hash, ADMIN, "test")
    assert sources.of(case.image_hash) is None and sources.known_sop_uids() == set()


@pytest.mark.sqlite_only
def test_store_written_by_release_6_upgrades_with_everything_kept(tmp_path):
    """tests/fixtures/store_release6 was written by release 6's code (commit 3c8beac,
    make_store_release6.py): a case from the PACS with its source row, a working copy with its undo
    steps, an approved correction. Schema step 7 adds the jobs' heartbeats and changes nothing else."""
    shutil.copytree(FIXTURES / "store_release6", tmp_path / "store")
    con = sqlite3.connect(tmp_path / "store" / "store.sqlite")
    assert con.execute("PRAGMA user_version").fetchone()[0] == 5
    tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                        "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
    before = {t: con.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in tables}
    con.close()
    store = new_store(tmp_path / "store")
    con = sqlite3.connect(tmp_path / "store" / "store.sqlite")
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 6
    assert {t: con.execute(f"SELECT * FROM {t} ORDER BY 1").fetchall() for t in tables} == before
    assert con.execute("SELECT COUNT(*) FROM job_beats").fetchone()[0] == 0
    assert verify_chain(store.database).ok
    cases = Worklist(store).list_cases()
    assert [(c.number, c.status) for c in cases] == [(1, "segmented"), (2, "approved")]
    assert PacsSources(store.database).of(cases[0].image_hash).sop_uid == "1.2.826.0.1.3"
    from lungseg_core.workflow.working_copies import WorkingCopies

    kept = WorkingCopies(store).get(ANN, cases[0].image_hash)
    assert kept is not None and kept.steps == 2 and len(kept.history) == 2
