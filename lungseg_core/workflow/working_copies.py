"""Working copies: each person's unsaved edit of a case, kept in the store on every change.

The editor writes the mask on screen here after each edit, so a reload, a lost connection or a
switch to another case loses nothing; opening the case again offers it back ("restored unsaved
edits") with a way to discard it. Saving a version removes it (in the save's transaction), as does
deleting the case. Autosaves are not audited one by one (each would be a stroke); discarding is.
"""
from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..storage.database import StoreError
from ..people import audit
from ..people.access_control import User, require
from ..storage.database import Connection, storage_errors
from ..storage.files import png_of, utc_now


def mask_digest(mask: np.ndarray) -> str:
    """A short fingerprint of a mask: which start a working copy was made from."""
    m = np.asarray(mask, bool)
    return hashlib.sha256(np.packbits(m).tobytes() + str(m.shape).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class WorkingCopy:
    username: str
    image_hash: str
    mask: np.ndarray
    start_hash: str  # mask_digest of the mask the edit started from (model mask or a saved version)
    steps: int  # edit steps it holds
    updated_at: str
    history: tuple[np.ndarray, ...] = ()  # the masks of its last undo steps, oldest first (the last is `mask`)


#: A working copy keeps at most this many undo steps (each a bit-packed mask, compressed).
MAX_KEPT_STEPS = 30


def pack_history(masks: list[np.ndarray]) -> bytes | None:
    """The last MAX_KEPT_STEPS masks, bit-packed and compressed (a 512x512 step is a few kB)."""
    masks = [np.asarray(m, bool) for m in masks[-MAX_KEPT_STEPS:]]
    if not masks:
        return None
    buf = io.BytesIO()
    np.savez_compressed(buf, shape=np.array(masks[0].shape), bits=np.stack([np.packbits(m.ravel()) for m in masks]))
    return buf.getvalue()


def unpack_history(blob: bytes | None, shape: tuple[int, int]) -> tuple[np.ndarray, ...]:
    """The steps of `pack_history`, or () when there are none or they do not fit the mask (never an error)."""
    if not blob:
        return ()
    try:
        with np.load(io.BytesIO(blob), allow_pickle=False) as data:
            if tuple(int(v) for v in data["shape"]) != tuple(shape):
                return ()
            n = shape[0] * shape[1]
            return tuple(np.unpackbits(row)[:n].reshape(shape).astype(bool) for row in data["bits"])
    except (OSError, ValueError, KeyError):
        return ()


def drop_working_copies_in(con: Connection, image_hash: str, username: str | None = None) -> None:
    """Inside the caller's transaction: the working copies of an X-ray (one person's, or everyone's)."""
    if username is None:
        con.execute("DELETE FROM working_copies WHERE image_hash = ?", (image_hash,))
    else:
        con.execute("DELETE FROM working_copies WHERE username = ? AND image_hash = ?", (username, image_hash))


class WorkingCopies:
    """Per (person, X-ray) unsaved masks in the store's database."""

    def __init__(self, store) -> None:  # type: ignore[no-untyped-def]
        self.database = store.database

    def keep(self, actor: User, image_hash: str, mask: np.ndarray, start_hash: str, steps: int,
             history: list[np.ndarray] | None = None) -> None:
        """Write (or replace) this person's working copy of the X-ray, with the masks of its undo steps
        (`history`, oldest first, ending with `mask`); atomic."""
        require(actor, "save_correction")
        png = png_of(np.asarray(mask, bool).astype(np.uint8) * 255)
        packed = pack_history(history or [])
        with storage_errors(), self.database.transaction() as con:
            require(actor, "save_correction", con)
            con.execute("INSERT INTO working_copies (username, image_hash, mask_png, start_hash, steps, updated_at, "
                        "history) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(username, image_hash) DO UPDATE SET "
                        "mask_png = excluded.mask_png, start_hash = excluded.start_hash, steps = excluded.steps, "
                        "updated_at = excluded.updated_at, history = excluded.history",
                        (actor.username, image_hash, png, start_hash, int(steps), utc_now(), packed))

    def get(self, actor: User, image_hash: str) -> WorkingCopy | None:
        """This person's working copy of the X-ray, or None (also when it cannot be decoded: a damaged
        row is reported as missing rather than breaking the editor)."""
        with storage_errors():
            con = self.database.connect()
            try:
                row = con.execute("SELECT mask_png, start_hash, steps, updated_at, history FROM working_copies "
                                  "WHERE username = ? AND image_hash = ?", (actor.username, image_hash)).fetchone()
            finally:
                con.close()
        if row is None:
            return None
        try:
            mask = np.asarray(Image.open(io.BytesIO(row[0]))) > 127
        except (UnidentifiedImageError, OSError, ValueError):
            return None
        if mask.ndim != 2:
            return None
        steps = unpack_history(row[4], mask.shape)
        if steps and not np.array_equal(steps[-1], mask):
            steps = ()  # steps that do not end at the kept mask are not this copy's
        return WorkingCopy(actor.username, image_hash, mask, row[1], int(row[2]), row[3], steps)

    def discard(self, actor: User, image_hash: str, audited: bool = True) -> bool:
        """Remove this person's working copy; True if there was one."""
        with storage_errors(), self.database.transaction() as con:
            require(actor, "save_correction", con)
            gone = con.execute("DELETE FROM working_copies WHERE username = ? AND image_hash = ?",
                               (actor.username, image_hash)).rowcount > 0
            if gone and audited:
                audit.record(con, actor.username, "working_copy_discarded", image_hash[:12])
        return gone

    def count(self) -> int:
        con = self.database.connect()
        try:
            return int(con.execute("SELECT COUNT(*) FROM working_copies").fetchone()[0])
        finally:
            con.close()


__all__ = ["StoreError", "WorkingCopies", "WorkingCopy", "mask_digest"]
