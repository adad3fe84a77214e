"""Click-to-fix: positive and negative clicks that a network turns into a corrected lung mask.

The network is the default segmentation model with three more input channels (as RITM and
DeepEdit do): the mask being corrected, and disks at the positive and at the negative clicks.
It starts from the default's weights with those channels' first-layer weights at zero, so before
training it reproduces the default exactly; `learning/click_training.py` teaches it the clicks.

A click only changes the region it was made in: of everything the network would change, only
the connected pieces that touch a click are applied, so an annotator's brush work elsewhere is
never undone by a click (and the screen shows exactly the mask that will be saved).
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import cv2
import numpy as np
import torch
from torch import nn

from ..imaging.preprocessing import prepare_input, resize_mask, resize_probability, to_channels, to_gray
from .batchnorm_folding import fold_batchnorm
from .registry import Recipe, build_model, get_recipe
from .version_folder import lineage_chain, models_dir
from .segmenter import default_precision
from .weights_store import load_card, load_weights, weights_dir, weights_path

CLICK_MODEL = "click_fix"
CLICK_CHANNELS = 3  # previous mask, positive disks, negative disks
CLICK_RADIUS = 5  # disk radius at model size (256): ~10 px on a 512 image, ~1 % of the film
FALLBACK_RADIUS_SHARE = 0.012  # a click the network ignored still paints this disk (share of the image side)


@dataclass(frozen=True)
class Click:
    """One click in image pixels: positive = "this is lung", negative = "this is not"."""

    row: float
    col: float
    positive: bool

    def as_dict(self) -> dict[str, Any]:
        return {"row": float(self.row), "col": float(self.col), "positive": bool(self.positive)}


def click_recipe(base: str) -> Recipe:
    """The base segmentation recipe widened by the click channels."""
    recipe = get_recipe(base)
    return recipe.with_overrides(name=CLICK_MODEL, in_channels=recipe.in_channels + CLICK_CHANNELS,
                                 title="Click-to-fix", notes="")


def build_click_network(base: str) -> nn.Module:
    """Untrained click network of the base recipe's architecture (no weights loaded)."""
    return build_model(click_recipe(base), load_pretrained=False)


def widen_from_base(click_net: nn.Module, base_net: nn.Module) -> nn.Module:
    """Copy the base network's weights into the click network; the first convolution's extra input
    channels start at zero, so the untrained click network predicts exactly what the base does."""
    own = click_net.state_dict()
    for key, value in base_net.state_dict().items():
        target = own[key]
        if target.shape == value.shape:
            own[key] = value.to(target.dtype).clone()
        elif target.dim() == 4 and target.shape[0] == value.shape[0] and target.shape[1] > value.shape[1]:
            widened = torch.zeros_like(target)
            widened[:, : value.shape[1]] = value.to(target.dtype)
            own[key] = widened
        else:
            raise ValueError(f"cannot widen {key}: {tuple(value.shape)} -> {tuple(target.shape)}")
    click_net.load_state_dict(own, strict=True)
    return click_net


def click_maps(clicks: Iterable[Click], shape: tuple[int, int], size: int,
               radius: int = CLICK_RADIUS) -> np.ndarray:
    """2 x size x size float32: disks at the positive and at the negative clicks (model size)."""
    maps = np.zeros((2, size, size), dtype=np.float32)
    h, w = shape
    for c in clicks:
        r = int(round((c.row + 0.5) * size / h - 0.5))
        q = int(round((c.col + 0.5) * size / w - 0.5))
        layer = np.ascontiguousarray(maps[0 if c.positive else 1])
        cv2.circle(layer, (q, r), radius, 1.0, thickness=-1)
        maps[0 if c.positive else 1] = layer
    return maps


def network_input(image01: np.ndarray, prev_mask: np.ndarray, maps: np.ndarray, image_channels: int) -> np.ndarray:
    """(C+3) x S x S input: standardised image channels, the mask being corrected, click disks."""
    return np.concatenate([to_channels(image01, image_channels), prev_mask[None].astype(np.float32), maps], axis=0)


def keep_clicked_changes(prev: np.ndarray, proposed: np.ndarray, clicks: list[Click]) -> np.ndarray:
    """Apply only the connected pieces of change (proposed vs prev) that touch a click. A click whose
    own pixel is still wrong afterwards paints a small disk, so every click visibly does something."""
    prev = prev.astype(bool)
    diff = (proposed.astype(bool) ^ prev).astype(np.uint8)
    out = prev.copy()
    h, w = prev.shape
    if diff.any() and clicks:
        count, labels = cv2.connectedComponents(diff, connectivity=8)
        keep = np.zeros(count, dtype=bool)
        probe = max(1, int(round(FALLBACK_RADIUS_SHARE * max(h, w))))
        for c in clicks:
            r, q = int(np.clip(round(c.row), 0, h - 1)), int(np.clip(round(c.col), 0, w - 1))
            r0, r1, q0, q1 = max(0, r - probe), min(h, r + probe + 1), max(0, q - probe), min(w, q + probe + 1)
            keep[np.unique(labels[r0:r1, q0:q1])] = True
        keep[0] = False
        out ^= keep[labels]
    radius = max(1, int(round(FALLBACK_RADIUS_SHARE * max(h, w))))
    for c in clicks:
        r, q = int(np.clip(round(c.row), 0, h - 1)), int(np.clip(round(c.col), 0, w - 1))
        if out[r, q] != c.positive:
            disk = np.zeros((h, w), dtype=np.uint8)
            cv2.circle(disk, (q, r), radius, 1, thickness=-1)
            out = out | disk.astype(bool) if c.positive else out & ~disk.astype(bool)
    return out


