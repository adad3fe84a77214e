"""The built-in database: a SQLite file (WAL), its connection recipe and its schema, upgraded in place.

Every release that changes the schema adds one step to `_MIGRATIONS`; `PRAGMA user_version`
says which steps a database has had, so a store written by any earlier release opens, upgrades
inside one transaction and keeps every record (tested on a store made by release 1's code).
"""
from __future__ import annotations

import sqlite3
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Callable, Iterator

from .audit_chain import audit_row_hash


# Release 1: corrections and their status log (user_version 0).
_RELEASE_1 = """
CREATE TABLE IF NOT EXISTS corrections (
    id TEXT PRIMARY KEY,
    image_hash TEXT NOT NULL,
    model_name TEXT NOT NULL,
    model_version TEXT NOT NULL,
    original_mask_hash TEXT NOT NULL,
    corrected_mask_hash TEXT NOT NULL,
    annotator TEXT NOT NULL,
    created_at TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL CHECK (status IN ('draft', 'submitted', 'approved', 'rejected')),
    parent_id TEXT REFERENCES corrections(id),
    case_label TEXT,
    height INTEGER NOT NULL,
    width INTEGER NOT NULL,
    pixel_spacing TEXT
);
CREATE INDEX IF NOT EXISTS corrections_image ON corrections(image_hash);
CREATE INDEX IF NOT EXISTS corrections_status ON corrections(status);
CREATE TABLE IF NOT EXISTS status_changes (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    correction_id TEXT NOT NULL REFERENCES corrections(id),
    status TEXT NOT NULL,
    reviewer TEXT NOT NULL,
    note TEXT NOT NULL DEFAULT '',
    changed_at TEXT NOT NULL
);
"""

# Release 2: people (accounts, sessions), the audit trail and claims on images being edited.
_RELEASE_2 = """
CREATE TABLE IF NOT EXISTS users (
    username TEXT PRIMARY KEY,
    display_name TEXT NOT NULL DEFAULT '',
    password_hash TEXT,
    roles TEXT NOT NULL DEFAULT '',
    active INTEGER NOT NULL DEFAULT 1,
    must_change_password INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS auth_sessions (
    token_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL REFERENCES users(username),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS auth_sessions_user ON auth_sessions(username);
CREATE TABLE IF NOT EXISTS audit_log (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    at TEXT NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '',
    reason TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS audit_log_action ON audit_log(action);
CREATE TABLE IF NOT EXISTS claims (
    image_hash TEXT PRIMARY KEY,
    username TEXT NOT NULL,
    expires_at TEXT NOT NULL
);
"""

# Release 3: the worklist. A case is one X-ray (by pixel hash) with a number, an optional label the
# user typed, the model's mask and its quality estimate; its corrections are its versions. Every
# X-ray an earlier release holds corrections of becomes a case (numbered by first save, segmented
# with the model mask of its first version).
_RELEASE_3 = """
CREATE TABLE IF NOT EXISTS cases (
    number INTEGER PRIMARY KEY AUTOINCREMENT,
    image_hash TEXT NOT NULL UNIQUE,
    label TEXT,
    height INTEGER NOT NULL,
    width INTEGER NOT NULL,
    pixel_spacing TEXT,
    thumb_hash TEXT,
    added_at TEXT NOT NULL,
    added_by TEXT NOT NULL,
    mask_hash TEXT,
    model_name TEXT,
    model_version TEXT,
    segmented_at TEXT,
    quality TEXT,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS cases_updated ON cases(updated_at);
INSERT OR IGNORE INTO cases (image_hash, label, height, width, pixel_spacing, added_at, added_by, mask_hash,
                             model_name, model_version, segmented_at, updated_at)
SELECT first.image_hash,
       (SELECT c.case_label FROM corrections c WHERE c.image_hash = first.image_hash AND c.case_label IS NOT NULL
        ORDER BY c.created_at DESC LIMIT 1),
       first.height, first.width, first.pixel_spacing, first.created_at, first.annotator, first.original_mask_hash,
       first.model_name, first.model_version, first.created_at,
       (SELECT MAX(c.created_at) FROM corrections c WHERE c.image_hash = first.image_hash)
FROM corrections first
WHERE first.created_at = (SELECT MIN(c.created_at) FROM corrections c WHERE c.image_hash = first.image_hash)
GROUP BY first.image_hash
ORDER BY first.created_at
"""

