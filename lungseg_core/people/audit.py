"""The audit trail: an append-only log of every change, with who, when, what and why.

Entries are written in the same SQLite transaction as the change they describe (a save that rolls
back leaves no entry, an entry never describes a change that did not happen). Targets are record
ids, version names and user names; nothing in the log identifies a patient (no file names, no
DICOM fields, no pixels), so it can outlive a deleted case.

Tamper-evident: triggers refuse UPDATE and DELETE on the table, and each row carries the SHA-256 of
the row before it (`storage.database.audit_row_hash`), so a row edited or removed behind the app's back
(the triggers dropped by hand) is found by `verify_chain` (`python -m lungseg_core audit verify`).
Reading the log is for admins (`view_audit`), and each read or export is itself recorded.
"""
from __future__ import annotations

import csv
import io
import json
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from .access_control import User, require
from ..storage.audit_chain import chain_breaks
from ..storage.database import Connection, Database, audit_row_hash, open_database

#: Actions the log knows, in the words the audit page shows.
ACTION_LABELS = {
    "sign_in": "signed in", "sign_in_failed": "sign-in refused", "sign_out": "signed out",
    "password_changed": "changed password", "working_copy_discarded": "discarded unsaved edits",
    "user_added": "added a user", "user_disabled": "disabled a user", "user_enabled": "enabled a user",
    "password_reset": "reset a password", "roles_changed": "changed roles",
    "correction_saved": "saved a correction", "submitted": "submitted", "approved": "approved",
    "rejected": "rejected", "reopened": "reopened", "case_deleted": "deleted a case", "claimed": "claimed a case",
    "retrain_started": "started a retrain", "retrain_cancelled": "cancelled a retrain",
    "promoted": "promoted a model", "rolled_back": "rolled back the default model",
    "cases_imported": "imported X-rays", "case_labelled": "labelled a case", "cases_segmented": "segmented cases",
    "segmentation_started": "started batch segmentation", "segmentation_cancelled": "cancelled batch segmentation",
    "cases_exported": "exported case figures", "case_added": "added a case", "case_segmented": "segmented a case",
    "claim_released": "released a claim", "corrections_exported": "exported corrections",
    "audit_read": "read the audit log", "sign_in_throttled": "sign-in slowed down",
    "identity_linked": "linked an identity-provider account", "store_repaired": "repaired the store",
    "store_migrated": "copied the store here",
    "case_assigned": "assigned a case", "pacs_imported": "imported X-rays from the PACS",
    "pacs_exported": "sent a segmentation to the PACS",
}


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


@dataclass(frozen=True)
class AuditEntry:
    seq: int
    at: str
    actor: str
    action: str
    target: str
    detail: dict[str, Any]
    reason: str


def record(con: Connection, actor: str, action: str, target: str = "", detail: dict[str, Any] | None = None,
           reason: str = "") -> None:
    """Append one entry on `con` (inside the caller's write transaction, which serialises the chain)."""
    if action not in ACTION_LABELS:
        raise ValueError(f"unknown audit action {action!r}")
    fields = (now(), actor, action, target, json.dumps(detail or {}, sort_keys=True), reason or "")
    last = con.execute("SELECT row_hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
    prev = last[0] if last else ""
    con.execute("INSERT INTO audit_log (at, actor, action, target, detail, reason, prev_hash, row_hash) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?)", (*fields, prev, audit_row_hash(prev, *fields)))


@dataclass(frozen=True)
class ChainReport:
    """What `verify_chain` found: rows read, and the sequence numbers whose link does not hold."""

    rows: int
    broken: list[int]

    @property
    def ok(self) -> bool:
        return not self.broken


def verify_chain(database: Database | str | Path) -> ChainReport:
    """Recompute every row's hash and check it links to the row before (read only)."""
    database = open_database(database)
    database.ensure_schema()
    con = database.connect()
    try:
        rows = con.execute("SELECT seq, at, actor, action, target, detail, reason, prev_hash, row_hash "
                           "FROM audit_log ORDER BY seq").fetchall()
    finally:
        con.close()
    count, broken = chain_breaks(rows)
    return ChainReport(count, broken)


class AuditLog:
    """The log of a store's database (`<store>/store.sqlite`)."""

    def __init__(self, database: Database | str | Path) -> None:
        self.database = open_database(database)
        self.database.ensure_schema()

    @contextmanager
    def change(self, actor: User, permission: str) -> Iterator[Connection]:
        """A write transaction that first checks `actor` may do `permission` (as the store holds the
        account now); the caller makes its change and `record`s it on the connection, so the change
        (or, for files, the step that publishes it) and its entry commit or fail together."""
        with self.database.transaction() as con:
            require(actor, permission, con)
            yield con

    def append(self, actor: str, action: str, target: str = "", detail: dict[str, Any] | None = None,
               reason: str = "") -> None:
        with self.database.transaction() as con:
            record(con, actor, action, target, detail, reason)

    def entries(self, reader: User, actor: str | None = None, action: str | None = None, since: str | None = None,
                until: str | None = None, target: str | None = None, limit: int | None = None,
                record_read: bool = False) -> list[AuditEntry]:
        """Newest first (admins only); `since`/`until` are ISO dates or timestamps (UTC), `until`
        inclusive of its day. `record_read` logs the read itself (what a person looks at or exports;
        a page's own checks pass False)."""
        if record_read:  # audited in the write transaction that checks the reader
            with self.change(reader, "view_audit") as con:
                filters = {"actor": actor, "since": since, "until": until}  # the ones set: no "actor: None"
                record(con, reader.username, "audit_read", action or "", {k: v for k, v in filters.items() if v})
        where, args = [], []
        for clause, value in (("actor = ?", actor), ("action = ?", action), ("at >= ?", since),
                              ("at < ?", _day_after(until) if until else None),
                              ("LOWER(target) LIKE ?", target and f"{target.lower()}%")):
            if value:
                where.append(clause)
                args.append(value)
        sql = "SELECT seq, at, actor, action, target, detail, reason FROM audit_log"
        sql += (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY seq DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        con = self.database.connect()
        try:
            require(reader, "view_audit", con)  # the account as it is now, on the connection that reads
            rows = con.execute(sql, args).fetchall()
        finally:
            con.close()
        return [AuditEntry(r[0], r[1], r[2], r[3], r[4], json.loads(r[5] or "{}"), r[6]) for r in rows]

    def actors(self, reader: User) -> list[str]:
        con = self.database.connect()
        try:
            require(reader, "view_audit", con)
            return [r[0] for r in con.execute("SELECT DISTINCT actor FROM audit_log ORDER BY actor")]
        finally:
            con.close()


def _day_after(day: str) -> str:
    if len(day) == 10:  # a date: include the whole day
        from datetime import date, timedelta

        return (date.fromisoformat(day) + timedelta(days=1)).isoformat()
    return day


def entries_csv(entries: list[AuditEntry]) -> str:
    """CSV for export (oldest first, as an auditor reads a log)."""
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(["seq", "at_utc", "actor", "action", "target", "detail", "reason"])
    for e in sorted(entries, key=lambda e: e.seq):
        writer.writerow([csv_cell(v) for v in (e.seq, e.at, e.actor, e.action, e.target,
                                                json.dumps(e.detail, sort_keys=True), e.reason)])
    return buf.getvalue()


def csv_cell(value: Any) -> Any:
    """A cell a spreadsheet shows as text: one starting with = + - @ (or a tab / carriage return) would
    run as a formula (OWASP "CSV injection"), so it gets a leading apostrophe."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value
