"""The corrections store: every version of every corrected mask, who made it and when.

As MONAI Label keeps labels/original and labels/final apart, each record keeps the model's own
mask and the human's corrected mask side by side; saving never overwrites: a new version links
to its parent. Images and masks are PNG files named by content hash (written to a temporary
file, fsynced, renamed); the records live in SQLite (WAL mode, one transaction per save), so
two sessions saving at once lose nothing and a process killed mid-save leaves no half record.

Nothing that identifies a patient is stored: pixels, size and pixel spacing only, and a case
label only when the user types one.

`CorrectionsStore` is the interface; `SQLiteCorrectionsStore` the built-in implementation.
`open_store(url)` picks one from a connection URL so that a server database can be added later.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import sqlite3
import tempfile
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator, Protocol

import numpy as np
from PIL import Image

from .errors import LungSegError, MaskError

STATUSES = ("draft", "submitted", "approved", "rejected")
PROJECT_STORE_DIR = Path(__file__).resolve().parent.parent / "store"


def default_store_dir() -> Path:
    """$LUNGSEG_STORE or the project's store/ folder (kept out of git)."""
    return Path(os.environ.get("LUNGSEG_STORE", PROJECT_STORE_DIR))


class StoreError(LungSegError):
    """A store operation that cannot be done as asked (unknown id, bad status, …)."""


@dataclass(frozen=True)
class Correction:
    """One saved version. Masks and image are referenced by content hash."""

    id: str
    image_hash: str
    model_name: str
    model_version: str
    original_mask_hash: str
    corrected_mask_hash: str
    annotator: str
    created_at: str
    note: str
    status: str
    parent_id: str | None
    case_label: str | None
    height: int
    width: int
    pixel_spacing_mm: tuple[float, float] | None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class StatusChange:
    correction_id: str
    status: str
    reviewer: str
    note: str
    changed_at: str


class CorrectionsStore(Protocol):
    def save_correction(self, image: np.ndarray, original_mask: np.ndarray, corrected_mask: np.ndarray, *,
                        model_name: str, model_version: str, annotator: str, note: str = "",
                        status: str = "draft", parent_id: str | None = None, case_label: str | None = None,
                        pixel_spacing_mm: tuple[float, float] | None = None) -> Correction: ...
    def get(self, correction_id: str) -> Correction: ...
    def list_corrections(self, status: str | None = None, annotator: str | None = None,
                         model_name: str | None = None, latest_only: bool = False) -> list[Correction]: ...
    def history(self, correction_id: str) -> list[Correction]: ...
    def set_status(self, correction_id: str, status: str, reviewer: str, note: str = "") -> Correction: ...
    def status_changes(self, correction_id: str) -> list[StatusChange]: ...
    def load_image(self, content_hash: str) -> np.ndarray: ...
    def load_mask(self, content_hash: str) -> np.ndarray: ...


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds")


def _png(array: np.ndarray) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", compress_level=6)
    return buf.getvalue()


def _image_for_storage(image: np.ndarray) -> np.ndarray:
    """Keep 8- and 16-bit pixels as they are; other types (DICOM floats) are scaled to 16 bits."""
    arr = np.asarray(image)
    if arr.dtype in (np.uint8, np.uint16):
        return arr
    lo, hi = float(arr.min()), float(arr.max())
    return np.round((arr - lo) / max(hi - lo, 1e-12) * 65535).astype(np.uint16)


