"""Correct: edit the model's mask on a canvas (add / erase brush, add / cut polygon, zoom,
undo / redo / reset) and save it as a new version in the corrections store."""
from __future__ import annotations

from functools import partial
from typing import Any

import numpy as np
import streamlit as st

from lungseg_app.auth import acting_user
from lungseg_app.plain_text import plain
from lungseg_app.bound_widgets import bound_widget
from lungseg_app.brush_cursor import brush_cursor_html
from lungseg_app.brush_keys import TARGET_KEY, brush_keys_html, parse_target
from lungseg_app.view_gestures import GESTURE_KEY, apply_gesture, gestures_html, parse_gesture
from lungseg_app.page_scripts import page_scripts_prelude
from lungseg_app.shortcut_help import HELP_KEY, help_key_html, shortcut_help_button
from lungseg_app.canvas_component import editor_canvas
from lungseg_app.case_navigation import (cached_worklist, case_from_link, go_next, make_current_a_case, nav_bar,
                                         pop_nav_message)
from lungseg_app.correct_state import CorrectState
from lungseg_app.editing import EditSession, canvas_objects, edit_session
from lungseg_app.editor_view import (MASK_STYLES, VIEW_KEY, Display, background, cached_click_fixer, canvas_box,
                                     canvas_size, overview, remember_prefs, remembered_prefs, view_from_overview,
                                     window_size, zoom_by)
from lungseg_app.state import (cached_claims, cached_model, cached_segmentation, cached_store, chosen_model,
                               current_case, sidebar)
from lungseg_app.widgets import case_input
from lungseg_core import LungSegError, overlap_metrics
from lungseg_core.workflow.case_claims import ClaimHeldError
from lungseg_core.imaging.canvas_objects import CanvasGeometry
from lungseg_core.imaging.mask_editing import ADD_CSS, ERASE_CSS, Viewport, edit_figures
from lungseg_core.imaging.mask_tools import TOOLS as MASK_TOOLS
from lungseg_core.imaging.mask_tools import grow
from lungseg_core.imaging.overlay import change_zoom
from lungseg_core.people.access_control import User
from lungseg_core.workflow.working_copies import WorkingCopies
from streamlit_image_coordinates import streamlit_image_coordinates

st.set_page_config(page_title="Correct · LungSeg Studio", page_icon="🫁", layout="wide")
user = sidebar()
# a compact page: the whole X-ray fits above the fold at 1280x720
st.html("<style>.block-container {padding-top: 3.2rem; padding-bottom: 1rem;} h3 {padding-top: 0.2rem;}</style>")
st.markdown("### Correct")


#: Height of the save bar at the top of the right column (note and status, label, the two buttons)
SAVE_BAR_PX = 260
#: the controls' first values; the canvas is drawn from them before their widgets exist
DEFAULTS = {"_brush": 6, "_mask_style": "Fill", "_level": 50, "_wwidth": 100, "_invert": False}


#: display settings a reload keeps (they travel in the page's address)
REMEMBERED = remembered_prefs(st.query_params)


def _control(key: str):  # type: ignore[no-untyped-def]
    return st.session_state.get(key, REMEMBERED.get(key, DEFAULTS[key]))


def _canvas_sent() -> None:
    """The canvas's change callback: what it has just sent goes into the history (before the page runs)."""
    page, case = CorrectState(), current_case()
    edit = page.edit
    geometry = page.geometry_for(case.hash) if case is not None else None
    if edit is None or geometry is None or edit.case_hash != case.hash:
        return
    page.add_taken(edit.take_objects(canvas_objects(edit.canvas_key), geometry, case.pixels, cached_click_fixer(),
                                     sent_now=True))


def _pick_tool(name: str) -> None:
    st.session_state["_tool"] = name


def _brush_from_keys() -> None:
    """Alt+J / Alt+K: the page script sends the width it counted to (`brush_keys`)."""
    width = parse_target(st.session_state.get(TARGET_KEY))
    if width is not None:
        st.session_state["_brush"] = width


def _view_from_gesture() -> None:
    """Wheel zoom, middle-button pan and right-button window/level on the X-ray (`view_gestures`)."""
    gesture, case = parse_gesture(st.session_state.get(GESTURE_KEY)), current_case()
    if gesture is None or case is None:
        return
    page, shape = CorrectState(), case.pixels.shape[:2]
    view, level, width = apply_gesture(gesture, page.view_for(case.hash) or Viewport.whole(shape), shape,
                                       _control("_level"), _control("_wwidth"))
    page.show(view, case.hash)
    st.session_state["_level"], st.session_state["_wwidth"] = level, width


