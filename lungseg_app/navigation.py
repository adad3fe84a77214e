"""The app's pages in menu order: Home, then the work pages, then the admin pages."""
from __future__ import annotations

import streamlit as st

#: (script relative to app.py, menu title, URL path); the first is the default page at /.
PAGES: list[tuple[str, str, str]] = [
    ("pages/home.py", "Home", ""),
    ("pages/0_Worklist.py", "Worklist", "Worklist"),
    ("pages/1_Segment.py", "Segment", "Segment"),
    ("pages/2_Compare.py", "Compare", "Compare"),
    ("pages/3_Models.py", "Models", "Models"),
    ("pages/4_Correct.py", "Correct", "Correct"),
    ("pages/5_Review.py", "Review", "Review"),
    ("pages/6_Retrain.py", "Retrain", "Retrain"),
    ("pages/7_Users.py", "Users", "Users"),
    ("pages/8_Audit.py", "Audit", "Audit"),
]


def app_pages() -> list[st.Page]:
    return [st.Page(path, title=title, default=True) if not url else st.Page(path, title=title, url_path=url)
            for path, title, url in PAGES]
