"""The editor's canvas: streamlit-drawable-canvas 0.13 with its report delay set to 0 ms and its own
toolbar hidden.

The component reports a drawing 200 ms after the mouse is released (a debounce), and any new
`initial_drawing` cancels a pending report. The editor empties the canvas after every applied edit,
so a stroke finished just before that happened was lost (bench/editor_fast_strokes.py: 5 of 6
strokes applied at 300 ms apart, 4 of 6 at 100 ms). With no delay the report leaves on the next
tick, before any reply can arrive, and every answer comes 200 ms sooner.

The package's own bundle is used with that one number changed. It is written once to a cache folder
and registered with Streamlit as the asset folder of a component of our own, so the browser loads it
as a file once per page (an inline bundle would travel with every run that draws the canvas: 412 KB).
`st_canvas`, which builds the component's arguments, then mounts ours instead of the original. Any
other release of the package, or a Streamlit whose component registry differs, keeps the original
(the editor then works as before, with the delay); so does LUNGSEG_PACKAGED_CANVAS=1 (for comparison)."""
from __future__ import annotations

import hashlib
import importlib.util
import logging
import os
import tempfile
import weakref
from pathlib import Path
from typing import Any

_LOG = logging.getLogger(__name__)
_DEBOUNCE = "Bc = 200,"
COMPONENT = "lungseg.editor_canvas"
_HTML = '<div class="canvas-root"></div>'
#: The component's own undo / redo / clear toolbar is hidden: the page's Undo, Redo and Reset are the
#: one history (a second one, half-disabled beside them, confused annotators).
_NO_TOOLBAR = "\n.dc-toolbar{display:none !important}\n"
_mounted: weakref.WeakKeyDictionary[Any, Any] = weakref.WeakKeyDictionary()  # per runtime (AppTest: one per test)


def bundle_dir() -> Path:
    """The package's built frontend, found without importing it (its import registers the original
    component, which needs a running app)."""
    spec = importlib.util.find_spec("streamlit_drawable_canvas")
    if spec is None or spec.origin is None:
        raise ImportError("streamlit-drawable-canvas is not installed")
    return Path(spec.origin).parent / "frontend" / "build"


def patched_bundle() -> tuple[str, str] | None:
    """(js, css) of the package's bundle with the report delay at 0, or None when this release of the
    package does not have that delay exactly once."""
    build = bundle_dir()
    js = next(build.glob("index-*.js")).read_text(encoding="utf-8")
    if js.count(_DEBOUNCE) != 1:
        return None
    css = next(build.glob("index-*.css")).read_text(encoding="utf-8")
    return js.replace(_DEBOUNCE, "Bc = 0,"), css + _NO_TOOLBAR


def _cache_root() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "lungseg-studio"
    try:
        base.mkdir(parents=True, exist_ok=True, mode=0o700)
        return base
    except OSError:
        return Path(tempfile.mkdtemp(prefix="lungseg-canvas-"))


def write_assets(js: str, css: str, root: Path | None = None) -> Path:
    """The patched bundle as files in a folder named by its content (written atomically, once)."""
    root = root or _cache_root()
    folder = root / ("canvas-" + hashlib.sha256((js + css).encode()).hexdigest()[:16])
    if not (folder / "index-canvas.js").is_file():
        staging = Path(tempfile.mkdtemp(prefix=".canvas-", dir=root))
        (staging / "index-canvas.js").write_text(js, encoding="utf-8")
        (staging / "index-canvas.css").write_text(css, encoding="utf-8")
        try:
            staging.rename(folder)
        except OSError:  # another process wrote it first
            for f in staging.iterdir():
                f.unlink()
            staging.rmdir()
    return folder


def install() -> bool:
    """Make `st_canvas` mount the patched canvas on the running app; False keeps the original."""
    if os.environ.get("LUNGSEG_PACKAGED_CANVAS") == "1":
        return False
    try:
        from streamlit.components.v2 import component
        from streamlit.components.v2.manifest_scanner import ComponentConfig, ComponentManifest
        from streamlit.runtime import Runtime

        if not Runtime.exists():
            return False
        manager = Runtime.instance().bidi_component_registry
        if manager not in _mounted:
            bundle = patched_bundle()
            if bundle is None:
                return False
            folder = write_assets(*bundle)
            if manager.get_component_asset_root(COMPONENT) is None:
                manager.register_from_manifest(
                    ComponentManifest(name="lungseg", version="1",
                                      components=[ComponentConfig(name="editor_canvas", asset_dir=folder.name)]),
                    folder.parent)
            _mounted[manager] = component(COMPONENT, js="index-canvas.js", css="index-canvas.css", html=_HTML,
                                              isolate_styles=True)
        import streamlit_drawable_canvas as drawable_canvas

        drawable_canvas.out = _mounted[manager]
        return True
    except Exception as exc:  # noqa: BLE001 - the original canvas still works, only slower to report
        _LOG.warning("Editor canvas: keeping streamlit-drawable-canvas as it is (%s)", exc)
        return False


def editor_canvas(**kwargs: Any) -> Any:
    """`st_canvas` with the patched component when it can be installed (the original otherwise)."""
    install()
    from streamlit_drawable_canvas import st_canvas

    return st_canvas(**kwargs)