def _toggle_mask() -> None:
    current = _control("_mask_style")
    if current == "Hidden":
        st.session_state["_mask_style"] = CorrectState().style_before_hidden
    else:
        CorrectState().style_before_hidden = current
        st.session_state["_mask_style"] = "Hidden"


def _keep(edit: EditSession, copies: WorkingCopies, user: User, held_by: Any, model: str) -> None:
    """The mask on screen becomes this person's working copy (the X-ray a case, so a reload finds it)."""
    if user.can("save_correction") and held_by is None:
        try:
            cached_claims().claim(user, edit.case_hash)  # the first edit claims the case; later ones renew it
            make_current_a_case(user, model)
            edit.persist(copies, user)
        except ClaimHeldError as exc:
            st.toast(f"{plain(exc)}. Your edit is on this page only.", icon="⚠️")
        except LungSegError as exc:
            st.toast(f"Your edit is on this page but could not be kept in the store ({plain(exc)}); it stays here "
                       "until the store can be written again.")


def _grow_by(sign: int, mask: np.ndarray) -> np.ndarray:
    """Grow (sign 1) or shrink (-1) by the pixels in the box as it is when the button is clicked."""
    return grow(mask, sign * int(st.session_state.get("_mt_px", 3)))


def _apply_tool(edit: EditSession, tool_fn: Any, copies: WorkingCopies, user: User, held_by: Any, model: str) -> None:
    """A whole-mask tool (remove islands, fill holes, smooth, grow, shrink) as one undo step."""
    before = edit.history.current
    after = tool_fn(before)
    if not np.array_equal(after, before):
        edit.clicks = []
        edit.history.commit(after)
        _keep(edit, copies, user, held_by, model)


def _history_step(edit: EditSession, step: str, copies: WorkingCopies, user: User, held_by: Any, model: str) -> None:
    """Undo, Redo or Reset (a button's callback: done before the run that draws the result)."""
    {"undo": edit.undo, "redo": edit.redo, "reset": edit.reset}[step]()
    _keep(edit, copies, user, held_by, model)


def _discard_copy(copies: WorkingCopies, user: User, case_hash: str) -> None:
    if acting_user() is None:  # a callback runs before the page checks the session again
        return
    copies.discard(user, case_hash)
    CorrectState().forget_edit()


def _restore_stale(edit: EditSession) -> None:
    if edit.stale_copy is not None:
        edit.restore(edit.stale_copy)


def _discard_stale(edit: EditSession, copies: WorkingCopies, user: User) -> None:
    if acting_user() is None:
        return
    copies.discard(user, edit.case_hash)
    edit.stale_copy = None


def restore_notice(edit: EditSession, copies: WorkingCopies, user: User) -> None:
    """Say when unsaved edits came back from the store, and offer to drop them. The buttons act in
    their callbacks: drawn after the canvas, a click read in the run's body could be lost when the
    canvas's reply cuts that run short."""
    if edit.restored is not None:
        c1, c2 = st.columns([3, 1])
        changed_at = edit.restored.updated_at[:16].replace("T", " ")
        c1.info(f"Restored your unsaved edits of this case (last changed {changed_at} "
                "UTC). Save them, keep editing, or discard them.")
        c2.button("Discard them", key="_discard_copy", on_click=_discard_copy, args=(copies, user, edit.case_hash))
    elif edit.stale_copy is not None:
        c1, c2, c3 = st.columns([2, 1, 1])
        c1.warning(f"You left unsaved edits of this case ({edit.stale_copy.updated_at[:16].replace('T', ' ')} UTC), "
                   "made on an earlier version: someone has saved since. Restore them over the latest version?")
        c2.button("Restore them", key="_restore_copy", on_click=_restore_stale, args=(edit,))
        c3.button("Discard them", key="_discard_stale", on_click=_discard_stale, args=(edit, copies, user))


def _request_save(what: str) -> None:
    """A save button's callback: the request stays until a run reaches the save, so a run cut short
    (the canvas answering, say) cannot lose the click."""
    case = current_case()
    CorrectState().request_save(what, case.hash if case is not None else None)


