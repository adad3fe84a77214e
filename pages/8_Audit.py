"""Audit (admins): every change with who, when, what and why; filter and export as CSV."""
from __future__ import annotations

import sqlite3
from datetime import date, timedelta

import streamlit as st

from lungseg_app.state import cached_store, sidebar
from lungseg_core.people.audit import ACTION_LABELS, AuditLog, entries_csv
from lungseg_core.storage.database import StoreError
from lungseg_core.workflow.worklist import Worklist

st.set_page_config(page_title="Audit · LungSeg Studio", page_icon="🫁", layout="wide")
user = sidebar()
st.title("Audit log")
if not user.can("view_audit"):
    st.info("The audit log is for admins.")
    st.stop()
log = AuditLog(cached_store().database)
f1, f2, f3 = st.columns([2, 2, 3])
who = f1.selectbox("Who", ["anyone", *log.actors(user)], key="_au_who")
what = f2.selectbox("Action", ["any", *ACTION_LABELS], key="_au_action",
                    format_func=lambda a: a if a == "any" else f"{ACTION_LABELS[a]} ({a})")
days = f3.date_input("Between", (date.today() - timedelta(days=30), date.today()), key="_au_days")
since, until = (days if isinstance(days, tuple) and len(days) == 2 else (None, None))
try:
    entries = log.entries(user, record_read=True, actor=None if who == "anyone" else who,
                          action=None if what == "any" else what,
                          since=since.isoformat() if since else None, until=until.isoformat() if until else None)
except (sqlite3.Error, StoreError) as exc:
    st.error(f"The audit log cannot be read right now ({exc}); try again in a moment.")
    st.stop()
st.caption(f"{len(entries)} entr{'y' if len(entries) == 1 else 'ies'}, newest first; times in UTC. Targets are record "
           "ids, model versions and user names: nothing here identifies a patient.")
# people think in case numbers: a correction's id (or an image's short hash) is shown as its case
store = cached_store()
case_of_image = {c.image_hash: c.number for c in Worklist(store).list_cases()}
case_of = {r.id: case_of_image.get(r.image_hash) for r in store.list_corrections()}
case_of.update({h[:12]: n for h, n in case_of_image.items()})


def _target(target: str) -> str:
    number = case_of.get(target) or case_of.get(target[:12])
    return f"case {number} ({target[:8]})" if number else target


st.dataframe([{"when (UTC)": e.at[:19].replace("T", " "), "who": e.actor, "what": ACTION_LABELS.get(e.action, e.action),
               "target": _target(e.target), "detail": ", ".join(f"{k}: {v}" for k, v in e.detail.items()),
               "why": e.reason} for e in entries],
             hide_index=True, width="stretch",
             column_config={"why": st.column_config.TextColumn("why", width="large"),
                            "detail": st.column_config.TextColumn("detail", width="medium")})
st.download_button("Export CSV", entries_csv(entries), file_name="lungseg_audit.csv", mime="text/csv",
                   key="_au_export", on_click="ignore")
