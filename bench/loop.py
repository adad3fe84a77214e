"""Does each correction count? A cross-site simulation of the correction loop.

Another hospital's model: `loop_base` (bench/loop_base.py), trained on Shenzhen's train split only.
Its "site" is Montgomery: N of Montgomery's train cases (N = 10, 25, 50) are the annotators'
corrections, chosen at random or worst-estimated first (the worklist's quality estimate of the base
model's own masks, no reference used). A fine-tune on them is scored on Montgomery's other films
(gain) and on Shenzhen's (forgetting):

- corrections come from a fixed pool of 60 of Montgomery's 97 train cases; gain is measured on
  Montgomery's other films: its val split plus the 37 train cases outside the pool (58 X-rays that
  neither the base model nor any fine-tune sees), forgetting on Shenzhen's val split. Settings are
  chosen on these;
- the test splits (Montgomery test, 20; Shenzhen test, 85) are reported for the chosen settings only.

Fine-tune settings compared (`SETTINGS`): `today` is what `retrain` did in release 2 (1 epoch,
every base train image plus each training correction 3 times, 25 % of the corrections held back
for the gate, LR 0.2 x the recipe's, no weight average); the others change one thing at a time and
`improved` combines what helped.

Habit variant: the site's annotators include the lung behind the heart. Rule (stated, applied to
the corrections and to the site's reference masks alike): in the lower half of the patient's left
lung (image right), everything between the lung and its convex hull is lung.

    .venv/bin/python bench/loop.py [--n 10,25,50] [--settings today,improved] [--select random,worst] [--habit]

Writes bench/results/loop.txt (table) and loop.json.
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

from bench.loop_base import BASE_NAME, BASE_RECIPE, DATA  # noqa: E402
from lungseg_core.workflow.case_segmentation import segment_batch  # noqa: E402
from lungseg_core.learning.dataset import Case, load_gray, load_mask, read_manifest  # noqa: E402
from lungseg_core.imaging.lung_measurements import LEFT, split_lungs  # noqa: E402
from lungseg_core.imaging.metrics import overlap_metrics  # noqa: E402
from lungseg_core.models.model_loading import segmenter_from_weights  # noqa: E402
from lungseg_core.models.registry import get_recipe  # noqa: E402
from lungseg_core.learning.training import TrainOptions, train  # noqa: E402

WORK = ROOT / "bench" / "loop_work"
POOL = 60

#: name -> overrides of the fine-tune (see module docstring). Keys: epochs, lr_factor, weight (times each
#: training correction is seen per epoch), replay (base train images mixed in: "all" or a number per
#: correction), holdout (share held back), ema (weight-average decay, 0 = off), augmentation.
SETTINGS: dict[str, dict] = {
    "today": {"epochs": 1, "lr_factor": 0.2, "weight": 3, "replay": "all", "holdout": 0.25, "ema": 0.0},
    "all_train": {"epochs": 1, "lr_factor": 0.2, "weight": 3, "replay": "all", "holdout": 0.0, "ema": 0.0},
    "replay4": {"epochs": 3, "lr_factor": 0.2, "weight": 3, "replay": 4, "holdout": 0.0, "ema": 0.0},
    "lr_x1": {"epochs": 3, "lr_factor": 1.0, "weight": 3, "replay": 4, "holdout": 0.0, "ema": 0.0},
    "improved": {"epochs": 3, "lr_factor": 0.5, "weight": 3, "replay": 4, "holdout": 0.0, "ema": 0.9},
    "focus": {"epochs": 3, "lr_factor": 1.0, "weight": 4, "replay": 2, "holdout": 0.0, "ema": 0.0},
    "strong": {"epochs": 4, "lr_factor": 1.0, "weight": 4, "replay": 2, "holdout": 0.0, "ema": 0.0},
    "lean": {"epochs": 4, "lr_factor": 1.0, "weight": 4, "replay": 1, "holdout": 0.0, "ema": 0.0},
    # lean with at least 50 base images replayed (lean forgot > 0.002 at N = 10 and 25: too little replay)
    "floor": {"epochs": 4, "lr_factor": 1.0, "weight": 4, "replay": 1, "replay_min": 50, "holdout": 0.0, "ema": 0.0},
    # what `retrain` now ships: floor, with the gate's 25 % held back
    "floor_gate": {"epochs": 4, "lr_factor": 1.0, "weight": 4, "replay": 1, "replay_min": 50, "holdout": 0.25,
                   "ema": 0.0},
    # the gate's fit, then (once the gate has decided) one more epoch with every correction training
    "gate_all": {"epochs": 4, "lr_factor": 1.0, "weight": 4, "replay": 1, "replay_min": 50, "holdout": 0.25,
                 "ema": 0.0, "then_all_epochs": 1},
    # the same with the extra epoch at a tenth of the LR (gate_all's full-LR epoch forgot 0.0044)
    "gate_all_low": {"epochs": 4, "lr_factor": 1.0, "weight": 4, "replay": 1, "replay_min": 50, "holdout": 0.25,
                     "ema": 0.0, "then_all_epochs": 1, "then_all_lr_factor": 0.1},
    # gate_all_low with twice the base replay in the extra epoch (more old images per new one: less forgetting)
    "gate_all_replay": {"epochs": 4, "lr_factor": 1.0, "weight": 4, "replay": 1, "replay_min": 50, "holdout": 0.25,
                        "ema": 0.0, "then_all_epochs": 1, "then_all_lr_factor": 0.1, "then_all_replay": 2,
                        "then_all_replay_min": 100},
    # gate_all_replay with a 3-epoch gate fit (time: the gate's fit is most of the minutes)
    "gate3_all_replay": {"epochs": 3, "lr_factor": 1.0, "weight": 4, "replay": 1, "replay_min": 50, "holdout": 0.25,
                         "ema": 0.0, "then_all_epochs": 1, "then_all_lr_factor": 0.1, "then_all_replay": 2,
                         "then_all_replay_min": 100},
    # gate_all_replay with the encoder frozen in both fits (less to forget, cheaper steps)
    "gate_all_frozen": {"epochs": 4, "lr_factor": 1.0, "weight": 4, "replay": 1, "replay_min": 50, "holdout": 0.25,
                        "ema": 0.0, "then_all_epochs": 1, "then_all_lr_factor": 0.1, "then_all_replay": 2,
                        "then_all_replay_min": 100, "freeze_encoder": True},
    # the same with the decoder at 3x the LR (it alone has to carry the change)
    "gate_all_frozen_lr3": {"epochs": 4, "lr_factor": 3.0, "weight": 4, "replay": 1, "replay_min": 50,
                            "holdout": 0.25, "ema": 0.0, "then_all_epochs": 1, "then_all_lr_factor": 0.3,
                            "then_all_replay": 2, "then_all_replay_min": 100, "freeze_encoder": True},
    # gate_all_replay with the encoder frozen in the extra epoch only (its steps cost a third)
    "gate_all_replay_fz": {"epochs": 4, "lr_factor": 1.0, "weight": 4, "replay": 1, "replay_min": 50, "holdout": 0.25,
                           "ema": 0.0, "then_all_epochs": 1, "then_all_lr_factor": 0.1, "then_all_replay": 2,
                           "then_all_replay_min": 100, "then_all_freeze_encoder": True},
    # gate_all_low, then the mean of the gated and the all-corrections weights (a two-point weight average)
    "gate_all_soup": {"epochs": 4, "lr_factor": 1.0, "weight": 4, "replay": 1, "replay_min": 50, "holdout": 0.25,
                      "ema": 0.0, "then_all_epochs": 1, "then_all_lr_factor": 0.3, "soup": 0.5},
    "gate3_all": {"epochs": 3, "lr_factor": 1.0, "weight": 4, "replay": 1, "replay_min": 50, "holdout": 0.25,
                  "ema": 0.0, "then_all_epochs": 1},
}


def habit(mask: np.ndarray) -> np.ndarray:
    """The site's convention: the lower half of the patient's left lung filled to its convex hull."""
    labels = split_lungs(mask)
    left = (labels == LEFT).astype(np.uint8)
    if not left.any():
        return mask.copy()
    contours, _ = cv2.findContours(left, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    hull = np.zeros_like(left)
    cv2.fillPoly(hull, [cv2.convexHull(np.concatenate(contours))], 1)
    ys = np.nonzero(left)[0]
    lower = np.zeros_like(left, bool)
    lower[(ys.min() + ys.max()) // 2:] = True
    return mask | (hull.astype(bool) & lower & ~(labels == 1))


def _habit_cases(cases: list[Case], folder: Path) -> list[Case]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for c in cases:
        target = folder / f"{c.id}.png"
        if not target.exists():
            cv2.imwrite(str(target), habit(load_mask(c.mask_path)).astype(np.uint8) * 255)
        out.append(Case(c.id, c.source, c.split, c.image_path, target))
    return out


def choose(cases: list[Case], n: int, how: str, base) -> list[Case]:  # type: ignore[no-untyped-def]
    if how == "random":
        order = np.random.default_rng(1).permutation(len(cases))
        return [cases[i] for i in order[:n]]
    cache = WORK / "estimates.json"
    estimates = json.loads(cache.read_text()) if cache.exists() else {}
    missing = [c for c in cases if c.id not in estimates]
    for start in range(0, len(missing), 8):
        chunk = missing[start:start + 8]
        for c, r in zip(chunk, segment_batch(base, [load_gray(c.image_path) for c in chunk])):
            estimates[c.id] = r.estimated_dice
    cache.write_text(json.dumps(estimates))
    return sorted(cases, key=lambda c: estimates[c.id])[:n]


def write_manifest(folder: Path, corrections: list[Case], base_train: list[Case], base_val: list[Case],
                   s: dict, seed: int = 0) -> dict[str, int]:
    rng = np.random.default_rng(seed)
    n_hold = int(round(s["holdout"] * len(corrections)))
    train_corr = corrections[n_hold:]
    if s["replay"] == "all":
        replay = base_train
    else:
        k = min(len(base_train), max(int(s["replay"]) * len(train_corr), int(s.get("replay_min", 0))))
        replay = [base_train[i] for i in rng.permutation(len(base_train))[:k]]
    rows = []
    for c in train_corr:
        rows += [(c, "train")] * int(s["weight"])
    rows += [(c, "train") for c in replay] + [(c, "val") for c in base_val]
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / "manifest.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["id", "source", "split", "image_path", "mask_path"])
        for c, split in rows:
            w.writerow([c.id, c.source, split, str(c.image_path.resolve()), str(c.mask_path.resolve())])
    return {"train_corrections": len(train_corr), "held_back": n_hold, "replay": len(replay)}


def _soup(first: Path, second: Path, share_second: float, out: Path) -> Path:
    """The weighted mean of two weight files of one architecture (floating tensors only)."""
    from safetensors.torch import load_file, save_file
    a, b = load_file(str(first)), load_file(str(second))
    save_file({k: (a[k] * (1 - share_second) + b[k] * share_second) if a[k].is_floating_point() else b[k]
               for k in a}, str(out))
    return out


def dice_of(seg, cases: list[Case]) -> float:  # type: ignore[no-untyped-def]
    return float(np.mean([overlap_metrics(seg.predict(load_gray(c.image_path)), load_mask(c.mask_path)).dice
                          for c in cases]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", default="10,25,50")
    parser.add_argument("--settings", default="today,improved")
    parser.add_argument("--select", default="random,worst")
    parser.add_argument("--habit", action="store_true", help="also run the labelling-habit variant at the largest N")
    parser.add_argument("--test", action="store_true", help="also report the test splits (chosen settings only)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    base_weights = WORK / f"{BASE_NAME}.safetensors"
    if not base_weights.exists():
        raise SystemExit("train the base model first: .venv/bin/python bench/loop_base.py")
    recipe = get_recipe(BASE_RECIPE)
    base = segmenter_from_weights(recipe, base_weights)
    site_all_train = [c for c in read_manifest(DATA, "train") if c.source == "montgomery"]
    order = np.random.default_rng(0).permutation(len(site_all_train))
    site_train = [site_all_train[i] for i in order[:POOL]]  # the corrections are chosen from these
    site_val = [c for c in read_manifest(DATA, "val") if c.source == "montgomery"] + \
        [site_all_train[i] for i in order[POOL:]]
    site_test = [c for c in read_manifest(DATA, "test") if c.source == "montgomery"]
    home_train = [c for c in read_manifest(DATA, "train") if c.source == "shenzhen"]
    home_val = [c for c in read_manifest(DATA, "val") if c.source == "shenzhen"]
    home_test = [c for c in read_manifest(DATA, "test") if c.source == "shenzhen"]
    results_path = ROOT / "bench" / "results" / "loop.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    variants = [("plain", site_train, site_val, site_test)]
    if args.habit:
        variants.append(("habit", _habit_cases(site_train, WORK / "habit"), _habit_cases(site_val, WORK / "habit"),
                         _habit_cases(site_test, WORK / "habit")))
    ns = [int(v) for v in args.n.split(",")]
    for variant, corr_pool, gain_val, gain_test in variants:
        base_key = f"{variant}|base"
        if base_key not in results:
            results[base_key] = {"site_val": dice_of(base, gain_val), "home_val": dice_of(base, home_val),
                                 "site_test": dice_of(base, gain_test), "home_test": dice_of(base, home_test)}
            results_path.write_text(json.dumps(results, indent=1))
        for n in (ns if variant == "plain" else [max(ns)]):
            for how in args.select.split(","):
                picked = choose(corr_pool, n, how, base)
                for name in args.settings.split(","):
                    key = f"{variant}|{n}|{how}|{name}"
                    if key in results:
                        continue
                    s = SETTINGS[name]
                    run = WORK / "runs" / key.replace("|", "_")
                    shutil.rmtree(run, ignore_errors=True)
                    counts = write_manifest(run / "data", picked, home_train, home_val, s)
                    started = time.perf_counter()
                    r = recipe.with_overrides(ema_decay=s["ema"])
                    train(r, TrainOptions(data_dir=run / "data", out_dir=run / "out", epochs=s["epochs"], resume=False,
                                          evaluate_test=False, init_weights=base_weights, output_name="ft",
                                          learning_rate=recipe.learning_rate * s["lr_factor"],
                                          freeze_encoder=s.get("freeze_encoder", False)))
                    weights = run / "out" / "ft.safetensors"
                    if s.get("then_all_epochs"):  # after the gate: all corrections train, from the gated weights
                        write_manifest(run / "data_all", picked, home_train, home_val,
                                       {**s, "holdout": 0.0, "replay": s.get("then_all_replay", s["replay"]),
                                        "replay_min": s.get("then_all_replay_min", s.get("replay_min", 0))})
                        train(r, TrainOptions(data_dir=run / "data_all", out_dir=run / "out", epochs=s["then_all_epochs"],
                                              resume=False, evaluate_test=False, init_weights=weights,
                                              output_name="ft_all",
                                              learning_rate=recipe.learning_rate * s.get("then_all_lr_factor", s["lr_factor"]),
                                              freeze_encoder=s.get("then_all_freeze_encoder",
                                                                   s.get("freeze_encoder", False))))
                        if s.get("soup"):
                            weights = _soup(weights, run / "out" / "ft_all.safetensors", s["soup"], run / "out" / "soup.safetensors")
                        else:
                            weights = run / "out" / "ft_all.safetensors"
                    minutes = (time.perf_counter() - started) / 60
                    tuned = segmenter_from_weights(r, weights)
                    row = {"n": n, "select": how, "settings": name, "variant": variant, **counts, "minutes": minutes,
                           "site_val": dice_of(tuned, gain_val), "home_val": dice_of(tuned, home_val)}
                    if args.test:
                        row.update(site_test=dice_of(tuned, gain_test), home_test=dice_of(tuned, home_test))
                    results[key] = row
                    results_path.write_text(json.dumps(results, indent=1))
                    shutil.rmtree(run / "out", ignore_errors=True)
                    print(key, json.dumps({k: round(v, 4) if isinstance(v, float) else v for k, v in row.items()}),
                          flush=True)
    lines = ["# bench/loop.py: base = loop_base (Shenzhen train only); corrections = Montgomery train cases; "
             "gain on Montgomery's other films (58: val + train outside the pool), forgetting on Shenzhen val; "
             "test splits reported",
             f"{'variant':<8}{'N':>4} {'select':<7}{'settings':<11}{'train':>6}{'held':>5}{'min':>6}"
             f"{'gain val':>9}{'/corr':>8}{'forget val':>11}{'gain test':>10}{'forget test':>12}"]
    for key, row in results.items():
        if key.endswith("|base"):
            continue
        b = results[f"{row['variant']}|base"]
        gain = row["site_val"] - b["site_val"]
        forget = b["home_val"] - row["home_val"]
        test_cols = (f"{row['site_test'] - b['site_test']:>+10.4f}{b['home_test'] - row['home_test']:>+12.4f}"
                     if "site_test" in row else f"{'':>10}{'':>12}")
        lines.append(f"{row['variant']:<8}{row['n']:>4} {row['select']:<7}{row['settings']:<11}"
                     f"{row['train_corrections']:>6}{row['held_back']:>5}{row['minutes']:>6.1f}{gain:>+9.4f}"
                     f"{gain / row['n']:>+8.5f}{forget:>+11.4f}{test_cols}")
    for key, b in results.items():
        if key.endswith("|base"):
            lines.append(f"base ({key.split('|')[0]}): Montgomery val {b['site_val']:.4f} test {b['site_test']:.4f}; "
                         f"Shenzhen val {b['home_val']:.4f} test {b['home_test']:.4f}")
    text = "\n".join(lines)
    print(text)
    (ROOT / "bench" / "results" / "loop.txt").write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
