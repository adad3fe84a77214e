"""The worklist's estimate refit on a site's approved corrections (issue 23, "warm"): the site's
convention gap lowers the estimate of the films that miss it, open cases are scored again, and Next
then opens the one the site's estimate ranks worst."""
from __future__ import annotations

import numpy as np
import pytest

from lungseg_core.people.audit import AuditLog
from lungseg_core.workflow.site_quality import MIN_EXAMPLES, load_site_estimator, recalibrate
from lungseg_core.workflow.worklist import Worklist

from .people import ADMIN, ANN, REV
from .site_films import SIGNALS, drawn_and_site_masks
from .store_backends import new_database, new_store  # noqa: F401

pytestmark = pytest.mark.usefixtures("store_backend")


def _case(worklist: Worklist, seed: int, mask: np.ndarray) -> int:
    image = np.random.default_rng(seed).integers(0, 255, (128, 128), dtype=np.uint8)
    case, _ = worklist.add_case(image, ANN)
    worklist.set_segmentation(case.number, mask, {"estimated_dice": 0.97, "flags": [], "signals": SIGNALS.as_dict()},
                              "m", "v", ANN)
    return case.number


def test_recalibration_learns_the_site_and_next_opens_the_worst_film(tmp_path):
    store = new_store(tmp_path / "store")
    worklist = Worklist(store)
    rng = np.random.default_rng(0)
    for i in range(MIN_EXAMPLES + 2):
        drawn, site = drawn_and_site_masks(int(rng.integers(-6, 7)), float(rng.uniform(0.85, 1.15)))
        number = _case(worklist, i, drawn)
        image = store.load_image(worklist.get(number).image_hash)
        record = store.save_correction(image, drawn, site, actor=ANN, model_name="m", model_version="v",
                                       status="submitted")
        store.review(record.id, "approve", actor=REV)
        if i == MIN_EXAMPLES - 2:
            assert recalibrate(worklist, "m", ADMIN) is None  # too few corrections: nothing changes
    drawn, site = drawn_and_site_masks(0, 1.0)
    misses = _case(worklist, 100, drawn)         # the model stopped at the heart border, as everywhere
    agrees = _case(worklist, 101, site)          # a film where it drew the lung behind the heart already
    assert worklist.get(misses).estimated_dice == worklist.get(agrees).estimated_dice == 0.97
    warm = recalibrate(worklist, "m", ADMIN)
    assert warm["examples"] == MIN_EXAMPLES + 2 and warm["rescored"] == 2
    assert warm["columns"][0] == "shipped estimate"
    model = load_site_estimator(store.root, "m")
    assert model["site_examples"] == MIN_EXAMPLES + 2 and model["convention_map"]["films"] == MIN_EXAMPLES + 2
    low, high = worklist.get(misses), worklist.get(agrees)
    assert low.quality["estimate"] == "site" and low.estimated_dice < high.estimated_dice
    true_dice = 2 * (drawn & site).sum() / (drawn.sum() + site.sum())  # of the film that misses; 1.0 of the other
    site_error = abs(low.estimated_dice - true_dice) + abs(high.estimated_dice - 1.0)
    assert site_error < abs(0.97 - true_dice) + abs(0.97 - 1.0)  # closer to what the site would say
    assert abs(low.estimated_dice - true_dice) < 0.005
    assert worklist.next_case(ANN).number == misses  # Next takes the site's worst first
    assert AuditLog(store.database).entries(ADMIN, action="cases_segmented")[0].detail["rescored_with"] == "site estimator"


def test_hull_gap_is_what_the_lungs_joint_hull_leaves_empty():
    from lungseg_core.workflow.site_quality import hull_gap

    drawn, site = drawn_and_site_masks(0, 1.0)
    blob = np.zeros((128, 128), bool)
    blob[30:90, 30:90] = True
    assert hull_gap(blob) == 0.0 and hull_gap(np.zeros((8, 8), bool)) == 0.0
    assert hull_gap(drawn) > 0.2  # two lungs: the space between them (heart, mediastinum)
    assert hull_gap(site) < hull_gap(drawn)  # the site's lung behind the heart fills part of it


