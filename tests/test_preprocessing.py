import numpy as np
import pytest

from lungseg_core.imaging.preprocessing import normalize_intensity, prepare_input, resize_probability, to_channels, to_gray


@pytest.mark.parametrize("dtype, hi", [(np.uint8, 255), (np.uint16, 60000), (np.float32, 3.5)])
def test_normalize_any_range_to_unit_float32(dtype, hi):
    rng = np.random.default_rng(0)
    arr = (rng.random((100, 120)) * hi).astype(dtype)
    out = normalize_intensity(arr)
    assert out.dtype == np.float32 and out.shape == arr.shape
    assert out.min() == 0.0 and out.max() == 1.0


def test_same_picture_in_8_and_16_bit_gives_same_input():
    rng = np.random.default_rng(1)
    img8 = rng.integers(0, 256, (64, 64)).astype(np.uint8)
    img16 = img8.astype(np.uint16) * 257
    assert np.allclose(prepare_input(img8, 32), prepare_input(img16, 32), atol=1e-5)


def test_outliers_clipped_by_percentiles():
    arr = np.tile(np.linspace(0, 100, 200, dtype=np.float32), (200, 1))
    arr[0, 0] = 1e6  # one hot pixel must not squash the rest
    out = normalize_intensity(arr)
    assert out[100, 100] > 0.4


def test_channels_and_gray():
    x = np.full((2, 8, 8), 0.5, np.float32)
    assert to_channels(x, 1).shape == (2, 1, 8, 8)
    three = to_channels(x, 3)
    assert three.shape == (2, 3, 8, 8) and three.dtype == np.float32
    rgb = np.zeros((5, 6, 3), np.uint8)
    assert to_gray(rgb).shape == (5, 6)
    with pytest.raises(ValueError):
        to_gray(np.zeros((2, 2, 2, 2)))


def test_resize_probability_back_to_original_size():
    p = np.random.default_rng(2).random((64, 64)).astype(np.float32)
    out = resize_probability(p, (123, 77))
    assert out.shape == (123, 77) and out.dtype == np.float32
    assert 0.0 <= out.min() and out.max() <= 1.0


def test_resize_mask_hard_or_soft():
    from lungseg_core.imaging.preprocessing import resize_mask

    mask = np.zeros((512, 512), bool)
    mask[100:301, 50:251] = True  # edges fall inside 256^2 pixels: half of them lung
    hard, soft = resize_mask(mask, 256), resize_mask(mask, 256, soft=True)
    assert set(np.unique(hard)) == {0.0, 1.0}
    assert soft.min() == 0.0 and soft.max() == 1.0 and np.any((soft > 0) & (soft < 1))
    assert abs(soft.sum() * 4 - mask.sum()) < 1.0  # a soft mask keeps the lung area exactly
    # scaled back up, the soft target puts the edge where it was; the hard one cannot
    from lungseg_core.imaging.metrics import overlap_metrics

    back = {k: resize_probability(m, mask.shape) >= 0.5 for k, m in (("hard", hard), ("soft", soft))}
    assert overlap_metrics(back["soft"], mask).dice > overlap_metrics(back["hard"], mask).dice
