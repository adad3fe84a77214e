"""Correct: edit the model's mask on a canvas (add / erase brush, add / cut polygon, zoom,
undo / redo / reset) and save it as a new version in the corrections store."""
from __future__ import annotations

import numpy as np
import streamlit as st
from PIL import Image
from streamlit_drawable_canvas import st_canvas

from lungseg_app.case_navigation import cached_worklist, case_from_link, go_next, nav_bar
from lungseg_app.editing import edit_session
from lungseg_app.state import (cached_claims, cached_model, cached_segmentation, cached_store, chosen_model,
                               current_case, sidebar)
from lungseg_app.widgets import case_input
from lungseg_core import LungSegError, overlap_metrics
from lungseg_core.workflow.case_claims import ClaimHeldError
from lungseg_core.imaging.mask_editing import ADD_CSS, ERASE_CSS, Viewport, edit_figures
from lungseg_core.imaging.overlay import mask_overlay

st.set_page_config(page_title="Correct · LungSeg Studio", page_icon="🫁", layout="wide")
user = sidebar()
st.title("Correct")
case_from_link()

case = current_case()
model = chosen_model()
if case is None:
    if user.can("claim") and st.button("Start with the next case in the worklist", key="_start_next", type="primary"):
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
    if user.can("claim"):
        cached_claims().claim(user, case.hash)  # taken or renewed while this person works on it
except ClaimHeldError as exc:
    held_by = exc
except LungSegError as exc:
    st.error(f"The corrections store cannot be read: {exc}")
    st.stop()
if held_by is not None:
    st.warning(f"{held_by} You can look, but saving is off until the claim ends.")
continue_from = None
if latest is not None:
    try:
        continue_from = (latest.id, store.load_mask(latest.corrected_mask_hash))
    except LungSegError as exc:
        st.error(f"The latest saved version cannot be read ({exc}); an admin can delete the case on Review.")
        st.stop()
    st.info(f"This X-ray already has {len(store.history(latest.id))} saved version(s); the latest "
            f"({latest.id[:8]}, by {latest.annotator}, {latest.status}) is shown and the next save continues it.")
edit = edit_session(case.hash, model, result.mask, continue_from)
h, w = case.pixels.shape
nav_bar(user, unsaved=edit.unsaved)
saved_message = st.session_state.pop("_saved_message", None)
if saved_message:
    st.success(saved_message)

tools = {"Add brush": ("freedraw", True), "Erase brush": ("freedraw", False),
         "Add polygon": ("polygon", True), "Cut polygon": ("polygon", False)}
c1, c2, c3 = st.columns([3, 1, 2])
tool = c1.radio("Tool", list(tools), horizontal=True, key="_tool",
                help="Polygons: click the corners, click the first corner again to close, then Apply. "
                     "Keys: Alt+1 to Alt+4 pick a tool.")


def _pick_tool(name: str) -> None:
    st.session_state["_tool"] = name


with c1:  # hidden buttons that carry the tool shortcuts (a radio cannot have one); the radio shows the choice
    st.html("<style>" + " ".join(f".st-key-_tool_key_{i} {{display: none;}}" for i in range(1, len(tools) + 1))
            + "</style>")
    for i, name in enumerate(tools, start=1):
        st.button(f"tool {i}", key=f"_tool_key_{i}", type="tertiary", shortcut=f"Alt+{i}", on_click=_pick_tool,
                  args=(name,))
brush = c2.slider("Brush size", 2, 60, 14, key="_brush")
zoom = c3.select_slider("Zoom", options=[1, 2, 4, 8], value=1, key="_zoom",
                        help="Zoom into a region for fine edges; strokes map back to the full image.")
