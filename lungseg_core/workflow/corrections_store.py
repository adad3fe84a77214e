"""The corrections store: every version of every corrected mask, who made it and when.

As MONAI Label keeps labels/original and labels/final apart, each record keeps the model's own
mask and the human's corrected mask side by side; saving never overwrites: a new version links
to its parent. Images and masks are PNG files named by content hash (written to a temporary
file, fsynced, renamed); the records live in SQLite (WAL mode, one transaction per save), so
two sessions saving at once lose nothing and a process killed mid-save leaves no half record.

Nothing that identifies a patient is stored: pixels, size and pixel spacing only, and a case
label only when the user types one.

Every change names the signed-in `User` who makes it: the store checks that person's role
(`access_control`), the review state machine (`review_workflow`) and claims (`case_claims`), and
appends the change to the audit log in the same transaction. The schema upgrades in place
(`storage.database`): a store written by the previous release opens with nothing lost.

`CorrectionsStore` is the interface; `DatabaseCorrectionsStore` implements it over any `Database` (the
built-in `SQLiteCorrectionsStore`: a SQLite file; or a Postgres server) and a folder of files.
`open_store(url)` picks one from a connection URL.
"""
from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
import uuid
from contextlib import closing
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import numpy as np
from PIL import Image

from ..people import audit
from ..people.access_control import User, current_account, require
from .case_claims import check_not_held_by_other
from ..errors import MaskError
from .review_workflow import STATUSES  # noqa: F401  (re-exported: the pages list the statuses)
from .store_interface import Correction, CorrectionsStore, StatusChange  # noqa: F401 (re-exported)
from .case_claims import drop_claims_in
from .working_copies import drop_working_copies_in
from .worklist_rows import case_changed_in, delete_case_row_in, touch_case_in
from .review_workflow import TRANSITIONS, WorkflowError, audit_action, check_new_version, check_transition
from ..storage.blob_folder import BlobFolder
from ..storage.store_address import database_of, files_of, store_address
from ..storage.database import (Connection, Database, PostgresDatabase, SQLiteDatabase,  # noqa: F401
                                StoreError, StoreFileError, is_postgres_url, storage_errors)
from ..storage.files import (PROJECT_STORE_DIR, default_store_dir, image_for_storage,  # noqa: F401 (re-exported)
                             png_of, store_folder, stored_image_hash, utc_now)

def _files_in_use(con: Connection) -> set[str]:
    """Every content hash a record names (corrections and worklist cases)."""
    return {h for (h,) in con.execute(
        "SELECT image_hash FROM corrections UNION SELECT original_mask_hash FROM corrections "
        "UNION SELECT corrected_mask_hash FROM corrections UNION SELECT image_hash FROM cases "
        "UNION SELECT mask_hash FROM cases WHERE mask_hash IS NOT NULL "
        "UNION SELECT thumb_hash FROM cases WHERE thumb_hash IS NOT NULL")}


_COLUMNS = ("id, image_hash, model_name, model_version, original_mask_hash, corrected_mask_hash, annotator, "
            "created_at, note, status, parent_id, case_label, height, width, pixel_spacing")