# Everything whose presence varies (notices, messages, the navigation's questions) goes into this one
# container, so the editor below keeps its place in the page from run to run: a layout that shifts
# re-mounts the canvas and, while a run is cut short, leaves the old tools on screen beside the new.
header = st.container()
with header:
    case_from_link()
    window_size()  # asked as the page loads, so the canvas has its size when an X-ray is opened

    case = current_case()
    model = chosen_model()
    if case is None:
        if user.can("claim") and st.button("Start with the next case in the worklist", key="_start_next",
                                           type="primary"):
            if go_next(user):
                st.rerun()
        case_input()
        case = current_case()
    if case is None or model is None:
        st.info("Open an X-ray here, the next case from the worklist or one on the Segment page; then correct the "
                "model's mask.")
        st.stop()
    if case.number is None:
        known = cached_worklist().by_image(case.hash)
        if known is not None:
            case.number = known.number

    result = cached_segmentation(case.hash, model, case.pixels)
    store = cached_store()
    try:
        latest = store.latest_version(case.hash)
        held_by: ClaimHeldError | None = None
        holder = cached_claims().holder(case.hash)  # looking claims nothing; the first edit does (_keep)
        if holder is not None and holder.username != user.username:
            held_by = ClaimHeldError(holder)
    except LungSegError as exc:
        st.error(f"The corrections store cannot be read: {exc}")
        st.stop()
    # what differs from case to case is said beside the canvas (in the save box), never above it:
    # a line more or less above would move the canvas under the annotator's pen
    case_notes: list[tuple[str, str]] = []
    if held_by is not None:
        case_notes.append(("warning", f"{plain(held_by)} You can look, but saving is off until the claim ends."))
    continue_from = None
    if latest is not None:
        try:
            continue_from = (latest.id, store.load_mask(latest.corrected_mask_hash))
        except LungSegError as exc:
            st.error(f"The latest saved version cannot be read ({exc}); an admin can delete the case on Review.")
            st.stop()
        case_notes.append(("caption", f"This X-ray already has {len(store.history(latest.id))} saved version(s); the "
                                      f"latest ({latest.id[:8]}, by {plain(latest.annotator)}, {latest.status}) is "
                                      "shown and the next save continues it."))
    copies = WorkingCopies(store)
    edit = edit_session(case.hash, model, result.mask, continue_from,
                        copies=copies if user.can("save_correction") else None, user=user)
    h, w = case.pixels.shape
    nav_bar(user, unsaved=edit.unsaved, discard=lambda: copies.discard(user, case.hash))
    saved_message = CorrectState().pop_message()
    if saved_message:
        st.toast(saved_message, icon="✅", duration="long")  # a toast: a notice in the page would move the canvas

fixer = cached_click_fixer()
tools = {"Add brush": ("freedraw", True), "Erase brush": ("freedraw", False),
         "Add polygon": ("polygon", True), "Cut polygon": ("polygon", False)}
if fixer is not None:
    tools.update({"Fix: add lung (click)": ("point", True), "Fix: remove (click)": ("point", False)})
with header:  # the tools' shortcuts (Alt+1 ... Alt+6) exist before the canvas is drawn: a key pressed as the
    # page opens is not lost while the rest of the run is still on its way (hidden: the radio shows the tool)
    st.html("<style>" + " ".join(f".st-key-_tool_key_{i} {{display: none;}}" for i in range(1, 7)) + "</style>")
    for i, name in enumerate(tools, start=1):
        st.button(f"tool {i}", key=f"_tool_key_{i}", type="tertiary", shortcut=f"Alt+{i}", on_click=_pick_tool,
                  args=(name,))

page = CorrectState()
view: Viewport | None = page.view_for(case.hash)
if view is None or (view.x1 > w or view.y1 > h):
    view = Viewport.whole((h, w))
page.show(view, case.hash)

# Objects the canvas sent since the last run go into the history before anything is drawn, with the
# geometry of the canvas they were drawn on (the screen then shows exactly the mask that is saved).
geometry: CanvasGeometry | None = page.geometry_for(case.hash)
changed = page.pop_taken()
objects = canvas_objects(edit.canvas_key)
if objects and geometry is not None:
    changed += edit.take_objects(objects, geometry, case.pixels, fixer)
