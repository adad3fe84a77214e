"""The worklist's quality estimate, learnt again from the site's own corrections ("warm").

Every approved correction says what the model's mask of that film was truly worth: the Dice between
the mask the model drew and the one the team approved. With the quality signals the worklist stored
when it segmented the film, those pairs recalibrate the estimate for this site and this model: a
ridge regression of log(1 - Dice) on up to four columns, so that 10 corrections are enough and an
odd site cannot make it wild —
- the shipped estimate itself (`quality_estimate`, fitted on the original val split: the model's doubt
  and the mask's anatomy, as the original sites judged them);
- the site's *convention gap*: how much of the zone where the site's corrections systematically add
  lung (or remove it) the model's mask leaves out (or keeps), over the mask's area
  (`imaging/convention_map`, as the retraining gate's map, learnt from the same corrections). A model
  confident behind the heart shows no doubt there; the gap says where the site will disagree anyway;
- the *hull gap*: the share of the lungs' joint convex hull the mask leaves empty (heart,
  mediastinum, recesses), over the mask's area;
- the *heart share*: the heart's shadow outside the mask, over the mask's area, outlined by a second
  network (`models/heart_model`). Where a site draws lung behind the heart, a film with a big heart
  on small lungs loses most, and the lung mask alone hardly shows how big the heart is.
A site column is kept only when it lowers the corrections' leave-one-out error by a tenth (at a site
drawn as the original ones they are noise), and the hull gap and the heart share only where the
site's corrections add lung in one place. bench/site_quality.py (the site that draws behind the
heart; its other 197 films): Spearman 0.474 cold, 0.474 / 0.733 / 0.739 after 10 / 25 / 50
corrections (0.474 / 0.589 / 0.639 without the heart share); the same with the true SCR heart masks
would give 0.740, so the heart network is as good as a heart can be here; at a site drawn as ours
(JSRT as drawn) it stays at the shipped estimate's 0.63.
The recalibration is kept in the store per model (`<store>/quality/<model>.json`, with the number of
corrections), and the open cases that model segmented are scored again from their stored signals
and masks (their films are read, and the heart network run, only where the heart share is kept), so
Next takes the worst first by the site's own measure.
"""
from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from ..errors import LungSegError
from ..people.access_control import User, require
from ..imaging.convention_map import ConventionMap, learn_convention
from ..models.heart_model import heart_mask, load_heart_model
from .mask_quality import QualitySignals, dice
from .quality_estimate import FEATURES, FLOOR, features, fitted_estimator, predict

MIN_EXAMPLES = 10
OPEN_STATUSES = ("new", "segmented", "in progress", "rejected")


RECALIBRATION_RIDGE = 5.0  # on standardised columns; 10 corrections move it, they cannot make it wild
COLUMNS = ("shipped estimate", "convention gap", "hull gap", "heart share")


@dataclass(frozen=True)
class SiteExample:
    signals: QualitySignals
    true_dice: float
    gap: float = 0.0  # convention gap of the model's mask (see the module docstring)
    hull_gap: float = 0.0  # hull gap of the model's mask
    heart: float | None = None  # heart share of the film (None: no heart network to measure it)


def hull_gap(mask: np.ndarray) -> float:
    """Share of the lungs' joint convex hull that the mask leaves empty, over the mask's area."""
    mask = np.asarray(mask, bool)
    if not mask.any():
        return 0.0
    contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    hull = np.zeros(mask.shape, np.uint8)
    cv2.fillPoly(hull, [cv2.convexHull(np.vstack(contours))], 1)
    return float((hull.astype(bool) & ~mask).sum() / mask.sum())


def heart_share(mask: np.ndarray, heart: np.ndarray) -> float:
    """The heart's shadow outside the mask, over the mask's area: how much there is for a site that
    draws the lung behind the heart to add (a big heart on small lungs loses most)."""
    mask = np.asarray(mask, bool)
    if not mask.any():
        return 0.0
    return float((np.asarray(heart, bool) & ~mask).sum() / mask.sum())


def film_heart_share(mask: np.ndarray, image: np.ndarray | None) -> float | None:
    """`heart_share` with the shipped heart network's outline of `image`; None without the network
    or the image."""
    seg = load_heart_model()
    if seg is None or image is None:
        return None
    return heart_share(mask, heart_mask(seg, image))


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
    """(stored signals, true Dice of the model's mask, convention gap, hull gap, heart share) of every
    approved case `model_name` segmented, and the site's convention map learnt from them."""
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
            pairs.append((QualitySignals(**signals), drawn, approved, case))
        except TypeError:
            continue  # signals stored by an earlier release, with other fields
    cmap = learn_convention([p[1] for p in pairs], [p[2] for p in pairs]) if pairs else None
    weigh_heart = adds_lung(cmap)  # elsewhere the heart share is no choice: no film is read for it
    return [SiteExample(s, dice(d, a), convention_gap(d, cmap), hull_gap(d),
                        case_heart_share(worklist, case, d) if weigh_heart else None)
            for s, d, a, case in pairs], cmap


