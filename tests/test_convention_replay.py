"""Replay that leaves a site's convention to the site: the map is honoured only when the gate would
honour it, replayed base films get their spared zone where the map says, and the zone moves with
every augmentation (the severe changes never overwrite it with the lung)."""
from __future__ import annotations

import csv

import albumentations as A
import cv2
import numpy as np

from lungseg_core.learning.augment import SPARED_TARGET
from lungseg_core.learning.convention_replay import (honoured_map, load_map, read_rows, save_map, spare_base_rows,
                                                     write_rows)
from lungseg_core.learning.dataset import SegmentationDataset, read_manifest
from lungseg_core.learning.losses import IGNORED
from lungseg_core.learning.severe_changes import SevereLungChanges

from .test_convention_gate import (H, W, _behind_heart, _eroded_or_dilated, _film, _holes_and_blobs, _lungs,
                                  _other_films, _shifted)


def _maps(corrected_of, seed=0):  # type: ignore[no-untyped-def]
    rng = np.random.default_rng(seed)
    train, hold = [_film(rng) for _ in range(30)], [_film(rng) for _ in range(12)]
    return honoured_map([_lungs(f) for f in train], [corrected_of(f, rng) for f in train],
                        [_lungs(f) for f in hold], [corrected_of(f, rng) for f in hold])


def test_a_convention_is_honoured_and_noise_is_not():
    cmap, test = _maps(lambda f, r: _behind_heart(f))
    assert test["honoured"] and test["systematic_share"] > 0.9 and test["films"] == 30
    assert test["zone_share"] < 0.1
    for noise in (_shifted, _other_films, _eroded_or_dilated, _holes_and_blobs):
        _, refused = _maps(noise)
        assert not refused["honoured"], (noise.__name__, refused)
    _, same = _maps(lambda f, r: _lungs(f))  # a site that draws as we do: nothing to spare
    assert not same["honoured"]


def _data(tmp_path, films):  # type: ignore[no-untyped-def]
    (tmp_path / "img").mkdir()
    rows = []
    for i, (f, source, split) in enumerate(films):
        cv2.imwrite(str(tmp_path / "img" / f"{i}.png"), np.full((H, W), 100, np.uint8))
        cv2.imwrite(str(tmp_path / "img" / f"{i}_m.png"), _lungs(f).astype(np.uint8) * 255)
        rows.append({"id": f"c{i}", "source": source, "split": split, "image_path": f"img/{i}.png",
                     "mask_path": f"img/{i}_m.png"})
    write_rows(rows, tmp_path)
    return rows


def test_only_base_films_are_spared_and_the_zone_sits_behind_the_heart(tmp_path):
    cmap, _ = _maps(lambda f, r: _behind_heart(f))
    rng = np.random.default_rng(5)
    f = _film(rng)
    _data(tmp_path, [(f, "shenzhen", "train"), (f, "corrections", "train"), (f, "shenzhen", "val"),
                     (f, "shenzhen", "test"), (f, "corrections", "holdout")])
    rows = read_rows(tmp_path)
    assert spare_base_rows(rows, cmap, tmp_path) == 2  # replayed train films, and val (it picks the epoch)
    write_rows(rows, tmp_path)
    cases = read_manifest(tmp_path)
    assert [c.spared_path is not None for c in cases] == [True, False, True, False, False]
    zone = cv2.imread(str(cases[0].spared_path), cv2.IMREAD_GRAYSCALE) > 0
    added = _behind_heart(f) & ~_lungs(f)
    assert (zone & added).sum() > 0.8 * added.sum()  # the site's extra lung is spared ...
    assert zone.sum() < 0.5 * _lungs(f).sum()  # ... and not the whole chest
    assert not zone[:, : W // 2].any()  # the patient's left only
    save_map(cmap, tmp_path)
    again = load_map(tmp_path)
    assert again is not None and np.array_equal(again.add_zone, cmap.add_zone)
    assert load_map(tmp_path / "img") is None


def test_the_target_is_ignored_in_the_spared_zone_with_and_without_augmentation(tmp_path):
    cmap, _ = _maps(lambda f, r: _behind_heart(f))
    f = _film(np.random.default_rng(6))
    _data(tmp_path, [(f, "shenzhen", "train"), (f, "corrections", "train")])
    rows = read_rows(tmp_path)
    spare_base_rows(rows, cmap, tmp_path)
    write_rows(rows, tmp_path)
    plain = SegmentationDataset(read_manifest(tmp_path), 64, 3, "none")
    _, y = plain[0]
    _, y_correction = plain[1]
    assert (y == IGNORED).sum() > 20 and not (y_correction == IGNORED).any()
    assert set(np.unique(y.numpy())) <= {IGNORED, 0.0, 1.0}
    augmented = SegmentationDataset(read_manifest(tmp_path), 64, 3, "severe", soft_targets=True)
    counts = [int((augmented[0][1] == IGNORED).sum()) for _ in range(12)]
    assert min(counts) > 0.4 * int((y == IGNORED).sum())  # moved with the film, never dropped


def test_severe_changes_leave_the_spared_zone_as_it_was():
    rng = np.random.default_rng(7)
    lungs = _lungs(_film(rng)).astype(np.float32)
    spared = np.zeros((H, W), np.uint8)
    spared[100:130, 90:120] = 1
    image = np.full((H, W), 0.5, np.float32)
    change = A.Compose([SevereLungChanges(changes=("white_out",), p=1.0)], additional_targets={SPARED_TARGET: "mask"})
    out = change(image=image, mask=lungs, **{SPARED_TARGET: spared})
    assert np.array_equal(out[SPARED_TARGET], spared)
    assert not np.array_equal(out["image"], image)  # the change was drawn


def test_manifests_without_the_column_read_as_before(tmp_path):
    f = _film(np.random.default_rng(8))
    _data(tmp_path, [(f, "shenzhen", "train")])
    with open(tmp_path / "manifest.csv", newline="") as fh:
        header = next(csv.reader(fh))
    assert "spared_path" in header
    rows = read_rows(tmp_path)
    with open(tmp_path / "manifest.csv", "w", newline="") as fh:  # an earlier release's manifest
        writer = csv.DictWriter(fh, fieldnames=["id", "source", "split", "image_path", "mask_path"],
                                extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    assert read_manifest(tmp_path)[0].spared_path is None


def test_val_dice_leaves_the_spared_zone_out():
    from lungseg_core.learning.evaluation import mean_dice_full_size

    f = _film(np.random.default_rng(9))
    reference, drawn = _lungs(f), _behind_heart(f)  # the candidate draws the site's convention
    zone = drawn & ~reference
    probs = drawn.astype(np.float32)[None]
    assert mean_dice_full_size(probs, [reference]) < 0.97
    assert mean_dice_full_size(probs, [reference], [zone]) == 1.0
    assert mean_dice_full_size(probs, [reference], [None]) == mean_dice_full_size(probs, [reference])
