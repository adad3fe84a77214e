import numpy as np
import pytest

from lungseg_core.imaging.mask_editing import (ADD_COLOUR, ERASE_COLOUR, EditHistory, Viewport,
                                       apply_strokes, canvas_to_image, edit_figures, stroke_layers)


def _canvas(w: int, h: int) -> np.ndarray:
    return np.zeros((h, w, 4), np.uint8)


def _paint(canvas: np.ndarray, rows: slice, cols: slice, colour, alpha: int = 140) -> None:
    canvas[rows, cols, :3] = colour
    canvas[rows, cols, 3] = alpha


def test_stroke_at_known_place_changes_exactly_those_pixels():
    shape = (1000, 1400)  # image twice the canvas size
    vp = Viewport.whole(shape)
    assert vp.canvas_size(700) == (700, 500)
    canvas = _canvas(700, 500)
    _paint(canvas, slice(100, 110), slice(200, 250), ERASE_COLOUR)
    base = np.ones(shape, bool)
    out = apply_strokes(base, canvas, vp)
    expected = np.ones(shape, bool)
    expected[200:220, 400:500] = False
    assert np.array_equal(out, expected)


def test_zoomed_viewport_maps_into_its_region_only():
    shape = (512, 512)
    vp = Viewport.zoom(shape, centre_x=100, centre_y=400, factor=4)  # 128 x 128 region
    assert (vp.x0, vp.y0, vp.x1, vp.y1) == (36, 336, 164, 464)
    w, h = vp.canvas_size(512)
    canvas = _canvas(w, h)  # 4 canvas px per image px
    _paint(canvas, slice(0, 8), slice(0, 4), ADD_COLOUR)
    out = apply_strokes(np.zeros(shape, bool), canvas, vp)
    assert np.argwhere(out).tolist() == [[336, 36], [337, 36]]


def test_viewport_clamped_inside_image():
    vp = Viewport.zoom((100, 200), centre_x=195, centre_y=2, factor=2)
    assert (vp.x0, vp.y0, vp.x1, vp.y1) == (100, 0, 200, 50)


def test_add_and_erase_composition():
    shape = (20, 20)
    base = np.zeros(shape, bool)
    base[5:15, 5:15] = True
    canvas = _canvas(20, 20)
    _paint(canvas, slice(0, 3), slice(0, 3), ADD_COLOUR)
    _paint(canvas, slice(5, 7), slice(5, 15), ERASE_COLOUR)
    _paint(canvas, slice(18, 20), slice(18, 20), ADD_COLOUR, alpha=10)  # faint fringe: ignored
    out = apply_strokes(base, canvas, Viewport.whole(shape))
    expected = base.copy()
    expected[0:3, 0:3] = True
    expected[5:7, 5:15] = False
    assert np.array_equal(out, expected)
    add, erase = stroke_layers(canvas)
    assert add.sum() == 9 and erase.sum() == 20
    assert np.array_equal(apply_strokes(base, None, Viewport.whole(shape)), base)
    with pytest.raises(ValueError):
        stroke_layers(np.zeros((4, 4, 3), np.uint8))


def test_history_undo_redo_reset_and_figures():
    original = np.zeros((10, 10), bool)
    original[2:8, 2:8] = True
    h = EditHistory(original)
    assert not h.undo()
    edited = original.copy()
    edited[2:4, 2:8] = False
    h.commit(edited)
    h.commit(edited)  # no-op: same mask
    assert len(h.versions) == 2
    assert h.undo() and np.array_equal(h.current, original)
    assert h.redo() and np.array_equal(h.current, edited)
    assert not h.redo()
    h.reset()
    assert np.array_equal(h.current, original) and len(h.versions) == 3
    f = edit_figures(original, edited)
    assert (f.added_px, f.removed_px) == (0, 12) and f.iou_with_model == pytest.approx(24 / 36)


def test_canvas_to_image_upscale():
    layer = np.zeros((2, 2), bool)
    layer[0, 1] = True
    out = canvas_to_image(layer, Viewport.whole((4, 4)), (4, 4))
    assert np.argwhere(out).tolist() == [[0, 2], [0, 3], [1, 2], [1, 3]]