def case_heart_share(worklist: Any, case: Any, mask: np.ndarray) -> float | None:
    """The heart share the case's segmentation kept, else measured on its film (None: no network, or
    a damaged file)."""
    stored = case.quality.get("heart_share")
    return stored if stored is not None else film_heart_share(mask, _image_or_none(worklist, case))


def _image_or_none(worklist: Any, case: Any) -> np.ndarray | None:
    """The case's film, where the heart network can read it (None: no network, or a damaged file)."""
    if load_heart_model() is None:
        return None
    try:
        return worklist.store.load_image(case.image_hash)
    except Exception:  # noqa: BLE001 - a damaged file is flagged elsewhere; the estimate does without the heart
        return None


GAP_SCALE = 0.05  # a gap of 5 % of the lung area is one standardised unit


def _columns(prior: dict[str, Any], signals: list[QualitySignals], gaps: list[float],
             hulls: list[float], hearts: list[float | None]) -> np.ndarray:
    shipped = np.array([predict(prior, features(x))[0] for x in signals])
    heart = np.array([h if h is not None else 0.0 for h in hearts], float)
    return np.c_[np.log(1.0 - shipped + FLOOR), np.array(gaps) / GAP_SCALE, np.array(hulls) / GAP_SCALE,
                 heart / GAP_SCALE]


#: the column sets a site's corrections choose from (by leave-one-out error): the shipped estimate is always in
CHOICES = ((0,), (0, 1), (0, 2), (0, 1, 2), (0, 3), (0, 1, 3), (0, 2, 3), (0, 1, 2, 3))
HULL, HEART = 2, 3
KEEP_MARGIN = 0.10
#: The hull gap and the heart share measure room for lung the site may add; they are a choice only
#: where the site's corrections add lung in one place (the convention map's add zone covers at least
#: this share of the chest frame). At a site drawn as the original ones, 10 or 25 corrections once
#: kept the heart share by chance and ranked the other films worse (bench/site_quality.py: JSRT as
#: drawn 0.572 / 0.538 instead of 0.630 / 0.632).
ADDS_LUNG_SHARE = 0.01


def adds_lung(cmap: Any) -> bool:
    """Whether the site's corrections add lung in one place (the map's add zone, ADDS_LUNG_SHARE)."""
    return cmap is not None and float(np.mean(cmap.add_zone)) >= ADDS_LUNG_SHARE


