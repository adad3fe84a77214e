"""Per-image overlap metrics on boolean masks.

Empty-mask convention (documented because libraries disagree): when prediction and truth are
both empty, IoU, Dice, precision and recall are 1.0 (perfect agreement on "nothing there");
when only one is empty they are 0.0 (except precision with an empty prediction: undefined ->
reported as 1.0 only if truth is empty too, else 0.0).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from ..errors import MaskError

METRIC_NAMES = ("dice", "iou", "precision", "recall", "accuracy")


@dataclass(frozen=True)
class OverlapMetrics:
    dice: float
    iou: float
    precision: float
    recall: float
    accuracy: float

    def as_dict(self) -> dict[str, float]:
        return asdict(self)


def _ratio(num: int, den: int, both_empty: bool) -> float:
    if den == 0:
        return 1.0 if both_empty else 0.0
    return num / den


def confusion(pred: np.ndarray, truth: np.ndarray) -> tuple[int, int, int, int]:
    """(tp, fp, fn, tn) pixel counts."""
    p, t = np.asarray(pred, dtype=bool), np.asarray(truth, dtype=bool)
    if p.shape != t.shape:
        raise MaskError(f"prediction {p.shape} and ground truth {t.shape} differ in size")
    tp = int(np.count_nonzero(p & t))
    fp = int(np.count_nonzero(p & ~t))
    fn = int(np.count_nonzero(~p & t))
    return tp, fp, fn, int(p.size - tp - fp - fn)


def overlap_metrics(pred: np.ndarray, truth: np.ndarray) -> OverlapMetrics:
    """IoU, Dice, precision, recall and pixel accuracy of one predicted mask against the truth."""
    tp, fp, fn, tn = confusion(pred, truth)
    both_empty = tp + fp + fn == 0
    return OverlapMetrics(
        dice=_ratio(2 * tp, 2 * tp + fp + fn, both_empty),
        iou=_ratio(tp, tp + fp + fn, both_empty),
        precision=_ratio(tp, tp + fp, both_empty),
        recall=_ratio(tp, tp + fn, both_empty),
        accuracy=(tp + tn) / max(1, tp + fp + fn + tn),
    )


def summarize(rows: list[dict[str, float]], keys: tuple[str, ...] = METRIC_NAMES) -> dict[str, dict[str, float]]:
    """Mean and median per metric over per-image rows."""
    out: dict[str, dict[str, float]] = {}
    for key in keys:
        values = np.array([r[key] for r in rows], dtype=np.float64)
        out[key] = {"mean": float(values.mean()) if len(values) else float("nan"),
                    "median": float(np.median(values)) if len(values) else float("nan")}
    return out