if changed:
    with header:
        _keep(edit, copies, user, held_by, model)

left, right = st.columns([0.62, 0.38], gap="small")
with right:
    # Save first: beside the canvas, on screen at 1280x720 without scrolling (it was 1435 px down)
    # Save first: beside the canvas, on screen at 1280x720 without scrolling (it was 1435 px down).
    # The tools and figures below it scroll inside their own box, sized to the window, so the page
    # itself never scrolls: picking a tool at the bottom can never move the canvas.
    save_box = st.container()
    tools_height = max(260, window_size()[1] - 185 - SAVE_BAR_PX)
    with st.container(height=tools_height, border=False):
        controls, figures_box = st.container(), st.container()
with controls:
    notice_box = st.container()  # the restore notice and the case's notes come and go above the tools

# The canvas and the figures go out first, drawn with the controls' values as they stand (a widget's
# new value is in session state before the run); the controls' widgets follow. A click's corrected
# mask then reaches the browser before the page's tools are rebuilt, and the canvas's reply to being
# emptied (which starts the next run) no longer cuts the figures off.
tool = st.session_state.get("_tool") if st.session_state.get("_tool") in tools else next(iter(tools))
brush = int(_control("_brush"))
style = _control("_mask_style")
display = Display(MASK_STYLES.get(style, "fill"), _control("_level") / 100,
                  _control("_wwidth") / 100, bool(_control("_invert")))
mode, adds = tools[tool]
size = canvas_size(view, canvas_box(window_size()))
geometry = CanvasGeometry(view, size[0], size[1])
page.drew(geometry, case.hash)
colour = ADD_CSS if adds else ERASE_CSS
ring_colour = "#5fd35f" if adds else "#ff6b6b"
with left:
    editor_canvas(
        fill_color=colour,
        stroke_width=geometry.brush_canvas_px(brush) if mode == "freedraw" else (1 if mode == "polygon" else 2),
        stroke_color=colour,
        background_image=background(case.pixels, case.hash, edit.history.current, view, size, display),
        update_streamlit=True, width=size[0], height=size[1], drawing_mode=mode, key=edit.canvas_key,
        initial_drawing=edit.initial_drawing, point_display_radius=4, on_change=_canvas_sent,
    )
working = edit.history.current

with figures_box:
    # drawn after the canvas, so it shows once the canvas has the tool (a stroke made before would use the old one)
    st.caption(f"On the canvas: **{tool}**" + (f", {brush} px wide on the X-ray" if mode == "freedraw" else "")
               + f" · mask: {style.lower()}",
               help="The tool the canvas is drawing with now, and how the mask is shown.")
    figures = edit_figures(result.mask, working)
    m1, m2, m3 = st.columns(3)
    m1.metric("Pixels added", f"{figures.added_px:,}")
    m2.metric("Pixels removed", f"{figures.removed_px:,}")
    m3.metric("IoU with model mask", f"{figures.iou_with_model:.3f}",
              help="IoU: overlap ÷ union of two masks (1 = identical).")
    if case.truth is not None:
        vs = overlap_metrics(working, case.truth.mask)
        st.metric("Edit vs reference: IoU / Dice", f"{vs.iou:.3f} / {vs.dice:.3f}",
                  help="Dice: twice the overlap ÷ the two areas added (1 = identical; 0.95 ≈ IoU 0.90).")

with notice_box:
    restore_notice(edit, copies, user)
