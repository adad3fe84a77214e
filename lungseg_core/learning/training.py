"""Training a registered recipe: checkpoints every epoch, resumes after interruption, selects the
epoch with the best validation Dice, then writes fp16 weights, curves and a model card that
reports test-split metrics (the test split is used only for that report, never for choices)."""
from __future__ import annotations

import csv
import datetime as dt
import os
import platform
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader
from tqdm import tqdm

from .dataset import SegmentationDataset, read_manifest
from .evaluation import evaluate_cases, format_table, mean_dice_at_model_size, mean_dice_full_size
from .losses import build_loss
from ..models.model_card import render_markdown
from ..models.registry import Recipe, build_model, get_recipe, registered_names
from ..models.segmenter import cpu_has_bf16
from ..models.weights_store import load_weights, save_card, save_weights, weights_path


@dataclass
class TrainOptions:
    data_dir: Path
    out_dir: Path
    epochs: int | None = None
    batch_size: int | None = None
    limit: int | None = None  # cases per split (smoke tests)
    max_steps: int | None = None  # stop after this many optimiser steps in total (smoke tests)
    resume: bool = True
    seed: int = 0
    bf16: bool | None = None  # None: where the CPU supports it
    evaluate_test: bool = True
    # fine-tuning (retraining from corrections)
    init_weights: Path | None = None  # start from these weights instead of the recipe's initialisation
    output_name: str | None = None  # file name of the result (default: the recipe name)
    learning_rate: float | None = None
    # only the decoder and head learn; the encoder (and its batch-norm statistics) stays as loaded:
    # a fine-tune on a few dozen films then cannot drift the features every other film relies on
    freeze_encoder: bool = False
    # keep the last epoch's weights, not the best val epoch's (a fine-tune whose val split is partly
    # blind, `convention_replay`: its LR has annealed to zero at the end and the gate judges it)
    keep_last: bool = False
    on_progress: Callable[[dict[str, Any]], None] | None = None  # called after every step and epoch
    should_stop: Callable[[], bool] | None = None  # polled every step: True cancels without writing weights


class TrainingCancelled(Exception):
    """Training was stopped on request; no weights were written."""


def checkpoint_path(out_dir: Path, name: str) -> Path:
    return out_dir / "checkpoints" / f"{name}.ckpt.pt"


def machine_description() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return f"{cpu}, {torch.get_num_threads()} threads, torch {torch.__version__}, {platform.system()}"


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def _write_curves(history: list[dict[str, float]], stem: Path) -> None:
    if not history:
        return
    with open(f"{stem}.curves.csv", "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=list(history[0]))
        writer.writeheader()
        writer.writerows(history)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = [h["epoch"] for h in history]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(9, 3.4))
    ax1.plot(epochs, [h["train_loss"] for h in history], label="train loss")
    ax1.plot(epochs, [h["val_loss"] for h in history], label="val loss")
    ax1.set_xlabel("epoch"); ax1.set_title("loss"); ax1.legend()
    ax2.plot(epochs, [h["train_dice"] for h in history], label="train Dice")
    ax2.plot(epochs, [h["val_dice"] for h in history], label="val Dice")
    ax2.set_xlabel("epoch"); ax2.set_title("Dice (train: model size, val: full size)"); ax2.legend()
    ax2.set_ylim(max(0.0, min(h["val_dice"] for h in history) - 0.05), 1.0)
    fig.suptitle(stem.name)
    fig.tight_layout()
    fig.savefig(f"{stem}.curves.png", dpi=90)
    plt.close(fig)


def _predict_batches(model: torch.nn.Module, loader: DataLoader, loss_fn: Any,
                     use_bf16: bool) -> tuple[float, np.ndarray]:
    """(mean loss, N x H x W probabilities at model size) over a loader, in eval mode."""
    model.eval()
    losses, probs = [], []
    with torch.inference_mode(), torch.autocast("cpu", dtype=torch.bfloat16, enabled=use_bf16):
        for x, y in loader:
            logits = model(x.contiguous(memory_format=torch.channels_last)).float()
            losses.append(float(loss_fn(logits, y)) * len(x))
            probs.append(torch.sigmoid(logits)[:, 0].numpy())
    n = sum(len(p) for p in probs)
    return sum(losses) / max(1, n), np.concatenate(probs)


