"""Per-case edit session of the Correct page, kept in session state (not in widget state)."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import streamlit as st

from lungseg_core.imaging.mask_editing import EditHistory, Viewport, apply_strokes

EDIT_KEY = "edit_session"


@dataclass
class EditSession:
    case_hash: str
    model: str
    history: EditHistory
    canvas_round: int = 0  # bumped to give the canvas a fresh key (clears its strokes)
    pending_rgba: np.ndarray | None = None
    pending_viewport: Viewport | None = None
    last_saved_id: str | None = None
    saved_ids: list[str] = field(default_factory=list)
    saved_position: int = 0  # history position at the last save (or at opening)

    @property
    def unsaved(self) -> bool:
        """Edits on screen that no save holds (leaving the case would drop them)."""
        return self.pending_rgba is not None or self.history.position != self.saved_position

    def mark_saved(self, record_id: str) -> None:
        self.last_saved_id = record_id
        self.saved_ids.append(record_id)
        self.saved_position = self.history.position

    @property
    def canvas_key(self) -> str:
        return f"canvas-{self.case_hash[:12]}-{self.model}-{self.canvas_round}"

    def working_mask(self) -> np.ndarray:
        """Committed mask plus the strokes still on the canvas."""
        if self.pending_rgba is None or self.pending_viewport is None:
            return self.history.current
        return apply_strokes(self.history.current, self.pending_rgba, self.pending_viewport)

    def commit_pending(self) -> None:
        """Move the canvas strokes into the history and clear the canvas."""
        if self.pending_rgba is not None and self.pending_viewport is not None:
            self.history.commit(self.working_mask())
        self.clear_canvas()

    def clear_canvas(self) -> None:
        self.pending_rgba, self.pending_viewport = None, None
        self.canvas_round += 1


def edit_session(case_hash: str, model: str, model_mask: np.ndarray,
                 continue_from: tuple[str, np.ndarray] | None = None) -> EditSession:
    """The edit session of this (case, model), started from the model's mask when new; when the
    X-ray already has a saved version, (its id, its mask) are the starting point and the parent of
    the next save (undo still goes back to the model's mask)."""
    session: EditSession | None = st.session_state.get(EDIT_KEY)
    if session is None or session.case_hash != case_hash or session.model != model:
        session = EditSession(case_hash, model, EditHistory(model_mask))
        if continue_from is not None:
            session.last_saved_id = continue_from[0]
            session.history.commit(continue_from[1])
            session.saved_position = session.history.position
        st.session_state[EDIT_KEY] = session
    return session
