"""Per-person figures an admin looks at (issue 22): cases done, median minutes a case took, and the
share approved the first time it was sent for review.

Read from what is already kept, nothing new is recorded: the corrections' versions (who saved which
version of which film, and its status) and the audit log's "claimed" entries (when the person took
the case). A case's time is from the person's latest claim of it before their first submission to
that submission; a case submitted without a recorded claim (imported corrections, the command
line) has no time. "Approved first time": the person's first submitted version of the case was
approved (not rejected first); cases still waiting for review are left out of that share.
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from ..people.access_control import User, require
from ..people.audit import AuditLog

REVIEWED = ("submitted", "approved", "rejected")


@dataclass(frozen=True)
class PersonFigures:
    username: str
    cases_done: int
    median_minutes: float | None
    timed_cases: int
    approved_first_time: float | None  # share of decided cases; None when none was decided yet
    decided_cases: int

    def as_row(self) -> dict[str, Any]:
        return {"person": self.username, "cases done": self.cases_done,
                "median minutes a case": None if self.median_minutes is None else round(self.median_minutes, 1),
                "timed cases": self.timed_cases,
                "approved first time": None if self.approved_first_time is None else f"{self.approved_first_time:.0%}",
                "reviewed cases": self.decided_cases}


def _when(stamp: str) -> datetime:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def team_figures(store: Any, worklist: Any, audit: AuditLog, reader: User) -> list[PersonFigures]:
    """One row per person who submitted a case, most cases first (admins only: it reads the audit log)."""
    require(reader, "view_audit")
    numbers = {c.number: c.image_hash for c in worklist.list_cases()}
    claims: dict[tuple[str, str], list[datetime]] = {}
    for entry in audit.entries(reader, action="claimed"):
        target = entry.target or ""
        if target.startswith("case "):
            image_hash = numbers.get(int(target[5:])) if target[5:].isdigit() else None
        else:
            image_hash = next((h for h in numbers.values() if h.startswith(target)), None) if target else None
        if image_hash:
            claims.setdefault((entry.actor, image_hash), []).append(_when(entry.at))
    first_sent: dict[tuple[str, str], Any] = {}
    for record in sorted(store.list_corrections(), key=lambda r: r.created_at):
        if record.status in REVIEWED or any(s.status in REVIEWED for s in store.status_changes(record.id)):
            first_sent.setdefault((record.annotator, record.image_hash), record)
    people: dict[str, dict[str, list]] = {}
    for (person, image_hash), record in first_sent.items():
        mine = people.setdefault(person, {"cases": [], "minutes": [], "decided": []})
        mine["cases"].append(image_hash)
        sent = _when(record.created_at)
        before = [t for t in claims.get((person, image_hash), []) if t <= sent]
        if before:
            mine["minutes"].append((sent - max(before)).total_seconds() / 60)
        decisions = [s.status for s in store.status_changes(record.id) if s.status in ("approved", "rejected")]
        if decisions:
            mine["decided"].append(decisions[0] == "approved")
        elif record.status in ("approved", "rejected"):
            mine["decided"].append(record.status == "approved")
    rows = [PersonFigures(person, len(v["cases"]), statistics.median(v["minutes"]) if v["minutes"] else None,
                          len(v["minutes"]), sum(v["decided"]) / len(v["decided"]) if v["decided"] else None,
                          len(v["decided"]))
            for person, v in people.items()]
    return sorted(rows, key=lambda r: (-r.cases_done, r.username))
