import numpy as np

from lungseg_core.imaging.postprocess import clean_lung_mask, fill_small_holes, keep_lungs


def _two_lungs() -> np.ndarray:
    m = np.zeros((200, 200), bool)
    m[40:160, 20:90] = True
    m[40:160, 110:180] = True
    return m


def test_speckles_and_third_blob_removed():
    m = _two_lungs()
    m[5:8, 5:8] = True  # speckle
    m[170:190, 95:105] = True  # a third, smaller blob (200 px)
    out = keep_lungs(m)
    assert out.sum() == _two_lungs().sum()


def test_small_holes_filled_big_hole_kept():
    m = _two_lungs()
    m[80:85, 40:45] = False  # pin hole: filled
    ring = np.zeros((200, 200), bool)
    ring[10:190, 10:190] = True
    ring[30:170, 30:170] = False  # 19600 px (49 % of the image): left alone
    assert fill_small_holes(m).sum() == _two_lungs().sum()
    assert fill_small_holes(ring).sum() == ring.sum()


def test_clean_keeps_single_lung_and_empty_mask():
    one = np.zeros((100, 100), bool)
    one[20:80, 10:40] = True
    assert (clean_lung_mask(one) == one).all()
    assert not clean_lung_mask(np.zeros((50, 50), bool)).any()