with controls:
    # the tool, brush width and mask style are also set by shortcuts: their widgets are bound ones
    bound_widget(st.radio, "Tool", "_tool", tool, options=list(tools), index=list(tools).index(tool), horizontal=True,
                 help="Polygons: click the corners, click the first corner again to close. Click-to-fix: click "
                      "in a missed lung region (add) or a false one (remove); the model corrects that region. "
                      "Keys: Alt+1 to Alt+6 pick a tool.")
    st.html("<style>" + " ".join(f".st-key-_tool_key_{i} {{display: none;}}" for i in range(1, 7))
            + f" .st-key-_mask_toggle, .st-key-{TARGET_KEY}, .st-key-{HELP_KEY}, .st-key-{GESTURE_KEY} "
            "{display: none;}</style>"
            + page_scripts_prelude()
            + brush_cursor_html(geometry.brush_canvas_px(brush), mode == "freedraw", ring_colour)
            + brush_keys_html(brush) + help_key_html() + gestures_html(),
            unsafe_allow_javascript=True)
    bound_widget(st.slider, "Brush width (image px)", "_brush", brush, min_value=1, max_value=60, value=brush,
                 help="The brush's width on the X-ray itself, whatever the zoom. Keys: Alt+J thinner, Alt+K wider.")
    st.text_input("brush width from the keys", key=TARGET_KEY, on_change=_brush_from_keys,
                  label_visibility="collapsed")
    st.text_input("view gesture", key=GESTURE_KEY, on_change=_view_from_gesture, label_visibility="collapsed")
    d1, d2 = st.columns([3, 2])
    bound_widget(d1.radio, "Mask", "_mask_style", style, options=list(MASK_STYLES),
                 index=list(MASK_STYLES).index(style), horizontal=True,
                 help="Fill, outline only (to see the edge being fixed) or hidden. Key: Alt+M toggles hidden.")
    st.button("toggle mask", key="_mask_toggle", shortcut="Alt+M", on_click=_toggle_mask)
    shortcut_help_button()
    d2.checkbox("Invert", value=bool(_control("_invert")), key="_invert")
    with st.expander("Brightness / contrast", expanded=False):
        st.slider("Window centre (%)", 0, 100, int(_control("_level")), key="_level")
        st.slider("Window width (%)", 5, 100, int(_control("_wwidth")), key="_wwidth")
    remember_prefs(st.query_params, {k: _control(k) for k in DEFAULTS}, DEFAULTS)
    st.caption("Overview: click to zoom there, drag a box to zoom to it. On the X-ray: wheel to zoom, middle "
               "button to pan, right button to set brightness (up/down) and contrast (left/right). "
               "Press ? for every keyboard shortcut.")
    event = streamlit_image_coordinates(overview(case.pixels, case.hash, edit.history.current, view, display),
                                        key=f"_overview_{case.hash[:12]}", click_and_drag=True, cursor="zoom-in",
                                        image_format="JPEG", jpeg_quality=92)
    if event and page.overview_event_is_new(event.get("unix_time")):
        st.session_state[VIEW_KEY] = view_from_overview(event, (h, w), view)
        st.rerun()
    z1, z2, z3 = st.columns(3)
    if z1.button("Zoom in", key="_zoom_in", disabled=view.width <= w / 8):
        st.session_state[VIEW_KEY] = zoom_by(view, (h, w), 2.0)
        st.rerun()
    if z2.button("Zoom out", key="_zoom_out", disabled=view == Viewport.whole((h, w))):
        st.session_state[VIEW_KEY] = zoom_by(view, (h, w), 0.5)
        st.rerun()
    if z3.button("Whole image", key="_zoom_all", disabled=view == Viewport.whole((h, w)), shortcut="Alt+0"):
        st.session_state[VIEW_KEY] = Viewport.whole((h, w))
        st.rerun()

    # history buttons act in their callbacks, before the next run draws the canvas
    b1, b2, b3 = st.columns(3)
    change = (copies, user, held_by, model)
    b1.button("Undo", key="_undo", disabled=edit.history.position == 0, shortcut="Ctrl+Z",
              on_click=_history_step, args=(edit, "undo", *change))
    b2.button("Redo", key="_redo", disabled=edit.history.position >= len(edit.history.versions) - 1,
              shortcut="Ctrl+Y", on_click=_history_step, args=(edit, "redo", *change))
    b3.button("Reset to model", key="_reset", help="Back to the model's mask (one undo step)",
              on_click=_history_step, args=(edit, "reset", *change))
    with st.expander("Mask tools (each one undo step)"):
        t1, t2, t3 = st.columns(3)
        for col, (name, tool_fn) in zip((t1, t2, t3), MASK_TOOLS.items()):
            col.button(name, key=f"_mt_{name}", on_click=_apply_tool, args=(edit, tool_fn, *change))
        g1, g2, g3 = st.columns([2, 1, 1])
        g1.number_input("Pixels (on the X-ray)", 1, 30, 3, key="_mt_px")
        g2.button("Grow", key="_mt_grow", on_click=_apply_tool, args=(edit, partial(_grow_by, 1), *change))
        g3.button("Shrink", key="_mt_shrink", on_click=_apply_tool, args=(edit, partial(_grow_by, -1), *change))
        previews = {**MASK_TOOLS, "Grow": partial(_grow_by, 1), "Shrink": partial(_grow_by, -1)}
        shown = st.selectbox("Preview a tool before applying it", ["off", *previews], key="_mt_preview")
        if shown != "off":
            after = previews[shown](edit.history.current)
            zoomed = change_zoom(case.pixels, edit.history.current, after, out_side=360)
            if zoomed is None:
                st.caption(f"{shown} would change nothing on this mask.")
            else:
                added, removed = int((after & ~edit.history.current).sum()), int((edit.history.current & ~after).sum())
                st.image(zoomed, width="stretch",
                         caption=f"{shown} would add {added:,} px (green) and remove {removed:,} px (red), "
                                 "shown where it changes; its button applies it")

