"""The worklist's quality estimate, learnt again from the site's own corrections ("warm").

Every approved correction says what the model's mask of that film was truly worth: the Dice between
the mask the model drew and the one the team approved. With the quality signals the worklist stored
when it segmented the film, those pairs refit the estimator for this site and this model. The
shipped estimator (`quality_estimate`, fitted on the original val split) is the prior: the refit is
a ridge regression pulled towards its weights, so 10 corrections move it a little and 50 move it
more, and an odd site cannot make it wild. The refit is kept in the store per model
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

from ..people import audit
from ..people.access_control import User, require
from .mask_quality import QualitySignals
from .quality_estimate import _FLOOR, FEATURES, _fitted, features, predict
from .store_schema import transaction

MIN_EXAMPLES = 10
PRIOR_STRENGTH = 20.0  # how many corrections' worth the shipped estimator's weights count for
OPEN_STATUSES = ("new", "segmented", "in progress", "rejected")


@dataclass(frozen=True)
class SiteExample:
    signals: QualitySignals
    true_dice: float


def _dice(a: np.ndarray, b: np.ndarray) -> float:
    total = int(a.sum()) + int(b.sum())
    return 1.0 if total == 0 else 2.0 * int(np.logical_and(a, b).sum()) / total


def site_examples(worklist: Any, model_name: str) -> list[SiteExample]:
    """(stored signals, true Dice of the model's mask) of every approved case `model_name` segmented."""
    out = []
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
            out.append(SiteExample(QualitySignals(**signals), _dice(drawn, approved)))
        except TypeError:
            continue  # signals stored by an earlier release, with other fields
    return out


def refit(examples: list[SiteExample], prior: dict[str, Any] | None = None,
          strength: float = PRIOR_STRENGTH) -> dict[str, Any]:
    """Ridge regression of log(1 - Dice + floor) on the prior's standardised features, pulled towards
    the prior's weights by `strength` (in corrections); the intercept is free."""
    prior = prior or _fitted()
    if prior is None:
        raise ValueError("no shipped quality estimator to start from")
    x = np.stack([features(e.signals) for e in examples])
    y = np.log(1.0 - np.clip([e.true_dice for e in examples], 0, 1) + _FLOOR)
    z = (x - np.array(prior["mean"])) / np.array(prior["std"])
    a = np.c_[z, np.ones(len(z))]
    w0 = np.r_[np.array(prior["weights"]), prior["bias"]]
    penalty = strength * np.eye(a.shape[1])
    penalty[-1, -1] = 0.0
    w = np.linalg.solve(a.T @ a + penalty, a.T @ y + penalty @ w0)
    return {**prior, "weights": w[:-1].tolist(), "bias": float(w[-1]), "site_examples": len(examples),
            "prior_strength": strength}


def estimate(model: dict[str, Any], signals: QualitySignals) -> float:
    if signals.lungs == 0:
        return 0.0
    return round(float(predict(model, features(signals))[0]), 4)


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
    examples = site_examples(worklist, model_name)
    if len(examples) < MIN_EXAMPLES:
        return None
    model = refit(examples)
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
    """New estimates for the open cases `model_name` segmented, from their stored signals; one
    transaction, audited."""
    changed = 0
    with transaction(worklist.db_path) as con:
        require(actor, "segment", con)
        for case in worklist._cases(con):
            signals = case.quality.get("signals")
            if case.model_name != model_name or case.status not in OPEN_STATUSES or not signals:
                continue
            try:
                value = estimate(model, QualitySignals(**signals))
            except TypeError:
                continue
            quality = {**case.quality, "estimated_dice": value, "estimate": "site"}
            con.execute("UPDATE cases SET quality = ? WHERE number = ?", (json.dumps(quality), case.number))
            changed += 1
        audit.record(con, actor.username, "cases_segmented", f"{changed} cases",
                     {"model": model_name, "rescored_with": "site estimator",
                      "examples": model.get("site_examples")})
    return changed
