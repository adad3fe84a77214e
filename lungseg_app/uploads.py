"""Upload handling that survives reruns: each file is processed once (by content digest), and
its error message stays on the page while that file is in the uploader."""
from __future__ import annotations

import hashlib
from typing import Callable

import streamlit as st

from lungseg_core import LungSegError


def handle_upload(uploaded, key: str, apply: Callable[[bytes, str], None]) -> str | None:
    """Run `apply(bytes, name)` once per distinct file; return the error message for this file, if any."""
    if uploaded is None:
        return None
    data = uploaded.getvalue()
    digest = hashlib.sha256(data).hexdigest()
    seen_key, error_key = f"_{key}_digest", f"_{key}_error"
    if st.session_state.get(seen_key) != digest:
        st.session_state[seen_key] = digest
        st.session_state[error_key] = None
        try:
            apply(data, uploaded.name)
        except LungSegError as exc:
            st.session_state[error_key] = f"{uploaded.name}: {exc}"
        except Exception as exc:  # never let an odd file take the page down
            st.session_state[error_key] = f"{uploaded.name}: could not be read ({type(exc).__name__}: {exc})"
    return st.session_state.get(error_key)
