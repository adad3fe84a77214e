"""Per-source evaluation tables and the full-resolution validation score."""
import numpy as np
import pytest

from lungseg_core.learning.dataset import read_manifest
from lungseg_core.learning.evaluation import evaluate_cases, format_table, mean_dice_full_size
from lungseg_core.imaging.preprocessing import resize_mask

from .conftest import SAMPLES


def test_full_size_dice_scores_at_the_masks_resolution():
    mask = np.zeros((512, 512), bool)
    mask[101:301, 51:251] = True
    soft = resize_mask(mask, 256, soft=True)
    assert mean_dice_full_size(np.stack([soft]), [mask]) > 0.999
    assert mean_dice_full_size(np.zeros((1, 256, 256), np.float32), [mask]) == 0.0
    assert np.isnan(mean_dice_full_size(np.zeros((0, 256, 256), np.float32), []))


class _Oracle:
    """Predicts each sample's own reference mask (a known answer for the evaluation loop)."""

    def __init__(self, cases):
        from lungseg_core.learning.dataset import load_gray, load_mask

        self.by_shape_sum = {int(load_gray(c.image_path).sum()): load_mask(c.mask_path) for c in cases}

    def predict(self, image):
        return self.by_shape_sum[int(image.sum())]


def test_evaluate_cases_groups_by_source_and_formats_a_table():
    cases = read_manifest(SAMPLES)
    report = evaluate_cases(_Oracle(cases), cases)
    assert set(report["by_source"]) == {"montgomery", "shenzhen", "all"}
    assert report["by_source"]["all"]["n"] == len(cases) == len(report["per_image"])
    assert report["by_source"]["all"]["dice"]["mean"] == pytest.approx(1.0)
    table = format_table(report["by_source"])
    assert table.splitlines()[0].startswith("source") and "montgomery" in table and "1.0000" in table
