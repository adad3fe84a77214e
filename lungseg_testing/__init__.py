"""Helpers for the browser tests and the browser benches (a Streamlit server on a free port, Chromium,
canvas strokes, waits). Never imported by the product (`lungseg_core`, `lungseg_app`, `pages`)."""
