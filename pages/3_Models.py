"""Models: each model's card as the training code wrote it, with its training curves."""
from __future__ import annotations

import streamlit as st

from lungseg_app.state import sidebar
from lungseg_core.models.model_catalog import model_summaries
from lungseg_core.models.model_loading import model_folder

st.set_page_config(page_title="Models · LungSeg Studio", page_icon="🫁", layout="wide")
sidebar()
st.title("Models")
summaries = model_summaries()
st.dataframe(summaries, hide_index=True)
for row in summaries:
    name = row["model"]
    with st.expander(f"{row['title']}  —  `{name}`", expanded=row["default"]):
        card = model_folder(name) / f"{name}.md"
        curves = model_folder(name) / f"{name}.curves.png"
        if curves.is_file():
            st.image(str(curves), caption="Training curves (loss and Dice per epoch, train and validation)")
        st.markdown(card.read_text() if card.is_file() else "_No model card._")
