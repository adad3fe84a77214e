"""The editor's canvas is the drawable-canvas bundle with its 200 ms report delay removed, served as a
file asset of a component of our own."""
from pathlib import Path

from lungseg_app import canvas_component


def test_the_bundle_reports_at_once_and_is_otherwise_the_packages():
    bundle = canvas_component.patched_bundle()
    assert bundle is not None
    js, css = bundle
    assert "Bc = 0," in js and canvas_component._DEBOUNCE not in js
    original = next(canvas_component.bundle_dir().glob("index-*.js")).read_text(encoding="utf-8")
    assert len(js) == len(original) - 2  # "200" -> "0": nothing else changed
    assert css and css.rstrip().endswith(".dc-toolbar{display:none !important}")  # its own toolbar hidden


def test_the_assets_are_written_once_into_a_folder_named_by_their_content(tmp_path: Path):
    first = canvas_component.write_assets("js-a", "css-a", tmp_path)
    again = canvas_component.write_assets("js-a", "css-a", tmp_path)
    other = canvas_component.write_assets("js-b", "css-a", tmp_path)
    assert first == again != other
    assert (first / "index-canvas.js").read_text() == "js-a" and (other / "index-canvas.js").read_text() == "js-b"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([first.name, other.name])  # no staging left


def test_without_a_running_app_the_original_canvas_is_kept():
    assert canvas_component.install() is False


def test_each_running_app_mounts_the_patched_canvas():
    """Every Streamlit runtime (AppTest makes one each) gets the component registered afresh."""
    from streamlit.testing.v1 import AppTest

    script = ("import streamlit as st\nfrom lungseg_app.canvas_component import install\n"
              "st.write(f'installed={install()}')\nfrom streamlit_drawable_canvas import st_canvas\n"
              "st_canvas(width=64, height=64, key='c')\n")
    for _ in range(2):
        at = AppTest.from_string(script).run()
        assert not at.exception
        assert [m.value for m in at.markdown] == ["installed=True"]
