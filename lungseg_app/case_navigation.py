"""Moving through the worklist on Correct and Review: open a case by number (also from a link such as
`/Correct?case=123`), Previous (the cases this session visited) and Next (the most urgent case
nobody else holds, claimed for the user), with keyboard shortcuts (Streamlit's own `shortcut=`: they
do not fire while the user types in a text box)."""
from __future__ import annotations

import time
from typing import Callable

import streamlit as st

from lungseg_app.plain_text import plain
from lungseg_app.state import (CASE_KEY, Case, cached_claims, cached_model, cached_segmentation, cached_store,
                               current_case)
from lungseg_core.workflow.case_intake import make_case
from lungseg_core import LungSegError
from lungseg_core.people.access_control import User
from lungseg_core.workflow.worklist import ANNOTATOR_QUEUE, REVIEWER_QUEUE, Worklist

VISITED_KEY = "visited_cases"
#: the `?case=` value this session replaced in the address bar, and when (time.monotonic())
STALE_LINK_KEY = "_stale_case_link"
#: how long a replaced link counts as the browser's lag (a browser under load answers within seconds)
STALE_LINK_SECONDS = 30.0


def link_is_stale(wanted: str | None, stale: tuple[str, float] | None, now: float) -> bool:
    """A run that a browser started before it had seen the page move to another case (Save and next, Next)
    still carries the old `?case=`: that is no request to go back. The server cannot tell its own reruns
    from the browser's, so the old value counts as lag for STALE_LINK_SECONDS after the move."""
    return wanted is not None and stale is not None and wanted == stale[0] and now - stale[1] < STALE_LINK_SECONDS


def _point_link_at(number: int) -> None:
    """The address bar becomes case `number`'s link; the value it replaces is remembered as stale."""
    before = st.query_params.get("case")
    if before is not None and before != str(number):
        st.session_state[STALE_LINK_KEY] = (before, time.monotonic())
    st.query_params["case"] = str(number)


def cached_worklist() -> Worklist:
    return Worklist(cached_store())


def open_case(number: int, remember: bool = True) -> Case:
    """Make worklist case `number` the current case (its stored X-ray, pixel spacing, label)."""
    worklist = cached_worklist()
    entry = worklist.get(number)
    pixels = worklist.store.load_image(entry.image_hash)
    meta = {"pixel_spacing_mm": entry.pixel_spacing_mm} if entry.pixel_spacing_mm else {}
    case = Case(pixels, meta, entry.title, entry.image_hash, number=entry.number)
    previous = current_case()
    if remember and previous is not None and previous.number is not None and previous.number != number:
        visited = st.session_state.setdefault(VISITED_KEY, [])
        visited.append(previous.number)
    st.session_state[CASE_KEY] = case
    _point_link_at(number)
    return case


def case_from_link() -> None:
    """`?case=N` in the address opens case N (a colleague's link); a bad number says so."""
    wanted = st.query_params.get("case")
    if not wanted:
        return
    current = current_case()
    if current is not None and current.number is not None and str(current.number) == wanted:
        return
    lagging = link_is_stale(wanted, st.session_state.get(STALE_LINK_KEY), time.monotonic())
    if current is not None and current.number is not None and lagging:
        st.query_params["case"] = str(current.number)  # a run started before the browser saw the move
        return
    try:
        open_case(int(wanted))
    except (ValueError, LungSegError) as exc:
        st.warning(f"The link asks for case {plain(repr(wanted[:40]))}, which cannot be opened: {plain(exc)}")
        del st.query_params["case"]


def go_next(user: User, review: bool = False) -> bool:
    """Claim and open the next case; False (with a message) when nothing is left."""
    current = current_case()
    try:
        case = cached_worklist().next_case(user, REVIEWER_QUEUE if review else ANNOTATOR_QUEUE,
                                           after=current.number if current is not None else None)
    except LungSegError as exc:
        st.error(f"Could not open the next case: {exc}")
        return False
    if case is None:
        st.session_state["_nav_message"] = ("Nothing is waiting for review." if review
                                            else "No case is waiting: every case is done or held by someone else.")
        return False
    open_case(case.number)
    return True


def pop_nav_message() -> str | None:
    """Why Next opened nothing (once), for the page that shows it."""
    return st.session_state.pop("_nav_message", None)


def _release_claim(user: User, image_hash: str) -> None:
    """Leaving a case gives it back to the queue (edits kept are this person's working copy)."""
    try:
        cached_claims().release(user, image_hash)
    except LungSegError:
        pass  # a claim that cannot be released now lapses by itself


