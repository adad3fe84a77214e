"""Copy a whole store to another database and file folder (`python -m lungseg_core migrate-store`): the
way from the one-machine SQLite store to Postgres (or back, or between servers).

Every table, row for row with its own keys (case numbers, audit sequence numbers and hash chain, version
ids, sessions, claims, working copies, PACS sources; not the running jobs' heartbeats, which are live
state of the old servers), in one transaction on the target; every file a record names,
checked against its content hash. Re-runnable: rows and files already there are kept, so a copy that was
interrupted is finished by running it again. Verified afterwards: each table's rows read back equal the
source's, the audit chain links, and each file's bytes hash to its name. The source is only read (it is
upgraded to the current schema first, as opening it in the app would).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .audit_chain import chain_breaks
from .blob_folder import BlobFolder, check_content_hash
from .database import Database

#: Tables in an order that satisfies their foreign keys, with the key that identifies a row.
TABLES: tuple[tuple[str, str], ...] = (
    ("users", "username"), ("auth_sessions", "token_hash"), ("corrections", "id"), ("status_changes", "seq"),
    ("audit_log", "seq"), ("claims", "image_hash"), ("cases", "number"), ("working_copies", "username, image_hash"),
    ("pacs_sources", "image_hash"))

#: Columns that name a file of the blob folder.
FILE_COLUMNS = {"corrections": ("image_hash", "original_mask_hash", "corrected_mask_hash"),
                "cases": ("image_hash", "mask_hash", "thumb_hash")}


@dataclass
class CopyReport:
    rows: dict[str, int] = field(default_factory=dict)  # rows in the source, per table
    copied: dict[str, int] = field(default_factory=dict)  # rows this run inserted
    files: int = 0
    files_copied: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        tables = ", ".join(f"{t} {n} ({self.copied.get(t, 0)} new)" for t, n in self.rows.items())
        state = "verified" if self.ok else f"NOT verified: {len(self.problems)} problem(s)"
        return f"{tables}; files {self.files} ({self.files_copied} new); {state}"


def _rows(con: Any, table: str, key: str) -> tuple[list[str], list[tuple]]:
    cur = con.execute(f"SELECT * FROM {table} ORDER BY {key}")
    columns = [d[0] for d in cur.description]
    return columns, [tuple(bytes(v) if isinstance(v, memoryview) else v for v in row) for row in cur.fetchall()]


def _parents_first(columns: list[str], rows: list[tuple]) -> list[tuple]:
    """Versions after the version they continue (corrections.parent_id references corrections.id)."""
    at = {c: i for i, c in enumerate(columns)}
    by_id = {r[at["id"]]: r for r in rows}
    done: set[str] = set()
    ordered: list[tuple] = []
    for row in rows:
        chain = []
        while row is not None and row[at["id"]] not in done:
            chain.append(row)
            parent = row[at["parent_id"]]
            row = by_id.get(parent) if parent else None
        for r in reversed(chain):
            done.add(r[at["id"]])
            ordered.append(r)
    return ordered


def copy_store(source: Database, source_files: Path, target: Database, target_files: Path) -> CopyReport:
    """Copy every row and file of the source store into the target, then verify (see the module)."""
    report = CopyReport()
    source.ensure_schema()
    target.ensure_schema()
    con = source.connect()
    try:
        data = {table: _rows(con, table, key) for table, key in TABLES}
    finally:
        con.close()
    # files first: a record is never copied before the file it names
    source_blobs, target_blobs = BlobFolder(Path(source_files) / "blobs"), BlobFolder(Path(target_files) / "blobs")
    hashes: set[str] = set()
    for table, names in FILE_COLUMNS.items():
        columns, rows = data[table]
        for name in names:
            hashes |= {r[columns.index(name)] for r in rows if r[columns.index(name)]}
    for content_hash in sorted(hashes):
        report.files += 1
        if target_blobs.path(content_hash).is_file():
            continue
        try:
            payload = source_blobs.get(content_hash)
        except OSError as exc:
            report.problems.append(f"file {content_hash[:12]} cannot be read in the source ({exc})")
            continue
        if hashlib.sha256(payload).hexdigest() != content_hash:
            report.problems.append(f"file {content_hash[:12]} is damaged in the source (its bytes do not match)")
            continue
        target_blobs.put(payload)
        report.files_copied += 1
    with target.transaction() as out:
        for table, key in TABLES:
            columns, rows = data[table]
            if table == "corrections":
                rows = _parents_first(columns, rows)
            report.rows[table] = len(rows)
            before = out.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]
            statement = (f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))}) "
                         "ON CONFLICT DO NOTHING")
            for row in rows:
                out.execute(statement, row)
            report.copied[table] = out.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0] - before
        follow = getattr(target, "follow_identities", None)
        if follow is not None:
            follow(out)
    report.problems += verify_copy(data, target, target_blobs, hashes)
    return report


def verify_copy(data: dict[str, tuple[list[str], list[tuple]]], target: Database, target_blobs: BlobFolder,
                hashes: set[str]) -> list[str]:
    """What differs between the source's rows and files and the target's (empty: a faithful copy)."""
    problems = []
    con = target.connect()
    try:
        for table, key in TABLES:
            columns, rows = data[table]
            got_columns, got = _rows(con, table, key)
            picked = [tuple(r[got_columns.index(c)] for c in columns) for r in got]
            missing = set(rows) - set(picked)
            if missing:
                problems.append(f"{table}: {len(missing)} row(s) of the source are missing or different in the target")
        _, broken = chain_breaks(con.execute("SELECT seq, at, actor, action, target, detail, reason, prev_hash, "
                                             "row_hash FROM audit_log ORDER BY seq").fetchall())
        if broken:
            problems.append(f"audit_log: the hash chain breaks at row {broken[0]} in the target")
    finally:
        con.close()
    for content_hash in sorted(hashes):
        check_content_hash(content_hash)
        path = target_blobs.path(content_hash)
        if not path.is_file() or hashlib.sha256(path.read_bytes()).hexdigest() != content_hash:
            problems.append(f"file {content_hash[:12]} is missing or damaged in the target")
    return problems
