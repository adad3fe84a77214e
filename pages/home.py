"""Home: what the app does, "open your own X-ray" next to the sample cases, the models and their
test scores. (app.py runs it at /.)"""
from __future__ import annotations

import streamlit as st

from lungseg_app.state import set_case_from_bytes, set_case_from_sample, sidebar
from lungseg_core import LungSegError
from lungseg_core.models.model_catalog import model_summaries
from lungseg_core.models.samples import list_samples

st.set_page_config(page_title="LungSeg Studio", page_icon="🫁", layout="wide")
sidebar()
st.title("LungSeg Studio")
st.write(
    "Segment the lungs on chest X-rays with trained neural networks and check the result against a "
    "reference mask. Correct the mask by hand so that the corrections can retrain the models."
)

own, rest = st.columns([1, 3])
with own:
    st.subheader("Open your own X-ray")
    upload = st.file_uploader("PNG, JPEG, 16-bit PNG or DICOM", type=["png", "jpg", "jpeg", "dcm", "dicom"],
                              key="_home_upload", help="Nothing that identifies the patient is kept: no file name, "
                                                       "no DICOM identifiers.")
    if upload is not None:
        try:
            set_case_from_bytes(upload.getvalue(), "your X-ray")
        except LungSegError as exc:
            st.error(str(exc))
        else:
            st.switch_page("pages/1_Segment.py")
with rest:
    st.subheader("…or try a sample case")
samples = list_samples()
cols = rest.columns(len(samples))
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
    st.caption("Per-image mean on the test split, as written by the training code in each model card. "
               "Dice: twice the overlap ÷ the two areas added; IoU: overlap ÷ union (1 = a perfect mask for both); "
               "precision: share of the predicted lung that is lung; recall: share of the lung that was found.")
else:
    st.warning("No trained weights found in weights/. Train a model: `python -m lungseg_core train --help`.")