class ClickFixer:
    """Image + current mask + clicks -> corrected mask, at the image's own size."""

    def __init__(self, network: nn.Module, recipe: Recipe, card: dict | None = None, version: str = "untrained",
                 precision: str | None = None) -> None:
        self.recipe = recipe
        self.card = card or {}
        self.version = version
        self.precision = precision or default_precision()
        self._dtype = torch.bfloat16 if self.precision == "bf16" else torch.float32
        network = network.eval()
        fold_batchnorm(network)
        self.network = network.to(dtype=self._dtype, memory_format=torch.channels_last)
        for p in self.network.parameters():
            p.requires_grad_(False)
        self._prepared: tuple[int, np.ndarray] | None = None  # (id of image, model-size image): clicks reuse it

    @property
    def image_channels(self) -> int:
        return self.recipe.in_channels - CLICK_CHANNELS

    def _model_image(self, image: np.ndarray) -> np.ndarray:
        key = id(image)
        if self._prepared is None or self._prepared[0] != key:
            self._prepared = (key, prepare_input(to_gray(image), self.recipe.input_size))
        return self._prepared[1]

    def probability(self, image: np.ndarray, mask: np.ndarray, clicks: list[Click]) -> np.ndarray:
        """The network's lung probability at the image's size."""
        size = self.recipe.input_size
        x01 = self._model_image(image)
        prev = resize_mask(mask, size, soft=True)
        x = network_input(x01, prev, click_maps(clicks, mask.shape, size), self.image_channels)
        t = torch.from_numpy(x[None]).to(self._dtype).contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            logits = self.network(t)
        return resize_probability(torch.sigmoid(logits.float())[0, 0].numpy(), mask.shape)

    def fix(self, image: np.ndarray, mask: np.ndarray, clicks: list[Click]) -> np.ndarray:
        """Bool mask: `mask` with the regions the clicks point at corrected (nothing else changes)."""
        mask = np.asarray(mask, dtype=bool)
        if not clicks:
            return mask.copy()
        proposed = self.probability(image, mask, clicks) >= 0.5
        return keep_clicked_changes(mask, proposed, clicks)


def click_model_available(directory: Path | None = None) -> bool:
    return weights_path(CLICK_MODEL, directory).is_file()


def click_base() -> str:
    """The segmentation recipe the shipped click network widens (a site fine-tune needs the same)."""
    card = load_card(CLICK_MODEL, weights_dir()) or {}
    return (card.get("click") or {}).get("base") or "unet_lite0_slim_dense"


def unfolded_click_network(weights: Path | None = None) -> nn.Module:
    """A click network with BatchNorm intact (trainable): what a site fine-tune starts from."""
    return load_weights(build_click_network(click_base()), weights or weights_path(CLICK_MODEL)).float()


def version_click_path(name: str, directory: Path | None = None) -> Path:
    """Where a retrained model version keeps the click network its gate took (next to its weights)."""
    return (directory or models_dir()) / f"{name}.{CLICK_MODEL}.safetensors"


def click_weights_for(model_name: str) -> Path | None:
    """The click network a model version uses: the nearest one in its lineage whose site fine-tune
    passed the click gate (`learning/click_site_tuning`), else the shipped one (None if not installed)."""
    for name in reversed(lineage_chain(model_name)):
        path = version_click_path(name)
        if path.is_file():
            return path
    shipped = weights_path(CLICK_MODEL)
    return shipped if shipped.is_file() else None


def load_click_fixer(directory: Path | None = None, precision: str | None = None,
                     weights: Path | None = None) -> ClickFixer:
    """The trained click model (safetensors only): the shipped one from weights/, or `weights` (a
    version's site-tuned network of the same architecture; the shipped card names the base recipe)."""
    d = directory or weights_dir()
    card = load_card(CLICK_MODEL, d) or {}
    base = (card.get("click") or {}).get("base") or "unet_lite0_slim_dense"
    path = weights or weights_path(CLICK_MODEL, d)
    network = load_weights(build_click_network(base), path)
    version = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return ClickFixer(network, click_recipe(base), card=card, version=version, precision=precision)
