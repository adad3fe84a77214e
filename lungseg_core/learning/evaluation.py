"""Per-image evaluation on a split, summarised per source (Dice, IoU, precision, recall, accuracy)."""
from __future__ import annotations

import time
from collections import defaultdict
from typing import Any, Callable

import numpy as np

from .dataset import Case, load_gray, load_mask
from ..imaging.metrics import METRIC_NAMES, overlap_metrics, summarize
from ..imaging.preprocessing import resize_probability
from ..models.segmenter import Segmenter


def evaluate_cases(segmenter: Segmenter, cases: list[Case],
                   progress: Callable[[int, int], None] | None = None, keep_masks: bool = False) -> dict[str, Any]:
    """Predict every case at its full resolution and compare with its mask.

    Returns {"per_image": [...], "by_source": {source: {metric: {mean, median}}, "all": ...},
    "ms_per_image": float}, and with `keep_masks` "masks": the predicted masks in case order.
    """
    rows: list[dict[str, Any]] = []
    kept: list[np.ndarray] = []
    elapsed = 0.0
    for i, case in enumerate(cases):
        image, truth = load_gray(case.image_path), load_mask(case.mask_path)
        start = time.perf_counter()
        pred = segmenter.predict(image)
        elapsed += time.perf_counter() - start
        if keep_masks:
            kept.append(np.asarray(pred, bool))
        row: dict[str, Any] = {"id": case.id, "source": case.source}
        row.update(overlap_metrics(pred, truth).as_dict())
        rows.append(row)
        if progress:
            progress(i + 1, len(cases))
    groups: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        groups[row["source"]].append(row)
    by_source = {src: {"n": len(g), **summarize(g)} for src, g in sorted(groups.items())}
    by_source["all"] = {"n": len(rows), **summarize(rows)}
    result = {"per_image": rows, "by_source": by_source, "ms_per_image": 1000 * elapsed / max(1, len(rows))}
    if keep_masks:
        result["masks"] = kept
    return result


def format_table(by_source: dict[str, Any]) -> str:
    """Plain-text table: one row per source, mean / median per metric."""
    header = f"{'source':<12}{'n':>5}  " + "  ".join(f"{m + ' mean/med':>20}" for m in METRIC_NAMES)
    lines = [header, "-" * len(header)]
    for src, s in by_source.items():
        cells = "  ".join(f"{s[m]['mean']:>9.4f} /{s[m]['median']:>8.4f} " for m in METRIC_NAMES)
        lines.append(f"{src:<12}{s['n']:>5}  {cells}")
    return "\n".join(lines)


def mean_dice_at_model_size(probabilities: np.ndarray, masks: np.ndarray) -> float:
    """Fast validation score during training: mean per-image Dice at model resolution."""
    scores = [overlap_metrics(p >= 0.5, m >= 0.5).dice for p, m in zip(probabilities, masks)]
    return float(np.mean(scores)) if scores else float("nan")


def mean_dice_full_size(probabilities: np.ndarray, full_masks: list[np.ndarray],
                        spared: list[np.ndarray | None] | None = None) -> float:
    """Validation score as the model is used: model-size probabilities scaled to each mask's own
    resolution, thresholded at 0.5 (no post-processing), mean per-image Dice; pixels of a film's
    `spared` zone (`convention_replay`) count for neither side."""
    scores = []
    for i, (p, m) in enumerate(zip(probabilities, full_masks)):
        drawn, reference = resize_probability(p, m.shape) >= 0.5, np.asarray(m, bool)
        zone = spared[i] if spared is not None else None
        if zone is not None:
            drawn, reference = drawn & ~zone, reference & ~zone
        scores.append(overlap_metrics(drawn, reference).dice)
    return float(np.mean(scores)) if scores else float("nan")
