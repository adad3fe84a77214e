"""Whole-mask tools: each does exactly its job on a drawn mask, and never touches its input."""
import cv2
import numpy as np

from lungseg_core.imaging.mask_tools import fill_holes, grow, remove_islands, smooth


def _lungs() -> np.ndarray:
    m = np.zeros((200, 200), np.uint8)
    cv2.ellipse(m, (60, 100), (30, 70), 0, 0, 360, 1, -1)
    cv2.ellipse(m, (140, 100), (28, 68), 0, 0, 360, 1, -1)
    return m.astype(bool)


def test_remove_islands_keeps_both_lungs_and_drops_specks():
    m = _lungs()
    speck = m.copy()
    speck[5:9, 5:9] = True
    out = remove_islands(speck)
    assert np.array_equal(out, m) and speck[5:9, 5:9].all()  # the input is untouched
    assert np.array_equal(remove_islands(np.zeros((10, 10), bool)), np.zeros((10, 10), bool))


def test_fill_holes_fills_only_enclosed_background():
    m = _lungs()
    holed = m.copy()
    holed[90:100, 55:65] = False
    assert np.array_equal(fill_holes(holed), m)
    assert not fill_holes(m)[0, 0]  # outside stays outside


def test_smooth_removes_a_spur_and_a_notch():
    m = _lungs()
    rough = m.copy()
    rough[100:102, 90:100] = True   # a 2-px spur out of the right lung's edge
    rough[99:101, 30:35] = False     # a notch into the left edge of the lung
    out = smooth(rough, 3)
    assert not out[100:102, 93:97].any() and out[99:101, 32:34].all()
    assert abs(int(out.sum()) - int(m.sum())) < 0.02 * m.sum()


def test_grow_and_shrink_by_pixels():
    m = _lungs()
    bigger, smaller = grow(m, 3), grow(m, -3)
    assert (bigger & ~m).any() and not (m & ~bigger).any()
    assert (m & ~smaller).any() and not (smaller & ~m).any()
    assert np.array_equal(grow(m, 0), m)
    ys, xs = np.nonzero(bigger & ~m)
    assert ((ys - 100) ** 2).min() >= 0 and bigger[100, 60 - 30 - 3] and not bigger[100, 60 - 30 - 5]