def _ridge(x: np.ndarray, y: np.ndarray, ridge: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """(mean, std, weights, bias) of a ridge regression on standardised columns, the intercept free."""
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-9
    a = np.c_[(x - mean) / std, np.ones(len(x))]
    penalty = ridge * np.eye(a.shape[1])
    penalty[-1, -1] = 0.0
    w = np.linalg.solve(a.T @ a + penalty, a.T @ y)
    return mean, std, w[:-1], float(w[-1])


def _left_out_error(x: np.ndarray, y: np.ndarray, ridge: float) -> float:
    errors = []
    for i in range(len(y)):
        keep = np.arange(len(y)) != i
        mean, std, w, b = _ridge(x[keep], y[keep], ridge)
        errors.append(float(((x[i] - mean) / std @ w + b - y[i]) ** 2))
    return float(np.mean(errors))


def _choose(x: np.ndarray, y: np.ndarray, ridge: float, choices: tuple[tuple[int, ...], ...]) -> tuple[int, ...]:
    """The column set with the lowest leave-one-out error, a site column kept only when it lowers the
    error by a tenth (at a site drawn as the original ones they add nothing but noise)."""
    errors = {cols: _left_out_error(x[:, cols], y, ridge) for cols in choices}
    use = choices[0]
    for cols in choices[1:]:
        if errors[cols] < (1.0 - KEEP_MARGIN) * errors[use] or (len(cols) <= len(use) and errors[cols] < errors[use]):
            use = cols
    return use


def _calibration(x: np.ndarray, y: np.ndarray, use: tuple[int, ...], ridge: float) -> dict[str, Any]:
    mean, std, w, bias = _ridge(x[:, use], y, ridge)
    return {"columns": [COLUMNS[c] for c in use], "use": list(use), "mean": mean.tolist(), "std": std.tolist(),
            "weights": w.tolist(), "bias": bias, "ridge": ridge}


def refit(examples: list[SiteExample], prior: dict[str, Any] | None = None, ridge: float = RECALIBRATION_RIDGE,
          cmap: Any = None) -> dict[str, Any]:
    """Recalibrate the shipped estimate on the site's examples: ridge regression of log(1 - Dice + floor)
    on standardised COLUMNS (the intercept free), with the site columns the corrections' leave-one-out
    error keeps; the hull gap and the heart share only where the site's map (`cmap`) adds lung
    (ADDS_LUNG_SHARE). The heart share is a choice only when every example has one; where it is kept, the
    best choice without it is kept too, for a film the heart network cannot read. The shipped
    estimator's own fields stay, so an estimate can always be traced back to it."""
    prior = prior or fitted_estimator()
    if prior is None:
        raise ValueError("no shipped quality estimator to start from")
    x = _columns(prior, [e.signals for e in examples], [e.gap for e in examples], [e.hull_gap for e in examples],
                 [e.heart for e in examples])
    y = np.log(1.0 - np.clip([e.true_dice for e in examples], 0, 1) + FLOOR)
    choices = CHOICES if adds_lung(cmap) else tuple(c for c in CHOICES if HULL not in c and HEART not in c)
    without_heart = tuple(c for c in choices if HEART not in c)
    hearts = all(e.heart is not None for e in examples)
    use = _choose(x, y, ridge, choices if hearts else without_heart)
    recalibration = _calibration(x, y, use, ridge)
    if HEART in use:
        recalibration["without_heart"] = _calibration(x, y, _choose(x, y, ridge, without_heart), ridge)
    return {**prior, "recalibration": recalibration, "site_examples": len(examples),
            "convention_map": map_to_json(cmap) if cmap is not None else None}


def uses_heart(model: dict[str, Any] | None) -> bool:
    """Whether this site's estimate weighs the heart (so a film's heart has to be outlined)."""
    return HEART in ((model or {}).get("recalibration") or {}).get("use", [])


def estimate(model: dict[str, Any], signals: QualitySignals, gap: float = 0.0, hull: float = 0.0,
             heart: float | None = None) -> float:
    """The site's estimated Dice of one film. An estimator kept by the previous release (a refit of the
    shipped weights with a `gap_weight`) is still read as it was."""
    if signals.lungs == 0:
        return 0.0
    calibration = model.get("recalibration")
    if calibration is not None:
        if HEART in calibration["use"] and heart is None:
            calibration = calibration["without_heart"]
        x = _columns(model, [signals], [gap], [hull], [heart])[0][calibration["use"]]
        z = (x - np.array(calibration["mean"])) / np.array(calibration["std"])
        log_err = z @ np.array(calibration["weights"]) + calibration["bias"]
    else:
        z = (features(signals) - np.array(model["mean"])) / np.array(model["std"])
        log_err = z @ np.array(model["weights"]) + model.get("gap_weight", 0.0) * gap / GAP_SCALE + model["bias"]
    return round(float(np.clip(1.0 - np.exp(log_err) + FLOOR, 0.0, 1.0)), 4)


def site_dice(model: dict[str, Any], cmap: Any, signals: QualitySignals, mask: np.ndarray,
              heart: float | None = None) -> float:
    """The site's estimate of one film: its signals, its mask's convention gap (`cmap` from
    `map_from_json(model["convention_map"])`, read once by the caller) and, where the estimate weighs
    the heart, its heart share (None: estimated without it)."""
    return estimate(model, signals, convention_gap(mask, cmap) if cmap is not None else 0.0, hull_gap(mask), heart)


class SiteEstimate:
    """This site's estimate for new segmentations by one model, read once (None fields: no site
    estimator yet, and `quality` leaves the shipped estimate as it is)."""

    def __init__(self, store_root: Path, model_name: str) -> None:
        self.model = load_site_estimator(store_root, model_name)
        self.cmap = map_from_json(self.model.get("convention_map")) if self.model else None

    def quality(self, quality: dict[str, Any], signals: QualitySignals, mask: np.ndarray,
                image: np.ndarray | None) -> dict[str, Any]:
        """`quality` (from `worklist.case_quality`) with the site's estimate, and the heart share
        where it weighs the heart (kept, so that a later rescoring need not read the film again)."""
        if self.model is None:
            return quality
        heart = film_heart_share(mask, image) if uses_heart(self.model) else None
        out = {**quality, "estimated_dice": site_dice(self.model, self.cmap, signals, mask, heart=heart),
               "estimate": "site"}
        if heart is not None:
            out["heart_share"] = heart
        return out


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
    return {"examples": len(examples), "rescored": rescored, "columns": model["recalibration"]["columns"]}


def rescore(worklist: Any, model_name: str, model: dict[str, Any], actor: User) -> int:
    """New estimates for the open cases `model_name` segmented, from their stored signals and masks
    (and their films, through the heart network, where the estimate weighs the heart); written in
    one transaction, audited."""
    cmap = map_from_json(model.get("convention_map"))
    estimates = {}
    for case in worklist.list_cases():
        signals = case.quality.get("signals")
        if case.model_name != model_name or case.status not in OPEN_STATUSES or not signals or not case.mask_hash:
            continue
        try:
            mask = worklist.store.load_mask(case.mask_hash)
            heart = case_heart_share(worklist, case, mask) if uses_heart(model) else None
            estimates[case.number] = site_dice(model, cmap, QualitySignals(**signals), mask, heart)
        except (TypeError, LungSegError):
            continue  # signals of an earlier release, or a damaged file (flagged elsewhere)
    worklist.set_estimates(estimates, "site", actor, {"model": model_name, "rescored_with": "site estimator",
                                                      "examples": model.get("site_examples")})
    return len(estimates)
