"""Worklist: import X-rays in bulk, segment them in the background, see which masks to check first,
and open the next case. The logic lives in lungseg_core.workflow.worklist / case_import / batch_segmentation."""
from __future__ import annotations

import streamlit as st

from lungseg_app.auth import acting_user_later, users_directory
from lungseg_app.pacs_view import FOUND_KEY, pacs_panel
from lungseg_app.plain_text import plain
from lungseg_app.case_navigation import cached_worklist, go_next, open_case, pop_nav_message
from lungseg_app.state import cached_store, sidebar
from lungseg_app.worklist_view import case_table, claims_panel, import_panel, segmentation_panel
from lungseg_core import LungSegError
from lungseg_core.workflow.review_workflow import CASE_STATUSES
from lungseg_core.workflow.worklist import (SORTS, filter_cases, progress_share, rows_csv, rows_json, sort_cases,
                                           status_counts)

st.set_page_config(page_title="Worklist · LungSeg Studio", page_icon="🫁", layout="wide")
user = sidebar()
st.title("Worklist")
worklist = cached_worklist()

n1, n2, _ = st.columns([1, 1, 3])
if user.can("claim") and n1.button("Next case ▶", type="primary", key="_wl_next", shortcut="Alt+N",
                                   help="Your unfinished work first, then flagged and lowest estimated Dice; "
                                        "claimed for you so nobody else edits it"):
    if go_next(user):
        st.switch_page("pages/4_Correct.py")
if user.can("approve") and n2.button("Next to review ▶", key="_wl_next_review",
                                     help="The oldest submission by someone else"):
    if go_next(user, review=True):
        st.switch_page("pages/5_Review.py")
message = pop_nav_message()
if message:
    st.info(message)

try:
    cases = worklist.list_cases()
    if worklist.ensure_thumbnails(cases):
        cases = worklist.list_cases()
except LungSegError as exc:
    st.error(f"The worklist cannot be read: {exc}")
    st.stop()

counts = status_counts(cases)
cols = st.columns(len(CASE_STATUSES))
for col, status in zip(cols, CASE_STATUSES):
    col.metric(status.capitalize(), counts[status])
st.progress(progress_share(counts), text=f"{counts['approved']} of {len(cases)} cases approved")

if user.can("segment"):
    # open while there is nothing to work on, and after an import so that its report is seen
    # (a re-mounted expander takes this value, so a report can never land folded away)
    with st.expander("Import X-rays", expanded=not cases or st.session_state.get("_wl_report") is not None):
        import_panel(worklist, user)
    with st.expander("From the PACS", expanded=st.session_state.get(FOUND_KEY) is not None):
        pacs_panel(worklist, user)
    segmentation_panel(cached_store().address, user, pending=counts["new"])
if user.can("reopen"):
    claims_panel(worklist, user)

if not cases:
    st.info("No cases yet: import X-rays above (or save a correction on Correct, which adds its X-ray).")
    st.stop()

f1, f2, f3, f4, f5 = st.columns([2.2, 1.3, 1.5, 1.2, 2])  # wide enough for every label at 1280 px
statuses = f1.multiselect("Status", CASE_STATUSES, key="_wl_status", placeholder="any status")
flagged = f2.toggle("Flagged only", key="_wl_flagged")
mine = f3.toggle("Mine only", key="_wl_mine", help="Cases given to you, that you hold or last worked on")
sort = f4.selectbox("Sort by", SORTS, key="_wl_sort")
text = f5.text_input("Search", key="_wl_text", placeholder="case number, label or flag")
shown = sort_cases(filter_cases(cases, statuses, flagged, user.username if mine else None, text), sort)
st.caption(f"{len(shown)} of {len(cases)} cases · estimated Dice: how well the mask likely matches what an expert "
           "would draw (from the model's own doubt and the lungs' shape, no reference needed)")
picked = case_table(worklist, shown)
if picked is not None:
    o1, o2, _ = st.columns([1, 1, 3])
    if o1.button(f"Open case {picked} in Correct", key="_wl_open_correct"):
        open_case(picked)
        st.switch_page("pages/4_Correct.py")
    if o2.button(f"Open case {picked} in Review", key="_wl_open_review"):
        open_case(picked)
        st.switch_page("pages/5_Review.py")
    if user.can("reopen"):  # reviewers and admins give a case to one person
        annotators = [u.username for u in users_directory().list_users() if u.active and "annotator" in u.roles]
        a1, a2, _ = st.columns([2, 1, 2])
        to = a1.selectbox(f"Give case {picked} to", ["nobody (anyone may take it)", *annotators],
                          key=f"_wl_assign_{picked}")
        if a2.button("Assign", key="_wl_assign"):
            try:
                cached_worklist().assign(picked, None if to.startswith("nobody") else to, user)
            except LungSegError as exc:
                st.error(f"Not assigned: {plain(exc)}")
            else:
                st.rerun()

if user.can("export"):
    exporter = acting_user_later()  # the rows are made (role checked, audited) when the button is clicked
    e1, e2, _ = st.columns([1.7, 0.8, 2.5])
    e1.download_button("Figures of every case (CSV)", lambda: rows_csv(worklist.export_rows(exporter())),
                       file_name="lungseg_cases.csv", mime="text/csv", key="_wl_csv", on_click="ignore")
    e2.download_button("… (JSON)", lambda: rows_json(worklist.export_rows(exporter())),
                       file_name="lungseg_cases.json",
                       mime="application/json", key="_wl_json", on_click="ignore")
