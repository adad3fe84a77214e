"""A bound widget shows its state key's value, whether a person or a shortcut's callback set it."""
from streamlit.testing.v1 import AppTest

SCRIPT = """
import streamlit as st
from lungseg_app.bound_widgets import bound_widget

def pick(name):
    st.session_state["tool"] = name

tool = st.session_state.get("tool", "Add")
st.button("shortcut", key="shortcut", on_click=pick, args=("Erase",))
bound_widget(st.radio, "Tool", "tool", tool, options=["Add", "Erase", "Polygon"], index=["Add", "Erase", "Polygon"].index(tool))
st.write(f"drawing with {tool}")
"""


def _shown(at: AppTest) -> tuple[str, str]:
    (radio,) = [r for r in at.radio if r.label == "Tool"]
    return radio.value, at.markdown[0].value


def test_a_shortcut_and_a_person_both_move_the_widget_and_the_state():
    at = AppTest.from_string(SCRIPT).run()
    assert _shown(at) == ("Add", "drawing with Add")
    at.button(key="shortcut").click().run()
    assert _shown(at) == ("Erase", "drawing with Erase")
    next(r for r in at.radio if r.label == "Tool").set_value("Polygon").run()
    assert at.session_state["tool"] == "Polygon"
    at.run()  # the run after shows it
    assert _shown(at) == ("Polygon", "drawing with Polygon")
    at.button(key="shortcut").click().run()
    assert _shown(at) == ("Erase", "drawing with Erase")
    assert not at.exception
