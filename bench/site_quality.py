"""Does the worklist's estimate find the bad films at a new site, cold and after its corrections?

The site of bench/site_gate.py (JSRT with the lung-behind-the-heart rule), and JSRT as it is (the
original convention). Every film is segmented by the shipped default through the worklist's own
path (`segment_batch`: mask, quality signals, estimate). The true Dice is against the site's masks.
Cold: the shipped estimator. Warm: `site_quality.refit` (the shipped estimate recalibrated with the
convention gap and the hull gap; in the rows "+ heart", the heart share too, as the product does
with the heart network shipped) on the first 10 / 25 / 50 of the 50
corrections of bench/site_gate.py (seed 0; their true Dice is what an approved correction tells),
scored on the site's other 197 films only.

Rows "+ heart" add the heart network's share (`models/heart_model`), from a network trained as the
shipped one (tools/train_heart.py) but without the site's 50 corrections (`bench_heart_model`): a
new site's films are films it never saw. Its train split holds 98 of the site's other films, and
its heart masks are the ones the site's rule reads, so the last column gives every row on the
other films outside that split (val + test, 99 films), whose hearts no network saw. Three rows are
bounds, not results (`bounds`): cold, a perfect estimate of the Dice by JSRT's own drawing; warm, the
recalibration given a column only the truth knows -- the true heart area, or the lung the site's
rule truly adds to each mask.

Figures per setting: Spearman (estimate vs true Dice), worst-10 % hit rate (of the 10 % the estimate
ranks worst, the share truly among the 10 % worst), mean absolute error.

    .venv/bin/python bench/site_quality.py

Writes bench/results/site_quality.txt.
"""
from __future__ import annotations

import os
import subprocess
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


def bounds(results: list, films: list[dict], truth: np.ndarray, chosen: list[int]) -> list[tuple[str, np.ndarray]]:
    """Bounds, not results. Cold: the true Dice by JSRT's own drawing (what a perfect estimator of the
    convention the models learnt would say, knowing nothing of the site's). Warm: the shipped estimate
    recalibrated (least squares on the 50 corrections, as the warm rows) with a column only the truth
    knows -- the film's true heart area (SCR heart mask) or the lung the site's rule truly adds to the
    model's mask -- over the mask's area: how far a perfect heart network, or a perfect knowledge of the
    site's drawing per film, could take the ranking."""
    from lungseg_core.learning.convention_gate import dice

    shipped = np.log(1.0 - np.array([r.estimated_dice for r in results]) + 0.01)
    heart = np.array([f["heart"].sum() / max(1, r.mask.sum()) for r, f in zip(results, films)])
    added = np.array([(f["site"] & ~r.mask).sum() / max(1, r.mask.sum()) for r, f in zip(results, films)])
    y = np.log(1.0 - truth + 0.01)
    as_drawn = np.array([dice(r.mask, f["lungs"]) for r, f in zip(results, films)])
    rows = [("bound: cold", as_drawn)]  # a perfect estimate of the Dice by the references' own convention
    for name, column in (("bound: heart", heart), ("bound: added", added)):
        x = np.c_[shipped, column, np.ones(len(y))]
        w = np.linalg.lstsq(x[chosen], y[chosen], rcond=None)[0]
        rows.append((name, 1.0 - np.exp(x @ w) + 0.01))
    return rows


def site_model_opinion(results: list, films: list[dict]) -> list[tuple[str, np.ndarray]]:
    """A second opinion that has learnt the site: the Dice between the default's mask and the mask of
    the model bench/site_gate.py's "site" run retrained on the 50 corrections (its weights stay in
    bench/site_work/models). No row when that run has not been made."""
    import json

    from lungseg_core import load_model
    from lungseg_core.learning.convention_gate import dice

    runs = ROOT / "bench" / "results" / "site_gate.json"
    rows = [r for r in json.loads(runs.read_text()) if r["run"] == "site"] if runs.is_file() else []
    folder = ROOT / "bench" / "site_work" / "models"
    if not rows or not (folder / f"{rows[0]['name']}.safetensors").is_file():
        return []
    site_model = load_model(rows[0]["name"], directory=folder)
    agreement = [dice(r.mask, site_model.predict(_load(JSRT / f["image_path"]))) for r, f in zip(results, films)]
    return [("site model agrees", np.array(agreement))]


