import numpy as np
import pytest

from lungseg_core.augment import AUGMENTATIONS, build_augmentation


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
