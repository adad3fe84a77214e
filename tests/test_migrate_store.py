"""`migrate-store`: every release's store (the fixtures tests/fixtures/store_release1..6, each written by that
release's code) copied to a real Postgres with every record, session, claim, audit row (chain intact) and
file; re-runnable; refused with a clear list when the target disagrees or a file is damaged."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from lungseg_core.people.audit import verify_chain
from lungseg_core.storage.store_copy import TABLES
from lungseg_core.workflow.corrections_store import open_store
from lungseg_core.workflow.worklist import Worklist
from lungseg_testing.postgres import fresh_schema_url

from .people import ANN

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).parent / "fixtures"


def _migrate(source: str, target: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "lungseg_core", "migrate-store", "--from", source, "--to", target],
                          capture_output=True, text=True, cwd=ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"})


def _table_rows(store, table: str, key: str) -> list[tuple]:
    con = store.database.connect()
    try:
        cur = con.execute(f"SELECT * FROM {table} ORDER BY {key}")
        names = [d[0] for d in cur.description]
        return [tuple(sorted(zip(names, (bytes(v) if isinstance(v, memoryview) else v for v in r))))
                for r in cur.fetchall()]
    finally:
        con.close()


@pytest.mark.parametrize("release", [1, 2, 3, 4, 5, 6])
def test_every_release_store_moves_to_postgres_whole_and_verified(release, tmp_path, postgres_url):
    folder = tmp_path / "sqlite-store"
    shutil.copytree(FIXTURES / f"store_release{release}", folder)
    target = f"{fresh_schema_url(postgres_url)}&files={tmp_path / 'pg-files'}"
    done = _migrate(str(folder), target)
    assert done.returncode == 0, done.stderr
    assert "verified" in done.stdout and "NOT" not in done.stdout
    source, copy = open_store(str(folder)), open_store(target)
    for table, key in TABLES:  # every row of every table, field for field
        assert _table_rows(source, table, key) == _table_rows(copy, table, key) or table == "audit_log"
    # the audit log: the source's rows, then one more that says the copy was made; the chain links
    src_log, dst_log = _table_rows(source, "audit_log", "seq"), _table_rows(copy, "audit_log", "seq")
    assert dst_log[:len(src_log)] == src_log and len(dst_log) == len(src_log) + 1
    assert verify_chain(copy.database).ok and verify_chain(copy.database).rows == len(dst_log)
    assert [r.id for r in copy.list_corrections()] == [r.id for r in source.list_corrections()]
    for record in copy.list_corrections():  # every file readable, and the same pixels
        assert np.array_equal(copy.load_mask(record.corrected_mask_hash), source.load_mask(record.corrected_mask_hash))
        assert np.array_equal(copy.load_image(record.image_hash), source.load_image(record.image_hash))
    cases = Worklist(copy).list_cases()
    assert [(c.number, c.status) for c in cases] == [(c.number, c.status) for c in Worklist(source).list_cases()]
    # re-runnable: nothing new the second time, still verified
    again = _migrate(str(folder), target)
    assert again.returncode == 0 and "(0 new)" in again.stdout and "files" in again.stdout
    # the copy lives on: the next case gets the next number, the chain keeps linking
    new_case, is_new = Worklist(copy).add_case(np.full((40, 40), 7, np.uint8), ANN)
    assert is_new and new_case.number == max([c.number for c in cases], default=0) + 1
    assert verify_chain(copy.database).ok


def test_a_target_that_disagrees_or_a_damaged_file_is_reported_not_hidden(tmp_path, postgres_url):
    folder = tmp_path / "sqlite-store"
    shutil.copytree(FIXTURES / "store_release5", folder)
    target = f"{fresh_schema_url(postgres_url)}&files={tmp_path / 'pg-files'}"
    source = open_store(str(folder))
    user = _table_rows(source, "users", "username")[0]
    name = dict(user)["username"]
    copy = open_store(target)
    con = copy.database.connect()  # someone made a different account of that name there first
    con.execute("INSERT INTO users (username, display_name, roles, active, must_change_password, created_at) "
                "VALUES (?, 'someone else', 'admin', 1, 0, '2020-01-01')", (name,))
    con.close()
    bad = _migrate(str(folder), target)
    assert bad.returncode == 1 and "NOT verified" in bad.stdout and "users: 1 row(s)" in bad.stderr
    # a damaged file in the source is named, never copied as if it were fine
    record = source.list_corrections()[0]
    path = source.blob_path(record.corrected_mask_hash)
    path.write_bytes(path.read_bytes()[:-20])
    other = f"{fresh_schema_url(postgres_url)}&files={tmp_path / 'pg-files-2'}"
    damaged = _migrate(str(folder), other)
    assert damaged.returncode == 1 and f"file {record.corrected_mask_hash[:12]} is damaged in the source" in damaged.stderr
    assert not (tmp_path / "pg-files-2" / "blobs" / record.corrected_mask_hash[:2]
                / f"{record.corrected_mask_hash}.png").exists()
