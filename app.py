"""LungSeg Studio home page: what the app does and which trained models are available."""
from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import streamlit as st  # noqa: E402

from lungseg_core.model_catalog import model_summaries  # noqa: E402

st.set_page_config(page_title="LungSeg Studio", page_icon="🫁", layout="wide")
st.title("LungSeg Studio")
st.write(
    "Segment the lungs on chest X-rays with trained neural networks, check the result against a "
    "reference mask, and correct it by hand so the corrections can retrain the models."
)
st.subheader("Models")
summaries = model_summaries()
if summaries:
    st.dataframe(summaries, hide_index=True, use_container_width=True)
    st.caption("Test-split scores (per-image mean) as written by the training code in each model card.")
else:
    st.warning("No trained weights found in weights/. Train a model: `python -m lungseg_core train --help`.")
