"""Retrain: fine-tune a model on approved corrections in a background process, watch its
progress (it survives a page reload), cancel it, and see the gate's decision."""
from __future__ import annotations

from pathlib import Path

import streamlit as st

from lungseg_app.state import cached_store, chosen_model, sidebar
from lungseg_core import list_models
from lungseg_core.model_catalog import model_summaries
from lungseg_core.retrain_jobs import JobBusyError, active_job, cancel_job, latest_job, start_job

DEFAULT_DATA = Path(__file__).resolve().parent.parent.parent / "shared" / "data" / "cxr-lungs"

st.set_page_config(page_title="Retrain · LungSeg Studio", page_icon="🫁", layout="wide")
sidebar()
st.title("Retrain from corrections")

store = cached_store()
approved = len(store.list_corrections(status="approved"))
running = active_job()

names = list_models()
c1, c2, c3 = st.columns([2, 1, 3])
base = c1.selectbox("Start from", names, index=names.index(chosen_model()) if chosen_model() in names else 0,
                    key="_rt_base")
epochs = c2.number_input("Epochs", 1, 50, 1, key="_rt_epochs")
data = c3.text_input("Base training data (mixed in so the model does not forget; its val split decides)",
                     value=str(DEFAULT_DATA) if DEFAULT_DATA.is_dir() else "", key="_rt_data")
st.caption(f"{approved} approved correction(s) in the store. About a quarter are held back to judge the result.")
if data and not (Path(data) / "manifest.csv").is_file():
    st.warning(f"No manifest.csv in {data}: the job will train on corrections only and decide on the held-back ones.")
if st.button("Start retraining", type="primary", disabled=running is not None or approved < 2, key="_rt_start"):
    try:
        start_job(base, Path(store.root), Path(data) if data and (Path(data) / "manifest.csv").is_file() else None,
                  epochs=int(epochs))
    except JobBusyError as exc:
        st.error(str(exc))
    else:
        st.rerun()


@st.fragment(run_every=1.0)
def progress_panel() -> None:
    """Re-read the job's progress file every second without rerunning the page."""
    job = active_job()
    shown = latest_job()
    if shown is None:
        st.info("No retraining job has run yet.")
        return
    state = shown.get("state", "?")
    if job is not None and job["id"] == shown["id"]:
        epoch, epochs_ = shown.get("epoch", 0), shown.get("epochs", 1)
        step, steps = shown.get("step_in_epoch", 0), max(1, shown.get("steps_per_epoch", 1))
        fraction = min(1.0, ((max(epoch, 1) - 1) + step / steps) / max(1, epochs_)) if epoch else 0.0
        loss = shown.get("loss")
        val = shown.get("val_dice")
        text = (f"Job {shown['id']} ({shown.get('base')}): epoch {epoch}/{epochs_}, step {step}/{steps}"
                + (f", loss {loss:.4f}" if loss is not None else "")
                + (f", val Dice {val:.4f}" if val is not None else "")
                + (" — evaluating the candidate against its parent…" if shown.get("phase") == "evaluating" else ""))
        st.progress(fraction, text=text)
        if st.button("Cancel job", key="_rt_cancel"):
            cancel_job()
            st.rerun(scope="app")
    else:
        message = shown.get("message", state)
        (st.success if state == "done" else st.warning if state == "cancelled" else st.error)(
            f"Last job {shown['id']}: {state} — {message}")
        result = shown.get("result")
        if result:
            st.write(f"Gate: {result['decision']['reason']}")
            st.dataframe([{"split": split, **{k: round(v, 4) for k, v in d.items()}}
                          for split, d in result["metrics"].items()], hide_index=True)


progress_panel()

st.subheader("Model versions")
st.dataframe(model_summaries(), hide_index=True)
