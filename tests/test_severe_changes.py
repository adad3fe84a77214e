"""Severe changes: the lung label is kept (or moved with the anatomy), the change is denser than
the lung it covers, and the training transform keeps shapes and mask kinds."""
import numpy as np
import pytest

from lungseg_core.learning.severe_changes import CHANGES, SevereLungChanges, apply_change, lungs_of


def _chest(size=128):
    image = np.full((size, size), 0.75, np.float32)  # soft tissue
    mask = np.zeros((size, size), bool)
    mask[20:110, 15:55] = True
    mask[20:110, 73:113] = True
    image[mask] = 0.2  # aerated lung is dark
    return image, mask


@pytest.mark.parametrize("name", CHANGES)
def test_each_change_makes_lung_denser_and_keeps_the_label(name):
    image, mask = _chest()
    out, new_mask, changed = apply_change(name, image, mask, np.random.default_rng(1))
    assert out.shape == image.shape and out.dtype == np.float32 and 0 <= out.min() and out.max() <= 1
    assert changed.any() and not (changed & ~np.asarray(new_mask)).any()  # the change is inside the lung label
    assert out[changed].mean() > image[changed].mean() + 0.2  # markedly denser than the aerated lung was
    if name == "ap_projection":  # the diaphragm goes up: the lungs are shorter, the mask moved with them
        assert np.flatnonzero(new_mask.any(axis=1)).max() < np.flatnonzero(mask.any(axis=1)).max()
    else:
        assert np.array_equal(new_mask, mask)


def test_lungs_are_found_left_to_right():
    _, mask = _chest()
    right, left = lungs_of(mask)
    assert np.nonzero(right)[1].mean() < np.nonzero(left)[1].mean()


@pytest.mark.parametrize("soft", [False, True])
def test_training_transform_keeps_binary_masks_binary_and_soft_masks_soft(soft):
    image, mask = _chest()
    target = mask.astype(np.float32) * (0.5 if soft else 1.0)
    transform = SevereLungChanges(p=1.0)
    transform.set_random_seed(3)
    for _ in range(10):
        out = transform(image=image, mask=target)
        assert out["image"].shape == image.shape and out["mask"].dtype == np.float32
        values = set(np.unique(out["mask"]).tolist())
        assert values <= ({0.0, 0.5} if soft else {0.0, 1.0}) or soft
