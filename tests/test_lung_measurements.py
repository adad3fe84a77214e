import numpy as np
import pytest

from lungseg_core.imaging.lung_measurements import LEFT, RIGHT, measure_lungs, split_lungs


def _lungs(h=200, w=200, touching=False):
    m = np.zeros((h, w), bool)
    m[40:160, 20:90] = True  # image left = patient's right: 120 x 70 = 8400
    m[50:150, 110:170] = True  # image right = patient's left: 100 x 60 = 6000
    if touching:
        m[140:145, 90:110] = True  # a bridge: one component
    return m


def test_two_lungs_areas_ratio_extent():
    f = measure_lungs(_lungs())
    assert (f.right_area_px, f.left_area_px, f.total_area_px) == (8400, 6000, 14400)
    assert f.right_left_ratio == pytest.approx(1.4)
    assert f.share_of_image == pytest.approx(14400 / 40000)
    assert (f.height_px, f.width_px) == (120, 150)
    assert f.total_area_cm2 is None


def test_spacing_gives_physical_units():
    f = measure_lungs(_lungs(), pixel_spacing_mm=(0.5, 0.25))
    assert f.right_area_cm2 == pytest.approx(8400 * 0.125 / 100)
    assert f.height_mm == pytest.approx(60.0) and f.width_mm == pytest.approx(37.5)


def test_touching_lungs_are_cut_at_the_gap():
    labels = split_lungs(_lungs(touching=True))
    assert (labels[:, :90] != LEFT).all() and (labels[:, 110:] != RIGHT).all()
    assert np.count_nonzero(labels == RIGHT) >= 8400 and np.count_nonzero(labels == LEFT) >= 6000


def test_single_and_empty():
    one = np.zeros((100, 100), bool)
    one[10:90, 60:90] = True  # only on the image's right: patient's left lung
    f = measure_lungs(one)
    assert f.right_area_px == 0 and f.left_area_px == 2400 and f.right_left_ratio == 0.0
    empty = measure_lungs(np.zeros((50, 50), bool))
    assert empty.total_area_px == 0 and empty.right_left_ratio is None and empty.height_px == 0
