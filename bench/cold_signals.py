"""Cold quality estimate at a new site: do signals that look past our own model transfer better?

Tried on the films of bench/site_gate.py (JSRT, read two ways: the site's lung-behind-the-heart
masks and JSRT as drawn), each segmented by the shipped default through the worklist's path:
the shipped estimate; agreement (Dice) of the default's mask with a second shipped model's
(unet_lite0, unet_lite0_slim, unet_effb3: a second opinion, the cheap cousin of CheXmask's
reverse-classification accuracy); the product of the estimate and that agreement; mask area.
Spearman with the true Dice and worst-10 % hit rate, all 247 films.

    .venv/bin/python bench/cold_signals.py     # writes bench/results/cold_signals.txt
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
from bench.site_quality import spearman, worst_hit  # noqa: E402

SECOND_OPINIONS = ("unet_lite0", "unet_lite0_slim", "unet_effb3")


def main() -> None:
    import torch

    from lungseg_core import DEFAULT_MODEL, load_model
    from lungseg_core.learning.convention_gate import dice
    from lungseg_core.workflow.case_segmentation import segment_batch

    torch.set_num_threads(2)
    films = jsrt_films()
    seg = load_model(DEFAULT_MODEL)
    results = []
    for start in range(0, len(films), 8):
        results += segment_batch(seg, [_load(JSRT / f["image_path"]) for f in films[start:start + 8]])
    signals = {"shipped estimate": np.array([r.estimated_dice for r in results]),
               "mask area": np.array([r.mask.sum() for r in results], float)}
    for name in SECOND_OPINIONS:
        other = load_model(name)
        agree = np.array([dice(other.predict(_load(JSRT / f["image_path"])), r.mask) for f, r in zip(films, results)])
        signals[f"agreement with {name}"] = agree
        signals[f"estimate x agreement ({name})"] = signals["shipped estimate"] * agree
    lines = [f"{'convention':<22}{'signal':<40}{'Spearman':>9}{'worst-10% hit':>15}"]
    for convention, key in (("site (behind heart)", "site"), ("JSRT as drawn", "lungs")):
        truth = np.array([dice(r.mask, f[key]) for r, f in zip(results, films)])
        for name, values in signals.items():
            lines.append(f"{convention:<22}{name:<40}{spearman(values, truth):>9.3f}{worst_hit(values, truth):>15.2f}")
    text = "\n".join(lines) + "\n"
    (ROOT / "bench" / "results" / "cold_signals.txt").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
