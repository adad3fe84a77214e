"""Training the click-to-fix network (RITM-style iterative click simulation).

Each step: a train-split X-ray with the 'severe' augmentation (dense lungs, effusion, white-out,
devices) and its lung mask; a wrong mask to start from (the default model's own prediction, a
corrupted reference from `click_simulation.corrupt_mask`, or nothing); clicks at the centre of the
largest error; then 0-3 rounds in which the network's own answer becomes the mask and the next
click goes to its largest error (no gradient), as RITM trains; the loss is taken on the last
round. The network starts from the default's weights (`click_fix.widen_from_base`), so it only
has to learn what the clicks and the mask mean.

Runs on CPU (slowly) or CUDA; checkpoints every `checkpoint_every` steps and resumes; stops at
`max_steps` or after `max_minutes`, then writes fp16 safetensors of the weight average.
"""
from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn
from torch.utils.data import DataLoader

from ..models.click_fix import CLICK_MODEL, Click, build_click_network, click_maps, widen_from_base
from ..models.model_loading import load_model
from ..models.registry import get_recipe
from ..models.weights_store import save_weights
from .click_simulation import corrupt_mask, next_click
from .dataset import SegmentationDataset, read_manifest
from .losses import build_loss


_POOL = ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1))  # OpenCV releases the GIL


@dataclass
class ClickTrainOptions:
    data_dir: Path
    out_dir: Path
    base: str = "unet_lite0_slim_dense"
    max_steps: int = 3000
    max_minutes: float = 60.0
    batch_size: int = 16
    learning_rate: float = 2e-4
    ema_decay: float = 0.998
    max_rounds: int = 3  # RITM: up to 3 no-gradient rounds of "answer, next click" before the loss
    checkpoint_every: int = 100
    workers: int = 0
    device: str = "auto"
    seed: int = 0
    limit: int | None = None
    checkpoint_dir: Path | None = None  # default: out_dir (the checkpoint is ~60 MB)


