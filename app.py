"""LungSeg Studio home page: what the app does, the models and their test scores, sample cases."""
from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import streamlit as st  # noqa: E402

from lungseg_app.state import set_case_from_sample, sidebar  # noqa: E402
from lungseg_core.models.model_catalog import model_summaries  # noqa: E402
from lungseg_core.models.samples import list_samples  # noqa: E402

st.set_page_config(page_title="LungSeg Studio", page_icon="🫁", layout="wide")
sidebar()
st.title("LungSeg Studio")
st.write(
    "Segment the lungs on chest X-rays with trained neural networks and check the result against a "
    "reference mask. Correct the mask by hand so that the corrections can retrain the models."
)

st.subheader("Try a sample case")
samples = list_samples()
cols = st.columns(len(samples))
for col, sample in zip(cols, samples):
    col.image(str(sample.image_path), caption=sample.label, width="stretch")
    if col.button("Open", key=f"open_{sample.id}"):
        set_case_from_sample(sample)
        st.switch_page("pages/1_Segment.py")
st.caption("Test-split cases from the NLM Montgomery County and Shenzhen sets (see samples/README.md for "
           "attribution; Shenzhen masks CC BY-NC-SA 4.0).")

st.subheader("Models")
summaries = model_summaries()
if summaries:
    st.dataframe(summaries, hide_index=True)
    st.caption("Per-image mean on the test split, as written by the training code in each model card.")
else:
    st.warning("No trained weights found in weights/. Train a model: `python -m lungseg_core train --help`.")
