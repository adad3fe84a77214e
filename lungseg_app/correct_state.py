"""The Correct page's own state between runs, with named fields instead of loose session keys.

It lives in `st.session_state` (what Streamlit keeps per browser tab), under the keys below, so a
callback that runs before the page (the canvas answering, a save button) and the page itself read
the same thing; tests can still look at a key."""
from __future__ import annotations

from typing import Any, MutableMapping

import streamlit as st

from lungseg_app.editing import EDIT_KEY, EditSession
from lungseg_app.editor_view import VIEW_KEY
from lungseg_core.imaging.canvas_objects import CanvasGeometry
from lungseg_core.imaging.mask_editing import Viewport


class CorrectState:
    """What the Correct page remembers for the X-ray on screen."""

    GEOMETRY, GEOMETRY_CASE = "_canvas_geometry", "_geometry_case"
    TAKEN = "_canvas_took"  # edits the canvas callback took before the run
    VIEW_CASE = "_view_case"
    SAVE_REQUEST, SAVE_ROUND, SAVED_MESSAGE = "_save_request", "_save_round", "_saved_message"
    LAST_SAVE = "_last_save"
    OVERVIEW_SEEN = "_overview_seen"
    STYLE_BEFORE_HIDDEN = "_mask_style_before"

    def __init__(self, state: MutableMapping[str, Any] | None = None) -> None:
        self._s = st.session_state if state is None else state

    # the edit of the case on screen
    @property
    def edit(self) -> EditSession | None:
        return self._s.get(EDIT_KEY)

    def forget_edit(self) -> None:
        self._s.pop(EDIT_KEY, None)

    # the canvas the last run drew (edits sent from it are placed with its geometry)
    def geometry_for(self, case_hash: str) -> CanvasGeometry | None:
        return self._s.get(self.GEOMETRY) if self._s.get(self.GEOMETRY_CASE) == case_hash else None

    def drew(self, geometry: CanvasGeometry, case_hash: str) -> None:
        self._s[self.GEOMETRY], self._s[self.GEOMETRY_CASE] = geometry, case_hash

    def add_taken(self, count: int) -> None:
        self._s[self.TAKEN] = self._s.get(self.TAKEN, 0) + count

    def pop_taken(self) -> int:
        return self._s.pop(self.TAKEN, 0)

    # the zoomed region, per case
    def view_for(self, case_hash: str) -> Viewport | None:
        return self._s.get(VIEW_KEY) if self._s.get(self.VIEW_CASE) == case_hash else None

    def show(self, view: Viewport, case_hash: str) -> None:
        self._s[VIEW_KEY], self._s[self.VIEW_CASE] = view, case_hash

    # saving: a button's request waits for a run that reaches the save
    def request_save(self, what: str, case_hash: str | None) -> None:
        self._s[self.SAVE_REQUEST] = (what, case_hash)

    def pop_save_request(self) -> tuple[str, str | None] | None:
        return self._s.pop(self.SAVE_REQUEST, None)

    @property
    def save_round(self) -> int:
        """Counts saves: the note and label fields are keyed by it, so they start empty after a save."""
        return self._s.get(self.SAVE_ROUND, 0)

    def saved(self) -> None:
        self._s[self.SAVE_ROUND] = self.save_round + 1

    def leave_message(self, message: str, short: str) -> None:
        """For the next case's page (Save and next): the whole message once, as a toast, and its short
        form in the save bar's status line until the next save (a toast of a run that another run cut
        short can vanish at once; the status line is drawn by every run)."""
        self._s[self.SAVED_MESSAGE] = message
        self._s[self.LAST_SAVE] = short

    def pop_message(self) -> str | None:
        return self._s.pop(self.SAVED_MESSAGE, None)

    @property
    def last_save(self) -> str | None:
        return self._s.get(self.LAST_SAVE)

    def overview_event_is_new(self, stamp: Any) -> bool:
        if stamp == self._s.get(self.OVERVIEW_SEEN):
            return False
        self._s[self.OVERVIEW_SEEN] = stamp
        return True

    @property
    def style_before_hidden(self) -> str:
        return self._s.get(self.STYLE_BEFORE_HIDDEN, "Fill")

    @style_before_hidden.setter
    def style_before_hidden(self, style: str) -> None:
        self._s[self.STYLE_BEFORE_HIDDEN] = style
