"""Simulated clicks and the NoC / brush measures."""
from __future__ import annotations

import numpy as np

from lungseg_core.learning.click_simulation import (brush_pixels_to_reach, clicks_to_reach, corrupt_mask,
                                                    next_click)
from lungseg_core.models.click_fix import keep_clicked_changes


def _truth() -> np.ndarray:
    t = np.zeros((200, 200), bool)
    t[40:160, 20:90] = True
    t[40:160, 110:180] = True
    return t


def test_next_click_goes_to_the_centre_of_the_largest_error_with_the_right_sign():
    truth = _truth()
    pred = truth.copy()
    pred[100:160, 20:90] = False  # big miss
    pred[5:15, 5:15] = True  # small false region
    c = next_click(pred, truth)
    assert c.positive and 120 <= c.row <= 140 and 45 <= c.col <= 65
    pred2 = truth | (np.indices(truth.shape)[0] > 170)  # large false band at the bottom
    c2 = next_click(pred2, truth)
    assert not c2.positive and c2.row > 170
    assert next_click(truth, truth) is None


def test_jittered_click_stays_inside_the_error():
    truth = _truth()
    pred = truth.copy()
    pred[100:160, 20:90] = False
    rng = np.random.default_rng(0)
    for _ in range(20):
        c = next_click(pred, truth, rng)
        assert truth[int(c.row), int(c.col)] and not pred[int(c.row), int(c.col)]


def test_corrupt_mask_makes_wrong_but_plausible_masks():
    truth = _truth()
    rng = np.random.default_rng(1)
    diffs = [int((corrupt_mask(truth, rng) ^ truth).sum()) for _ in range(30)]
    assert sum(d > 0 for d in diffs) >= 25 and max(diffs) < truth.size / 2


def test_clicks_to_reach_counts_clicks_of_an_oracle_and_caps_at_max():
    truth = _truth()
    start = truth.copy()
    start[100:160, 20:90] = False

    def oracle(mask, clicks):  # fixes the whole error region a click is in
        return keep_clicked_changes(mask, truth, clicks)

    out = clicks_to_reach(oracle, start, truth)
    assert out["noc90"] == 1 and out["noc95"] == 1 and out["dice_end"] == 1.0
    never = clicks_to_reach(lambda m, c: m, start, truth, max_clicks=5)
    assert never["noc95"] == 5 and never["clicks"] == 5
    assert clicks_to_reach(oracle, truth, truth)["noc95"] == 0


def test_brush_pixels_count_what_a_perfect_brush_paints():
    truth = _truth()
    start = truth.copy()
    start[100:160, 20:90] = False  # 4200 px missed
    out = brush_pixels_to_reach(start, truth)
    assert out["px95"] == 4200 and out["strokes95"] == 1
    assert brush_pixels_to_reach(truth, truth)["px95"] == 0
