"""Each quality signal and flag on crafted masks and probability views (no model involved)."""
import cv2
import numpy as np

from lungseg_core.workflow.mask_quality import flags, quality_signals
from lungseg_core.workflow.quality_estimate import FEATURES, estimate_dice, features, fit, predict

S = 256


def _lungs(right=(40, 200, 40, 110), left=(40, 200, 146, 216)):
    mask = np.zeros((S, S), bool)
    for y0, y1, x0, x1 in (right, left):
        if y1 > y0:
            cv2.ellipse(mask.view(np.uint8), ((x0 + x1) // 2, (y0 + y1) // 2), ((x1 - x0) // 2, (y1 - y0) // 2),
                        0, 0, 360, 1, -1)
    return mask


def _views(mask, n=3, blur=1.0):
    """Confident views: probabilities with a ~2 px ramp at the edge, identical in every view."""
    prob = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), blur)
    return np.stack([prob] * n)


def test_a_plausible_pair_of_lungs_has_no_flag():
    s = quality_signals(_views(_lungs()))
    assert s.lungs == 2 and 0.9 < s.right_left_ratio < 1.1 and s.view_agreement == 1.0
    assert s.hole_share == 0 and s.solidity > 0.95 and s.border_share == 0 and s.edge_uncertainty < 3
    assert flags(s) == []


def test_one_lung_only_and_no_lung():
    s = quality_signals(_views(_lungs(left=(0, 0, 0, 0))))
    assert s.lungs == 1 and "one lung only" in flags(s)
    empty = quality_signals(np.zeros((3, S, S), np.float32))
    assert flags(empty) == ["no lung found"] and estimate_dice(empty) == 0.0


def test_left_lung_much_smaller_than_right():
    s = quality_signals(_views(_lungs(left=(150, 200, 146, 216))))
    assert s.right_left_ratio > 1.9 and "left lung much smaller than right" in flags(s)
    s = quality_signals(_views(_lungs(right=(150, 200, 40, 110))))
    assert "right lung much smaller than left" in flags(s)


def test_small_lungs_for_the_image():
    s = quality_signals(_views(_lungs(right=(100, 150, 70, 100), left=(100, 150, 156, 186))))
    assert s.lung_share < 0.12 and "lungs small for the image" in flags(s)


def test_hole_inside_a_lung():
    mask = _lungs()
    cv2.circle(mask.view(np.uint8), (75, 120), 12, 0, -1)
    s = quality_signals(_views(mask), mask=mask)
    assert s.hole_share > 0.005 and "hole inside a lung" in flags(s)


def test_irregular_outline():
    mask = _lungs()
    mask[60:180:20, 40:100] = False  # comb-like bites into the right lung
    for y in range(60, 180, 24):
        mask[y:y + 12, 55:110] = False
    s = quality_signals(_views(mask, blur=0.5), mask=mask)
    assert s.solidity < 0.75 and "irregular outline" in flags(s)


def test_lung_cut_by_the_border():
    mask = _lungs(right=(-60, 150, 40, 110), left=(-60, 150, 146, 216))
    s = quality_signals(_views(mask))
    assert s.border_share > 0.05 and "lung cut by the image border" in flags(s)


def test_views_that_disagree_are_flagged():
    mask = _lungs()
    shifted = np.roll(mask, 14, axis=1)
    views = np.stack([_views(mask, 1)[0], _views(shifted, 1)[0], _views(mask, 1)[0]])
    s = quality_signals(views)
    assert s.view_agreement < 0.95 and "mask changes when the image is flipped or shifted" in flags(s)


def test_uncertain_edge_along_the_heart():
    mask = _lungs()
    prob = cv2.GaussianBlur(mask.astype(np.float32), (0, 0), 1.0)
    medial = np.zeros_like(mask)
    medial[60:180, 95:125] = True  # a wide undecided band on the right lung's medial edge
    medial[60:180, 131:161] = True
    prob[medial] = 0.5
    s = quality_signals(np.stack([prob] * 3), mask=mask)
    assert s.uncertain_sides["medial"] > s.uncertain_sides["lateral"]
    assert "uncertain edge along the heart and mediastinum" in flags(s)
    assert "uncertain edge along the chest wall" not in flags(s)


def test_estimator_fit_ranks_and_reads_the_signals():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(200, len(FEATURES)))
    true = 1 - np.exp(-3 + 0.8 * x[:, 1] - 0.5 * x[:, 0])
    model = fit(x, true)
    est = predict(model, x)
    from scipy.stats import spearmanr

    assert spearmanr(est, true).statistic > 0.95
    assert features(quality_signals(_views(_lungs()))).shape == (len(FEATURES),)
    assert 0.9 < estimate_dice(quality_signals(_views(_lungs()))) <= 1.0