def _device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def start_masks(truth: np.ndarray, base_pred: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Per image, the mask the simulated annotator starts correcting (B x S x S bool)."""
    out = np.empty_like(truth)
    for i in range(len(truth)):
        u = rng.random()
        if u < 0.35:
            out[i] = base_pred[i]
        elif u < 0.9:
            out[i] = corrupt_mask(base_pred[i] if rng.random() < 0.3 else truth[i], rng)
        else:
            out[i] = False
    return out


def _clicks_for(prev: np.ndarray, truth: np.ndarray, clicks: list[list[Click]], rng: np.random.Generator) -> None:
    """Add each image's next click (centre of the largest error, jittered half the time)."""
    jitter = [np.random.default_rng(int(rng.integers(2**31))) if rng.random() < 0.5 else None for _ in truth]
    found = _POOL.map(lambda i: next_click(prev[i], truth[i], jitter[i]), range(len(truth)))
    for i, c in enumerate(found):
        if c is not None:
            clicks[i].append(c)


def _inputs(x: torch.Tensor, prev: np.ndarray, clicks: list[list[Click]], size: int) -> torch.Tensor:
    maps = np.stack([click_maps(c, (size, size), size) for c in clicks])
    extra = torch.from_numpy(np.concatenate([prev[:, None].astype(np.float32), maps], axis=1)).to(x.device)
    return torch.cat([x, extra], dim=1).contiguous(memory_format=torch.channels_last)


def train_click_model(opts: ClickTrainOptions) -> Path:
    """Train (or resume) and write `<out_dir>/click_fix.safetensors` plus `click_fix.train.json`."""
    device = _device(opts.device)
    torch.manual_seed(opts.seed)
    rng = np.random.default_rng(opts.seed)
    recipe = get_recipe(opts.base)
    size = recipe.input_size
    cases = read_manifest(opts.data_dir, "train", opts.limit)
    data = SegmentationDataset(cases, size, recipe.in_channels, augmentation="severe", soft_targets=True)
    loader = DataLoader(data, batch_size=opts.batch_size, shuffle=True, drop_last=len(data) > opts.batch_size,
                        num_workers=opts.workers, persistent_workers=opts.workers > 0)
    base = load_model(opts.base, precision="fp32").model.float().to(device)  # BatchNorm folded: eval only
    net = widen_from_base(build_click_network(opts.base), base_net_unfolded(opts.base)).to(device)
    net = net.to(memory_format=torch.channels_last)
    ema = AveragedModel(net, multi_avg_fn=get_ema_multi_avg_fn(opts.ema_decay), use_buffers=True)
    optimiser = torch.optim.AdamW(net.parameters(), lr=opts.learning_rate, weight_decay=1e-4)
    loss_fn = build_loss("bce_dice").to(device)
    use_bf16 = device.type == "cuda"
    opts.out_dir.mkdir(parents=True, exist_ok=True)
    ckpt = (opts.checkpoint_dir or opts.out_dir) / "click_fix.ckpt.pt"
    ckpt.parent.mkdir(parents=True, exist_ok=True)
    step, history = 0, []
    if ckpt.is_file():
        saved = torch.load(ckpt, map_location=device, weights_only=True)
        net.load_state_dict(saved["model"]); ema.load_state_dict(saved["ema"])
        optimiser.load_state_dict(saved["optimiser"]); step = int(saved["step"])
        history = json.loads(saved["history"])
    started = time.monotonic()
    done = False
    while not done:
        for x, y in loader:
            x, y = x.to(device), y.to(device)
            truth = (y[:, 0] >= 0.5).cpu().numpy()
            with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
                base_pred = (base(x.contiguous(memory_format=torch.channels_last)).float()[:, 0] > 0).cpu().numpy()
            prev = start_masks(truth, base_pred, rng)
            clicks: list[list[Click]] = [[] for _ in range(len(truth))]
            _clicks_for(prev, truth, clicks, rng)
            rounds = int(rng.integers(0, opts.max_rounds + 1))
            net.eval()
            for _ in range(rounds):
                with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
                    prev = (net(_inputs(x, prev, clicks, size)).float()[:, 0] > 0).cpu().numpy()
                _clicks_for(prev, truth, clicks, rng)
            net.train()
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
                logits = net(_inputs(x, prev, clicks, size))
            loss = loss_fn(logits.float(), y)
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            ema.update_parameters(net)
            step += 1
            history.append({"step": step, "loss": loss.item(), "rounds": rounds})
            if step % 20 == 0:
                recent = [h["loss"] for h in history[-20:]]
                print(f"step {step} loss {np.mean(recent):.4f} {time.monotonic() - started:.0f}s", flush=True)
            minutes = (time.monotonic() - started) / 60
            done = step >= opts.max_steps or minutes >= opts.max_minutes
            if step % opts.checkpoint_every == 0 or done:
                tmp = ckpt.with_suffix(".tmp")
                torch.save({"model": net.state_dict(), "ema": ema.state_dict(), "optimiser": optimiser.state_dict(),
                            "step": step, "history": json.dumps(history)}, tmp)
                os.replace(tmp, ckpt)
                save_weights(ema.module, CLICK_MODEL, opts.out_dir, metadata={"steps": str(step)})
            if done:
                break
    info = {"base": opts.base, "steps": step, "batch_size": opts.batch_size, "learning_rate": opts.learning_rate,
            "ema_decay": opts.ema_decay, "max_rounds": opts.max_rounds, "device": str(device),
            "device_name": torch.cuda.get_device_name(0) if device.type == "cuda" else "cpu",
            "train_images": len(data), "augmentation": "severe", "bf16": use_bf16,
            "minutes_this_run": round((time.monotonic() - started) / 60, 2),
            "final_loss_mean_last_100": float(np.mean([h["loss"] for h in history[-100:]]))}
    (opts.out_dir / "click_fix.train.json").write_text(json.dumps(info, indent=2) + "\n")
    return opts.out_dir / f"{CLICK_MODEL}.safetensors"


def base_net_unfolded(name: str) -> torch.nn.Module:
    """The base recipe's network with its trained weights, BatchNorm intact (for widening)."""
    from ..models.model_loading import model_folder
    from ..models.registry import build_model
    from ..models.weights_store import load_weights, weights_path

    return load_weights(build_model(get_recipe(name), load_pretrained=False), weights_path(name, model_folder(name)))
