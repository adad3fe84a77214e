"""The worklist's quality estimate, learnt again from the site's own corrections ("warm").

Every approved correction says what the model's mask of that film was truly worth: the Dice between
the mask the model drew and the one the team approved. With the quality signals the worklist stored
when it segmented the film, those pairs refit the estimator for this site and this model. The
shipped estimator (`quality_estimate`, fitted on the original val split) is the prior: the refit is
a ridge regression pulled towards its weights, so 10 corrections move it a little and 50 move it
more, and an odd site cannot make it wild. One feature is new: the site's *convention gap* — how
much of the zone where the site's corrections systematically add lung (or remove it) the model's
mask leaves out (or keeps), over the mask's area (`imaging/convention_map`, as the retraining gate's
map, learnt from the same corrections). A model confident behind the heart shows no doubt there; the gap says where the
site will disagree anyway. The refit is kept in the store per model
(`<store>/quality/<model>.json`, with the number of corrections and when), and the open cases that
model segmented are scored again from their stored signals (no image is read, no network runs), so
Next takes the worst first by the site's own measure.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import LungSegError
from ..people.access_control import User, require
from ..imaging.convention_map import ConventionMap, learn_convention
from .mask_quality import QualitySignals, dice
from .quality_estimate import FEATURES, FLOOR, features, fitted_estimator

MIN_EXAMPLES = 10
PRIOR_STRENGTH = 20.0  # how many corrections' worth the shipped estimator's weights count for
OPEN_STATUSES = ("new", "segmented", "in progress", "rejected")


@dataclass(frozen=True)
class SiteExample:
    signals: QualitySignals
    true_dice: float
    gap: float = 0.0  # convention gap of the model's mask (see the module docstring)


def convention_gap(mask: np.ndarray, cmap: Any) -> float:
    """Share of the mask's area that the site's convention map says is missing (or extra)."""
    mask = np.asarray(mask, bool)
    if cmap is None or cmap.empty or not mask.any():
        return 0.0
    add, remove = cmap.zones_in(mask)
    return float(((add & ~mask).sum() + (remove & mask).sum()) / mask.sum())


def map_to_json(cmap: Any) -> dict[str, Any]:
    return {"added": np.round(cmap.added, 3).tolist(), "removed": np.round(cmap.removed, 3).tolist(),
            "films": cmap.films}


def map_from_json(data: dict[str, Any] | None) -> Any:
    if not data:
        return None
    return ConventionMap(np.array(data["added"], np.float32), np.array(data["removed"], np.float32), data["films"])


def site_examples(worklist: Any, model_name: str) -> tuple[list[SiteExample], Any]:
    """(stored signals, true Dice of the model's mask, convention gap) of every approved case
    `model_name` segmented, and the site's convention map learnt from them."""
    pairs = []
    for case in worklist.list_cases(status="approved"):
        signals = case.quality.get("signals")
        if case.model_name != model_name or not signals or case.latest_version_id is None or case.mask_hash is None:
            continue
        record = worklist.store.get(case.latest_version_id)
        try:
            drawn = worklist.store.load_mask(case.mask_hash)
            approved = worklist.store.load_mask(record.corrected_mask_hash)
        except Exception:  # noqa: BLE001 - a damaged file is flagged elsewhere; it is simply not an example
            continue
        try:
            pairs.append((QualitySignals(**signals), drawn, approved))
        except TypeError:
            continue  # signals stored by an earlier release, with other fields
    cmap = learn_convention([p[1] for p in pairs], [p[2] for p in pairs]) if pairs else None
    return [SiteExample(s, dice(d, a), convention_gap(d, cmap)) for s, d, a in pairs], cmap


GAP_SCALE = 0.05  # a gap of 5 % of the lung area is one standardised unit


def refit(examples: list[SiteExample], prior: dict[str, Any] | None = None, strength: float = PRIOR_STRENGTH,
          cmap: Any = None) -> dict[str, Any]:
    """Ridge regression of log(1 - Dice + floor) on the prior's standardised features and the
    convention gap, pulled towards the prior's weights (the gap's towards 0) by `strength` (in
    corrections); the intercept is free."""
    prior = prior or fitted_estimator()
    if prior is None:
        raise ValueError("no shipped quality estimator to start from")
    x = np.stack([features(e.signals) for e in examples])
    y = np.log(1.0 - np.clip([e.true_dice for e in examples], 0, 1) + FLOOR)
    z = (x - np.array(prior["mean"])) / np.array(prior["std"])
    a = np.c_[z, np.array([e.gap for e in examples]) / GAP_SCALE, np.ones(len(z))]
    w0 = np.r_[np.array(prior["weights"]), 0.0, prior["bias"]]
    penalty = strength * np.eye(a.shape[1])
    penalty[-1, -1] = 0.0
    penalty[-2, -2] = strength / 10  # the gap is the site's own evidence: lightly held
    w = np.linalg.solve(a.T @ a + penalty, a.T @ y + penalty @ w0)
    return {**prior, "weights": w[:-2].tolist(), "gap_weight": float(w[-2]), "bias": float(w[-1]),
            "site_examples": len(examples), "prior_strength": strength,
            "convention_map": map_to_json(cmap) if cmap is not None else None}


def estimate(model: dict[str, Any], signals: QualitySignals, gap: float = 0.0) -> float:
    if signals.lungs == 0:
        return 0.0
    z = (features(signals) - np.array(model["mean"])) / np.array(model["std"])
    log_err = z @ np.array(model["weights"]) + model.get("gap_weight", 0.0) * gap / GAP_SCALE + model["bias"]
    return round(float(np.clip(1.0 - np.exp(log_err) + FLOOR, 0.0, 1.0)), 4)


def site_dice(model: dict[str, Any], cmap: Any, signals: QualitySignals, mask: np.ndarray) -> float:
    """The site's estimate of one film: its signals and its mask's convention gap (`cmap` from
    `map_from_json(model["convention_map"])`, read once by the caller)."""
    return estimate(model, signals, convention_gap(mask, cmap) if cmap is not None else 0.0)


def estimator_path(store_root: Path, model_name: str) -> Path:
    return Path(store_root) / "quality" / f"{model_name}.json"


def load_site_estimator(store_root: Path, model_name: str) -> dict[str, Any] | None:
    try:
        model = json.loads(estimator_path(store_root, model_name).read_text())
    except (OSError, ValueError):
        return None
    return model if model.get("features") == list(FEATURES) else None


def recalibrate(worklist: Any, model_name: str, actor: User) -> dict[str, Any] | None:
    """Refit the estimator of `model_name` on the site's approved corrections (at least MIN_EXAMPLES),
    keep it, and score the open cases that model segmented again. None when there are too few."""
    require(actor, "segment")
    examples, cmap = site_examples(worklist, model_name)
    if len(examples) < MIN_EXAMPLES:
        return None
    model = refit(examples, cmap=cmap)
    path = estimator_path(worklist.store.root, model_name)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    with os.fdopen(fd, "w") as fh:
        json.dump(model, fh)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    rescored = rescore(worklist, model_name, model, actor)
    return {"examples": len(examples), "rescored": rescored}


def rescore(worklist: Any, model_name: str, model: dict[str, Any], actor: User) -> int:
    """New estimates for the open cases `model_name` segmented, from their stored signals and masks
    (no network runs); written in one transaction, audited."""
    cmap = map_from_json(model.get("convention_map"))
    estimates = {}
    for case in worklist.list_cases():
        signals = case.quality.get("signals")
        if case.model_name != model_name or case.status not in OPEN_STATUSES or not signals or not case.mask_hash:
            continue
        try:
            estimates[case.number] = site_dice(model, cmap, QualitySignals(**signals),
                                               worklist.store.load_mask(case.mask_hash))
        except (TypeError, LungSegError):
            continue  # signals of an earlier release, or a damaged file (flagged elsewhere)
    worklist.set_estimates(estimates, "site", actor, {"model": model_name, "rescored_with": "site estimator",
                                                      "examples": model.get("site_examples")})
    return len(estimates)
