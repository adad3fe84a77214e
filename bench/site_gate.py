"""A new hospital that draws the lung behind the heart: does the correction loop learn it, does the
gate recommend it, and does the gate refuse what it must?

The site: JSRT (`../shared/data/jsrt-scr`: another country, era and film digitiser). Its annotators'
convention, a rule fixed before any result was read and applied to the corrections and to the
site's reference masks alike (pictures: bench/results/site_gate_rule.png):

    behind = SCR heart ∩ (right of the heart's centre column, i.e. the patient's left) ∩ (below the
             heart's middle row)
    site lung = SCR lung ∪ (convex hull of (left lung ∪ behind), below that row, right of that column)

that is, the left lower lobe behind the heart, drawn as one piece with the left lung, which the
SCR outlines (like Shenzhen and Montgomery) leave out.

Corrections: 50 of JSRT's train films, chosen at random (seed 0), with the site's masks. The shipped
default is fine-tuned by `retrain` exactly as the app does (its settings, the cxr-lungs base data
for replay and the gate's validation split); the gain is measured on the site's other films (JSRT
val + test + the train films not among the corrections), with the site's masks.

Negative controls (each a full retrain; the gate must refuse every one):
- `other_films`: each correction carries another film's mask;
- `misaligned`: each mask shifted by 5-15 % of the image (random direction) or eroded/dilated by
  3-15 px at random;
- `holes_blobs`: 1-3 random holes cut into the lungs and 1-3 random blobs added outside;
- `lr_x30`: the real corrections, fine-tuned with 30x the learning rate.

    .venv/bin/python bench/site_gate.py [--runs site,other_films,misaligned,holes_blobs,lr_x30] [--n 50]

Each row also has the click network's gate (the retrain job fine-tunes it on the same corrections)
and NoC@95 on the site's other films: before = the shipped default's mask corrected with the shipped
click network; after = the candidate's mask with the click network its version uses.

Writes bench/results/site_gate.txt and site_gate.json (one row per run, appended as runs finish).
"""
from __future__ import annotations

import argparse
import csv
import io
import json
import os
import shutil
import sys
import time
import zipfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import cv2  # noqa: E402
import numpy as np  # noqa: E402

JSRT = ROOT.parent / "shared" / "data" / "jsrt-scr"
CXR = ROOT.parent / "shared" / "data" / "cxr-lungs"
WORK = ROOT / "bench" / "site_work"
RESULTS = ROOT / "bench" / "results"


def site_mask(lungs: np.ndarray, heart: np.ndarray, left_lung: np.ndarray) -> np.ndarray:
    """The site's convention (module docstring): the left lower lobe behind the heart is lung, drawn
    as one piece with the left lung (the convex hull of the left lung and that part of the heart,
    below the heart's middle row and right of its centre column)."""
    ys, xs = np.nonzero(heart)
    if ys.size == 0 or not left_lung.any():
        return lungs.copy()
    cx, cy = int(round(xs.mean())), (ys.min() + ys.max()) // 2
    yy, xx = np.mgrid[:heart.shape[0], :heart.shape[1]]
    behind = heart & (xx >= cx) & (yy >= cy)
    hull = np.zeros(heart.shape, np.uint8)
    points = np.column_stack(np.nonzero((left_lung | behind) & (yy >= cy))[::-1]).astype(np.int32)
    if len(points) >= 3:
        cv2.fillConvexPoly(hull, cv2.convexHull(points), 1)
    return lungs | (hull.astype(bool) & (xx >= cx) & (yy >= cy))


def _load(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)


def jsrt_films() -> list[dict]:
    rows = list(csv.DictReader(open(JSRT / "manifest.csv")))
    for r in rows:
        r["lungs"] = _load(JSRT / r["mask_path"]) > 127
        r["heart"] = _load(JSRT / r["heart_mask_path"]) > 127
        r["site"] = site_mask(r["lungs"], r["heart"], _load(JSRT / r["mask_lr_path"]) == 2)
    return rows