# Release 4: working copies. Each person's unsaved edit of a case (the mask on their screen), kept
# on every change so that a reload, a lost connection or a switch to another case loses nothing;
# removed when that person saves the case or discards the edit.
_RELEASE_4 = """
CREATE TABLE IF NOT EXISTS working_copies (
    username TEXT NOT NULL,
    image_hash TEXT NOT NULL,
    mask_png BLOB NOT NULL,
    start_hash TEXT NOT NULL,
    steps INTEGER NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (username, image_hash)
)
"""

# Release 5: a tamper-evident audit log (each row carries the hash of the one before it, and triggers
# refuse UPDATE and DELETE), identity-provider links made by an admin, and cases assigned to a person.
_RELEASE_5_TABLES = """
ALTER TABLE audit_log ADD COLUMN prev_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE audit_log ADD COLUMN row_hash TEXT NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN identity_email TEXT;
CREATE UNIQUE INDEX IF NOT EXISTS users_identity_email ON users(identity_email) WHERE identity_email IS NOT NULL;
ALTER TABLE cases ADD COLUMN assigned_to TEXT
"""
AUDIT_TRIGGERS = (
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_update BEFORE UPDATE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
    "CREATE TRIGGER IF NOT EXISTS audit_log_no_delete BEFORE DELETE ON audit_log "
    "BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END",
)


def _release_5(con: sqlite3.Connection) -> None:
    _run_script(con, _RELEASE_5_TABLES)
    prev = ""
    rows = con.execute("SELECT seq, at, actor, action, target, detail, reason FROM audit_log ORDER BY seq").fetchall()
    for seq, *fields in rows:  # chain the rows an earlier release wrote, in their order
        row_hash = audit_row_hash(prev, *fields)
        con.execute("UPDATE audit_log SET prev_hash = ?, row_hash = ? WHERE seq = ?", (prev, row_hash, seq))
        prev = row_hash
    for trigger in AUDIT_TRIGGERS:
        con.execute(trigger)


def _run_script(con: sqlite3.Connection, script: str) -> None:
    for statement in filter(str.strip, script.split(";")):
        con.execute(statement)


# Release 6: where a case came from in the hospital's PACS, and a working copy's undo steps. Of the PACS
# source only what is needed to find it again (the PACS's address and the study, series and SOP instance
# UIDs: no name, ID, date or other header field); the patient and study modules of an export are read
# from the PACS at export time, never kept.
_RELEASE_6 = """
CREATE TABLE IF NOT EXISTS pacs_sources (
    image_hash TEXT PRIMARY KEY REFERENCES cases(image_hash) ON DELETE CASCADE,
    pacs_url TEXT NOT NULL,
    study_uid TEXT NOT NULL,
    series_uid TEXT NOT NULL,
    sop_uid TEXT NOT NULL,
    added_at TEXT NOT NULL
);
ALTER TABLE working_copies ADD COLUMN history BLOB
"""

# Release 7: the heartbeats of background jobs, so that every app server (on any host) tells a running
# job from a dead one by the database, not by process ids (storage.job_beats).
_RELEASE_7 = """
CREATE TABLE IF NOT EXISTS job_beats (
    job_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    host TEXT NOT NULL,
    pid INTEGER,
    beat_at REAL NOT NULL
)
"""

_MIGRATIONS: tuple[str | Callable[[sqlite3.Connection], None], ...] = (
    _RELEASE_1, _RELEASE_2, _RELEASE_3, _RELEASE_4, _release_5, _RELEASE_6, _RELEASE_7)
