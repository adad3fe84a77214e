"""Widgets used by more than one page."""
from __future__ import annotations

import streamlit as st

from lungseg_app.state import set_case_from_bytes, set_case_from_sample
from lungseg_app.uploads import handle_upload
from lungseg_core.imaging.image_io import UPLOAD_TYPES
from lungseg_core.models.samples import list_samples


def _open_upload(data: bytes, name: str) -> None:
    """An uploaded X-ray replaces the case: the sample picker no longer names the last sample."""
    set_case_from_bytes(data, "uploaded X-ray")
    st.session_state.pop("_sample_widget", None)  # drawn after this, in the same run: allowed


def case_input() -> None:
    """Upload an X-ray or open a bundled sample; errors stay on the page, the app stays usable."""
    left, right = st.columns([3, 2])
    with left:
        uploaded = st.file_uploader("Chest X-ray (PNG, JPEG, 16-bit PNG or DICOM)", key="xray_upload",
                                    type=list(UPLOAD_TYPES),
                                    help="The file name is not kept. DICOM header fields other than size and "
                                         "pixel spacing are dropped.")
        error = handle_upload(uploaded, "xray", _open_upload)
        if error:
            st.error(error)
    with right:
        samples = {s.label: s for s in list_samples()}
        picked = st.selectbox("…or a sample case (test split, with its reference mask)", list(samples), index=None,
                              placeholder="choose a sample", key="_sample_widget")
        if st.button("Open sample", disabled=picked is None, key="_open_sample"):
            set_case_from_sample(samples[picked])


def case_notices(meta: dict) -> None:
    """What the reader noticed about the file: warnings (possible identifiers in the pixels) and
    notes (frames, spacing ignored, window replaced, colour converted)."""
    for warning in meta.get("warnings", []):
        st.warning(warning)
    for note in meta.get("notes", []):
        st.info(note)