def add_split_reports(card: dict[str, Any], segmenter: Any, data_dir: Path, limit: int | None = None) -> None:
    """Evaluate on val and test at full resolution (as used: TTA and post-processing) into the card."""
    val_cases = read_manifest(data_dir, "val", limit)
    if val_cases:
        card["val"] = evaluate_cases(segmenter, val_cases)["by_source"]
    test_cases = read_manifest(data_dir, "test", limit)
    if test_cases:
        report = evaluate_cases(segmenter, test_cases)
        card["test"] = report["by_source"]
        card["test_protocol"] = (f"test split, {len(test_cases)} images, at the masks' full 512x512 resolution, "
                                 f"post-processed masks, flip TTA {'on' if segmenter.recipe.tta_flip else 'off'}, "
                                 f"{segmenter.precision}")
        print(format_table(report["by_source"]))


def refresh_card(name: str, data_dir: Path, directory: Path | None = None) -> dict[str, Any]:
    """Re-evaluate shipped weights with the recipe's current inference settings and rewrite the
    card's val/test figures (training facts are kept), so the card always matches what runs."""
    from ..models.model_loading import load_model, model_folder
    from ..models.weights_store import load_card

    folder = model_folder(name, directory)
    card = load_card(name, folder) or {}
    segmenter = load_model(name, folder)
    card["recipe"]["tta_flip"] = segmenter.recipe.tta_flip
    if name in registered_names():  # descriptive text follows the registry; training facts stay
        card["recipe"]["notes"] = get_recipe(name).notes
        card["recipe"]["title"] = card["title"] = get_recipe(name).title
    add_split_reports(card, segmenter, data_dir)
    save_card(name, folder, card, render_markdown(card))
    return card


def _starting_model(recipe: Recipe, init_weights: Path | str | None, out_dir: Path) -> nn.Module:
    """The network to train: from given weights, from the recipe's `init_from` (a model trained
    before it, in `out_dir` or the bundled weights), or from the pretrained encoder."""
    if init_weights is None and recipe.init_from:
        local = weights_path(recipe.init_from, out_dir)
        init_weights = local if local.is_file() else weights_path(recipe.init_from)
    model = build_model(recipe, load_pretrained=init_weights is None)
    if init_weights is not None:
        load_weights(model, Path(init_weights))
    return model.to(memory_format=torch.channels_last)


def _resume(ckpt: Path, model: nn.Module, ema: Any, optimizer: Any, scheduler: Any, epochs: int,
            steps_per_epoch: int, learning_rate: float) -> tuple[dict[str, Any], Any]:
    """Load a checkpoint into the model, weight average, optimizer and schedule; (state, schedule)."""
    saved = torch.load(ckpt, map_location="cpu", weights_only=True)
    model.load_state_dict(saved["model"])
    if ema is not None and "ema" in saved:
        ema.load_state_dict(saved["ema"])
    optimizer.load_state_dict(saved["optimizer"])
    torch.set_rng_state(saved["rng"])
    state = saved["state"]
    if state.get("planned_epochs", epochs) == epochs:
        scheduler.load_state_dict(saved["scheduler"])
    else:  # more (or fewer) epochs asked for: stretch the one-cycle schedule from the current step
        scheduler = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=learning_rate, pct_start=0.1, last_epoch=state["step"] - 1,
            total_steps=max(state["step"] + 1, epochs * steps_per_epoch))
    return state, scheduler


def _training_card(recipe: Recipe, opts: "TrainOptions", name: str, model: nn.Module, state: dict[str, Any],
                   train_cases: int, val_cases: int, selection_split: str, batch_size: int, use_bf16: bool,
                   out_dir: Path) -> dict[str, Any]:
    """What the card says about how the weights were trained."""
    return {
        "name": name, "title": recipe.title, "recipe": recipe.as_dict(),
        "training": {
            "data_dir": Path(opts.data_dir).name, "train_cases": train_cases, "val_cases": val_cases,
            "split_used_for_training": "train",
            "split_used_for_selection": "none: the last epoch is kept" if opts.keep_last else selection_split,
            "epochs": state["epoch"], "best_epoch": state["best_epoch"], "steps": state["step"],
            "batch_size": batch_size, "image_size": recipe.input_size,
            "precision": "bf16 autocast" if use_bf16 else "fp32",
            "wall_time_min": round(state["wall_s"] / 60, 2), "machine": machine_description(),
            "finished": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
            "best_val_dice": round(state["best_dice"], 4),
            "val_dice_measured": "per image at the masks' full resolution, before post-processing",
        },
        "weights": {"file": weights_path(name, out_dir).name, "dtype": "float16",
                    "params_million": round(sum(p.numel() for p in model.parameters()) / 1e6, 2)},
    }


