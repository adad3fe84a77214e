"""The editor's canvas: streamlit-drawable-canvas 0.13 with its report delay set to 0 ms.

The component reports a drawing 200 ms after the mouse is released (a debounce), and any new
`initial_drawing` cancels a pending report. The editor empties the canvas after every applied edit,
so a stroke finished just before that happened was lost (bench/editor_fast_strokes.py: 5 of 6
strokes applied at 300 ms apart, 4 of 6 at 100 ms). With no delay the report leaves on the next
tick, before any reply can arrive, and every answer comes 200 ms sooner. The package's own bundle
is used, with that one number changed; it is registered as a component of its own, and `st_canvas`
(which builds the component's arguments) calls it instead of the original."""
from __future__ import annotations

import importlib.util
from pathlib import Path

import streamlit as st

_DEBOUNCE = "Bc = 200,"


def bundle_dir() -> Path:
    """The package's built frontend, found without importing it (its import registers the original
    component, which needs a running app)."""
    spec = importlib.util.find_spec("streamlit_drawable_canvas")
    if spec is None or spec.origin is None:
        raise ImportError("streamlit-drawable-canvas is not installed")
    return Path(spec.origin).parent / "frontend" / "build"


def _patched_bundle() -> tuple[str, str]:
    build = bundle_dir()
    js = next(build.glob("index-*.js")).read_text(encoding="utf-8")
    if js.count(_DEBOUNCE) != 1:  # another release of the component: use it as it is
        return "", ""
    css = next(build.glob("index-*.css")).read_text(encoding="utf-8")
    return js.replace(_DEBOUNCE, "Bc = 0,"), css


@st.cache_resource(show_spinner=False)
def _install() -> bool:
    import streamlit_drawable_canvas as drawable_canvas

    js, css = _patched_bundle()
    if not js:
        return False
    drawable_canvas.out = st.components.v2.component(
        "lungseg.editor_canvas", js=js, css=css, html='<div class="canvas-root"></div>', isolate_styles=True)
    return True


def editor_canvas(**kwargs):  # type: ignore[no-untyped-def]
    """`st_canvas` with the immediate report (falls back to the package's own when it has changed)."""
    from streamlit_drawable_canvas import st_canvas

    _install()
    return st_canvas(**kwargs)
