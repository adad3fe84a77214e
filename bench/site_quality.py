"""Does the worklist's estimate find the bad films at a new site, cold and after its corrections?

The site of bench/site_gate.py (JSRT with the lung-behind-the-heart rule), and JSRT as it is (the
original convention). Every film is segmented by the shipped default through the worklist's own
path (`segment_batch`: mask, quality signals, estimate). The true Dice is against the site's masks.
Cold: the shipped estimator. Warm: `site_quality.refit` (the shipped estimate recalibrated with the
convention gap and the hull gap) on the first 10 / 25 / 50 of the 50
corrections of bench/site_gate.py (seed 0; their true Dice is what an approved correction tells),
scored on the site's other 197 films only.

Figures per setting: Spearman (estimate vs true Dice), worst-10 % hit rate (of the 10 % the estimate
ranks worst, the share truly among the 10 % worst), mean absolute error.

    .venv/bin/python bench/site_quality.py

Writes bench/results/site_quality.txt.
"""
from __future__ import annotations

import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench.site_gate import JSRT, _load, jsrt_films  # noqa: E402


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def worst_hit(estimate: np.ndarray, truth: np.ndarray, share: float = 0.10) -> float:
    k = max(1, int(round(share * len(truth))))
    return len(set(np.argsort(estimate)[:k]) & set(np.argsort(truth)[:k])) / k


def main() -> None:
    import torch

    from lungseg_core import DEFAULT_MODEL, load_model
    from lungseg_core.learning.convention_gate import dice
    from lungseg_core.workflow.case_segmentation import segment_batch
    from lungseg_core.learning.convention_gate import learn_convention
    from lungseg_core.workflow.site_quality import SiteExample, convention_gap, estimate, hull_gap, refit

    torch.set_num_threads(2)
    seg = load_model(DEFAULT_MODEL)
    films = jsrt_films()
    results = []
    for start in range(0, len(films), 8):
        chunk = films[start:start + 8]
        results += segment_batch(seg, [_load(JSRT / f["image_path"]) for f in chunk])
    train = [i for i, f in enumerate(films) if f["split"] == "train"]
    rng = np.random.default_rng(0)
    chosen = [train[i] for i in rng.choice(len(train), 50, replace=False)]  # bench/site_gate.py's 50, in draw order
    others = [i for i in range(len(films)) if i not in set(chosen)]
    hulls = [hull_gap(r.mask) for r in results]
    lines = [f"{'convention':<22}{'setting':<14}{'Spearman':>9}{'worst-10% hit':>15}{'MAE':>8}"]
    for convention, key in (("site (behind heart)", "site"), ("JSRT as drawn", "lungs")):
        truth = np.array([dice(r.mask, f[key]) for r, f in zip(results, films)])
        cold = np.array([r.estimated_dice for r in results])
        rows = [("cold", cold)]
        for n in (10, 25, 50):
            cmap = learn_convention([results[i].mask for i in chosen[:n]], [films[i][key] for i in chosen[:n]])
            gaps = [convention_gap(r.mask, cmap) for r in results]
            model = refit([SiteExample(results[i].signals, truth[i], gaps[i], hulls[i]) for i in chosen[:n]], cmap=cmap)
            rows.append((f"warm, {n}", np.array([estimate(model, r.signals, g, h)
                                                 for r, g, h in zip(results, gaps, hulls)])))
        for name, est in rows:
            e, t = est[others], truth[others]
            lines.append(f"{convention:<22}{name:<14}{spearman(e, t):>9.3f}{worst_hit(e, t):>15.2f}"
                         f"{np.abs(e - t).mean():>8.3f}")
        lines.append(f"{convention:<22}{'(true Dice)':<14} mean {truth[others].mean():.3f}, "
                     f"{(truth[others] < 0.9).sum()} of {len(others)} films below 0.90")
    text = "\n".join(lines) + "\n"
    (ROOT / "bench" / "results" / "site_quality.txt").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