def bench_heart_model(corrections: list[str]) -> object:
    """The heart network as the shipped one is trained (tools/train_heart.py), less the site's 50
    corrections: a new site's films are films the heart network never saw, and the warm fit must not
    read hearts it learnt by heart. Trained once into bench/site_work/heart_bench (about 5 min)."""
    from lungseg_core.models.heart_model import load_heart_model

    work = ROOT / "bench" / "site_work" / "heart_bench"
    if not (work / "heart.safetensors").is_file():
        work.mkdir(parents=True, exist_ok=True)
        (work / "exclude.txt").write_text("\n".join(corrections) + "\n")
        subprocess.run([sys.executable, str(ROOT / "tools" / "train_heart.py"), "--exclude", str(work / "exclude.txt"),
                        "--work", str(work), "--out", str(work)], check=True)
    return load_heart_model(work)


def main() -> None:
    import torch

    from lungseg_core import DEFAULT_MODEL, load_model
    from lungseg_core.learning.convention_gate import dice
    from lungseg_core.workflow.case_segmentation import segment_batch
    from lungseg_core.learning.convention_gate import learn_convention
    from lungseg_core.models.heart_model import heart_mask
    from lungseg_core.workflow.site_quality import SiteExample, convention_gap, estimate, heart_share, hull_gap, refit

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
    heart_seg = bench_heart_model([films[i]["id"] for i in chosen])
    hearts = [heart_share(r.mask, heart_mask(heart_seg, _load(JSRT / f["image_path"]))) if heart_seg else None
              for r, f in zip(results, films)]
    unseen = [i for i in others if films[i]["split"] != "train"]  # no heart network saw these hearts
    lines = [f"{'convention':<22}{'setting':<22}{'Spearman':>9}{'worst-10% hit':>15}{'MAE':>8}"
             f"{'Spearman, val+test':>20}"]
    for convention, key in (("site (behind heart)", "site"), ("JSRT as drawn", "lungs")):
        truth = np.array([dice(r.mask, f[key]) for r, f in zip(results, films)])
        cold = np.array([r.estimated_dice for r in results])
        rows = [("cold", cold)]
        for n in (10, 25, 50):
            cmap = learn_convention([results[i].mask for i in chosen[:n]], [films[i][key] for i in chosen[:n]])
            gaps = [convention_gap(r.mask, cmap) for r in results]
            for label, heart in (("", [None] * len(results)), (" + heart", hearts)):
                if label and heart_seg is None:
                    continue
                model = refit([SiteExample(results[i].signals, truth[i], gaps[i], hulls[i], heart[i])
                               for i in chosen[:n]], cmap=cmap)
                rows.append((f"warm, {n}{label}", np.array([estimate(model, r.signals, g, h, k)
                                                            for r, g, h, k in zip(results, gaps, hulls, heart)])))
        if key == "site":  # what no estimator can beat without the truth: see `bounds`
            rows += site_model_opinion(results, films) + bounds(results, films, truth, chosen)
        for name, est in rows:
            e, t = est[others], truth[others]
            lines.append(f"{convention:<22}{name:<22}{spearman(e, t):>9.3f}{worst_hit(e, t):>15.2f}"
                         f"{np.abs(e - t).mean():>8.3f}{spearman(est[unseen], truth[unseen]):>20.3f}")
        lines.append(f"{convention:<22}{'(true Dice)':<22} mean {truth[others].mean():.3f}, "
                     f"{(truth[others] < 0.9).sum()} of {len(others)} films below 0.90")
    text = "\n".join(lines) + "\n"
    (ROOT / "bench" / "results" / "site_quality.txt").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
