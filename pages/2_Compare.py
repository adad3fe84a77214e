"""Compare: every model on the same X-ray, side by side, with time, scores and an agreement map."""
from __future__ import annotations

import streamlit as st

from lungseg_app.state import cached_segmentation, current_case, sidebar
from lungseg_core import list_models
from lungseg_core.imaging.case_report import compare
from lungseg_core.imaging.overlay import agreement_map, render_view

st.set_page_config(page_title="Compare · LungSeg Studio", page_icon="🫁", layout="wide")
sidebar()
st.title("Compare models")

case = current_case()
names = list_models()
if case is None:
    st.info("Open an X-ray on the Segment page (or a sample on Home) first.")
    st.stop()

results = {}
progress = st.progress(0.0, text="Running every model…")
for i, name in enumerate(names):
    results[name] = cached_segmentation(case.hash, name, case.pixels)
    progress.progress((i + 1) / len(names), text=f"{name} done")
progress.empty()

truth = case.truth.mask if case.truth is not None else None
rows = []
for name, res in results.items():
    row = {"model": name, "ms (first run, TTA incl.)": round(res.seconds * 1000, 1),
           "lung share": round(float(res.mask.mean()), 4)}
    if truth is not None:
        m = compare(res.mask, truth)
        row.update({"IoU": round(m.iou, 4), "Dice": round(m.dice, 4)})
    rows.append(row)
st.dataframe(rows, hide_index=True)

per_row = 3
items = list(results.items())
for start in range(0, len(items), per_row):
    cols = st.columns(per_row)
    for col, (name, res) in zip(cols, items[start:start + per_row]):
        caption = f"{name} · {res.seconds * 1000:.0f} ms"
        if truth is not None:
            m = compare(res.mask, truth)
            caption += f" · IoU {m.iou:.3f} · Dice {m.dice:.3f}"
        col.image(render_view("Mask overlay", case.pixels, res.mask, max_side=700), caption=caption, width="stretch")

st.subheader("Agreement across models")
st.image(agreement_map(case.pixels, [r.mask for r in results.values()]),
         caption="Blue: every model calls it lung (the mask's colour on every page). Warm colours: models "
                 "disagree (brightest where split evenly).",
         width="stretch")
