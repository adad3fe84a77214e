"""The cases table's rows as other changes touch them, inside the caller's transaction: a saved
correction makes its X-ray a case (or updates it), deleting a case removes its row. Below both the
store (which calls these in a save's or a deletion's transaction) and the worklist (which owns the
table)."""
from __future__ import annotations

import json

from ..storage.database import Connection
from .store_interface import Correction


def touch_case_in(con: Connection, record: Correction, username: str) -> None:
    """Every corrected X-ray is a worklist case: a correction of an X-ray that is not one yet (opened
    on Segment) makes it one, with the model's mask; a typed label becomes the case's label."""
    spacing = json.dumps(record.pixel_spacing_mm) if record.pixel_spacing_mm else None
    con.execute("INSERT INTO cases (image_hash, label, height, width, pixel_spacing, added_at, added_by, "
                "mask_hash, model_name, model_version, segmented_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (record.image_hash, record.case_label, record.height, record.width, spacing, record.created_at,
                 username, record.original_mask_hash, record.model_name, record.model_version,
                 record.created_at, record.created_at))
    con.execute("UPDATE cases SET updated_at = ?, label = COALESCE(?, label), "
                "mask_hash = COALESCE(mask_hash, ?), model_name = COALESCE(model_name, ?), "
                "model_version = COALESCE(model_version, ?), segmented_at = COALESCE(segmented_at, ?) "
                "WHERE image_hash = ?", (record.created_at, record.case_label, record.original_mask_hash,
                                         record.model_name, record.model_version, record.created_at,
                                         record.image_hash))


def delete_case_row_in(con: Connection, image_hash: str) -> None:
    con.execute("DELETE FROM cases WHERE image_hash = ?", (image_hash,))


def case_changed_in(con: Connection, image_hash: str, at: str) -> None:
    """A review changed the case's status: it moves up in "last changed"."""
    con.execute("UPDATE cases SET updated_at = ? WHERE image_hash = ?", (at, image_hash))