_SCHEMA = """
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

_COLUMNS = ("id, image_hash, model_name, model_version, original_mask_hash, corrected_mask_hash, annotator, "
            "created_at, note, status, parent_id, case_label, height, width, pixel_spacing")


class SQLiteCorrectionsStore:
    """Built-in store: `<root>/store.sqlite` plus `<root>/blobs/<ab>/<sha256>.png`."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self.blobs = self.root / "blobs"
        self.blobs.mkdir(parents=True, exist_ok=True)
        self.db_path = self.root / "store.sqlite"
        with self._connect() as con:
            con.executescript(_SCHEMA)

    # -- plumbing -------------------------------------------------------------------------
    def _connect(self) -> sqlite3.Connection:
        con = sqlite3.connect(self.db_path, timeout=60, isolation_level=None)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=FULL")
        con.execute("PRAGMA foreign_keys=ON")
        con.execute("PRAGMA busy_timeout=60000")
        return con

    def _blob_path(self, content_hash: str) -> Path:
        if not (len(content_hash) == 64 and all(c in "0123456789abcdef" for c in content_hash)):
            raise StoreError(f"not a content hash: {content_hash!r}")
        return self.blobs / content_hash[:2] / f"{content_hash}.png"

    def _put_blob(self, data: bytes) -> str:
        """Write once, atomically: temp file in the same folder, fsync, rename."""
        content_hash = hashlib.sha256(data).hexdigest()
        path = self._blob_path(content_hash)
        if path.exists():
            return content_hash
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".png")
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
                fh.flush()
                os.fsync(fh.fileno())
            os.replace(tmp, path)
            dir_fd = os.open(path.parent, os.O_RDONLY)
            try:
                os.fsync(dir_fd)
            finally:
                os.close(dir_fd)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
        return content_hash

    @staticmethod
    def _row(row: tuple) -> Correction:
        spacing = tuple(json.loads(row[14])) if row[14] else None
        return Correction(*row[:14], pixel_spacing_mm=spacing)  # type: ignore[arg-type]

    # -- writing --------------------------------------------------------------------------
    def save_correction(self, image: np.ndarray, original_mask: np.ndarray, corrected_mask: np.ndarray, *,
                        model_name: str, model_version: str, annotator: str, note: str = "",
                        status: str = "draft", parent_id: str | None = None, case_label: str | None = None,
                        pixel_spacing_mm: tuple[float, float] | None = None) -> Correction:
        """Store a new version (never an update). Blobs first, then one transaction for the record."""
        image = np.asarray(image)
        original, corrected = np.asarray(original_mask, bool), np.asarray(corrected_mask, bool)
        if image.ndim != 2:
            raise StoreError("the image must be a 2-D array")
        if original.shape != image.shape or corrected.shape != image.shape:
            raise MaskError(f"masks {original.shape}/{corrected.shape} do not match the image {image.shape}")
        if status not in STATUSES:
            raise StoreError(f"unknown status {status!r}; valid: {', '.join(STATUSES)}")
        if not annotator.strip():
            raise StoreError("an annotator name is needed to save a correction")
        image_hash = self._put_blob(_png(_image_for_storage(image)))
        original_hash = self._put_blob(_png(original.astype(np.uint8) * 255))
        corrected_hash = self._put_blob(_png(corrected.astype(np.uint8) * 255))
        record = Correction(
            id=uuid.uuid4().hex, image_hash=image_hash, model_name=model_name, model_version=model_version,
            original_mask_hash=original_hash, corrected_mask_hash=corrected_hash, annotator=annotator.strip(),
            created_at=_now(), note=note, status=status, parent_id=parent_id,
            case_label=case_label.strip() if case_label and case_label.strip() else None,
            height=int(image.shape[0]), width=int(image.shape[1]),
            pixel_spacing_mm=tuple(float(v) for v in pixel_spacing_mm) if pixel_spacing_mm else None)
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                if parent_id is not None:
                    parent = con.execute("SELECT image_hash FROM corrections WHERE id = ?", (parent_id,)).fetchone()
                    if parent is None:
                        raise StoreError(f"parent version {parent_id} does not exist")
                    if parent[0] != image_hash:
                        raise StoreError("a new version must be of the same image as its parent")
                con.execute(f"INSERT INTO corrections ({_COLUMNS}) VALUES ({', '.join('?' * 15)})",
                            (*[getattr(record, f) for f in list(Correction.__dataclass_fields__)[:14]],
                             json.dumps(record.pixel_spacing_mm) if record.pixel_spacing_mm else None))
                con.execute("INSERT INTO status_changes (correction_id, status, reviewer, note, changed_at) "
                            "VALUES (?, ?, ?, ?, ?)", (record.id, status, record.annotator, "saved", record.created_at))
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return record

    def set_status(self, correction_id: str, status: str, reviewer: str, note: str = "") -> Correction:
        """Review decision: the masks never change; the status and an append-only log entry do."""
        if status not in STATUSES:
            raise StoreError(f"unknown status {status!r}; valid: {', '.join(STATUSES)}")
        if not reviewer.strip():
            raise StoreError("a reviewer name is needed to change a status")
        with self._connect() as con:
            con.execute("BEGIN IMMEDIATE")
            try:
                if con.execute("SELECT 1 FROM corrections WHERE id = ?", (correction_id,)).fetchone() is None:
                    raise StoreError(f"no correction {correction_id}")
                con.execute("UPDATE corrections SET status = ? WHERE id = ?", (status, correction_id))
                con.execute("INSERT INTO status_changes (correction_id, status, reviewer, note, changed_at) "
                            "VALUES (?, ?, ?, ?, ?)", (correction_id, status, reviewer.strip(), note, _now()))
                con.execute("COMMIT")
            except BaseException:
                con.execute("ROLLBACK")
                raise
        return self.get(correction_id)

    # -- reading --------------------------------------------------------------------------
    def get(self, correction_id: str) -> Correction:
        with self._connect() as con:
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
        with self._connect() as con:
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
        with self._connect() as con:
            rows = con.execute("SELECT correction_id, status, reviewer, note, changed_at FROM status_changes "
                               "WHERE correction_id = ? ORDER BY seq", (correction_id,)).fetchall()
        return [StatusChange(*r) for r in rows]

    def _load_png(self, content_hash: str) -> np.ndarray:
        path = self._blob_path(content_hash)
        if not path.is_file():
            raise StoreError(f"missing file for {content_hash}")
        with Image.open(path) as img:
            return np.asarray(img).copy()

    def load_image(self, content_hash: str) -> np.ndarray:
        return self._load_png(content_hash)

    def load_mask(self, content_hash: str) -> np.ndarray:
        return self._load_png(content_hash) > 127

    def iter_files(self) -> Iterator[Path]:
        """Every file of the store (for audits such as the no-PHI test)."""
        yield from (p for p in self.root.rglob("*") if p.is_file())


def open_store(url: str | Path | None = None) -> CorrectionsStore:
    """`sqlite:///path/to/dir`, a plain folder path, or None for the default (see default_store_dir)."""
    if url is None:
        return SQLiteCorrectionsStore(default_store_dir())
    text = str(url)
    if text.startswith("sqlite:///"):
        return SQLiteCorrectionsStore(text[len("sqlite:///"):])  # sqlite:////abs -> /abs
    if "://" in text:
        raise StoreError(f"unsupported store URL {text!r}: only sqlite:///<folder> is built in")
    return SQLiteCorrectionsStore(text)
