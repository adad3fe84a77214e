"""The worklist: X-rays as numbered cases that a team works through, in the store's database.

A case is one X-ray (identified by its pixels' hash: the same pixels imported twice are one case)
with a number, an optional label the user typed, the model's mask and its quality estimate. Its
corrections are its versions, so its status comes from them through `review_workflow.case_status`
(new → segmented → in progress → submitted → approved | rejected); nothing here can set a status
the state machine would not reach.

"Next case" picks the most urgent case nobody else holds (your own unfinished drafts first, then
flagged and lowest estimated Dice first) and claims it in the same write transaction, so two
people asking at the same moment get two different cases.
"""
from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Iterable

import cv2
import numpy as np

from ..people import audit
from ..people.access_control import User, require
from .case_claims import CLAIM_MINUTES, take_claim_in
from ..storage.database import StoreError, row_lock_clause, storage_errors
from ..storage.files import image_for_storage, png_of, utc_now
from .store_interface import CorrectionsStore
from ..imaging.lung_measurements import measure_lungs
from .review_workflow import CASE_STATUSES, IN_PROGRESS, NEW, REJECTED, SEGMENTED, SUBMITTED, case_status

THUMB_SIDE = 96
#: What each role's "Next" looks for, most urgent first (annotators: unfinished work; reviewers: submissions).
ANNOTATOR_QUEUE = (IN_PROGRESS, REJECTED, SEGMENTED, NEW)
REVIEWER_QUEUE = (SUBMITTED,)


@dataclass(frozen=True)
class Case:
    number: int
    image_hash: str
    label: str | None
    height: int
    width: int
    pixel_spacing_mm: tuple[float, float] | None
    thumb_hash: str | None
    added_at: str
    added_by: str
    mask_hash: str | None
    model_name: str | None
    model_version: str | None
    segmented_at: str | None
    quality: dict[str, Any] = field(default_factory=dict)
    updated_at: str = ""
    status: str = NEW
    latest_version_id: str | None = None
    latest_author: str | None = None
    holder: str | None = None  # who has it claimed right now
    assigned_to: str | None = None  # the person a reviewer or admin gave it to (Next offers it to them only)

    @property
    def estimated_dice(self) -> float | None:
        return self.quality.get("estimated_dice")

    @property
    def flags(self) -> list[str]:
        return list(self.quality.get("flags", []))

    @property
    def title(self) -> str:
        return f"Case {self.number}" + (f" · {self.label}" if self.label else "")

    def as_row(self) -> dict[str, Any]:
        """One line of the worklist export (no image, no identifiers)."""
        figures = self.quality.get("figures", {})
        return {"case": self.number, "label": self.label or "", "status": self.status,
                "assignee": self.holder or "", "last_author": self.latest_author or "",
                "estimated_dice": self.estimated_dice, "flags": "; ".join(self.flags),
                "right_area_px": figures.get("right_area_px"), "left_area_px": figures.get("left_area_px"),
                "right_left_ratio": figures.get("right_left_ratio"), "total_area_cm2": figures.get("total_area_cm2"),
                "assigned_to": self.assigned_to or "",
                "model": self.model_name or "", "added_at": self.added_at, "updated_at": self.updated_at}


_CASE_COLUMNS = ("number, image_hash, label, height, width, pixel_spacing, thumb_hash, added_at, added_by, mask_hash, "
                 "model_name, model_version, segmented_at, quality, updated_at, assigned_to")


def thumbnail(image: np.ndarray, side: int = THUMB_SIDE) -> np.ndarray:
    """An 8-bit preview, longest side `side`, contrast stretched like the viewer."""
    from ..imaging.preprocessing import normalize_intensity

    unit = normalize_intensity(image)
    h, w = unit.shape
    scale = side / max(h, w)
    small = cv2.resize(unit, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=cv2.INTER_AREA)
    return np.round(small * 255).astype(np.uint8)


def case_quality(result: Any, pixel_spacing_mm: tuple[float, float] | None) -> dict[str, Any]:
    """What the worklist keeps of a segmentation: estimate, flags, signals and lung figures."""
    return {"estimated_dice": result.estimated_dice, "flags": result.flags, "signals": result.signals.as_dict(),
            "figures": measure_lungs(result.mask, pixel_spacing_mm).as_dict()}


