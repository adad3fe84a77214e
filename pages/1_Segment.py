"""Segment: upload or pick an X-ray, see the lung mask, compare with a reference, measure, download."""
from __future__ import annotations

import streamlit as st

from lungseg_app.pacs_view import pacs_reference
from lungseg_app.plain_text import plain
from lungseg_app.case_navigation import add_current_to_worklist, cached_worklist
from lungseg_app.editor_view import window_size
from lungseg_app.state import cached_segmentation, chosen_model, current_case, set_truth_from_bytes, sidebar
from lungseg_app.uploads import handle_upload
from lungseg_app.widgets import case_input, case_notices
from lungseg_core.imaging.image_io import UPLOAD_TYPES
from lungseg_core.imaging.case_report import (compare, download_name, figures_record, measure, png_bytes, records_csv,
                                              records_json)
from lungseg_core.imaging.overlay import LEGEND, VIEWS, render_view

st.set_page_config(page_title="Segment · LungSeg Studio", page_icon="🫁", layout="wide")
user = sidebar()
# a compact page: the whole X-ray fits above the fold at 1280x720
st.html("<style>.block-container {padding-top: 3.2rem; padding-bottom: 1rem;}</style>")
st.markdown("### Segment")
had_case = current_case() is not None
opening = st.container()  # always there, so the columns below keep their place once an X-ray is open
if not had_case:
    with opening:
        case_input()  # full width until an X-ray is open
view_col, figures_col = st.columns([3, 2], gap="large")
input_slot = figures_col.container()  # likewise: what follows in this column keeps its place (a file
if had_case:                          # chosen in the reference uploader as the page settles stays chosen)
    with input_slot:
        case_input()  # beside the picture, which stays above the fold

case = current_case()
model = chosen_model()
if case is None or model is None:
    st.info("Upload a chest X-ray or open a sample case to start.")
    st.stop()

with st.spinner(f"Segmenting with {model}…"):
    result = cached_segmentation(case.hash, model, case.pixels)

with figures_col:
    case_notices(case.meta)
    truth_file = st.file_uploader("Reference mask (optional; PNG, JPEG, DICOM or a DICOM SEG): a mask image of "
                                  "another size is resized",
                                  key="truth_upload", type=list(UPLOAD_TYPES))
    truth_error = handle_upload(truth_file, "truth",
                                lambda data, name: set_truth_from_bytes(case, data, "uploaded mask"))
    if truth_error:
        st.error(truth_error)
    pacs_reference(cached_worklist(), case.hash, lambda data: set_truth_from_bytes(case, data, "SEG from the PACS"))
truth = case.truth
if truth is not None:
    for note in truth.notes:
        figures_col.warning(note)
window = window_size()
image_side = max(320, min(int((window[0] - (300 if window[0] >= 768 else 0) - 160) * 0.6) - 24, window[1] - 310))


@st.fragment
def viewer() -> None:
    """Display controls rerun only this fragment: no new prediction, no reload of the rest."""
    views = list(VIEWS) if truth is not None else list(VIEWS[:3])
    view = st.radio("View", views, horizontal=True, key="_view")
    c2, c3 = st.columns([1, 2])
    style = c2.radio("Mask", ["fill", "contour"], horizontal=True, key="_style")
    opacity = c3.slider("Opacity", 0.0, 1.0, 0.4, 0.05, key="_opacity")
    picture = render_view(view, case.pixels, result.mask, result.probability, result.uncertainty,
                          truth.mask if truth is not None else None, opacity, style, max_side=1400)
    st.image(picture, caption=f"{plain(case.label)} · {model} · {view} · {result.seconds * 1000:.0f} ms",
             width=image_side)
    if view == "Errors vs reference":
        st.caption(f"{LEGEND} — here: red = predicted lung not in the reference (false positive), green = "
                   "reference lung the model missed (false negative)")
    elif view == "Uncertainty":
        st.caption("Uncertainty: bright where the model and its mirrored view disagree — check those edges first.")


with view_col:
    viewer()

with figures_col:
    metrics = compare(result.mask, truth.mask) if truth is not None else None
    figures = measure(result.mask, case.meta.get("pixel_spacing_mm"))
    if metrics is not None:
        st.subheader(f"Against the reference ({plain(case.truth_label)})")
        cols = st.columns(3) + st.columns(3)
        shown = [("IoU", metrics.iou), ("Dice", metrics.dice), ("Precision", metrics.precision),
                 ("Recall", metrics.recall), ("Pixel accuracy", metrics.accuracy)]
        for col, (label, value) in zip(cols, shown):
            col.metric(label, f"{value:.3f}")

    st.subheader("Lungs")
    spacing = case.meta.get("pixel_spacing_mm")
    unit_note = (f"pixel spacing {spacing[0]:.3f} x {spacing[1]:.3f} mm from the DICOM" if spacing
                 else "no usable pixel spacing in the file: sizes in pixels only")
    rows = [
        {"": "Right lung (image left)", "area px": figures.right_area_px, "area cm²": figures.right_area_cm2},
        {"": "Left lung (image right)", "area px": figures.left_area_px, "area cm²": figures.left_area_cm2},
        {"": "Both lungs", "area px": figures.total_area_px, "area cm²": figures.total_area_cm2},
    ]
    if not spacing:
        rows = [{k: v for k, v in row.items() if k != "area cm²"} for row in rows]
    st.dataframe(rows, hide_index=True, column_config={
        "area px": st.column_config.NumberColumn("area px", format="%d"),
        "area cm²": st.column_config.NumberColumn("area cm²", format="%.1f")})  # one decimal is what a reader uses
    c1, c2 = st.columns(2)
    c3, c4 = st.columns(2)
    c1.metric("Right / left area", f"{figures.right_left_ratio:.2f}" if figures.right_left_ratio is not None else "n/a")
    c2.metric("Lung height", f"{figures.height_mm:.0f} mm" if figures.height_mm else f"{figures.height_px} px")
    c3.metric("Lung width", f"{figures.width_mm:.0f} mm" if figures.width_mm else f"{figures.width_px} px")
    c4.metric("Share of image", f"{figures.share_of_image:.1%}")
    st.caption(unit_note)
    if not result.mask.any():
        st.warning("The model found no lung in this image. Is it a chest X-ray?")

    record = figures_record(model, figures, metrics, case.label, result.seconds)
    style, opacity = st.session_state.get("_style", "fill"), st.session_state.get("_opacity", 0.4)
    d1, d2 = st.columns(2)
    d3, d4 = st.columns(2)
    d1.download_button("Mask (PNG)", png_bytes(result.mask), file_name=download_name(case.label, model, "mask", "png"),
                       mime="image/png", on_click="ignore")
    d2.download_button("Overlay (PNG)", lambda: png_bytes(render_view("Mask overlay", case.pixels, result.mask,
                                                                      opacity=opacity, style=style)),
                       file_name=download_name(case.label, model, "overlay", "png"), mime="image/png",
                       on_click="ignore")
    d3.download_button("Figures (CSV)", records_csv([record]),
                       file_name=download_name(case.label, model, "figures", "csv"),
                       mime="text/csv", on_click="ignore")
    d4.download_button("Figures (JSON)", records_json([record]),
                       file_name=download_name(case.label, model, "figures", "json"), mime="application/json",
                       on_click="ignore")
    add_current_to_worklist(user, model)
