"""Every keyboard shortcut of the Correct page in one list, shown by `?` (or Alt+H) in a dialog.

Streamlit's button shortcuts cannot bind punctuation, so `?` is caught by a small page script
(`st.html` with JavaScript, nothing of a user's in it) that presses the hidden Alt+H button, unless
the person is typing in a field."""
from __future__ import annotations

import streamlit as st

SHORTCUTS: tuple[tuple[str, str], ...] = (
    ("Alt+1 … Alt+6", "tools: add brush, erase brush, add polygon, cut polygon, fix: add lung, fix: remove"),
    ("Alt+K / Alt+J", "brush wider / thinner (one pixel of the X-ray per press)"),
    ("Alt+M", "hide the mask, and show it again"),
    ("Alt+0", "the whole image (zoom out)"),
    ("Ctrl+Z / Ctrl+Y", "undo / redo"),
    ("Ctrl+S", "save"),
    ("Ctrl+Enter", "save and open the next case"),
    ("Alt+N / Alt+P", "next case / the case you had open before"),
    ("wheel on the X-ray", "zoom in or out about the pointer"),
    ("middle button drag", "move the zoomed region"),
    ("right button drag", "brightness (up / down) and contrast (left / right)"),
    ("? or Alt+H", "this list"),
)
HELP_KEY = "_keys_help"

_SCRIPT = """<script>
(() => {
  if (window.__lungsegHelpKey) return;
  window.__lungsegHelpKey = true;
  window.addEventListener('keydown', (e) => {
    if (e.key !== '?' || window.__lungseg.typing(e.target)) return;
    const button = document.querySelector('.st-key-%(key)s button');
    if (button) { e.preventDefault(); button.click(); }
  }, true);
})();
</script>"""


def help_key_html() -> str:
    return _SCRIPT % {"key": HELP_KEY}


@st.dialog("Keyboard shortcuts")
def _shortcut_dialog() -> None:
    st.table([{"keys": keys, "what they do": what} for keys, what in SHORTCUTS])


def shortcut_help_button() -> None:
    """The button behind `?` / Alt+H (hidden by the page's CSS: the caption under the tools names it)."""
    if st.button("Keyboard shortcuts", key=HELP_KEY, shortcut="Alt+H", type="tertiary"):
        _shortcut_dialog()