with notice_box:
    for kind, text in case_notes:
        getattr(st, kind)(text)
with save_box:
    # The note and label belong to this case and this save: keyed by both, so the next case (or the
    # same case after a save) starts empty; the status is the person's way of working and stays (in
    # view, beside Save). Enter in a field does not save.
    fields = f"{case.hash[:16]}_{page.save_round}"
    with st.form("save_form", clear_on_submit=False, enter_to_submit=False):
        # one line, always there: what leaving now would do (the sidebar's pages do not ask)
        st.caption("✎ Unsaved edits: kept for you if you leave" if edit.unsaved else
                   "All edits saved" if edit.last_saved_id else
                   "No edits yet" + (f" · before: {page.last_save}" if page.last_save else ""), help=(
                       "Unsaved edits are your working copy in the store: they come back when you reopen this "
                       "case, on any page or after a reload. Save makes them a version others can see."))
        n1, n2 = st.columns([3, 2])
        note = n1.text_input("Note (what was fixed)", key=f"_note_{fields}")
        status = n2.radio("Status", ["draft", "submitted"], key="_status_choice",  # a way of working: kept
                          help="Submitted corrections appear for review; drafts can be saved again later. "
                               "Your choice stays for the next cases (the note and label do not).")
        with st.expander("Case label (optional)"):
            label = st.text_input("Case label (optional; leave empty to keep the case anonymous)",
                                  key=f"_case_label_{fields}", label_visibility="collapsed")
        # one above the other, each the bar's width: side by side, 1280 px cut them to "Save c…" and "S…"
        st.form_submit_button("Save correction", type="primary", key="_save", shortcut="Ctrl+S",
                              on_click=_request_save, args=("save",), width="stretch")
        st.form_submit_button("Save and next ▶", key="_save_and_next", help="Save, then open the next case",
                              shortcut="Ctrl+Enter", on_click=_request_save, args=("next",), width="stretch")
    request = page.pop_save_request()  # no page element until the save: no cut in between
    submitted = request is not None and request[1] == case.hash
    save_and_next = submitted and request[0] == "next"
    if submitted:
        if held_by is not None:
            st.error(f"Not saved: {held_by} Your edits are kept on this page.")
        else:
            try:
                record = store.save_correction(
                    case.pixels, result.mask, working, actor=user, model_name=model,
                    model_version=cached_model(model).version, note=note, status=status, parent_id=edit.last_saved_id,
                    case_label=label or None, pixel_spacing_mm=case.meta.get("pixel_spacing_mm"))
            except LungSegError as exc:
                st.error(f"Not saved: {exc}. Your edits are kept on this page.")
            else:
                edit.mark_saved(record.id)
                page.saved()  # empty fields next
                if case.number is None:
                    known = cached_worklist().by_image(case.hash)
                    case.number = known.number if known is not None else None
                short = (f"Saved version {len(store.history(record.id))} of "
                         f"{f'case {case.number}' if case.number else 'this case'}")
                message = (f"{short} ({record.id[:8]}, {status}) as {user.username}; {figures.added_px:,} px added, "
                           f"{figures.removed_px:,} px removed.")
                if save_and_next:
                    page.leave_message(message, f"{short} ({status})")
                    cached_claims().release(user, case.hash)
                    if go_next(user):
                        st.rerun()
                    page.pop_message()  # no next case: this page says it (the toast below) and why
                    nothing_next = pop_nav_message()
                    if nothing_next:
                        st.toast(nothing_next, icon="ℹ️")
                # a toast is seen wherever the page is scrolled, and the canvas stays put
                st.toast(message, icon="✅", duration="long")