def test_an_estimator_kept_by_the_previous_release_is_still_read():
    """Release 3 kept a refit of the shipped weights with a `gap_weight` in `<store>/quality/<model>.json`:
    it is read as it was (no recalibration in it), until the next retrain recalibrates."""
    from lungseg_core.workflow.quality_estimate import estimate_dice, fitted_estimator
    from lungseg_core.workflow.site_quality import estimate

    old = {**fitted_estimator(), "gap_weight": 0.4, "site_examples": 12, "prior_strength": 20.0,
           "convention_map": None}
    assert estimate(old, SIGNALS, gap=0.0) == pytest.approx(estimate_dice(SIGNALS), abs=1e-4)
    assert estimate(old, SIGNALS, gap=0.05) < estimate(old, SIGNALS, gap=0.0)  # its gap still lowers it


def test_the_corrections_keep_a_site_column_only_where_it_predicts():
    """The recalibration keeps the convention gap or the hull gap only when the corrections' left-out
    error says they predict the true Dice: noise columns are refused, a gap that tells is kept."""
    from dataclasses import replace

    from lungseg_core.workflow.quality_estimate import estimate_dice
    from lungseg_core.workflow.site_quality import SiteExample, refit

    rng = np.random.default_rng(3)
    signals = [replace(SIGNALS, view_agreement=float(v), edge_uncertainty=float(e))
               for v, e in zip(rng.uniform(0.90, 0.995, 30), rng.uniform(1.0, 4.0, 30))]
    shipped = np.array([estimate_dice(s) for s in signals])
    noise = rng.uniform(0.0, 0.1, (30, 2))
    as_shipped = [SiteExample(s, float(d), float(g), float(h)) for s, d, (g, h) in zip(signals, shipped, noise)]
    assert refit(as_shipped)["recalibration"]["use"] == [0]  # the site's own columns are noise here: refused
    gaps = rng.uniform(0.0, 0.1, 30)
    by_gap = [SiteExample(s, float(d - 2 * g), float(g), float(h))
              for s, d, g, (_, h) in zip(signals, shipped, gaps, noise)]
    assert 1 in refit(by_gap)["recalibration"]["use"]  # the site loses Dice where it draws differently: kept


def test_heart_share_is_the_heart_outside_the_mask_over_the_mask():
    from lungseg_core.workflow.site_quality import heart_share

    drawn, site = drawn_and_site_masks(0, 1.0)
    heart = site & ~drawn  # a heart exactly where the site adds lung
    assert heart_share(drawn, heart) == pytest.approx(heart.sum() / drawn.sum())
    assert heart_share(site, heart) == 0.0  # a mask that already covers it leaves nothing of it out
    assert heart_share(np.zeros_like(drawn), heart) == 0.0