def go_previous() -> bool:
    visited = st.session_state.get(VISITED_KEY) or []
    if not visited:
        return False
    number = visited.pop()
    open_case(number, remember=False)
    return True


def nav_bar(user: User, review: bool = False, unsaved: bool = False,
            discard: Callable[[], None] | None = None) -> None:
    """Previous / Next buttons (and their shortcuts) above the case. With unsaved edits on screen,
    leaving asks first: keep them for later (they are the person's working copy in the store) or
    discard them (`discard`)."""
    current = current_case()
    if current is not None and current.number is not None and st.query_params.get("case") != str(current.number):
        _point_link_at(current.number)  # the address bar is the case's link (page switches clear it)
    c1, c2, c3 = st.columns([1.3, 1.3, 3.4])  # wide enough for "◀ Previous  Alt+P" at 1280 px
    move = None
    if c1.button("◀ Previous", key="_nav_prev", disabled=not st.session_state.get(VISITED_KEY),
                 help="The case you had open before", shortcut="Alt+P"):
        move = "previous"
    if c2.button("Next case ▶", key="_nav_next", type="secondary",
                 help=("The oldest submission by someone else" if review else
                       "Your unfinished work first, then flagged and lowest estimated Dice"), shortcut="Alt+N"):
        move = "next"
    if move and unsaved:
        st.session_state["_nav_pending"] = move
        move = None
    pending = st.session_state.get("_nav_pending")
    if pending:
        st.warning("This case has edits that are not saved. They are kept for you and come back when you reopen "
                   "the case; or discard them now.")
        k1, k2, k3 = st.columns(3)
        if k1.button("Leave, keep them for later", key="_nav_keep"):
            move = st.session_state.pop("_nav_pending")
        if k2.button("Leave and discard my edits", key="_nav_drop"):
            move = st.session_state.pop("_nav_pending")
            if discard is not None:
                discard()
        if k3.button("Stay here", key="_nav_stay"):
            st.session_state.pop("_nav_pending")
            st.rerun()
    if move and current is not None:
        _release_claim(user, current.hash)
    if move == "previous":
        go_previous()
        st.rerun()
    if move == "next" and go_next(user, review):
        st.rerun()
    message = pop_nav_message()
    if message:
        st.toast(message, icon="ℹ️")  # a toast: a box in the row would change its height and move the page
    if current is not None and current.number is not None:
        c3.caption(f"**{plain(current.label)}** · link for a colleague: `?case={current.number}`")


def add_current_to_worklist(user: User, model: str) -> None:
    """Segment page: make the open X-ray a worklist case (segmented with the chosen model), or say
    which case it already is."""
    case = current_case()
    if case is None:
        return
    worklist = cached_worklist()
    known = worklist.by_image(case.hash) if case.number is None else worklist.get(case.number)
    if known is not None:
        case.number = known.number
        st.caption(f"This X-ray is **{plain(known.title)}** in the worklist ({known.status}) · "
                   f"link: `Correct?case={known.number}`")
        return
    if not user.can("segment"):
        return
    label = st.text_input("Label for the worklist (optional, never a patient name)", key="_seg_wl_label")
    if st.button("Add to the worklist", key="_seg_add_case",
                 help="As a numbered case with its mask and quality estimate"):
        try:
            entry, _ = make_case(worklist, case.pixels, user, cached_model(model), label or None,
                                 case.meta.get("pixel_spacing_mm"), cached_segmentation(case.hash, model, case.pixels))
        except LungSegError as exc:
            st.error(f"Not added: {exc}")
            return
        case.number = entry.number
        st.rerun()


def make_current_a_case(user: User, model: str) -> int | None:
    """Correct page: the first edit of an X-ray that is not a case yet makes it one (segmented with
    the chosen model), so that its link (`?case=N`) reopens it and its unsaved edits after a reload.
    Returns the case number (None if this person may not add cases or the store refused)."""
    case = current_case()
    if case is None:
        return None
    if case.number is not None:
        return case.number
    worklist = cached_worklist()
    known = worklist.by_image(case.hash)
    if known is None and user.can("segment"):
        try:
            known, _ = make_case(worklist, case.pixels, user, cached_model(model), None,
                                 case.meta.get("pixel_spacing_mm"), cached_segmentation(case.hash, model, case.pixels))
        except LungSegError:
            return None
    if known is not None:
        case.number = known.number
        st.query_params["case"] = str(known.number)
    return case.number
