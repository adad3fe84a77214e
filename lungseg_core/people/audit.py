"""The audit trail: an append-only log of every change, with who, when, what and why.

Entries are written in the same SQLite transaction as the change they describe (a save that rolls
back leaves no entry, an entry never describes a change that did not happen). Targets are record
ids, version names and user names; nothing in the log identifies a patient (no file names, no
DICOM fields, no pixels), so it can outlive a deleted case.
"""
from __future__ import annotations

import csv
import io
import json
import sqlite3
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..workflow.store_schema import connect, ensure_schema, transaction

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
    "cases_exported": "exported case figures",
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


def record(con: sqlite3.Connection, actor: str, action: str, target: str = "", detail: dict[str, Any] | None = None,
           reason: str = "") -> None:
    """Append one entry on `con` (inside the caller's transaction)."""
    if action not in ACTION_LABELS:
        raise ValueError(f"unknown audit action {action!r}")
    con.execute("INSERT INTO audit_log (at, actor, action, target, detail, reason) VALUES (?, ?, ?, ?, ?, ?)",
                (now(), actor, action, target, json.dumps(detail or {}, sort_keys=True), reason or ""))


class AuditLog:
    """The log of a store's database (`<store>/store.sqlite`)."""

    def __init__(self, db_path: str | Path) -> None:
        self.db_path = Path(db_path)
        ensure_schema(self.db_path)

    def append(self, actor: str, action: str, target: str = "", detail: dict[str, Any] | None = None,
               reason: str = "") -> None:
        with transaction(self.db_path) as con:
            record(con, actor, action, target, detail, reason)

    def entries(self, actor: str | None = None, action: str | None = None, since: str | None = None,
                until: str | None = None, target: str | None = None, limit: int | None = None) -> list[AuditEntry]:
        """Newest first; `since`/`until` are ISO dates or timestamps (UTC), `until` inclusive of its day."""
        where, args = [], []
        for clause, value in (("actor = ?", actor), ("action = ?", action), ("at >= ?", since),
                              ("at < ?", _day_after(until) if until else None), ("target LIKE ?", target and f"{target}%")):
            if value:
                where.append(clause)
                args.append(value)
        sql = "SELECT seq, at, actor, action, target, detail, reason FROM audit_log"
        sql += (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY seq DESC"
        if limit:
            sql += f" LIMIT {int(limit)}"
        con = connect(self.db_path)
        try:
            rows = con.execute(sql, args).fetchall()
        finally:
            con.close()
        return [AuditEntry(r[0], r[1], r[2], r[3], r[4], json.loads(r[5] or "{}"), r[6]) for r in rows]

    def actors(self) -> list[str]:
        con = connect(self.db_path)
        try:
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
        writer.writerow([e.seq, e.at, e.actor, e.action, e.target, json.dumps(e.detail, sort_keys=True), e.reason])
    return buf.getvalue()
