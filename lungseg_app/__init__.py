"""Streamlit glue for LungSeg Studio: session state, cached models and predictions, sidebar.

Only what needs Streamlit lives here; everything a test can reach without a browser is in
lungseg_core.
"""
