"""Click-to-fix learns the site: the fine-tune runs and stops on request, its gate refuses what it
must, the version keeps the tuned network only when the gate took it, and the app's editor uses
the default version's network (its own, else its nearest ancestor's, else the shipped one)."""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from lungseg_core import DEFAULT_MODEL, read_xray
from lungseg_core.learning import click_site_tuning as cst
from lungseg_core.learning import retraining
from lungseg_core.learning.dataset import load_mask
from lungseg_core.learning.retraining import retrain
from lungseg_core.learning.training import TrainingCancelled
from lungseg_core.models.click_fix import (CLICK_MODEL, click_base, click_weights_for, keep_clicked_changes,
                                           load_click_fixer, unfolded_click_network, version_click_path)
from lungseg_core.models.weights_store import weights_path
from tests.conftest import SAMPLES, sample_cases



def _example(i: int, grow_base: bool = False) -> cst.ClickExample:
    row = sample_cases()[i]
    image = read_xray((SAMPLES / row["image_path"]).read_bytes()).pixels
    truth = load_mask(SAMPLES / row["mask_path"])
    start = truth.copy()
    if grow_base:  # a site convention: the lower third of each lung drawn 15 px wider
        lower = np.zeros_like(truth)
        rows = np.nonzero(truth.any(axis=1))[0]
        lower[rows[0] + 2 * (rows[-1] - rows[0]) // 3:] = True
        truth = truth | (cv2.dilate(truth.astype(np.uint8), np.ones((31, 31), np.uint8)).astype(bool) & lower)
    return cst.ClickExample(image, start, truth)


class _Disks:
    """A click network that ignores the image: each click paints its disk only."""

    def fix(self, image, mask, clicks):
        return keep_clicked_changes(mask, mask, clicks)


class _GoodOn:
    """Good (the shipped network) on the given images, disks-only elsewhere: better at the site, worse on val."""

    def __init__(self, images):
        self.ids, self.good, self.bad = {id(i) for i in images}, load_click_fixer(), _Disks()

    def fix(self, image, mask, clicks):
        return (self.good if id(image) in self.ids else self.bad).fix(image, mask, clicks)


def test_the_click_gate_refuses_no_gain_a_worse_val_too_few_and_no_val_and_takes_a_real_gain():
    shipped = load_click_fixer()
    held = [_example(i, grow_base=True) for i in range(2)]
    val = [_example(i) for i in range(2, 4)]
    for e in val:  # val starts a little wrong, so that clicks are needed there too
        e.start[:, : e.start.shape[1] // 2] &= cv2.erode(e.start[:, : e.start.shape[1] // 2].astype(np.uint8),
                                                         np.ones((25, 25), np.uint8)).astype(bool)
    same = cst.judge_clicks(shipped, shipped, held, val, min_holdout=2)
    assert not same.use and "not taken" in same.reason and same.holdout_noc95_parent == same.holdout_noc95_candidate
    worse_on_val = cst.judge_clicks(_GoodOn([e.image for e in val]), _GoodOn([e.image for e in held]), held, val,
                                    min_holdout=2)
    assert worse_on_val.holdout_noc95_candidate < worse_on_val.holdout_noc95_parent - cst.MIN_NOC_GAIN
    assert worse_on_val.val_noc95_candidate > worse_on_val.val_noc95_parent + cst.VAL_NOC_TOLERANCE
    assert not worse_on_val.use and "original validation" in worse_on_val.reason
    assert not cst.judge_clicks(_Disks(), shipped, held, val, min_holdout=3).use  # too few held back
    assert not cst.judge_clicks(_Disks(), shipped, held, [], min_holdout=2).use  # nothing to check forgetting on
    better = cst.judge_clicks(_Disks(), shipped, held, val, min_holdout=2)
    assert better.use and better.holdout_noc95_candidate < better.holdout_noc95_parent


class _ReachesAfter:
    """Answers with the truth once `n` clicks were made on one of `films`; changes nothing otherwise."""

    def __init__(self, films, n):
        self.films, self.n = {id(f.image): f.truth for f in films}, n

    def fix(self, image, mask, clicks):
        truth = self.films.get(id(image))
        return truth.copy() if truth is not None and len(clicks) >= self.n else mask.copy()


def test_the_click_gate_refuses_corrections_that_clicks_never_reach():
    films = []
    for i in range(10):
        truth = np.zeros((64, 64), bool)
        truth[10 + i:40 + i, 12:50] = True
        films.append(cst.ClickExample(np.full((64, 64), i, np.uint8), np.zeros((64, 64), bool), truth))
    never = _ReachesAfter([], 1)
    some = cst.judge_clicks(never, _ReachesAfter(films[:4], 5), films, films, min_holdout=10)
    assert some.holdout_noc95_candidate < some.holdout_noc95_parent - 1 and some.holdout_gain_interval[0] > 0
    assert some.holdout_reached == 0.4 and not some.use and "never reached" in some.reason
    most = cst.judge_clicks(never, _ReachesAfter(films[:8], 5), films, films, min_holdout=10)
    assert most.use and most.holdout_reached == 0.8


def test_the_fine_tune_changes_the_network_and_stops_on_request():
    net = unfolded_click_network()
    before = {k: v.clone() for k, v in net.state_dict().items()}
    train = [_example(i, grow_base=True) for i in range(3)]
    tuned = cst.fine_tune_clicks(net, click_base(), train, [_example(3)], steps=2, batch_size=4)
    after = tuned.state_dict()
    assert any(not torch.equal(before[k], after[k]) for k in before if after[k].is_floating_point())
    bn = [k for k in before if k.endswith("running_mean")]
    assert bn and all(torch.equal(before[k], after[k]) for k in bn)  # BatchNorm statistics stay frozen
    with pytest.raises(TrainingCancelled):
        cst.fine_tune_clicks(unfolded_click_network(), click_base(), train, [], steps=5, should_stop=lambda: True)
    with pytest.raises(ValueError):
        cst.fine_tune_clicks(unfolded_click_network(), click_base(), [], train, steps=1)


def _card(models, name, parent):
    (models / f"{name}.json").write_text(json.dumps({"lineage": {"parent": parent}}))


def test_a_version_uses_its_own_click_network_else_its_ancestors_else_the_shipped(tmp_path, monkeypatch):
    models = tmp_path / "models"
    models.mkdir()
    monkeypatch.setenv("LUNGSEG_MODELS", str(models))
    _card(models, "v1", DEFAULT_MODEL)
    _card(models, "v2", "v1")
    assert click_weights_for("v2") == weights_path(CLICK_MODEL)  # nothing tuned: the shipped network
    version_click_path("v1").write_bytes(weights_path(CLICK_MODEL).read_bytes())
    assert click_weights_for("v2") == version_click_path("v1") and click_weights_for("v1") == version_click_path("v1")
    assert click_weights_for(DEFAULT_MODEL) == weights_path(CLICK_MODEL)
    assert load_click_fixer(weights=click_weights_for("v2")).version == load_click_fixer().version




def test_retrain_keeps_the_tuned_click_network_only_when_its_gate_takes_it(env, tiny_data_dir, tmp_path, monkeypatch):
    refused = retrain(DEFAULT_MODEL, env, tmp_path / "job1", base_data=tiny_data_dir, epochs=1, batch_size=4,
                      max_steps=1, all_corrections_epochs=0, click_steps=1)
    clicks = refused["card"]["lineage"]["click_fix"]
    assert not clicks["use"] and "did not recommend" in clicks["reason"]  # untrusted corrections: not taught
    assert not version_click_path(refused["name"]).exists()
    assert click_weights_for(refused["name"]) == weights_path(CLICK_MODEL)
    monkeypatch.setattr(retraining, "MIN_HOLDOUT", 1)
    gate = retraining.decide_for_site

    def trusted(evidence, min_holdout=None):  # the segmentation gate recommends: the click network is taught
        decision, site, cmap = gate(evidence, min_holdout)
        decision.promote = True
        return decision, site, cmap

    monkeypatch.setattr(retraining, "decide_for_site", trusted)
    monkeypatch.setattr(retraining, "tune_and_judge",  # its own gate is tested above: here, follow where it goes
                        lambda net, *a, **k: (net, cst.ClickVerdict(True, "taken for the test")))
    taken = retrain(DEFAULT_MODEL, env, tmp_path / "job2", base_data=tiny_data_dir, epochs=1, batch_size=4,
                    max_steps=1, all_corrections_epochs=0, click_steps=1)
    clicks = taken["card"]["lineage"]["click_fix"]
    assert clicks["use"] and clicks["weights"] == f"{taken['name']}.{CLICK_MODEL}.safetensors"
    assert click_weights_for(taken["name"]) == version_click_path(taken["name"])
    fixer = load_click_fixer(weights=click_weights_for(taken["name"]))
    assert fixer.version != load_click_fixer().version
    off = retrain(DEFAULT_MODEL, env, tmp_path / "job3", base_data=tiny_data_dir, epochs=1, size=64, batch_size=4,
                  max_steps=1, all_corrections_epochs=0)
    assert not off["card"]["lineage"]["click_fix"]["use"]  # another input size: the click network is left alone
