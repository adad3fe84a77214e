"""Click-to-fix that learns the site: a short fine-tune of the click network on a site's approved
corrections, and the gate that decides whether the app uses it.

Why: at a site whose annotators draw differently (e.g. the lung behind the heart), every film needs
the same few clicks, because the click network was taught the original references' outline and
pulls each click's region back to it. The corrections say where the site's outline is.

Training (RITM's loop, as `click_training`, on the retrain job's data): each sample is a site
correction (its image, the parent model's mask as the start, the corrected mask as the truth) or a
replayed base train image (start: a corrupted reference, so the network keeps answering the
original clicks too). One click at the centre of the largest error, then 0-1 no-gradient rounds of
"answer, next click"; loss on the last round. BatchNorm statistics stay frozen (batches of 8 would
skew them) and the weights start from the click network the parent used.

Gate (`judge_clicks`): from the parent model's masks, on the held-back corrections, NoC@95 must fall
by at least MIN_NOC_GAIN with a 95 % bootstrap interval of the fall above zero, and the candidate must
reach Dice 0.95 on at least MIN_REACHED of them (masks that belong to other films are never reached
by clicks: a fall from 20 to 19 clicks is not learning the site); on the original validation split
NoC@95 may rise by at most VAL_NOC_TOLERANCE. Otherwise the version keeps its parent's click
network. The retrain job only teaches it corrections its segmentation gate trusted.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import nn

from ..imaging.preprocessing import prepare_input, resize_mask
from ..models.click_fix import Click, ClickFixer, click_maps, click_recipe, network_input
from .click_simulation import clicks_to_reach, corrupt_mask, next_click
from .losses import build_loss
from .training import TrainingCancelled

STEPS = 100
BATCH_SIZE = 8
LEARNING_RATE = 5e-5
CORRECTION_SHARE = 0.75  # of each batch: site corrections; the rest replays base train images
MAX_ROUNDS = 1
#: The held-back corrections' NoC@95 must fall by at least this many clicks per film.
MIN_NOC_GAIN = 0.1
#: NoC@95 on the original validation split may rise by at most this much (issue 23).
VAL_NOC_TOLERANCE = 0.2
#: The candidate must reach Dice 0.95 within MAX_CLICKS on at least this share of the held-back films.
MIN_REACHED = 0.5
BOOTSTRAP = 2000
MAX_CLICKS = 20


@dataclass
class ClickExample:
    """One film for the click network: its image, the mask an annotator starts from, the truth."""

    image: np.ndarray
    start: np.ndarray
    truth: np.ndarray


@dataclass
class ClickVerdict:
    use: bool
    reason: str
    holdout_noc95_parent: float | None = None
    holdout_noc95_candidate: float | None = None
    val_noc95_parent: float | None = None
    val_noc95_candidate: float | None = None
    holdout_gain_interval: tuple[float, float] | None = None
    holdout_reached: float | None = None
    holdout_n: int = 0
    val_n: int = 0
    steps: int = 0
    minutes: float = 0.0
    settings: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _model_size(examples: Sequence[ClickExample], size: int) -> tuple[np.ndarray, ...]:
    """Images, start masks, truths and soft truths (the training target, as `click_training`) at model size."""
    images = np.stack([prepare_input(e.image, size) for e in examples]).astype(np.float32)
    starts = np.stack([resize_mask(e.start, size) for e in examples]).astype(bool)
    soft = np.stack([resize_mask(e.truth, size, soft=True) for e in examples]).astype(np.float32)
    return images, starts, soft >= 0.5, soft


def _freeze_batchnorm(net: nn.Module) -> None:
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()


def fine_tune_clicks(net: nn.Module, base: str, corrections: Sequence[ClickExample], replay: Sequence[ClickExample],
                     steps: int = STEPS, batch_size: int = BATCH_SIZE, learning_rate: float = LEARNING_RATE,
                     seed: int = 0, should_stop: Callable[[], bool] | None = None,
                     on_step: Callable[[int, int], None] | None = None) -> nn.Module:
    """Fine-tune `net` (an unfolded click network of `base`'s architecture, trainable) in place."""
    if not corrections:
        raise ValueError("no corrections to teach the click network")
    recipe = click_recipe(base)
    size, channels = recipe.input_size, recipe.in_channels - 3
    rng = np.random.default_rng(seed)
    torch.manual_seed(seed)
    c_img, c_start, c_truth, c_soft = _model_size(corrections, size)
    r_img, _, r_truth, r_soft = _model_size(replay, size) if replay else (None, None, None, None)
    loss_fn = build_loss("bce_dice")
    optimiser = torch.optim.AdamW(net.parameters(), lr=learning_rate, weight_decay=1e-4)

    def inputs(images: np.ndarray, prev: np.ndarray, clicks: list[list[Click]]) -> torch.Tensor:
        return torch.from_numpy(np.stack([
            network_input(im, p, click_maps(c, p.shape, size), channels)
            for im, p, c in zip(images, prev, clicks)])).contiguous(memory_format=torch.channels_last)

    for step in range(steps):
        if should_stop and should_stop():
            raise TrainingCancelled("stopped while teaching click-to-fix")
        n_corr = batch_size if r_img is None else max(1, int(round(batch_size * CORRECTION_SHARE)))
        pick = rng.integers(0, len(c_img), n_corr)
        images, truth, soft = c_img[pick], c_truth[pick], c_soft[pick]
        prev = np.stack([c_start[i] if rng.random() < 0.7 else corrupt_mask(c_truth[i], rng) for i in pick])
        if r_img is not None and batch_size > n_corr:
            more = rng.integers(0, len(r_img), batch_size - n_corr)
            images = np.concatenate([images, r_img[more]])
            truth = np.concatenate([truth, r_truth[more]])
            soft = np.concatenate([soft, r_soft[more]])
            prev = np.concatenate([prev, np.stack([corrupt_mask(r_truth[i], rng) for i in more])])
        clicks: list[list[Click]] = [[] for _ in range(len(images))]

        def add_clicks() -> None:
            for i in range(len(images)):
                c = next_click(prev[i], truth[i], rng if rng.random() < 0.5 else None)
                if c is not None:
                    clicks[i].append(c)

        add_clicks()
        net.eval()
        for _ in range(int(rng.integers(0, MAX_ROUNDS + 1))):
            with torch.no_grad():
                prev = (net(inputs(images, prev, clicks))[:, 0] > 0).numpy()
            add_clicks()
        net.train()
        _freeze_batchnorm(net)
        logits = net(inputs(images, prev, clicks))
        target = torch.from_numpy(soft[:, None])
        loss = loss_fn(logits.float(), target)
        optimiser.zero_grad(set_to_none=True)
        loss.backward()
        optimiser.step()
        if on_step:
            on_step(step + 1, steps)
    return net.eval()


def noc95_per_film(fixer: Any, examples: Sequence[ClickExample], max_clicks: int = MAX_CLICKS) -> np.ndarray:
    """Clicks to Dice 0.95 from each example's start mask (centre of the largest error; max_clicks
    when never reached)."""
    counts = []
    for e in examples:
        def fix(mask: np.ndarray, clicks: list[Click], image: np.ndarray = e.image) -> np.ndarray:
            return fixer.fix(image, mask, clicks)
        counts.append(clicks_to_reach(fix, e.start, e.truth, thresholds=(0.95,), max_clicks=max_clicks)["noc95"])
    return np.asarray(counts, float)


def mean_noc95(fixer: Any, examples: Sequence[ClickExample], max_clicks: int = MAX_CLICKS) -> float:
    counts = noc95_per_film(fixer, examples, max_clicks)
    return float(counts.mean()) if counts.size else float("nan")


def gain_interval(parent: np.ndarray, candidate: np.ndarray, seed: int = 0) -> tuple[float, float]:
    """95 % bootstrap interval of the mean fall in clicks (parent - candidate), films resampled."""
    rng = np.random.default_rng(seed)
    diff = parent - candidate
    means = diff[rng.integers(0, len(diff), (BOOTSTRAP, len(diff)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def judge_clicks(parent: Any, candidate: Any, holdout: Sequence[ClickExample],
                 val: Sequence[ClickExample], min_holdout: int) -> ClickVerdict:
    """Use the candidate click network only if it needs fewer clicks on the site's held-back
    corrections and hardly more on the original validation split."""
    if len(holdout) < min_holdout:
        return ClickVerdict(False, f"only {len(holdout)} held-back corrections (at least {min_holdout} needed): "
                                   "the click network stays as it was", holdout_n=len(holdout))
    if not val:
        return ClickVerdict(False, "no original validation films to check it against: the click network stays "
                                   "as it was", holdout_n=len(holdout))
    per_parent, per_candidate = noc95_per_film(parent, holdout), noc95_per_film(candidate, holdout)
    hp, hc = float(per_parent.mean()), float(per_candidate.mean())
    vp, vc = mean_noc95(parent, val), mean_noc95(candidate, val)
    low, high = gain_interval(per_parent, per_candidate)
    reached = float((per_candidate < MAX_CLICKS).mean())
    figures = dict(holdout_noc95_parent=hp, holdout_noc95_candidate=hc, val_noc95_parent=vp,
                   val_noc95_candidate=vc, holdout_gain_interval=(low, high), holdout_reached=reached,
                   holdout_n=len(holdout), val_n=len(val))
    if hp - hc < MIN_NOC_GAIN or low <= 0:
        return ClickVerdict(False, f"click-to-fix not taken: on your held-back corrections it needs {hc:.2f} clicks "
                                   f"a film to reach Dice 0.95, against {hp:.2f} before (95 % interval of the fall "
                                   f"{low:+.2f} to {high:+.2f})", **figures)
    if reached < MIN_REACHED:
        return ClickVerdict(False, f"click-to-fix not taken: even with it, {1 - reached:.0%} of your held-back "
                                   f"corrections are never reached by {MAX_CLICKS} clicks (masks that do not fit "
                                   "their films?)", **figures)
    if vc - vp > VAL_NOC_TOLERANCE:
        return ClickVerdict(False, f"click-to-fix not taken: on the original validation films it needs {vc:.2f} "
                                   f"clicks a film against {vp:.2f} (at most +{VAL_NOC_TOLERANCE} allowed)", **figures)
    return ClickVerdict(True, f"click-to-fix learns your site: {hp:.2f} -> {hc:.2f} clicks a film to reach Dice 0.95 "
                              f"on your held-back corrections; {vp:.2f} -> {vc:.2f} on the original validation films",
                        **figures)


def tune_and_judge(parent_net: nn.Module, base: str, train: Sequence[ClickExample], replay: Sequence[ClickExample],
                   holdout: Sequence[ClickExample], val: Sequence[ClickExample], min_holdout: int,
                   steps: int = STEPS, should_stop: Callable[[], bool] | None = None,
                   on_step: Callable[[int, int], None] | None = None) -> tuple[nn.Module, ClickVerdict]:
    """Fine-tune a copy of `parent_net` and judge it; returns the tuned network (unfolded) and the verdict."""
    import copy

    started = time.perf_counter()
    recipe = click_recipe(base)
    parent = ClickFixer(copy.deepcopy(parent_net), recipe, precision="fp32")
    tuned = fine_tune_clicks(copy.deepcopy(parent_net), base, train, replay, steps=steps, should_stop=should_stop,
                             on_step=on_step)
    candidate = ClickFixer(copy.deepcopy(tuned), recipe, precision="fp32")
    verdict = judge_clicks(parent, candidate, holdout, val, min_holdout)
    verdict.steps = steps
    verdict.minutes = round((time.perf_counter() - started) / 60, 2)
    verdict.settings = {"steps": steps, "batch_size": BATCH_SIZE, "learning_rate": LEARNING_RATE,
                        "correction_share": CORRECTION_SHARE, "max_rounds": MAX_ROUNDS,
                        "min_noc_gain": MIN_NOC_GAIN, "val_noc_tolerance": VAL_NOC_TOLERANCE,
                        "min_reached": MIN_REACHED}
    return tuned, verdict
