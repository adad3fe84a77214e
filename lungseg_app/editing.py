"""Per-case edit session of the Correct page: one undo history, fed by the canvas's objects.

Every object the canvas reports (a brush stroke, a polygon, a click for click-to-fix) becomes one
step of the page's history at once, and the canvas is emptied (its drawing is replaced, not
remounted), so the screen shows exactly the mask that will be saved: the background picture is
the history's current mask. The canvas's own toolbar (undo, redo, clear) only ever sees an empty
drawing. The mask on screen is also kept in the store as this person's working copy after every
change, so a reload or a case switch loses nothing.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import streamlit as st

from lungseg_core.imaging.canvas_objects import CanvasGeometry, apply_edit, canvas_edits
from lungseg_core.imaging.mask_editing import EditHistory
from lungseg_core.models.click_fix import Click, ClickFixer
from lungseg_core.people.access_control import User
from lungseg_core.workflow.working_copies import WorkingCopies, WorkingCopy, mask_digest

EDIT_KEY = "edit_session"


@dataclass
class EditSession:
    case_hash: str
    model: str
    history: EditHistory
    start_hash: str = ""  # fingerprint of the mask this edit started from
    nonce: int = 0  # bumped to empty the canvas's drawing (no remount)
    applied: set[str] = field(default_factory=set)  # fingerprints of this case's canvas objects in the history
    ignored: set[str] = field(default_factory=set)  # what the shared canvas still showed of the case before
    clicks: list[Click] = field(default_factory=list)  # clicks of the current click-to-fix run
    last_saved_id: str | None = None
    saved_ids: list[str] = field(default_factory=list)
    saved_position: int = 0  # history position at the last save (or at opening)
    restored: WorkingCopy | None = None  # a working copy offered back on opening
    stale_copy: WorkingCopy | None = None  # one made on another start (someone saved since)

    @property
    def unsaved(self) -> bool:
        """Edits on screen that no save holds."""
        return self.history.position != self.saved_position

    @property
    def initial_drawing(self) -> dict[str, Any]:
        return {"objects": [], "nonce": self.nonce}

    #: One canvas for every case: opening the next case swaps its picture instead of mounting a new
    #: canvas (which took most of "Save and next"'s wait). Its drawing is always empty between edits.
    canvas_key = "canvas-editor"

    def mark_saved(self, record_id: str) -> None:
        self.last_saved_id = record_id
        self.saved_ids.append(record_id)
        self.saved_position = self.history.position
        self.restored = None

    def take_objects(self, objects: list[dict[str, Any]] | None, geometry: CanvasGeometry, image: np.ndarray,
                     fixer: ClickFixer | None, sent_now: bool = False) -> int:
        """Move the canvas's new objects into the history (one step each); returns how many.
        `sent_now`: the canvas has just sent them (its change callback), so none is left over from
        the case before, even if it looks the same."""
        fresh = []
        for obj in objects or []:
            fp = json.dumps(obj, sort_keys=True)
            if fp not in self.applied and (sent_now or fp not in self.ignored):
                self.applied.add(fp)
                fresh.append(obj)
        if not fresh:
            return 0
        for edit in canvas_edits(fresh, geometry, self.history.current.shape):
            if edit.kind == "click":
                if fixer is None:
                    continue
                self.clicks.append(Click(edit.point[0], edit.point[1], edit.adds))
                self.history.commit(fixer.fix(image, self.history.current, self.clicks))
            else:
                self.clicks = []  # a brush or polygon ends a click-to-fix run
                self.history.commit(apply_edit(self.history.current, edit))
        self.nonce += 1  # empty the canvas: what it showed is now in the mask
        return len(fresh)

    def undo(self) -> None:
        self.clicks = []
        self.history.undo()

    def redo(self) -> None:
        self.clicks = []
        self.history.redo()

    def reset(self) -> None:
        self.clicks = []
        self.history.reset()

    def restore(self, copy: WorkingCopy) -> None:
        """The working copy back on screen, step by step when its steps were kept (undo goes through them)."""
        for mask in copy.history or (copy.mask,):
            self.history.commit(mask)
        self.history.commit(copy.mask)
        self.restored = copy
        self.stale_copy = None

    def persist(self, copies: WorkingCopies, user: User) -> None:
        """Keep the mask on screen as this person's working copy (removed when nothing is unsaved)."""
        if self.unsaved:
            steps = self.history.versions[self.saved_position + 1: self.history.position + 1]
            copies.keep(user, self.case_hash, self.history.current, self.start_hash, self.history.position, steps)
        else:
            copies.discard(user, self.case_hash, audited=False)


def canvas_objects(key: str) -> list[dict[str, Any]]:
    """The objects the canvas last reported (its value in session state)."""
    raw = st.session_state.get(key)
    if not isinstance(raw, dict):
        return []
    return list((((raw.get("drawing") or {}).get("raw") or {}).get("objects")) or [])


def edit_session(case_hash: str, model: str, model_mask: np.ndarray,
                 continue_from: tuple[str, np.ndarray] | None = None,
                 copies: WorkingCopies | None = None, user: User | None = None) -> EditSession:
    """The edit session of this (case, model), started from the model's mask when new; when the
    X-ray already has a saved version, (its id, its mask) are the starting point and the parent of
    the next save (undo still goes back to the model's mask). A working copy this person left on
    the same start is restored; one left on another start is offered."""
    session: EditSession | None = st.session_state.get(EDIT_KEY)
    if session is None or session.case_hash != case_hash or session.model != model:
        session = EditSession(case_hash, model, EditHistory(model_mask))
        start = model_mask
        if continue_from is not None:
            session.last_saved_id = continue_from[0]
            session.history.commit(continue_from[1])
            session.saved_position = session.history.position
            start = continue_from[1]
        session.start_hash = mask_digest(start)
        if copies is not None and user is not None:
            copy = copies.get(user, case_hash)
            if copy is not None and copy.mask.shape == np.asarray(start).shape \
                    and not np.array_equal(copy.mask, np.asarray(start, bool)):
                if copy.start_hash == session.start_hash:
                    session.restore(copy)
                else:
                    session.stale_copy = copy
        # the canvas keeps reporting its last drawing until it sends a new one: whatever it still
        # reports belongs to the case before (or to an edit just discarded) and is never applied here
        session.ignored = {json.dumps(obj, sort_keys=True) for obj in canvas_objects(session.canvas_key)}
        st.session_state[EDIT_KEY] = session
    return session