def rule_picture(films: list[dict], out: Path) -> None:
    tiles = []
    for f in films[:4]:
        img = cv2.cvtColor(_load(JSRT / f["image_path"]), cv2.COLOR_GRAY2BGR)
        for mask, colour in ((f["lungs"], (60, 60, 255)), (f["site"], (60, 220, 60)), (f["heart"], (255, 160, 0))):
            contours, _ = cv2.findContours(mask.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
            cv2.drawContours(img, contours, -1, colour, 2)
        tiles.append(cv2.resize(img, (256, 256), interpolation=cv2.INTER_AREA))
    cv2.imwrite(str(out), np.concatenate(tiles, axis=1))


def _shifted_or_resized(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if rng.random() < 0.5:
        h, w = mask.shape
        d = int(round(rng.uniform(0.05, 0.15) * w)) * int(rng.choice([-1, 1]))
        m = np.zeros_like(mask)
        if rng.random() < 0.5:
            src, dst = (slice(max(0, -d), w - max(0, d)), slice(max(0, d), w - max(0, -d)))
            m[:, dst] = mask[:, src]
        else:
            src, dst = (slice(max(0, -d), h - max(0, d)), slice(max(0, d), h - max(0, -d)))
            m[dst, :] = mask[src, :]
        return m
    k = np.ones((int(rng.integers(3, 16)),) * 2, np.uint8)
    op = cv2.erode if rng.random() < 0.5 else cv2.dilate
    return op(mask.astype(np.uint8), k).astype(bool)


def _holes_blobs(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    m = mask.astype(np.uint8).copy()
    ys, xs = np.nonzero(mask)
    for _ in range(int(rng.integers(1, 4))):
        i = int(rng.integers(0, ys.size))
        cv2.circle(m, (int(xs[i]), int(ys[i])), int(rng.integers(10, 30)), 0, -1)
    for _ in range(int(rng.integers(1, 4))):
        cv2.circle(m, (int(rng.integers(30, 482)), int(rng.integers(30, 482))), int(rng.integers(10, 30)), 1, -1)
    return m.astype(bool)


def corrections_zip(films: list[dict], masks: list[np.ndarray]) -> bytes:
    buf = io.BytesIO()
    manifest = io.StringIO()
    writer = csv.writer(manifest)
    writer.writerow(["id", "source", "split", "image_path", "mask_path"])
    with zipfile.ZipFile(buf, "w") as zf:
        for f, m in zip(films, masks):
            cid = f"corr_{f['id']}"
            zf.write(JSRT / f["image_path"], f"images/{cid}.png")
            ok, png = cv2.imencode(".png", m.astype(np.uint8) * 255)
            zf.writestr(f"masks/{cid}.png", png.tobytes())
            writer.writerow([cid, "corrections", "train", f"images/{cid}.png", f"masks/{cid}.png"])
        zf.writestr("manifest.csv", manifest.getvalue())
    return buf.getvalue()


def score(seg, films: list[dict]) -> tuple[float, list[float]]:
    from lungseg_core.learning.convention_gate import dice

    per = [dice(seg.predict(_load(JSRT / f["image_path"])), f["site"]) for f in films]
    return float(np.mean(per)), per


def noc95(seg, fixer, films: list[dict]) -> float:
    """Mean clicks to Dice 0.95 against the site's masks, from `seg`'s mask, with `fixer`'s clicks."""
    from lungseg_core.learning.click_simulation import clicks_to_reach

    counts = []
    for f in films:
        image = _load(JSRT / f["image_path"])
        counts.append(clicks_to_reach(lambda m, c, im=image: fixer.fix(im, m, c), seg.predict(image), f["site"],
                                      thresholds=(0.95,))["noc95"])
    return float(np.mean(counts))


#: run-name tokens after "site_" and the retraining setting each sets (site_e12: 12 epochs at the site)
SETTINGS = {"e": "SPARED_EPOCHS", "alr": "ALL_CORRECTIONS_LR_FACTOR", "all": "ALL_CORRECTIONS_EPOCHS"}


def final_forgetting(job: Path, name: str) -> float | None:
    """Val Dice the shipped weights (after the all-corrections epoch) lose outside the job's convention
    map, as the gate measures its gated fit: the all-corrections epoch runs after the gate, so the
    bench checks it did not forget what the gate had checked. None without a map or that epoch."""
    from lungseg_core import DEFAULT_MODEL, load_model
    from lungseg_core.learning.convention_gate import split_change
    from lungseg_core.learning.convention_replay import load_map
    from lungseg_core.learning.dataset import load_gray, load_mask, read_manifest

    cmap = load_map(job / "data")
    if cmap is None:
        return None
    parent, final = load_model(DEFAULT_MODEL), load_model(name)
    scored = []
    for case in read_manifest(CXR, "val"):
        image = load_gray(case.image_path)
        scored.append(split_change(parent.predict(image), final.predict(image), load_mask(case.mask_path), cmap))
    return float(np.mean([s[0] for s in scored]) - np.mean([s[2] for s in scored]))


def run(name: str, films: list[dict], corr: list[dict], others: list[dict], n: int, noc_before: float) -> dict:
    from lungseg_core import DEFAULT_MODEL, load_model
    from lungseg_core.learning import retraining
    from lungseg_core.models.model_versions import models_dir

    rng = np.random.default_rng(1)
    masks = [f["site"] for f in corr]
    if name == "other_films":
        masks = [corr[(i + 1 + int(rng.integers(0, len(corr) - 1))) % len(corr)]["site"] for i in range(len(corr))]
    elif name == "misaligned":
        masks = [_shifted_or_resized(m, rng) for m in masks]
    elif name == "holes_blobs":
        masks = [_holes_blobs(m, rng) for m in masks]
    saved = {k: getattr(retraining, k) for k in SETTINGS.values()}
    if name == "lr_x30":
        retraining.FINE_TUNE_LR_FACTOR = saved["FINE_TUNE_LR_FACTOR"] * 30
    elif name.startswith("site_"):  # a setting tried on the true site: site_e12, site_e10_alr0.3, ...
        for token in name[len("site_"):].split("_"):
            key = next(k for k in sorted(SETTINGS, key=len, reverse=True) if token.startswith(k))
            kind = type(saved[SETTINGS[key]])
            setattr(retraining, SETTINGS[key], kind(token[len(key):]))
    job = WORK / f"job_{name}"
    shutil.rmtree(job, ignore_errors=True)
    started = time.perf_counter()
    try:
        result = retraining.retrain(DEFAULT_MODEL, None, job, base_data=CXR, corrections_zip=corrections_zip(corr, masks))
    finally:
        for attr, value in saved.items():
            setattr(retraining, attr, value)
    minutes = (time.perf_counter() - started) / 60
    site = result["card"]["lineage"]["site_gate"]
    from lungseg_core.models.click_fix import click_weights_for, load_click_fixer

    parent, _ = score(load_model(DEFAULT_MODEL), others)
    candidate, _ = score(load_model(result["name"]), others)
    clicks = result["card"]["lineage"].get("click_fix") or {}
    noc_after = noc95(load_model(result["name"]), load_click_fixer(weights=click_weights_for(result["name"])), others)
    row = {"run": name, "n": n, "name": result["name"], "recommended": result["recommended"],
           "site_other_films_parent": parent, "site_other_films_candidate": candidate, "gain": candidate - parent,
           "forgetting_outside_map": site.get("forgetting"), "convention_change": site.get("convention_change"),
           "systematic_share": site.get("systematic_share"), "map_used": site.get("map_used"),
           "holdout_gain_interval": site.get("holdout_gain_interval"), "failures": site.get("failures"),
           "reason": result["decision"]["reason"], "minutes": minutes,
           "click_gate": clicks.get("use"), "click_reason": clicks.get("reason"),
           "noc95_before": noc_before, "noc95_after": noc_after,
           "all_corrections": result["card"]["lineage"].get("all_corrections"),
           "forgetting_final": final_forgetting(job, result["name"]) if result["card"]["lineage"].get("all_corrections")
           else None}
    shutil.copy2(models_dir() / f"{result['name']}.convention.png", RESULTS / f"site_gate_{name}_map.png")
    shutil.rmtree(job, ignore_errors=True)
    return row


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", default="site,other_films,misaligned,holes_blobs,lr_x30")
    ap.add_argument("--n", type=int, default=50)
    args = ap.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    RESULTS.mkdir(parents=True, exist_ok=True)
    os.environ["LUNGSEG_MODELS"] = str(WORK / "models")
    import torch

    torch.set_num_threads(2)
    films = jsrt_films()
    rule_picture([f for f in films if f["split"] == "train"], RESULTS / "site_gate_rule.png")
    train = [f for f in films if f["split"] == "train"]
    rng = np.random.default_rng(0)
    chosen = set(rng.choice(len(train), args.n, replace=False).tolist())
    corr = [f for i, f in enumerate(train) if i in chosen]
    others = [f for i, f in enumerate(train) if i not in chosen] + [f for f in films if f["split"] != "train"]
    added = np.mean([(f["site"] & ~f["lungs"]).sum() / f["lungs"].sum() for f in films])
    print(f"site rule adds {added:.1%} of the SCR lung area on average; {len(corr)} corrections, "
          f"{len(others)} other films", flush=True)
    out_json = RESULTS / "site_gate.json"
    rows = json.loads(out_json.read_text()) if out_json.is_file() else []
    from lungseg_core import DEFAULT_MODEL, load_model
    from lungseg_core.models.click_fix import load_click_fixer

    noc_before = noc95(load_model(DEFAULT_MODEL), load_click_fixer(), others)
    for name in args.runs.split(","):
        row = run(name, films, corr, others, args.n, noc_before)
        rows = [r for r in rows if r["run"] != name] + [row]
        out_json.write_text(json.dumps(rows, indent=1))
        print(json.dumps(row), flush=True)
    lines = [f"{'run':<12}{'n':>4} {'verdict':<16}{'other films':>22}{'gain':>8}{'forget out':>11}"
             f"{'in map':>8}{'syst.':>7}{'held-back gain 95%':>22}{'min':>6}"]
    for r in rows:
        interval = r["holdout_gain_interval"] or [float("nan")] * 2
        lines.append(f"{r['run']:<12}{r['n']:>4} {'RECOMMENDED' if r['recommended'] else 'refused':<16}"
                     f"{r['site_other_films_parent']:>10.4f} -> {r['site_other_films_candidate']:.4f}{r['gain']:>+8.4f}"
                     f"{(r['forgetting_outside_map'] or 0):>+11.4f}{(r['convention_change'] or 0):>+8.4f}"
                     f"{(r['systematic_share'] or 0):>7.0%}{interval[0]:>+11.3f} to {interval[1]:+.3f}{r['minutes']:>6.1f}"
                     + (f"  {'taken' if r.get('click_gate') else 'kept':<7} {r['noc95_before']:>6.2f} -> {r['noc95_after']:.2f}"
                        if "noc95_after" in r else "")
                     + (f"  final forget {r['forgetting_final']:+.4f}" if r.get("forgetting_final") is not None else ""))
    (RESULTS / "site_gate.txt").write_text("\n".join(lines) + "\n\n" + "\n".join(
        f"{r['run']}: {r['reason']}" + (f"\n  click-to-fix: {r['click_reason']}" if r.get("click_reason") else "")
        for r in rows) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
