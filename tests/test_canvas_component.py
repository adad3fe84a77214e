"""The editor's canvas is the drawable-canvas bundle with its 200 ms report delay removed."""
from lungseg_app import canvas_component


def test_the_bundle_reports_at_once_and_is_otherwise_the_packages():
    js, css = canvas_component._patched_bundle()
    assert js and css
    assert "Bc = 0," in js and canvas_component._DEBOUNCE not in js
    original = next(canvas_component.bundle_dir().glob("index-*.js")).read_text(encoding="utf-8")
    assert len(js) == len(original) - 2  # "200" -> "0": nothing else changed
