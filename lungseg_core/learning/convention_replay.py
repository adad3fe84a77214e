"""Replay that leaves a site's drawing convention to the site.

A fine-tune replays base films beside the site's corrections so that the model keeps what it knew.
At a site that draws differently (the lung behind the heart), the two disagree film after film in
the same place: the corrections say "lung" behind the heart, the replayed references say "not lung".
Trained on both, the model learns about half of the site's convention (bench/site_gate.py: it added
7.5 % of the lung area where the site's rule adds 13.6 %). What the replay is for is everywhere
else, so here it is taken only there: once the training corrections' convention map (learnt as the
gate learns it, `convention_map`) passes the gate's own test of being a convention
(`convention_gate.convention_test`: a non-empty map holding most of the held-back corrections'
disagreement) and its zones are a part of the chest, not most of it (MAX_ZONE_SHARE: a convention
is a region; masks shifted or taken from other films light up a ring round the whole lung), every
replayed base film gets a *spared* mask — the map's zones placed on its
reference lungs — where the loss is not taken (`losses.IGNORED`). Outside the zones the replay
anchors the model as before, and the gate still measures forgetting there. Corrections that are no
convention (other films' masks, random shifts, blobs) get no spared zone: the replay stays whole.
"""
from __future__ import annotations

import csv
from pathlib import Path
from typing import Any, Callable, Sequence

import cv2
import numpy as np

from ..imaging.convention_map import ConventionMap, learn_convention
from .convention_gate import convention_test
from .dataset import Case, load_gray, load_mask

MAP_FILE = "convention_map.npz"  # in the job's data folder, read again by the all-corrections epoch
SPARED_FOLDER = "spared"
MAX_ZONE_SHARE = 0.25  # of the chest frame; the lung behind the heart is 3-10 %, shifted masks 65-75 %
FIELDS = ["id", "source", "split", "image_path", "mask_path", "spared_path"]


def honoured_map(train_parent: Sequence[np.ndarray], train_corrected: Sequence[np.ndarray],
                 holdout_parent: Sequence[np.ndarray], holdout_corrected: Sequence[np.ndarray]
                 ) -> tuple[ConventionMap, dict[str, Any]]:
    """The training corrections' convention map, the gate's test of it on the held-back ones, and
    whether its zones are small enough to be a convention rather than a ring of noise."""
    cmap = learn_convention(list(train_parent), list(train_corrected))
    disagreement, systematic, honoured = convention_test(cmap, holdout_parent, holdout_corrected)
    zone_share = float((cmap.add_zone | cmap.remove_zone).mean())
    return cmap, {"honoured": honoured and zone_share <= MAX_ZONE_SHARE, "systematic_share": round(systematic, 4),
                  "disagreement": round(disagreement, 4), "zone_share": round(zone_share, 4), "films": cmap.films}


def spared_zone(cmap: ConventionMap, reference: np.ndarray) -> np.ndarray:
    """The map's add and remove zones placed on one base film's reference lungs, not grown: the ring
    the gate adds round them stays anchored by the replay, so what the model learns stays inside
    the zone the gate excuses (grown like the gate's, the fine-tune spilt over: 0.0027 Dice outside)."""
    add, remove = cmap.zones_in(np.asarray(reference, bool), grow=0)
    return add | remove


def save_map(cmap: ConventionMap, data_dir: Path) -> None:
    np.savez(Path(data_dir) / MAP_FILE, added=cmap.added, removed=cmap.removed, films=cmap.films)


def load_map(data_dir: Path) -> ConventionMap | None:
    path = Path(data_dir) / MAP_FILE
    if not path.is_file():
        return None
    with np.load(path) as z:
        return ConventionMap(z["added"], z["removed"], int(z["films"]))


def spare_base_rows(rows: list[dict[str, str]], cmap: ConventionMap, data_dir: Path) -> int:
    """Give every base train and val row (not a correction) a spared mask under `data_dir/spared/`;
    returns how many. Rows are changed in place (`spared_path`, relative to `data_dir`). Val too: the
    epoch the fine-tune keeps is chosen by val Dice, which must not punish learning the convention."""
    folder = Path(data_dir) / SPARED_FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    done = 0
    for row in rows:
        if row["source"] == "corrections" or row["split"] not in ("train", "val"):
            continue
        mask_path = Path(row["mask_path"])
        target = folder / f"{row['id']}.png"
        if not target.is_file():
            zone = spared_zone(cmap, load_mask(mask_path if mask_path.is_absolute() else Path(data_dir) / mask_path))
            cv2.imwrite(str(target), zone.astype(np.uint8) * 255)
        row["spared_path"] = f"{SPARED_FOLDER}/{target.name}"
        done += 1
    return done


def read_rows(data_dir: Path) -> list[dict[str, str]]:
    with open(Path(data_dir) / "manifest.csv", newline="") as fh:
        return list(csv.DictReader(fh))


def write_rows(rows: list[dict[str, str]], data_dir: Path) -> None:
    with open(Path(data_dir) / "manifest.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=FIELDS, extrasaction="ignore")
        writer.writeheader()
        writer.writerows({**{k: "" for k in FIELDS}, **r} for r in rows)


def spare_convention(parent: Any, data_dir: Path, train: list[Case], holdout: list[Case],
                     train_parent: list[np.ndarray], widen: Callable[[], dict[str, int]] | None = None
                     ) -> dict[str, Any]:
    """Test the training corrections' map; when the gate would honour it, `widen` the replay (it
    rewrites the manifest and returns its counts, kept under "counts"), spare the map's zones in
    every base film of `data_dir/manifest.csv` and keep the map for the all-corrections epoch.
    `train_parent`: the parent's masks of `train` (computed once; the gate reads them too)."""
    holdout_parent = [parent.predict(load_gray(c.image_path)) for c in holdout]
    cmap, test = honoured_map(train_parent, [load_mask(c.mask_path) for c in train], holdout_parent,
                              [load_mask(c.mask_path) for c in holdout])
    test["spared_films"] = 0
    if test["honoured"]:
        if widen is not None:
            test["counts"] = widen()
        rows = read_rows(data_dir)
        test["spared_films"] = spare_base_rows(rows, cmap, data_dir)
        write_rows(rows, data_dir)
        save_map(cmap, data_dir)
    return test