class DatabaseCorrectionsStore:
    """The store over any `Database` (SQLite file or Postgres server) and a folder of content-addressed
    files (`<root>/blobs`; a shared mount when several servers use one store)."""

    def __init__(self, database: Database, root: str | Path) -> None:
        self.root = Path(root)
        self.blob_folder = BlobFolder(self.root / "blobs")
        self.blobs = self.blob_folder.root
        self.database = database
        self.address = str(self.root)  # what `open_store` takes to open it again (open_store sets a URL's)
        database.ensure_schema()

    # -- plumbing -------------------------------------------------------------------------
    def _connect(self) -> Connection:
        return self.database.connect()

    def blob_path(self, content_hash: str) -> Path:
        return self.blob_folder.path(content_hash)

    def put_blob(self, data: bytes, created: list[str] | None = None) -> str:
        """Write once, atomically (`BlobFolder.put`); a hash whose file this call wrote is appended to
        `created` (so a failed save can remove what it wrote)."""
        return self.blob_folder.put(data, created)

    @staticmethod
    def _row(row: tuple) -> Correction:
        spacing = tuple(json.loads(row[14])) if row[14] else None
        return Correction(*row[:14], pixel_spacing_mm=spacing)  # type: ignore[arg-type]

    # -- writing --------------------------------------------------------------------------
    def save_correction(self, image: np.ndarray, original_mask: np.ndarray, corrected_mask: np.ndarray, *,
                        actor: User, model_name: str, model_version: str, note: str = "",
                        status: str = "draft", parent_id: str | None = None, case_label: str | None = None,
                        pixel_spacing_mm: tuple[float, float] | None = None) -> Correction:
        """Store a new version (never an update), authored by `actor`. The first version of an image
        has no parent; every later one continues the latest version (a draft or a rejected one), so
        two people can never start two unrelated histories of one X-ray. Blobs first, then one
        transaction for the record, its status log and its audit entry."""
        require(actor, "save_correction")
        if status == "submitted":
            require(actor, "submit")
        check_new_version(None, status)
        image = np.asarray(image)
        original, corrected = np.asarray(original_mask, bool), np.asarray(corrected_mask, bool)
        if image.ndim != 2:
            raise StoreError("the image must be a 2-D array")
        if original.shape != image.shape or corrected.shape != image.shape:
            raise MaskError(f"masks {original.shape}/{corrected.shape} do not match the image {image.shape}")
        created: list[str] = []
        try:
            return self._save(image, original, corrected, created, actor=actor, model_name=model_name,
                              model_version=model_version, note=note, status=status, parent_id=parent_id,
                              case_label=case_label, pixel_spacing_mm=pixel_spacing_mm)
        except BaseException:
            self.remove_unreferenced(created)  # a failed save leaves no orphan files
            raise

    #: Below this much free space the store counts as full (a save writes an image, masks and a WAL frame).
    MIN_FREE_BYTES = 8 * 1024 * 1024

    def write_problem(self) -> str | None:
        """None if the store can be written now; else why not, in words (a full or read-only disk).
        Probed with a real small write, so a read-only mount or a quota is found too."""
        try:
            if shutil.disk_usage(self.root).free < self.MIN_FREE_BYTES:
                return "the store's disk is full"
            fd, probe = tempfile.mkstemp(dir=self.root, prefix=".probe-")
            try:
                os.write(fd, b"x" * 4096)
                os.fsync(fd)
            finally:
                os.close(fd)
                os.unlink(probe)
        except OSError as exc:
            return f"the store cannot be written ({exc.strerror or exc})"
        return None

    def orphan_files(self, min_age_s: float = 3600.0) -> list[Path]:
        """Files under blobs/ that no record names, older than `min_age_s`: left by a process killed
        between writing a file and committing its record (a save in progress writes its files
        first, so young files are never counted), and interrupted temporary files."""
        con = self._connect()
        try:
            in_use = _files_in_use(con)
        finally:
            con.close()
        cutoff = datetime.now(timezone.utc).timestamp() - min_age_s
        found = []
        for path in self.blob_folder.files():
            if path.stat().st_mtime > cutoff:
                continue
            if path.name.startswith(".tmp-") or path.stem not in in_use:
                found.append(path)
        return found

    def sweep_orphans(self, actor: User, min_age_s: float = 3600.0) -> list[Path]:
        """Remove `orphan_files` (admins; audited with the count). Returns what was removed."""
        require(actor, "delete_case")
        removed = []
        with storage_errors():
            for path in self.orphan_files(min_age_s):
                con = self._connect()
                try:  # checked again just before removal: a save may have named it meanwhile
                    if path.stem in _files_in_use(con) and not path.name.startswith(".tmp-"):
                        continue
                finally:
                    con.close()
                path.unlink(missing_ok=True)
                removed.append(path)
            with self.database.transaction() as con:
                require(actor, "delete_case", con)
                audit.record(con, actor.username, "store_repaired", "orphan files", {"removed": len(removed)})
        return removed

    def remove_unreferenced(self, hashes: list[str]) -> None:
        if not hashes:
            return
        try:
            con = self._connect()
            try:
                in_use = _files_in_use(con)
                for h in hashes:
                    if h not in in_use:
                        self.blob_folder.remove(h)
            finally:
                con.close()
        except (StoreError, sqlite3.Error, OSError):
            pass  # the database is unreachable: an unreferenced file is harmless, a lost record is not

    def _save(self, image: np.ndarray, original: np.ndarray, corrected: np.ndarray, created: list[str], *,
              actor: User, model_name: str, model_version: str, note: str, status: str, parent_id: str | None,
              case_label: str | None, pixel_spacing_mm: tuple[float, float] | None) -> Correction:
        try:
            image_hash = self.put_blob(png_of(image_for_storage(image)), created)
            original_hash = self.put_blob(png_of(original.astype(np.uint8) * 255), created)
            corrected_hash = self.put_blob(png_of(corrected.astype(np.uint8) * 255), created)
        except OSError as exc:
            raise StoreError(f"the store could not write its files ({exc.strerror or exc})") from exc
        record = Correction(
            id=uuid.uuid4().hex, image_hash=image_hash, model_name=model_name, model_version=model_version,
            original_mask_hash=original_hash, corrected_mask_hash=corrected_hash, annotator=actor.username,
            created_at=utc_now(), note=note, status=status, parent_id=parent_id,
            case_label=case_label.strip() if case_label and case_label.strip() else None,
            height=int(image.shape[0]), width=int(image.shape[1]),
            pixel_spacing_mm=tuple(float(v) for v in pixel_spacing_mm) if pixel_spacing_mm else None)
        with storage_errors(), self.database.transaction() as con:
            require(actor, "submit" if status == "submitted" else "save_correction", con)
            check_not_held_by_other(con, actor, image_hash)
            latest = self._latest_row(con, image_hash)
            if parent_id is None and latest is not None:
                raise WorkflowError(f"this X-ray already has a correction (latest version {latest.id[:8]} by "
                                    f"{latest.annotator}, {latest.status}): open it and continue that version")
            if parent_id is not None:
                parent = con.execute(f"SELECT {_COLUMNS} FROM corrections WHERE id = ?", (parent_id,)).fetchone()
                if parent is None:
                    raise StoreError(f"parent version {parent_id} does not exist")
                if parent[1] != image_hash:
                    raise StoreError("a new version must be of the same image as its parent")
                if latest is not None and latest.id != parent_id:
                    raise WorkflowError(f"{latest.annotator} saved a newer version ({latest.id[:8]}) since this one "
                                        "was opened: reopen the case to see it before saving")
                check_new_version(parent[9], status)
            con.execute(f"INSERT INTO corrections ({_COLUMNS}) VALUES ({', '.join('?' * 15)})",
                        (*[getattr(record, f) for f in list(Correction.__dataclass_fields__)[:14]],
                         json.dumps(record.pixel_spacing_mm) if record.pixel_spacing_mm else None))
            con.execute("INSERT INTO status_changes (correction_id, status, reviewer, note, changed_at) "
                        "VALUES (?, ?, ?, ?, ?)", (record.id, status, record.annotator, "saved", record.created_at))
            touch_case_in(con, record, actor.username)
            # the saved version now holds this person's edit: their working copy is done with
            drop_working_copies_in(con, image_hash, actor.username)
            audit.record(con, actor.username, "correction_saved", record.id,
                         {"status": status, "parent": parent_id, "model": model_name})
            if status == "submitted":
                audit.record(con, actor.username, "submitted", record.id)
                # handed to the reviewers: the author's claim would hide it from every reviewer's Next
                drop_claims_in(con, image_hash, actor.username)
        return record

    def review(self, correction_id: str, action: str, actor: User, note: str = "") -> Correction:
        """submit / approve / reject / reopen one version, as the state machine and roles allow.
        The masks never change; the status, an append-only log entry and an audit entry do."""
        if action not in TRANSITIONS:
            raise WorkflowError(f"unknown review action {action!r}; valid: {', '.join(TRANSITIONS)}")
        with storage_errors(), self.database.transaction() as con:
            actor = current_account(con, actor)
            row = con.execute("SELECT status, annotator, image_hash FROM corrections WHERE id = ?",
                              (correction_id,)).fetchone()
            if row is None:
                raise StoreError(f"no correction {correction_id}")
            superseded = con.execute("SELECT 1 FROM corrections WHERE parent_id = ?", (correction_id,)).fetchone()
            if superseded:
                raise WorkflowError("a newer version of this case exists: review that one")
            new_status = check_transition(action, row[0], actor, row[1])
            con.execute("UPDATE corrections SET status = ? WHERE id = ?", (new_status, correction_id))
            con.execute("INSERT INTO status_changes (correction_id, status, reviewer, note, changed_at) "
                        "VALUES (?, ?, ?, ?, ?)", (correction_id, new_status, actor.username, note, utc_now()))
            case_changed_in(con, row[2], utc_now())
            audit.record(con, actor.username, audit_action(action), correction_id,
                         {"from": row[0], "to": new_status}, note)
            if action == "submit":  # handed to the reviewers (see save_correction)
                drop_claims_in(con, row[2], actor.username)
        return self.get(correction_id)

    def delete_case(self, image_hash: str, actor: User, reason: str) -> int:
        """Remove every version of one X-ray and each image/mask file no other record uses (a
        patient's request, a wrong upload). The audit log keeps the fact and the reason, not the
        pixels. Returns the number of files removed."""
        require(actor, "delete_case")
        if not reason.strip():
            raise StoreError("give a reason for deleting a case (it is kept in the audit log)")
        with self.database.transaction() as con:
            require(actor, "delete_case", con)
            rows = con.execute("SELECT id, image_hash, original_mask_hash, corrected_mask_hash FROM corrections "
                               "WHERE image_hash = ?", (image_hash,)).fetchall()
            case_files = con.execute("SELECT image_hash, mask_hash, thumb_hash FROM cases WHERE image_hash = ?",
                                     (image_hash,)).fetchall()
            if not rows and not case_files:
                raise StoreError("no case with that image")
            ids = [r[0] for r in rows]
            marks = ", ".join("?" * len(ids))
            if ids:  # (`IN ()` is SQLite's alone)
                con.execute(f"DELETE FROM status_changes WHERE correction_id IN ({marks})", ids)
            con.execute("UPDATE corrections SET parent_id = NULL WHERE image_hash = ?", (image_hash,))
            con.execute("DELETE FROM corrections WHERE image_hash = ?", (image_hash,))
            drop_claims_in(con, image_hash)
            drop_working_copies_in(con, image_hash)
            delete_case_row_in(con, image_hash)  # its PACS source row goes with it (ON DELETE CASCADE)
            candidates = {h for r in rows + case_files for h in r[1:] if h} | {image_hash}
            doomed = sorted(candidates - _files_in_use(con))
            audit.record(con, actor.username, "case_deleted", image_hash[:12],
                         {"versions": len(ids), "files": len(doomed)}, reason.strip())
        # after the commit: a crash here leaves an unreferenced file, never a record without one
        for content_hash in doomed:
            self.blob_folder.remove(content_hash)
        return len(doomed)

    # -- reading --------------------------------------------------------------------------
    def _latest_row(self, con: Connection, image_hash: str) -> Correction | None:
        row = con.execute(f"SELECT {_COLUMNS} FROM corrections WHERE image_hash = ? AND id NOT IN "
                          "(SELECT parent_id FROM corrections WHERE parent_id IS NOT NULL) "
                          "ORDER BY created_at DESC LIMIT 1", (image_hash,)).fetchone()
        return self._row(row) if row else None

    def latest_version(self, image_hash: str) -> Correction | None:
        """The version a new edit of this X-ray continues (None if it has none)."""
        con = self._connect()
        try:
            return self._latest_row(con, image_hash)
        finally:
            con.close()

    def get(self, correction_id: str) -> Correction:
        with closing(self._connect()) as con:
            row = con.execute(f"SELECT {_COLUMNS} FROM corrections WHERE id = ?", (correction_id,)).fetchone()
        if row is None:
            raise StoreError(f"no correction {correction_id}")
        return self._row(row)

    def list_corrections(self, status: str | None = None, annotator: str | None = None,
                         model_name: str | None = None, latest_only: bool = False) -> list[Correction]:
        """Newest first. `latest_only` keeps versions that no other version names as parent."""
        where, args = [], []
        for column, value in (("status", status), ("annotator", annotator), ("model_name", model_name)):
            if value:
                where.append(f"{column} = ?")
                args.append(value)
        if latest_only:
            where.append("id NOT IN (SELECT parent_id FROM corrections WHERE parent_id IS NOT NULL)")
        sql = f"SELECT {_COLUMNS} FROM corrections" + (f" WHERE {' AND '.join(where)}" if where else "")
        with closing(self._connect()) as con:
            rows = con.execute(sql + " ORDER BY created_at DESC, id", args).fetchall()
        return [self._row(r) for r in rows]

    def history(self, correction_id: str) -> list[Correction]:
        """The version chain from the first version to this one."""
        chain: list[Correction] = []
        current: str | None = correction_id
        while current is not None:
            record = self.get(current)
            chain.append(record)
            current = record.parent_id
        return chain[::-1]

    def status_changes(self, correction_id: str) -> list[StatusChange]:
        with closing(self._connect()) as con:
            rows = con.execute("SELECT correction_id, status, reviewer, note, changed_at FROM status_changes "
                               "WHERE correction_id = ? ORDER BY seq", (correction_id,)).fetchall()
        return [StatusChange(*r) for r in rows]

    def _load_png(self, content_hash: str) -> np.ndarray:
        path = self.blob_path(content_hash)
        if not path.is_file():
            raise StoreFileError(f"the file {content_hash[:12]} is missing from the store")
        try:
            with Image.open(path, formats=("PNG",)) as img:
                return np.asarray(img).copy()
        except (OSError, SyntaxError, ValueError) as exc:
            raise StoreFileError(f"the file {content_hash[:12]} in the store is damaged ({exc})") from exc

    def file_problem(self, record: Correction) -> str | None:
        """None if the record's image and masks load, else what is wrong (the record is flagged,
        the rest of the store keeps working)."""
        for content_hash in (record.image_hash, record.original_mask_hash, record.corrected_mask_hash):
            try:
                self._load_png(content_hash)
            except StoreFileError as exc:
                return str(exc)
        return None

    def load_image(self, content_hash: str) -> np.ndarray:
        return self._load_png(content_hash)

    def get_blob(self, content_hash: str) -> bytes:
        """The stored bytes of a file (a thumbnail, say) as they were put."""
        return self.blob_folder.get(content_hash)

    def load_mask(self, content_hash: str) -> np.ndarray:
        return self._load_png(content_hash) > 127

    def iter_files(self) -> Iterator[Path]:
        """Every file of the store (for audits such as the no-PHI test)."""
        yield from (p for p in self.root.rglob("*") if p.is_file())


class SQLiteCorrectionsStore(DatabaseCorrectionsStore):
    """Built-in store: `<root>/store.sqlite` plus `<root>/blobs/<ab>/<sha256>.png`."""

    def __init__(self, root: str | Path) -> None:
        self.db_path = Path(root) / "store.sqlite"
        Path(root).mkdir(parents=True, exist_ok=True)
        super().__init__(SQLiteDatabase(self.db_path), root)


def open_store(url: str | Path | None = None) -> CorrectionsStore:
    """`sqlite:///path/to/dir`, a plain folder path, None for the default (see default_store_dir), or
    `postgresql://user:password@host:port/name[?files=/shared/folder]`: records in Postgres, files in
    that folder ($LUNGSEG_STORE or the project's store/ folder when not given; a shared mount when
    several servers use the store)."""
    text = store_address(url)
    if is_postgres_url(text):
        store = DatabaseCorrectionsStore(database_of(text), files_of(text))
    elif "://" in text and not text.startswith("sqlite:///"):
        raise StoreError(f"unsupported store URL {text!r}: use sqlite:///<folder> or postgresql://…")
    else:
        store = SQLiteCorrectionsStore(store_folder(text))
    store.address = text
    return store
