"""Click-to-fix at the new site: does a short fine-tune on the site's corrections cut the clicks?

The site and its 50 corrections are bench/site_gate.py's (JSRT, lung behind the heart, seed 0); the
held-back quarter is chosen as `retrain` chooses it (sorted by `hash_bucket` of the correction's
id). The click network is fine-tuned exactly as the retrain job does (`click_site_tuning`:
replaying 50 random cxr-lungs train films) and judged by its gate (held-back NoC@95 must fall;
cxr-lungs val NoC@95 may rise by at most 0.2). Then NoC@90/95 (centre of the largest error, max 20
clicks, from the shipped default's mask) on the site's other 197 films, before and after, and on
the cxr-lungs val split.

    .venv/bin/python bench/site_clicks.py [--steps 100]

Writes bench/results/site_clicks.txt.
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from bench.site_gate import CXR, JSRT, _load, jsrt_films  # noqa: E402


def noc(fixer, examples) -> dict[str, float]:
    from lungseg_core.learning.click_simulation import clicks_to_reach

    rows = [clicks_to_reach(lambda m, c, im=e.image: fixer.fix(im, m, c), e.start, e.truth) for e in examples]
    return {"noc90": float(np.mean([r["noc90"] for r in rows])), "noc95": float(np.mean([r["noc95"] for r in rows])),
            "dice_start": float(np.mean([r["dice_start"] for r in rows])),
            "failed95": int(sum(r["noc95"] >= 20 for r in rows))}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=None)
    args = ap.parse_args()
    import torch

    from lungseg_core import DEFAULT_MODEL, load_model
    from lungseg_core.learning import click_site_tuning as cst
    from lungseg_core.learning.dataset import load_gray, load_mask, read_manifest
    from lungseg_core.models.click_fix import ClickFixer, click_recipe, load_click_fixer, unfolded_click_network
    from lungseg_core.workflow.corrections_export import hash_bucket

    torch.set_num_threads(2)
    started = time.perf_counter()
    seg = load_model(DEFAULT_MODEL)
    films = jsrt_films()
    train = [f for f in films if f["split"] == "train"]
    rng = np.random.default_rng(0)
    chosen = set(rng.choice(len(train), 50, replace=False).tolist())
    corr = [f for i, f in enumerate(train) if i in chosen]
    others = [f for i, f in enumerate(train) if i not in chosen] + [f for f in films if f["split"] != "train"]
    ids = sorted((f"corr_{f['id']}" for f in corr), key=hash_bucket)
    held = set(ids[:round(0.25 * len(ids))])

    def example(f):
        image = _load(JSRT / f["image_path"])
        return cst.ClickExample(image, seg.predict(image), f["site"])

    corr_train = [example(f) for f in corr if f"corr_{f['id']}" not in held]
    corr_held = [example(f) for f in corr if f"corr_{f['id']}" in held]
    base_train = read_manifest(CXR, "train")
    pick = np.random.default_rng(1).choice(len(base_train), 50, replace=False)
    replay = [cst.ClickExample(load_gray(base_train[i].image_path), load_mask(base_train[i].mask_path),
                               load_mask(base_train[i].mask_path)) for i in pick]
    val = []
    for c in read_manifest(CXR, "val"):
        image = load_gray(c.image_path)
        val.append(cst.ClickExample(image, seg.predict(image), load_mask(c.mask_path)))
    site_others = [example(f) for f in others]
    prepared = (time.perf_counter() - started) / 60
    parent_net = unfolded_click_network()
    tuned, verdict = cst.tune_and_judge(parent_net, "unet_lite0_slim_dense", corr_train, replay, corr_held, val,
                                        min_holdout=10, steps=args.steps or cst.STEPS)
    shipped = load_click_fixer()
    candidate = ClickFixer(tuned, click_recipe("unet_lite0_slim_dense"))
    lines = [f"click-to-fix at the site (lung behind the heart): {len(corr_train)} corrections train it, "
             f"{len(corr_held)} held back; fine-tune {verdict.steps} steps + gate {verdict.minutes:.1f} min",
             f"gate: {'USE' if verdict.use else 'keep the parent'} — {verdict.reason}",
             f"{'films (start: default mask)':<34}{'n':>5}{'Dice start':>11}{'NoC@90':>8}{'NoC@95':>8}{'fail95':>7}"]
    for name, items in (("site's other films", site_others), ("cxr-lungs val", val)):
        for who, fixer in (("shipped click net", shipped), ("site-tuned click net", candidate)):
            s = noc(fixer, items)
            lines.append(f"{name + ', ' + who:<34}{len(items):>5}{s['dice_start']:>11.4f}{s['noc90']:>8.2f}"
                         f"{s['noc95']:>8.2f}{s['failed95']:>7}")
    lines.append(f"run took {(time.perf_counter() - started) / 60:.1f} min ({prepared:.1f} preparing); "
                 f"clicks answered in {shipped.precision} (shipped) and {candidate.precision} (tuned)")
    text = "\n".join(lines) + "\n"
    (ROOT / "bench" / "results" / "site_clicks.txt").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