if zoom > 1:
    z1, z2 = st.columns(2)
    cx = z1.slider("Region centre x (px)", 0, w - 1, w // 2, key="_zoom_x")
    cy = z2.slider("Region centre y (px)", 0, h - 1, h // 2, key="_zoom_y")
    viewport = Viewport.zoom((h, w), cx, cy, zoom)
else:
    viewport = Viewport.whole((h, w))

if edit.pending_viewport is not None and edit.pending_viewport != viewport:
    edit.commit_pending()  # strokes drawn in the previous view are kept before the view changes

mode, adds = tools[tool]
canvas_w, canvas_h = viewport.canvas_size(700)
background = mask_overlay(viewport.crop(case.pixels), viewport.crop(edit.history.current), opacity=0.3)
background = Image.fromarray(background).resize((canvas_w, canvas_h), Image.NEAREST if zoom > 1 else Image.BILINEAR)

canvas = st_canvas(
    fill_color=ADD_CSS if adds else ERASE_CSS, stroke_width=brush, stroke_color=ADD_CSS if adds else ERASE_CSS,
    background_image=background, update_streamlit=True, width=canvas_w, height=canvas_h, drawing_mode=mode,
    key=edit.canvas_key, return_image_data=True,
)
strokes = canvas.image_data if canvas is not None else None
if strokes is not None and strokes.shape[:2] == (canvas_h, canvas_w) and strokes[:, :, 3].any():
    edit.pending_rgba, edit.pending_viewport = np.asarray(strokes), viewport
working = edit.working_mask()

b1, b2, b3, b4 = st.columns(4)
if b1.button("Apply strokes", key="_apply", help="Merge what is on the canvas into the mask (needed for polygons).",
             shortcut="Alt+A"):
    edit.commit_pending()
    st.rerun()
if b2.button("Undo", key="_undo", disabled=edit.history.position == 0 and edit.pending_rgba is None, shortcut="Ctrl+Z"):
    if edit.pending_rgba is not None:
        edit.clear_canvas()
    else:
        edit.history.undo()
    st.rerun()
if b3.button("Redo", key="_redo", disabled=edit.history.position >= len(edit.history.versions) - 1,
             shortcut="Ctrl+Y"):
    edit.history.redo()
    edit.clear_canvas()
    st.rerun()
if b4.button("Reset to model mask", key="_reset"):
    edit.history.reset()
    edit.clear_canvas()
    st.rerun()

figures = edit_figures(result.mask, working)
m1, m2, m3, m4 = st.columns(4)
m1.metric("Pixels added", f"{figures.added_px:,}")
m2.metric("Pixels removed", f"{figures.removed_px:,}")
m3.metric("IoU with model mask", f"{figures.iou_with_model:.3f}")
if case.truth is not None:
    vs = overlap_metrics(working, case.truth.mask)
    m4.metric("Edit vs reference: IoU / Dice", f"{vs.iou:.3f} / {vs.dice:.3f}")

with st.expander("Preview of the edited mask (full image)", expanded=zoom > 1):
    st.image(mask_overlay(case.pixels, working, opacity=0.4), width="stretch")

st.subheader("Save")
with st.form("save_form", clear_on_submit=False):
    note = st.text_input("Note (what was fixed)", key="_note")
    label = st.text_input("Case label (optional; leave empty to keep the case anonymous)", key="_case_label")
    status = st.radio("Status", ["draft", "submitted"], horizontal=True, key="_status",
                      help="Submitted corrections appear for review; drafts can be saved again later.")
    s1, s2 = st.columns(2)
    submitted = s1.form_submit_button("Save correction", type="primary", key="_save", shortcut="Ctrl+S")
    save_and_next = s2.form_submit_button("Save and next ▶", key="_save_and_next",
                                          help="Save, then open the next case", shortcut="Ctrl+Enter")
    submitted = submitted or save_and_next
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
            if case.number is None:
                known = cached_worklist().by_image(case.hash)
                case.number = known.number if known is not None else None
            message = (f"Saved version {len(store.history(record.id))} of "
                       f"{f'case {case.number}' if case.number else 'this case'} ({record.id[:8]}, {status}) as "
                       f"{user.username}; {figures.added_px:,} px added, {figures.removed_px:,} px removed.")
            if save_and_next:
                st.session_state["_saved_message"] = message
                go_next(user)
                st.rerun()
            st.success(message)