SCHEMA_VERSION = len(_MIGRATIONS) - 1  # release 1 stores carry user_version 0


_UPGRADED: set[str] = set()
_KEEPERS: dict[str, sqlite3.Connection] = {}
MAX_KEEPERS = 16


def ensure_schema(db_path: str | Path) -> None:
    """Upgrade the database once per process: the classes over it are built on every page run,
    and each upgrade takes the write lock."""
    key = str(Path(db_path).resolve())
    if key in _UPGRADED:
        return
    Path(db_path).parent.mkdir(parents=True, exist_ok=True)
    con = connect(Path(db_path))
    try:
        upgrade(con)
    except BaseException:
        con.close()
        raise
    # Kept open (idle, no lock held) for the life of the process: while one connection is open,
    # SQLite keeps the -wal and -shm files, so later connections need no new disk space to open and
    # a full disk still lets every page read (found with a store on a full tmpfs).
    _KEEPERS[key] = con
    while len(_KEEPERS) > MAX_KEEPERS:  # a process serves one store; tests open hundreds: bounded file handles
        oldest = next(iter(_KEEPERS))
        _KEEPERS.pop(oldest).close()
        _UPGRADED.discard(oldest)  # opened again, it gets its keeper back
    _UPGRADED.add(key)


def connect(db_path: Path) -> sqlite3.Connection:
    """Autocommit connection (transactions are explicit: BEGIN IMMEDIATE … COMMIT), WAL, FKs on."""
    con = sqlite3.connect(db_path, timeout=60, isolation_level=None)
    con.execute("PRAGMA journal_mode=WAL")
    con.execute("PRAGMA synchronous=FULL")
    con.execute("PRAGMA foreign_keys=ON")
    con.execute("PRAGMA busy_timeout=60000")
    return con


def upgrade(con: sqlite3.Connection) -> int:
    """Apply the missing schema steps in one transaction; returns the version reached.
    A database newer than this code is refused instead of being written with an older schema."""
    con.execute("BEGIN IMMEDIATE")
    try:
        current = con.execute("PRAGMA user_version").fetchone()[0]
        has_tables = con.execute("SELECT 1 FROM sqlite_master WHERE name = 'corrections'").fetchone() is not None
        if current > SCHEMA_VERSION:
            raise RuntimeError(f"this store was written by a newer release (schema {current}, this code knows "
                               f"{SCHEMA_VERSION}): upgrade LungSeg Studio instead of opening it with this one")
        first = current + 1 if has_tables or current else 0
        for step in _MIGRATIONS[first:]:
            if callable(step):
                step(con)
            else:
                _run_script(con, step)
        con.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        con.execute("COMMIT")
    except BaseException:
        con.execute("ROLLBACK")
        raise
    return SCHEMA_VERSION


@contextmanager
def transaction(db_path: Path) -> Iterator[sqlite3.Connection]:
    """`with transaction(path) as con:` BEGIN IMMEDIATE … COMMIT, ROLLBACK on any error, then close.
    IMMEDIATE takes the write lock up front, so read-check-write sequences cannot interleave."""
    con = connect(db_path)
    try:
        con.execute("BEGIN IMMEDIATE")
        try:
            yield con
        except BaseException:
            con.execute("ROLLBACK")
            raise
        con.execute("COMMIT")
    finally:
        con.close()


class SQLiteDatabase:
    """A store's SQLite file (the built-in, one-machine database)."""

    kind = "sqlite"

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @property
    def address(self) -> str:
        return str(self.path)

    def ensure_schema(self) -> None:
        ensure_schema(self.path)

    def connect(self) -> sqlite3.Connection:
        return connect(self.path)

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return transaction(self.path)

    def schema_version(self) -> int:
        con = connect(self.path)
        try:
            return int(con.execute("PRAGMA user_version").fetchone()[0])
        finally:
            con.close()

    def __repr__(self) -> str:
        return f"SQLiteDatabase({str(self.path)!r})"