def test_the_heart_share_is_kept_only_where_it_predicts_and_is_never_guessed():
    """The heart share is a column like the others: kept where the site's true Dice follows the
    heart and the site's corrections add lung (a site drawing behind it), refused where it is noise
    or where the site adds no lung; never chosen when one example has none; and a film whose heart is
    unknown is estimated without it, not as if it had no heart."""
    from dataclasses import replace

    from lungseg_core.imaging.convention_map import GRID, ConventionMap
    from lungseg_core.workflow.quality_estimate import estimate_dice
    from lungseg_core.workflow.site_quality import HEART, SiteExample, estimate, refit, uses_heart

    added = np.zeros((GRID, GRID), np.float32)
    added[GRID // 2:, GRID // 2:GRID * 3 // 4] = 0.8  # the site adds lung low on the patient's left
    adds = ConventionMap(added, np.zeros_like(added), 30)
    adds_nothing = ConventionMap(np.zeros_like(added), np.zeros_like(added), 30)

    rng = np.random.default_rng(5)
    signals = [replace(SIGNALS, view_agreement=float(v)) for v in rng.uniform(0.90, 0.995, 30)]
    shipped = np.array([estimate_dice(s) for s in signals])
    hearts = rng.uniform(0.1, 0.3, 30)
    by_heart = [SiteExample(s, float(d - 0.3 * (h - 0.1)), 0.0, 0.0, float(h))
                for s, d, h in zip(signals, shipped, hearts)]
    model = refit(by_heart, cmap=adds)
    assert uses_heart(model) and HEART in model["recalibration"]["use"]
    assert not uses_heart(refit(by_heart, cmap=adds_nothing)) and not uses_heart(refit(by_heart))
    assert HEART not in model["recalibration"]["without_heart"]["use"]
    big, small = estimate(model, signals[0], heart=0.3), estimate(model, signals[0], heart=0.1)
    assert big < small - 0.03  # a big heart, at a site drawing behind it: a worse film
    unknown = estimate(model, signals[0], heart=None)
    assert small > unknown > big  # no heart network for this film: the site's mean, not "no heart"
    noise = [SiteExample(s, float(d), 0.0, 0.0, float(h)) for s, d, h in zip(signals, shipped, hearts)]
    assert not uses_heart(refit(noise, cmap=adds))  # the heart says nothing about these films' Dice
    one_missing = by_heart[:-1] + [replace(by_heart[-1], heart=None)]
    assert not uses_heart(refit(one_missing, cmap=adds))


def _heart_estimator():
    """A site estimate that weighs the heart (the site adds lung low on the patient's left)."""
    from dataclasses import replace

    from lungseg_core.imaging.convention_map import GRID, ConventionMap
    from lungseg_core.workflow.quality_estimate import estimate_dice
    from lungseg_core.workflow.site_quality import SiteExample, refit, uses_heart

    rng = np.random.default_rng(5)
    signals = [replace(SIGNALS, view_agreement=float(v)) for v in rng.uniform(0.90, 0.995, 30)]
    hearts = rng.uniform(0.1, 0.3, 30)
    added = np.zeros((GRID, GRID), np.float32)
    added[GRID // 2:, GRID // 2:GRID * 3 // 4] = 0.8
    model = refit([SiteExample(s, float(estimate_dice(s) - 0.3 * (h - 0.1)), 0.0, 0.0, float(h))
                   for s, h in zip(signals, hearts)], cmap=ConventionMap(added, np.zeros_like(added), 30))
    assert uses_heart(model)
    return model


def test_a_stored_heart_share_is_read_not_measured_again(tmp_path, monkeypatch):
    """Rescoring reads the heart share a case's segmentation kept, and reads the film (and runs the
    heart network) only for a case without one."""
    from lungseg_core.workflow import site_quality

    store = new_store(tmp_path / "store")
    worklist = Worklist(store)
    drawn, _ = drawn_and_site_masks(0, 1.0)
    numbers = {}
    for seed, heart in ((1, 0.1), (2, 0.3)):
        image = np.random.default_rng(seed).integers(0, 255, (128, 128), dtype=np.uint8)
        case, _ = worklist.add_case(image, ANN)
        worklist.set_segmentation(case.number, drawn, {"estimated_dice": 0.97, "flags": [], "heart_share": heart,
                                                       "signals": SIGNALS.as_dict()}, "m", "v", ANN)
        numbers[heart] = case.number
    read = []
    monkeypatch.setattr(site_quality, "_image_or_none", lambda wl, case: read.append(case.number))
    assert site_quality.rescore(worklist, "m", _heart_estimator(), ADMIN) == 2
    assert read == []  # both kept their heart share: no film read
    assert worklist.get(numbers[0.3]).estimated_dice < worklist.get(numbers[0.1]).estimated_dice - 0.03


def test_a_case_made_on_a_page_gets_the_site_estimate_as_a_batch_would(tmp_path):
    """The Segment/Correct pages' single X-ray (`case_intake.make_case`) is scored by the site's own
    estimate where the site has one, with the heart share kept, like batch segmentation."""
    import json

    from lungseg_core import DEFAULT_MODEL, load_model
    from lungseg_core.imaging.image_io import read_xray
    from lungseg_core.models.samples import list_samples
    from lungseg_core.workflow.case_intake import make_case
    from lungseg_core.workflow.site_quality import estimator_path

    store = new_store(tmp_path / "store")
    worklist = Worklist(store)
    seg = load_model(DEFAULT_MODEL)
    pixels = read_xray(list_samples()[0].image_path.read_bytes()).pixels
    shipped, _ = make_case(worklist, pixels, ANN, seg)
    assert "estimate" not in shipped.quality and "heart_share" not in shipped.quality  # no site estimate yet
    path = estimator_path(store.root, DEFAULT_MODEL)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(_heart_estimator()))
    case, created = make_case(worklist, pixels[:, ::-1].copy(), ANN, seg)
    assert created and case.quality["estimate"] == "site"
    assert 0.0 < case.quality["heart_share"] < 1.0
