import numpy as np
import pytest

from lungseg_core.learning.augment import AUGMENTATIONS, build_augmentation


@pytest.mark.parametrize("name", [a for a in AUGMENTATIONS if a != "none"])
def test_pipeline_keeps_size_and_binary_mask(name):
    rng = np.random.default_rng(0)
    image = rng.random((64, 64)).astype(np.float32)
    mask = np.zeros((64, 64), np.float32)
    mask[10:50, 10:30] = 1
    pipeline = build_augmentation(name, 64)
    changed = 0
    for _ in range(10):
        out = pipeline(image=image, mask=mask)
        assert out["image"].shape[:2] == (64, 64)
        assert set(np.unique(out["mask"])) <= {0.0, 1.0}
        changed += not np.array_equal(out["mask"], mask)
    assert changed > 0  # it does augment


def test_none_and_unknown():
    assert build_augmentation("none", 64) is None
    with pytest.raises(KeyError, match="robust"):
        build_augmentation("heavy", 64)


def test_soft_masks_are_resampled_smoothly_and_stay_fractions():
    mask = np.zeros((64, 64), np.float32)
    mask[10:50, 10:30] = 1
    mask[10:50, 30] = 0.5  # a sub-pixel edge, as in an area-downsampled mask
    pipeline = build_augmentation("study", 64, soft_masks=True)
    fractional = 0
    for seed in range(10):
        out = pipeline(image=np.zeros((64, 64), np.float32), mask=mask)["mask"]
        assert 0.0 <= out.min() and out.max() <= 1.0 + 1e-6
        fractional += int(((out > 0.05) & (out < 0.95)).sum())
    assert fractional > 10 * 40  # edges stay fractional after rotation/scale, not snapped to 0/1


def test_devices_are_drawn_over_the_image_and_leave_the_mask():
    import albumentations as A

    from lungseg_core.learning.augment import DrawDevices

    image = np.full((128, 128), 0.3, np.float32)
    mask = np.zeros((128, 128), np.float32)
    mask[20:100, 20:60] = 1
    pipeline = A.Compose([DrawDevices(p=1.0)], seed=3)
    for _ in range(5):
        out = pipeline(image=image, mask=mask)
        assert np.array_equal(out["mask"], mask)  # the lung is still there under a wire
        drawn = out["image"] > 0.8
        assert 0 < drawn.sum() < 0.5 * drawn.size  # radio-opaque lines, not a white-out
        assert np.all(out["image"][~drawn] == 0.3)


def test_robust_set_includes_devices_and_inversion():
    names = {type(t).__name__ for t in build_augmentation("robust", 64).transforms}
    assert {"DrawDevices", "InvertImg", "CoarseDropout", "RandomGamma"} <= names
    assert "DrawDevices" not in {type(t).__name__ for t in build_augmentation("study", 64).transforms}