@dataclass
class _Fit:
    """What one training run steps: the model, its weight average, the optimiser and the loss."""

    model: nn.Module
    ema: Any
    frozen: nn.Module | None
    optimizer: Any
    scheduler: Any
    loss_fn: Any
    use_bf16: bool


def _train_epoch(fit: _Fit, loader: DataLoader, state: dict[str, Any], opts: "TrainOptions", name: str,
                 epochs: int) -> tuple[float, int, list[float], bool]:
    """One pass over the training data: (loss sum, images seen, per-batch Dice, stop: max_steps reached).
    Raises TrainingCancelled when `opts.should_stop` says so."""
    fit.model.train()
    if fit.frozen is not None:
        fit.frozen.eval()  # batch-norm statistics stay those of the loaded weights
    total, correct_dice, seen = 0.0, [], 0
    bar = tqdm(loader, desc=f"{name} epoch {state['epoch'] + 1}/{epochs}", leave=False)
    for x, y in bar:
        if opts.should_stop is not None and opts.should_stop():
            raise TrainingCancelled(f"{name}: cancelled at epoch {state['epoch'] + 1}, step {state['step']}")
        x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=fit.use_bf16):
            logits = fit.model(x)
        loss = fit.loss_fn(logits, y)
        fit.optimizer.zero_grad(set_to_none=True)
        loss.backward()
        fit.optimizer.step()
        fit.scheduler.step()
        if fit.ema is not None:
            fit.ema.update_parameters(fit.model)
        state["step"] += 1
        loss_value = loss.item()
        total += loss_value * len(x)
        seen += len(x)
        with torch.no_grad():
            pred = (logits.float() > 0).numpy()[:, 0]
            correct_dice.append(mean_dice_at_model_size(pred.astype(np.float32), y[:, 0].clamp(min=0).numpy()))
        bar.set_postfix(loss=f"{loss_value:.4f}")
        if opts.on_progress is not None:
            opts.on_progress({"phase": "train", "epoch": state["epoch"] + 1, "epochs": epochs,
                              "step_in_epoch": bar.n + 1, "steps_per_epoch": len(loader),
                              "loss": loss_value, "val_dice": state["history"][-1]["val_dice"]
                              if state["history"] else None})
        if opts.max_steps is not None and state["step"] >= opts.max_steps:
            return total, seen, correct_dice, True
    return total, seen, correct_dice, False


