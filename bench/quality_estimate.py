"""Does the worklist's quality estimate find the bad masks? Spearman and worst-10 % overlap.

Cases: a split's X-rays as they are plus changed copies (inverted grey levels, a wider field of
view, devices and wires, an opacity in a lung from bench/robustness.py; whole-lung consolidation,
effusion, white-out, AP projection with devices from lungseg_core.learning.severe_changes), each with its
reference mask. The default model segments them exactly as the worklist does
(`case_segmentation.segment_batch`); the true Dice is against the reference.

    .venv/bin/python bench/quality_estimate.py --fit      # fit on val (+ changed copies), write the estimator
    .venv/bin/python bench/quality_estimate.py            # report on test (+ changed copies), never seen by the fit

Reports, per set and overall: Spearman(estimated, true Dice), and of the 10 % of cases the
estimate ranks worst, how many are truly among the 10 % worst (chance: 10 %); single signals for
comparison. Writes bench/results/quality_estimate.txt (report) and .json.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from scipy.stats import spearmanr  # noqa: E402

from bench.robustness import PERTURBATIONS  # noqa: E402
from lungseg_core import DEFAULT_MODEL, load_model  # noqa: E402
from lungseg_core.workflow.case_segmentation import segment_batch  # noqa: E402
from lungseg_core.learning.dataset import load_gray, load_mask, read_manifest  # noqa: E402
from lungseg_core.workflow.mask_quality import dice  # noqa: E402
from lungseg_core.workflow.quality_estimate import ESTIMATOR_PATH, FEATURES, features, fit, predict  # noqa: E402
from lungseg_core.learning.severe_changes import apply_change  # noqa: E402

ROBUST = ("inverted grey levels", "wider field of view (x0.8)", "devices and wires", "opacity in a lung")
SEVERE = ("consolidation_lung", "effusion", "white_out", "ap_projection")


def build_sets(data: Path, split: str, limit: int | None, seed: int) -> dict[str, list[tuple[np.ndarray, np.ndarray]]]:
    cases = read_manifest(data, split, limit)
    pairs = [(load_gray(c.image_path), load_mask(c.mask_path)) for c in cases]
    sets = {"as is": pairs}
    for name in ROBUST:
        rng = np.random.default_rng(seed)
        sets[name] = [PERTURBATIONS[name](p, rng) for p in pairs]
    for name in SEVERE:
        rng = np.random.default_rng(seed + 1)
        out = []
        for image, mask in pairs:
            unit = image.astype(np.float32) / max(float(image.max()), 1.0)  # the changes work on [0, 1]
            changed, new_mask, _ = apply_change(name, unit, mask, rng, devices=name == "ap_projection")
            out.append((np.round(np.clip(changed, 0, 1) * 255).astype(np.uint8), np.asarray(new_mask) > 0.5))
        sets[name] = out
    return sets


def measure(seg, sets) -> list[dict]:  # type: ignore[no-untyped-def]
    rows = []
    for set_name, pairs in sets.items():
        for start in range(0, len(pairs), 8):
            chunk = pairs[start:start + 8]
            for (image, truth), result in zip(chunk, segment_batch(seg, [p[0] for p in chunk])):
                rows.append({"set": set_name, "true_dice": dice(result.mask, truth),
                             "features": features(result.signals).tolist(), "flags": result.flags,
                             "view_agreement": result.signals.view_agreement})
        print(f"  {set_name}: {len(pairs)} cases", flush=True)
    return rows


def worst_overlap(estimated: np.ndarray, true: np.ndarray, share: float = 0.1) -> tuple[int, int]:
    k = max(1, int(round(share * len(true))))
    return len(set(np.argsort(estimated)[:k]) & set(np.argsort(true)[:k])), k


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(ROOT.parent / "shared" / "data" / "cxr-lungs"))
    parser.add_argument("--fit", action="store_true", help="fit on the val split and write the estimator")
    parser.add_argument("--limit", type=int)
    args = parser.parse_args()
    torch.set_num_threads(2)
    seg = load_model(DEFAULT_MODEL)
    split = "val" if args.fit else "test"
    t0 = time.perf_counter()
    rows = measure(seg, build_sets(Path(args.data), split, args.limit, seed=11 if args.fit else 23))
    x = np.array([r["features"] for r in rows])
    true = np.array([r["true_dice"] for r in rows])
    if args.fit:
        model = fit(x, true)
        model.update(fitted_on=f"{split} split of cxr-lungs ({len(rows)} cases: as is + {', '.join(ROBUST + SEVERE)})",
                     model=DEFAULT_MODEL, fitted=time.strftime("%Y-%m-%d"), script="bench/quality_estimate.py --fit")
        ESTIMATOR_PATH.write_text(json.dumps(model, indent=1) + "\n")
        print(f"wrote {ESTIMATOR_PATH} from {len(rows)} {split} cases")
    model = json.loads(ESTIMATOR_PATH.read_text())
    est = predict(model, x)
    lines = [f"# bench/quality_estimate.py on the {split} split ({'fitting data' if args.fit else 'never seen by the fit'}),"
             f" model {DEFAULT_MODEL}, {len(rows)} cases, {time.perf_counter() - t0:.0f} s",
             f"{'set':<30}{'n':>5}{'true Dice':>11}{'est. Dice':>11}{'Spearman':>10}{'worst-10% found':>17}"]
    summary: dict[str, dict] = {}
    for set_name in list(dict.fromkeys(r["set"] for r in rows)) + ["all"]:
        pick = np.array([set_name in ("all", r["set"]) for r in rows])
        rho = spearmanr(est[pick], true[pick]).statistic
        hit, k = worst_overlap(est[pick], true[pick])
        summary[set_name] = {"n": int(pick.sum()), "true_dice": float(true[pick].mean()), "est_dice": float(est[pick].mean()),
                             "spearman": float(rho), "worst10_found": hit, "worst10_k": k}
        lines.append(f"{set_name:<30}{pick.sum():>5}{true[pick].mean():>11.4f}{est[pick].mean():>11.4f}{rho:>10.3f}"
                     f"{f'{hit}/{k}':>17}")
    lines.append("single signals over all cases (Spearman with true Dice; sign as is):")
    for i, name in enumerate(FEATURES):
        rho = spearmanr(x[:, i], true).statistic
        lines.append(f"  {name:<22}{rho:>8.3f}")
    flagged = np.array([bool(r["flags"]) for r in rows])
    lines.append(f"flagged cases: {flagged.sum()} of {len(rows)}; mean true Dice flagged {true[flagged].mean():.4f} "
                 f"vs not flagged {true[~flagged].mean():.4f}" if flagged.any() and (~flagged).any() else "flags: none")
    text = "\n".join(lines)
    print(text)
    out = ROOT / "bench" / "results" / f"quality_estimate{'_fit' if args.fit else ''}"
    out.with_suffix(".txt").write_text(text + "\n")
    out.with_suffix(".json").write_text(json.dumps(summary, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