class Worklist:
    """Cases over the store (its interface, `CorrectionsStore`: same database, same files)."""

    def __init__(self, store: CorrectionsStore) -> None:
        self.store = store
        self.database = store.database

    # -- reading --------------------------------------------------------------------------
    def _cases(self, con: Any, where: str = "", args: Iterable[Any] = ()) -> list[Case]:
        rows = con.execute(f"SELECT {_CASE_COLUMNS} FROM cases {where} ORDER BY number", tuple(args)).fetchall()
        latest: dict[str, tuple[str, str, str, str]] = {}
        # one case (get, by_image: every import and page run) reads only its own versions, not the whole table
        only = " AND image_hash = ?" if len(rows) == 1 else ""
        for vid, image_hash, status, author, created in con.execute(
                "SELECT id, image_hash, status, annotator, created_at FROM corrections WHERE id NOT IN "
                "(SELECT parent_id FROM corrections WHERE parent_id IS NOT NULL)" + only,
                (rows[0][1],) if only else ()):
            if image_hash not in latest or created > latest[image_hash][3]:
                latest[image_hash] = (vid, status, author, created)
        now = datetime.now(timezone.utc).isoformat()
        holders = {h: u for h, u, e in con.execute("SELECT image_hash, username, expires_at FROM claims") if e > now}
        out = []
        for r in rows:
            version = latest.get(r[1])
            spacing = tuple(json.loads(r[5])) if r[5] else None
            out.append(Case(number=r[0], image_hash=r[1], label=r[2], height=r[3], width=r[4],
                            pixel_spacing_mm=spacing, thumb_hash=r[6], added_at=r[7], added_by=r[8], mask_hash=r[9],
                            model_name=r[10], model_version=r[11], segmented_at=r[12],
                            quality=json.loads(r[13]) if r[13] else {}, updated_at=r[14],
                            status=case_status(r[9] is not None, version[1] if version else None),
                            latest_version_id=version[0] if version else None,
                            latest_author=version[2] if version else None, holder=holders.get(r[1]),
                            assigned_to=r[15]))
        return out

    def list_cases(self, status: str | None = None) -> list[Case]:
        with storage_errors():
            con = self.database.connect()
            try:
                cases = self._cases(con)
            finally:
                con.close()
        return [c for c in cases if status is None or c.status == status]

    def get(self, number: int) -> Case:
        con = self.database.connect()
        try:
            found = self._cases(con, "WHERE number = ?", (int(number),))
        finally:
            con.close()
        if not found:
            raise StoreError(f"there is no case {number}")
        return found[0]

    def by_image(self, image_hash: str) -> Case | None:
        con = self.database.connect()
        try:
            found = self._cases(con, "WHERE image_hash = ?", (image_hash,))
        finally:
            con.close()
        return found[0] if found else None

    def counts(self) -> dict[str, int]:
        return status_counts(self.list_cases())

    # -- writing --------------------------------------------------------------------------
    def add_case(self, image: np.ndarray, actor: User, label: str | None = None,
                 pixel_spacing_mm: tuple[float, float] | None = None) -> tuple[Case, bool]:
        """Store an X-ray as a case; (case, True) if new, (the existing case, False) for the same pixels."""
        require(actor, "segment")
        image = np.asarray(image)
        if image.ndim != 2:
            raise StoreError("the image must be a 2-D array")
        created: list[str] = []
        try:
            with storage_errors():
                image_hash = self.store.put_blob(png_of(image_for_storage(image)), created)
                thumb_hash = self.store.put_blob(png_of(thumbnail(image)), created)
                with self.database.transaction() as con:
                    require(actor, "segment", con)
                    row = con.execute("SELECT number FROM cases WHERE image_hash = ?", (image_hash,)).fetchone()
                    if row is not None:
                        created.clear()  # the files belong to the existing case
                        number, is_new = int(row[0]), False
                    else:
                        at = utc_now()
                        cur = con.execute(
                            "INSERT INTO cases (image_hash, label, height, width, pixel_spacing, thumb_hash, added_at, "
                            "added_by, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING number",
                            (image_hash, (label or "").strip() or None, int(image.shape[0]), int(image.shape[1]),
                             json.dumps([float(v) for v in pixel_spacing_mm]) if pixel_spacing_mm else None,
                             thumb_hash, at, actor.username, at))
                        number, is_new = int(cur.fetchone()[0]), True
                        audit.record(con, actor.username, "case_added", f"case {number}",
                                     {"height": int(image.shape[0]), "width": int(image.shape[1])})
        except BaseException:
            self.store.remove_unreferenced(created)
            raise
        return self.get(number), is_new

    def record_import(self, actor: User, added: int, duplicates: int, failed: int, how: str) -> None:
        audit.AuditLog(self.database).append(actor.username, "cases_imported", how,
                                            {"added": added, "duplicates": duplicates, "failed": failed})

    def set_label(self, number: int, label: str, actor: User) -> Case:
        require(actor, "save_correction")
        with storage_errors(), self.database.transaction() as con:
            require(actor, "save_correction", con)
            if con.execute("UPDATE cases SET label = ?, updated_at = ? WHERE number = ?",
                           ((label or "").strip() or None, utc_now(), int(number))).rowcount != 1:
                raise StoreError(f"there is no case {number}")
            audit.record(con, actor.username, "case_labelled", str(number))
        return self.get(number)

    def set_segmentation(self, number: int, mask: np.ndarray, quality: dict[str, Any], model_name: str,
                         model_version: str, actor: User, only_if_new: bool = False) -> bool:
        """Store the model's mask and quality figures of a case (the start of every correction). With
        `only_if_new`, a case that has a mask by now is left as it is (False): a batch segmenter that
        was retried after a crash, or ran beside another, never stores a case twice."""
        require(actor, "segment")
        mask = np.asarray(mask, bool)
        case = self.get(number)
        if mask.shape != (case.height, case.width):
            raise StoreError(f"mask {mask.shape} does not match case {number} ({case.height}, {case.width})")
        with storage_errors():
            mask_hash = self.store.put_blob(png_of(mask.astype(np.uint8) * 255))
            with self.database.transaction() as con:
                require(actor, "segment", con)
                at = utc_now()
                changed = con.execute(
                    "UPDATE cases SET mask_hash = ?, model_name = ?, model_version = ?, segmented_at = ?, quality = ?, "
                    "updated_at = ? WHERE number = ?" + (" AND mask_hash IS NULL" if only_if_new else ""),
                    (mask_hash, model_name, model_version, at, json.dumps(quality), at, int(number))).rowcount
                if changed:
                    audit.record(con, actor.username, "case_segmented", f"case {number}",
                                 {"model": model_name, "version": model_version})
        return bool(changed)

    def set_estimates(self, estimates: dict[int, float], how: str, actor: User, detail: dict[str, Any]) -> None:
        """Replace the estimated Dice of these cases (`how` says which estimator), each case's other
        quality figures as they are now; one transaction, audited."""
        with storage_errors(), self.database.transaction() as con:
            require(actor, "segment", con)
            for number, value in estimates.items():
                row = con.execute("SELECT quality FROM cases WHERE number = ?", (int(number),)).fetchone()
                if row is None:
                    continue  # deleted meanwhile
                quality = {**(json.loads(row[0]) if row[0] else {}), "estimated_dice": value, "estimate": how}
                con.execute("UPDATE cases SET quality = ? WHERE number = ?", (json.dumps(quality), int(number)))
            audit.record(con, actor.username, "cases_segmented", f"{len(estimates)} cases", detail)

    def ensure_thumbnails(self, cases: list[Case]) -> int:
        """Cases carried over from an earlier release have no preview yet: make them (once). Takes the
        cases the caller already read; returns how many it made (0: nothing to re-read)."""
        missing = [c for c in cases if c.thumb_hash is None]
        for c in missing:
            try:
                thumb = self.store.put_blob(png_of(thumbnail(self.store.load_image(c.image_hash))))
            except StoreError:
                continue  # a damaged file is flagged elsewhere; the row shows no preview
            with self.database.transaction() as con:
                con.execute("UPDATE cases SET thumb_hash = ? WHERE number = ? AND thumb_hash IS NULL",
                            (thumb, c.number))
        return len(missing)

    def next_case(self, actor: User, queue: tuple[str, ...] | None = None, after: int | None = None) -> Case | None:
        """Claim and return the most urgent case for `actor` that nobody else holds (None when done).
        `queue`: the statuses wanted (Correct: ANNOTATOR_QUEUE, unfinished work; Review: REVIEWER_QUEUE,
        other people's submissions); `after` skips that case (the one being left)."""
        queue = queue or ANNOTATOR_QUEUE
        require(actor, "approve" if SUBMITTED in queue else "claim")
        expires = (datetime.now(timezone.utc) + timedelta(minutes=CLAIM_MINUTES)).isoformat()
        with storage_errors(), self.database.transaction() as con:
            actor = require(actor, "approve" if SUBMITTED in queue else "claim", con)
            mine = {h for (h,) in con.execute("SELECT image_hash FROM claims WHERE username = ?", (actor.username,))}
            candidates = [c for c in self._cases(con) if c.status in queue and c.number != after
                          and (c.holder is None or c.holder == actor.username)]
            candidates = [c for c in candidates if self._fits(c, actor)]
            if not candidates:
                return None
            ranked = sorted(candidates, key=lambda c: self._priority(c, actor, queue, mine))
            # the row is locked too (Postgres: FOR UPDATE SKIP LOCKED), so a case another transaction is
            # handing out is passed over, never handed out twice
            lock = "SELECT number FROM cases WHERE number = ?" + row_lock_clause(self.database.kind)
            for best in ranked:
                if con.execute(lock, (best.number,)).fetchone() is None:
                    continue  # another transaction is handing it out
                taken, held = take_claim_in(con, self.database.kind, best.image_hash, actor.username, expires)
                if not taken:
                    continue  # claimed by someone since the list was read
                if held is None:
                    audit.record(con, actor.username, "claimed", f"case {best.number}", {"via": "next"})
                break
            else:
                return None
        return self.get(best.number)

    def assign(self, number: int, username: str | None, actor: User, reason: str = "") -> Case:
        """Give a case to one person (reviewers and admins; None takes it back): Next then offers it
        to them first and to nobody else while it waits. Audited."""
        require(actor, "reopen")
        with storage_errors(), self.database.transaction() as con:
            require(actor, "reopen", con)
            name = username.strip().lower() if username else None
            if name is not None:
                row = con.execute("SELECT roles, active FROM users WHERE username = ?", (name,)).fetchone()
                if row is None or not row[1] or "annotator" not in row[0].split(","):
                    raise StoreError(f"{name} is not an active annotator here")
            if con.execute("UPDATE cases SET assigned_to = ?, updated_at = ? WHERE number = ?",
                           (name, utc_now(), int(number))).rowcount != 1:
                raise StoreError(f"there is no case {number}")
            audit.record(con, actor.username, "case_assigned", f"case {number}", {"to": name}, reason)
        return self.get(number)

    @staticmethod
    def _fits(case: Case, actor: User) -> bool:
        if case.assigned_to and case.assigned_to != actor.username and case.status != SUBMITTED:
            return False  # given to someone else
        if case.status == SUBMITTED:  # a reviewer never gets their own submission
            return case.latest_author != actor.username
        if case.status == IN_PROGRESS:  # a draft is its author's to finish
            return case.latest_author == actor.username
        return True

    @staticmethod
    def _priority(case: Case, actor: User, queue: tuple[str, ...], mine: set[str]) -> tuple:
        held = 0 if case.image_hash in mine else 1  # what I already hold comes first (a reload, a return)
        held = min(held, 0 if case.assigned_to == actor.username else 1)  # then what was given to me
        estimate = case.estimated_dice if case.estimated_dice is not None else 1.0
        return (held, queue.index(case.status), 0 if case.flags else 1, estimate, case.number)

    def export_rows(self, actor: User) -> list[dict[str, Any]]:
        with audit.AuditLog(self.database).change(actor, "export") as con:
            rows = [c.as_row() for c in self._cases(con)]
            audit.record(con, actor.username, "cases_exported", f"{len(rows)} cases")
        return rows


