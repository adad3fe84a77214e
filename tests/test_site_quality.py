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
    assert warm == {"examples": MIN_EXAMPLES + 2, "rescored": 2}
    model = load_site_estimator(store.root, "m")
    assert model["site_examples"] == MIN_EXAMPLES + 2 and model["convention_map"]["films"] == MIN_EXAMPLES + 2
    low, high = worklist.get(misses), worklist.get(agrees)
    assert low.quality["estimate"] == "site" and low.estimated_dice < high.estimated_dice
    true_dice = 2 * (drawn & site).sum() / (drawn.sum() + site.sum())
    assert abs(low.estimated_dice - true_dice) < abs(0.97 - true_dice)  # closer to what the site would say
    assert worklist.next_case(ANN).number == misses  # Next takes the site's worst first
    assert AuditLog(store.database).entries(ADMIN, action="cases_segmented")[0].detail["rescored_with"] == "site estimator"
