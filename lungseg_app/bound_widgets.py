"""Widgets whose value lives in a plain session-state key that shortcuts (button callbacks) also set.

Setting a widget's own key from a callback races with the browser: a rerun the browser sends before
it has drawn the new value carries the widget's old value, which then wins, and the screen (new
value) and the page (old value) disagree until the person acts again. Here the widget's key carries
the value it was drawn with, so a new value is drawn by a fresh widget, and an old widget's unchanged
value, arriving late, changes nothing; a person's own change is copied into the state key."""
from __future__ import annotations

from typing import Any, Callable

import streamlit as st


def bound_widget(make: Callable[..., Any], label: str, state_key: str, shown: Any, **kwargs: Any) -> Any:
    """`make(label, key=..., on_change=..., **kwargs)` showing `shown`, the current value of
    `st.session_state[state_key]` (pass it as the widget's default in kwargs too)."""
    key = f"{state_key}@{shown}"

    def adopt() -> None:
        st.session_state[state_key] = st.session_state[key]

    return make(label, key=key, on_change=adopt, **kwargs)
