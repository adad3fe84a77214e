"""Inference: a trained model behind a small, stable API used by the app, CLI and benchmarks."""
from __future__ import annotations

import os
from functools import lru_cache

import numpy as np
import torch
from torch import nn

from .batchnorm_folding import fold_batchnorm
from ..imaging.postprocess import clean_lung_mask
from ..imaging.preprocessing import prepare_input, resize_probability, to_channels, to_gray
from .registry import Recipe

THRESHOLD = 0.5


@lru_cache(maxsize=1)
def cpu_has_bf16() -> bool:
    """bf16 autocast only pays (and is only exact enough) on CPUs with native bf16 units."""
    try:
        with open("/proc/cpuinfo") as fh:
            flags = fh.read()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def default_precision() -> str:
    """$LUNGSEG_PRECISION (fp32|bf16) or bf16 where the CPU supports it, else fp32."""
    wanted = os.environ.get("LUNGSEG_PRECISION", "auto").lower()
    if wanted in ("fp32", "bf16"):
        return wanted
    return "bf16" if cpu_has_bf16() else "fp32"


class Segmenter:
    """Wraps a trained network: any-size 2-D image in, probability / mask at the same size out."""

    def __init__(self, recipe: Recipe, model: nn.Module, precision: str | None = None,
                 card: dict | None = None, version: str = "untrained") -> None:
        self.recipe = recipe
        self.name = recipe.name
        self.card = card or {}
        self.version = version  # content hash of the weights file: which exact model made a mask
        self.precision = precision or default_precision()
        if self.precision not in ("fp32", "bf16"):
            raise ValueError("precision must be 'fp32' or 'bf16'")
        # bf16: the weights themselves are cast (not autocast per op): ~15 % faster on AMX CPUs,
        # masks agree with fp32 as closely as autocast's (bench/inference.py checks it).
        self._dtype = torch.bfloat16 if self.precision == "bf16" else torch.float32
        model = model.eval()
        fold_batchnorm(model)  # in fp32, before any cast: same outputs, ~20 % less CPU time
        self.model = model.to(dtype=self._dtype, memory_format=torch.channels_last)
        for p in self.model.parameters():
            p.requires_grad_(False)

    def forward_model_size(self, batch: np.ndarray) -> np.ndarray:
        """N x H x W [0,1] images -> N x H x W probabilities at model size."""
        x = torch.from_numpy(to_channels(batch, self.recipe.in_channels)).to(self._dtype).contiguous(
            memory_format=torch.channels_last)
        with torch.inference_mode():
            logits = self.model(x)
        return torch.sigmoid(logits.float())[:, 0].numpy()

    def _model_size_views(self, image: np.ndarray, tta: bool) -> np.ndarray:
        """Probabilities of each test-time view, flipped back: V x S x S."""
        x = prepare_input(to_gray(image), self.recipe.input_size)
        if not tta:
            return self.forward_model_size(x[None])
        probs = self.forward_model_size(np.stack([x, x[:, ::-1]]))
        probs[1] = probs[1][:, ::-1]
        return probs

    def predict_proba(self, image: np.ndarray, tta: bool | None = None) -> np.ndarray:
        """2-D image of any size/dtype -> float32 HxW probabilities in [0, 1], same HxW."""
        gray = to_gray(image)
        views = self._model_size_views(gray, self.recipe.tta_flip if tta is None else tta)
        return resize_probability(views.mean(axis=0), gray.shape)

    def predict(self, image: np.ndarray, tta: bool | None = None, clean: bool = True) -> np.ndarray:
        """Bool HxW lung mask, same HxW as the input, post-processed (two lungs, no speckles)."""
        return self.mask_from_probability(self.predict_proba(image, tta), clean)

    @staticmethod
    def mask_from_probability(prob: np.ndarray, clean: bool = True) -> np.ndarray:
        """Threshold and post-process a probability map (the one place that turns p into a mask)."""
        mask = prob >= THRESHOLD
        return clean_lung_mask(mask) if clean else mask

    def predict_uncertainty(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(probability, uncertainty) at input size; uncertainty = |p - p_flipped|, the disagreement
        of flip test-time augmentation, high where a reviewer should look. The probability equals
        predict_proba's (TTA mean or plain view, as the recipe says)."""
        gray = to_gray(image)
        views = self._model_size_views(gray, tta=True)
        # the probability follows the model's own inference setting (TTA or the plain view)
        prob = resize_probability(views.mean(axis=0) if self.recipe.tta_flip else views[0], gray.shape)
        disagreement = resize_probability(np.abs(views[0] - views[1]), gray.shape)
        return prob, disagreement
