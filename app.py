"""LungSeg Studio's entry point: names the pages (Home first) and runs the one asked for.

`st.navigation` instead of the pages/ folder's automatic menu, so that the first page is called
Home (the automatic menu names it after this file). The URLs stay those of the folder's pages
(/Worklist, /Correct?case=N, ...), so links people have sent keep working."""
from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")

import streamlit as st  # noqa: E402

from lungseg_app.navigation import app_pages  # noqa: E402

st.navigation(app_pages()).run()
