"""User text shown as text: labels, notes, names and link parameters are typed by people (or by
whoever crafts a link), and Streamlit renders most strings as Markdown, where `[x](http://…)`
becomes a link and `![](http://…)` an image the browser fetches. `plain` escapes every character
Markdown (and Streamlit's `:color[…]` / `:material/…:` directives) give a meaning to."""
from __future__ import annotations

import re

_MARKDOWN = re.compile(r"([\\`*_{}\[\]()<>#+\-.!|~:$=^&])")


def plain(text: object) -> str:
    """`text` escaped for st.markdown/st.caption/st.info/…: it shows exactly as typed, on one line."""
    flat = " ".join(str(text).split())  # no new paragraphs, headings or lists from line breaks
    return _MARKDOWN.sub(r"\\\1", flat)
