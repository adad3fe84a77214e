"""Click-to-fix network: widening keeps the base's answer, a click only changes its own region,
and the bundled trained network fixes a missed lung base from one positive click."""
from __future__ import annotations

import numpy as np
import pytest

from lungseg_core import load_model, read_xray
from lungseg_core.imaging.metrics import overlap_metrics
from lungseg_core.learning.click_training import base_net_unfolded
from lungseg_core.learning.dataset import load_mask
from lungseg_core.models.click_fix import (Click, ClickFixer, build_click_network, click_maps, click_recipe,
                                           keep_clicked_changes, load_click_fixer, widen_from_base)
from tests.conftest import SAMPLES, sample_cases

BASE = "unet_lite0_slim_dense"


def test_click_maps_put_disks_at_the_clicks_at_model_size():
    maps = click_maps([Click(100, 400, True), Click(256, 256, False)], (512, 512), 256)
    assert maps.shape == (2, 256, 256)
    assert maps[0, 50, 200] == 1 and maps[1, 128, 128] == 1
    assert maps[0, 128, 128] == 0 and maps[1, 50, 200] == 0
    assert 60 < maps[0].sum() < 100  # radius-5 disk


def test_widened_network_predicts_exactly_what_the_base_does():
    image = read_xray((SAMPLES / sample_cases()[0]["image_path"]).read_bytes()).pixels
    seg = load_model(BASE, precision="fp32")
    fixer = ClickFixer(widen_from_base(build_click_network(BASE), base_net_unfolded(BASE)), click_recipe(BASE),
                       precision="fp32")
    plain = seg.predict_proba(image)
    with_clicks = fixer.probability(image, np.zeros(image.shape[:2], bool), [Click(10, 10, True)])
    assert np.abs(plain - with_clicks).max() < 1e-5


def test_only_changes_touching_a_click_are_applied():
    prev = np.zeros((100, 100), bool)
    proposed = prev.copy()
    proposed[10:30, 10:30] = True  # clicked region
    proposed[70:90, 70:90] = True  # elsewhere: must not change
    out = keep_clicked_changes(prev, proposed, [Click(20, 20, True)])
    assert out[10:30, 10:30].all() and not out[70:90, 70:90].any()


def test_a_click_the_network_ignored_still_paints_its_disk():
    prev = np.ones((200, 200), bool)
    out = keep_clicked_changes(prev, prev, [Click(100, 100, False)])
    assert not out[100, 100] and out[0, 0]
    assert 0 < (~out).sum() < 100


def _sample(i: int = 2):
    row = sample_cases()[i]
    return read_xray((SAMPLES / row["image_path"]).read_bytes()).pixels, load_mask(SAMPLES / row["mask_path"])


def test_bundled_click_model_fills_a_missed_lung_base_from_one_click():
    image, truth = _sample()
    fixer = load_click_fixer()
    # the annotator's mask misses the lower 40 % of the right lung (as with a dense consolidation)
    cols = np.nonzero(truth.any(axis=0))[0]
    right = truth.copy()
    right[:, (cols[0] + cols[-1]) // 2:] = False
    rows = np.nonzero(right.any(axis=1))[0]
    cut = int(rows[0] + 0.6 * (rows[-1] - rows[0]))
    missed = right.copy()
    missed[:cut] = False
    start = truth & ~missed
    r, c = np.argwhere(missed).mean(axis=0)
    out = fixer.fix(image, start, [Click(float(r), float(c), True)])
    before, after = overlap_metrics(start, truth).dice, overlap_metrics(out, truth).dice
    assert after > before + 0.03, (before, after)
    assert (out & missed).sum() > 0.7 * missed.sum()
    left = truth.copy()
    left[:, : (cols[0] + cols[-1]) // 2] = False
    assert np.array_equal(out & left, start & left)  # the other lung untouched


def test_bundled_click_model_removes_a_false_region_from_one_negative_click():
    image, truth = _sample()
    fixer = load_click_fixer()
    blob = np.zeros_like(truth)
    rows, cols = np.nonzero(truth)
    blob[rows.max() + 5: rows.max() + 45, int(cols.mean()) - 30: int(cols.mean()) + 30] = True  # below the lungs
    start = truth | blob
    r, c = np.argwhere(blob).mean(axis=0)
    out = fixer.fix(image, start, [Click(float(r), float(c), False)])
    assert (out & blob).sum() < 0.3 * blob.sum()
    assert overlap_metrics(out, truth).dice > overlap_metrics(start, truth).dice


@pytest.mark.parametrize("clicks", [[]])
def test_no_clicks_change_nothing(clicks):
    image, truth = _sample()
    assert np.array_equal(load_click_fixer().fix(image, truth, clicks), truth)
