"""The site gate's rules on synthetic chests (two elliptic lungs, films of varying size and place):
a site that draws the lung behind the heart is recommended; damage, and every negative control of
issue 23, is refused."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from lungseg_core.learning.convention_gate import (GRID, SiteEvidence, bootstrap_interval, chest_frame, dice,
                                                   hard_failures, judge_site, learn_convention, map_picture,
                                                   outside_the_map, share_in_zone, split_change)

H = W = 160


def _film(rng: np.random.Generator) -> dict:
    return {"dx": rng.integers(-8, 9), "dy": rng.integers(-8, 9), "s": rng.uniform(0.85, 1.15)}


def _lungs(f: dict) -> np.ndarray:
    m = np.zeros((H, W), np.uint8)
    s = f["s"]
    cv2.ellipse(m, (int(50 + f["dx"]), int(80 + f["dy"])), (int(20 * s), int(50 * s)), 0, 0, 360, 1, -1)
    cv2.ellipse(m, (int(110 + f["dx"]), int(80 + f["dy"])), (int(18 * s), int(48 * s)), 0, 0, 360, 1, -1)
    return m.astype(bool)


def _behind_heart(f: dict) -> np.ndarray:
    """The site's convention: the patient's left lower lung continues medially behind the heart."""
    m = _lungs(f).astype(np.uint8)
    s = f["s"]
    cv2.ellipse(m, (int(96 + f["dx"]), int(105 + f["dy"])), (int(12 * s), int(18 * s)), 0, 0, 360, 1, -1)
    return m.astype(bool)


def _evidence(rng, corrected_of, candidate_val_of=None, n_train=30, n_holdout=12, n_val=20,
              candidate_holdout_of=None) -> SiteEvidence:
    train = [_film(rng) for _ in range(n_train)]
    hold = [_film(rng) for _ in range(n_holdout)]
    val = [_film(rng) for _ in range(n_val)]
    hold_corr = [corrected_of(f, rng) for f in hold]
    return SiteEvidence(
        train_parent=[_lungs(f) for f in train], train_corrected=[corrected_of(f, rng) for f in train],
        holdout_parent=[_lungs(f) for f in hold],
        holdout_candidate=[candidate_holdout_of(f, rng) for f in hold] if candidate_holdout_of else hold_corr,
        holdout_corrected=hold_corr,
        val_parent=[_lungs(f) for f in val],
        val_candidate=[(candidate_val_of or (lambda f, r: _behind_heart(f)))(f, rng) for f in val],
        val_reference=[_lungs(f) for f in val])


def test_the_map_lines_films_up_and_finds_the_site_convention():
    rng = np.random.default_rng(0)
    films = [_film(rng) for _ in range(30)]
    cmap = learn_convention([_lungs(f) for f in films], [_behind_heart(f) for f in films])
    assert cmap.add_zone.any() and not cmap.remove_zone.any()
    ys, xs = np.nonzero(cmap.add_zone)
    assert xs.mean() > GRID * 0.55 and ys.mean() > GRID * 0.5  # the patient's left (image right), low
    f = _film(rng)
    inside, total = share_in_zone(_lungs(f), _behind_heart(f), cmap)
    assert inside / total > 0.9
    assert chest_frame(np.zeros((H, W), bool)) == (0, H, 0, W)
    assert map_picture(cmap).shape == (256, 256, 3)


def test_a_drop_inside_the_map_is_convention_and_outside_it_is_forgetting():
    rng = np.random.default_rng(1)
    films = [_film(rng) for _ in range(30)]
    cmap = learn_convention([_lungs(f) for f in films], [_behind_heart(f) for f in films])
    f = _film(rng)
    parent, reference = _lungs(f), _lungs(f)
    p, c, outside = split_change(parent, _behind_heart(f), reference, cmap)
    assert c < p - 0.02 and outside == pytest.approx(p, abs=0.002)  # the drop is the convention
    eroded = cv2.erode(_behind_heart(f).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    assert split_change(parent, eroded, reference, cmap)[2] < p - 0.02  # shrinking elsewhere is not excused
    assert np.array_equal(outside_the_map(parent, parent, cmap), parent)


def test_a_site_that_draws_behind_the_heart_is_recommended():
    verdict, cmap = judge_site(_evidence(np.random.default_rng(2), lambda f, r: _behind_heart(f)))
    assert verdict.promote and verdict.decided and verdict.map_used, verdict.reason
    assert verdict.forgetting <= 0.002 and verdict.val_candidate_dice < verdict.val_parent_dice - 0.01
    assert verdict.holdout_gain_interval[0] > 0 and verdict.systematic_share > 0.9
    assert verdict.reason.startswith("Recommended for this site")


def test_a_candidate_that_also_forgets_elsewhere_is_refused():
    """What a learning rate x30 does: the convention learnt, and the outline shrunk everywhere."""
    def damaged(f, r):  # type: ignore[no-untyped-def]
        return cv2.erode(_behind_heart(f).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)

    verdict, _ = judge_site(_evidence(np.random.default_rng(3), lambda f, r: _behind_heart(f), damaged))
    assert not verdict.promote and "forgets" in verdict.reason and verdict.forgetting > 0.002


def _shifted(f, r):  # type: ignore[no-untyped-def]
    shift = r.uniform(0.05, 0.15) * W * r.choice([-1, 1])
    axis = r.integers(0, 2)
    m = _lungs(f)
    return np.roll(m, int(round(shift)), axis=axis)


def _eroded_or_dilated(f, r):  # type: ignore[no-untyped-def]
    k = np.ones((int(r.integers(3, 9)),) * 2, np.uint8)
    m = _lungs(f).astype(np.uint8)
    return (cv2.erode(m, k) if r.random() < 0.5 else cv2.dilate(m, k)).astype(bool)


def _other_films(f, r):  # type: ignore[no-untyped-def]
    return _behind_heart({"dx": r.integers(-20, 21), "dy": r.integers(-20, 21), "s": r.uniform(0.75, 1.25)})


def _holes_and_blobs(f, r):  # type: ignore[no-untyped-def]
    m = _lungs(f).astype(np.uint8)
    for _ in range(3):
        cv2.circle(m, (int(r.integers(20, W - 20)), int(r.integers(20, H - 20))), int(r.integers(4, 9)),
                   int(r.integers(0, 2)), -1)
    return m.astype(bool)


@pytest.mark.parametrize("control", [_shifted, _eroded_or_dilated, _holes_and_blobs])
def test_negative_controls_are_refused(control):
    """Corrections that are noise: the candidate learnt them perfectly (the held-back ones agree with
    it) and carries the same kind of change to the validation films. The map must not excuse it."""
    verdict, cmap = judge_site(_evidence(np.random.default_rng(4), control, control))
    assert not verdict.promote, (control.__name__, verdict.reason)
    assert verdict.decided


def test_corrections_of_other_films_are_refused():
    """Another film's mask cannot be learnt from this film's pixels: a candidate that draws the site's
    convention on its own film does not agree better with them, so the gain is not there."""
    verdict, _ = judge_site(_evidence(np.random.default_rng(4), _other_films,
                                      candidate_holdout_of=lambda f, r: _behind_heart(f)))
    assert not verdict.promote and "do not gain for sure" in verdict.reason, verdict.reason


@pytest.mark.parametrize("control", [_shifted, _eroded_or_dilated, _holes_and_blobs])
def test_noisy_corrections_cannot_excuse_a_convention_shaped_drop(control):
    """Even when the candidate's change on val is exactly the convention's, noisy corrections do not
    make a map that excuses it (their changes are not systematic)."""
    verdict, _ = judge_site(_evidence(np.random.default_rng(5), control))
    assert not verdict.promote, (control.__name__, verdict.reason)
    if control is not _shifted:  # shifts both ways leave a ring on each side of the outline; the rest, nothing
        assert not verdict.map_used, (control.__name__, verdict.reason)


def test_too_few_held_back_corrections_or_no_val_split_is_not_decided():
    ev = _evidence(np.random.default_rng(6), lambda f, r: _behind_heart(f), n_holdout=5)
    verdict, _ = judge_site(ev)
    assert not verdict.decided and not verdict.promote and "at least 10" in verdict.reason
    ev = _evidence(np.random.default_rng(6), lambda f, r: _behind_heart(f), n_val=0)
    assert "validation split" in judge_site(ev)[0].reason


def test_a_site_that_draws_as_we_do_is_judged_on_the_whole_validation_split():
    rng = np.random.default_rng(7)

    def slightly_better(f, r):  # type: ignore[no-untyped-def]
        return _lungs(f)

    ev = _evidence(rng, slightly_better, lambda f, r: _lungs(f))
    ev.holdout_parent = [cv2.erode(m.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool) for m in ev.holdout_parent]
    verdict, cmap = judge_site(ev)
    assert verdict.promote and not verdict.map_used and verdict.forgetting == pytest.approx(0.0)


def test_hard_failures():
    f = {"dx": 0, "dy": 0, "s": 1.0}
    good = _lungs(f)
    assert hard_failures(good) == []
    assert hard_failures(np.zeros((H, W), bool)) == ["no lung"]
    one = good.copy()
    one[:, W // 2:] = False
    assert "one lung" in hard_failures(one)
    holed = good.copy()
    holed[70:82, 44:56] = False
    assert "holes" in hard_failures(holed)
    island = good.copy()
    island[140:150, 75:85] = True
    assert "islands" in hard_failures(island)
    cut = np.zeros_like(good)
    cut[45:] = good[:-45]  # moved down and cut off by the image's lower edge
    assert "cut by the border" in hard_failures(cut)


def test_more_failed_masks_refuse():
    ev = _evidence(np.random.default_rng(8), lambda f, r: _behind_heart(f))
    ev.val_candidate[0] = np.zeros((H, W), bool)
    verdict, _ = judge_site(ev)
    assert not verdict.promote and "more failed masks" in verdict.reason


def test_bootstrap_interval_covers_the_mean():
    low, high = bootstrap_interval([0.01, 0.02, 0.03, 0.02, 0.01, 0.04])
    assert 0 < low < 0.02 < high
    low, high = bootstrap_interval([-0.05, 0.05, -0.04, 0.04])
    assert low < 0 < high
    assert dice(np.ones((2, 2), bool), np.ones((2, 2), bool)) == 1.0


def test_corrections_that_are_themselves_failed_masks_are_refused_even_if_the_candidate_looks_good():
    """The bench's holes-and-blobs control: the network learnt the convention and not the blotches,
    but a gate cannot vouch for a model judged against references no reader would accept."""
    def blotched(f, r):  # type: ignore[no-untyped-def]
        m = _behind_heart(f).astype(np.uint8)
        cv2.circle(m, (20, 150), 6, 1, -1)  # an island below the lungs
        return m.astype(bool)

    ev = _evidence(np.random.default_rng(9), blotched, candidate_holdout_of=lambda f, r: _behind_heart(f))
    verdict, _ = judge_site(ev)
    assert not verdict.promote and "masks no reader would accept" in verdict.reason, verdict.reason
    assert verdict.failures["corrections"]["failed"] == verdict.failures["corrections"]["of"]