def rows_csv(rows: list[dict[str, Any]]) -> str:
    buf = io.StringIO()
    if rows:
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows({k: audit.csv_cell(v) for k, v in row.items()} for row in rows)
    return buf.getvalue()


def rows_json(rows: list[dict[str, Any]]) -> str:
    return json.dumps(rows, indent=1)



#: How the worklist table can be sorted (label -> key); "priority" is Next's own order.
SORTS = ("priority", "case number", "estimated Dice", "last change")


def filter_cases(cases: list[Case], statuses: Iterable[str] | None = None, flagged_only: bool = False,
                 assignee: str | None = None, text: str = "") -> list[Case]:
    """The table's filters: statuses, flagged only, who holds or last wrote it, a label/flag search."""
    wanted = set(statuses or ())
    needle = text.strip().lower()
    return [c for c in cases
            if (not wanted or c.status in wanted) and (not flagged_only or c.flags)
            and (not assignee or assignee in (c.holder, c.latest_author, c.assigned_to))
            and (not needle or needle in (c.label or "").lower() or any(needle in f for f in c.flags)
                 or needle == str(c.number))]


def sort_cases(cases: list[Case], by: str = "priority") -> list[Case]:
    if by == "case number":
        return sorted(cases, key=lambda c: c.number)
    if by == "estimated Dice":
        return sorted(cases, key=lambda c: (c.estimated_dice is None, c.estimated_dice or 0.0, c.number))
    if by == "last change":
        return sorted(cases, key=lambda c: c.updated_at, reverse=True)
    order = {s: i for i, s in enumerate(ANNOTATOR_QUEUE + REVIEWER_QUEUE)}
    return sorted(cases, key=lambda c: (order.get(c.status, 99), 0 if c.flags else 1,
                                        c.estimated_dice if c.estimated_dice is not None else 1.0, c.number))


def status_counts(cases: list[Case]) -> dict[str, int]:
    """Cases per status, every status present (the worklist's counters)."""
    return {s: sum(c.status == s for c in cases) for s in CASE_STATUSES}


def progress_share(counts: dict[str, int]) -> float:
    """Share of cases approved (the worklist's progress bar)."""
    total = sum(counts.values())
    return counts.get("approved", 0) / total if total else 0.0