def train(recipe: Recipe, opts: TrainOptions) -> dict[str, Any]:
    """Train `recipe` and write `<out>/<name>.safetensors` + card + curves. Returns the card."""
    torch.manual_seed(opts.seed)
    np.random.seed(opts.seed)
    epochs = opts.epochs or recipe.epochs
    batch_size = opts.batch_size or recipe.batch_size
    name = opts.output_name or recipe.name
    learning_rate = opts.learning_rate or recipe.learning_rate
    use_bf16 = cpu_has_bf16() if opts.bf16 is None else opts.bf16
    out_dir = Path(opts.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)

    train_cases = read_manifest(opts.data_dir, "train", opts.limit)
    val_cases = read_manifest(opts.data_dir, "val", opts.limit)
    if not train_cases:
        raise ValueError(f"no 'train' cases in {opts.data_dir}/manifest.csv")
    selection_split = "val"
    if not val_cases:  # e.g. an exported corrections folder with no val split
        val_cases, selection_split = train_cases, "train (the data has no val split)"
    train_ds = SegmentationDataset(train_cases, recipe.input_size, recipe.in_channels, recipe.augmentation,
                                   soft_targets=recipe.soft_targets)
    val_ds = SegmentationDataset(val_cases, recipe.input_size, recipe.in_channels, "none",
                                 soft_targets=recipe.soft_targets, keep_full_masks=True)
    generator = torch.Generator().manual_seed(opts.seed)
    train_loader = DataLoader(train_ds, batch_size=batch_size, shuffle=True, drop_last=len(train_ds) > batch_size,
                              generator=generator)
    val_loader = DataLoader(val_ds, batch_size=16)

    model = _starting_model(recipe, opts.init_weights, out_dir)
    # The weight average smooths the epoch-to-epoch jitter of validation Dice (±0.002 here) that
    # picking one noisy "best epoch" would otherwise bake into the shipped model.
    ema = (AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(recipe.ema_decay), use_buffers=True)
           if recipe.ema_decay else None)
    evaluated = ema.module if ema is not None else model
    loss_fn = build_loss(recipe.loss)
    frozen = getattr(model, "encoder", None) if opts.freeze_encoder else None
    if opts.freeze_encoder and frozen is None:
        raise ValueError(f"{recipe.name}: freeze_encoder asked for, but the model has no encoder")
    if frozen is not None:
        frozen.requires_grad_(False)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=learning_rate,
                                  weight_decay=recipe.weight_decay)
    steps_per_epoch = len(train_loader)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=learning_rate,
                                                    total_steps=max(1, epochs * steps_per_epoch), pct_start=0.1)
    state: dict[str, Any] = {"epoch": 0, "step": 0, "history": [], "best_dice": -1.0, "best_epoch": 0,
                             "best_model": None, "wall_s": 0.0}
    ckpt = checkpoint_path(out_dir, name)
    if opts.resume and ckpt.is_file():
        state, scheduler = _resume(ckpt, model, ema, optimizer, scheduler, epochs, steps_per_epoch, learning_rate)
        print(f"resumed {name} from {ckpt} after epoch {state['epoch']}")
    state["planned_epochs"] = epochs

    fit = _Fit(model, ema, frozen, optimizer, scheduler, loss_fn, use_bf16)
    stop = False
    while state["epoch"] < epochs and not stop:
        epoch_start = time.perf_counter()
        total, seen, correct_dice, stop = _train_epoch(fit, train_loader, state, opts, name, epochs)
        val_loss, val_probs = _predict_batches(evaluated, val_loader, loss_fn, use_bf16)
        val_dice = mean_dice_full_size(val_probs, val_ds.full_masks or [], val_ds.full_spared)
        state["epoch"] += 1
        state["wall_s"] += time.perf_counter() - epoch_start
        state["history"].append({"epoch": state["epoch"], "train_loss": total / max(1, seen),
                                 "train_dice": float(np.mean(correct_dice)), "val_loss": val_loss,
                                 "val_dice": val_dice, "lr": scheduler.get_last_lr()[0],
                                 "wall_s": round(state["wall_s"], 1)})
        if val_dice > state["best_dice"] or opts.keep_last:
            state["best_dice"], state["best_epoch"] = val_dice, state["epoch"]
            state["best_model"] = {k: v.detach().clone() for k, v in evaluated.state_dict().items()}
        if opts.on_progress is not None:
            opts.on_progress({"phase": "epoch_end", "epoch": state["epoch"], "epochs": epochs,
                              "step_in_epoch": steps_per_epoch, "steps_per_epoch": steps_per_epoch,
                              "loss": total / max(1, seen), "val_dice": val_dice})
        print(f"{name} epoch {state['epoch']}/{epochs} train_loss {total / max(1, seen):.4f} "
              f"val_loss {val_loss:.4f} val_dice {val_dice:.4f} (best {state['best_dice']:.4f} @ "
              f"{state['best_epoch']}) {state['wall_s'] / 60:.1f} min", flush=True)
        _save_checkpoint(ckpt, {"model": model.state_dict(), **({"ema": ema.state_dict()} if ema is not None else {}),
                                "optimizer": optimizer.state_dict(),
                                "scheduler": scheduler.state_dict(), "rng": torch.get_rng_state(),
                                "state": state})

    model.load_state_dict(state["best_model"])
    save_weights(model, name, out_dir, metadata={"recipe": recipe.name})
    _write_curves(state["history"], out_dir / name)
    card = _training_card(recipe, opts, name, model, state, len(train_cases), len(val_cases), selection_split,
                          batch_size, use_bf16, out_dir)
    if opts.evaluate_test:
        from ..models.model_loading import segmenter_from_weights

        add_split_reports(card, segmenter_from_weights(recipe, weights_path(name, out_dir)), opts.data_dir, opts.limit)
    save_card(name, out_dir, card, render_markdown(card))
    return card
