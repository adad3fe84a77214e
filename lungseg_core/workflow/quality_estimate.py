"""Estimated Dice of a mask without a reference: a small linear model over the quality signals.

Why linear: ~1,000 fitting examples (the val split and its changed copies) support a handful of
weights, not a forest; its weights can be read and checked (`quality_estimator.json` says what
it was fitted on and how). It predicts log(1 - Dice), because errors span 0.002 to 0.5 and the
ranking among the good masks matters as much as spotting the bad ones.

Fitted by `bench/quality_estimate.py --fit` on the val split only (never test); the same script
reports how well it ranks unseen test cases. Without a fitted file the estimate falls back to the
view agreement, the strongest single signal.
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from .mask_quality import SHARE_RANGE, QualitySignals

ESTIMATOR_PATH = Path(__file__).with_name("quality_estimator.json")
FEATURES = ("view_agreement", "edge_uncertainty", "soft_dice", "not_two_lungs", "ratio_off", "share_off",
            "hole_share", "solidity", "border_share", "removed_share", "worst_side")
FLOOR = 0.005  # log(1 - Dice + floor): keeps a perfect mask finite


def features(s: QualitySignals) -> np.ndarray:
    ratio = s.right_left_ratio
    ratio_off = 1.0 if ratio is None else float(abs(np.log(ratio / 1.16)))  # 1.16: train references' median
    share_off = max(0.0, SHARE_RANGE[0] - s.lung_share, s.lung_share - SHARE_RANGE[1]) / SHARE_RANGE[0]
    return np.array([s.view_agreement, s.edge_uncertainty, s.soft_dice, float(s.lungs != 2), ratio_off, share_off,
                     s.hole_share, s.solidity, s.border_share, s.removed_share,
                     max(s.uncertain_sides.values(), default=0.0)], np.float64)


def fit(x: np.ndarray, true_dice: np.ndarray, ridge: float = 1.0) -> dict[str, Any]:
    """Ridge regression of log(1 - Dice + floor) on standardised features."""
    mean, std = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = (x - mean) / std
    y = np.log(1.0 - np.clip(true_dice, 0, 1) + FLOOR)
    a = np.c_[z, np.ones(len(z))]
    penalty = ridge * np.eye(a.shape[1])
    penalty[-1, -1] = 0.0
    w = np.linalg.solve(a.T @ a + penalty, a.T @ y)
    return {"features": list(FEATURES), "mean": mean.tolist(), "std": std.tolist(), "weights": w[:-1].tolist(),
            "bias": float(w[-1]), "target": f"log(1 - dice + {FLOOR})", "ridge": ridge}


def predict(model: dict[str, Any], x: np.ndarray) -> np.ndarray:
    z = (np.atleast_2d(x) - np.array(model["mean"])) / np.array(model["std"])
    log_err = z @ np.array(model["weights"]) + model["bias"]
    return np.clip(1.0 - np.exp(log_err) + FLOOR, 0.0, 1.0)


@lru_cache(maxsize=1)
def fitted_estimator() -> dict[str, Any] | None:
    try:
        model = json.loads(ESTIMATOR_PATH.read_text())
    except (OSError, ValueError):
        return None
    return model if model.get("features") == list(FEATURES) else None


def estimate_dice(s: QualitySignals) -> float:
    """Estimated Dice of the mask against what an expert would draw (0-1)."""
    if s.lungs == 0:
        return 0.0
    model = fitted_estimator()
    if model is None:
        return round(float(s.view_agreement), 4)
    return round(float(predict(model, features(s))[0]), 4)
