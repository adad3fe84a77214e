"""Losses named as in the study: BCE, Dice, Jaccard and their sums (smp's implementations)."""
from __future__ import annotations

from typing import Callable

import torch
from segmentation_models_pytorch.losses import DiceLoss, JaccardLoss
from torch import nn

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class SumLoss(nn.Module):
    """Unweighted sum of terms, each taking (logits, target in {0,1})."""

    def __init__(self, terms: dict[str, nn.Module]) -> None:
        super().__init__()
        self.terms = nn.ModuleDict(terms)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = logits.float()  # losses in fp32 even under bf16 autocast
        return sum(term(logits, target) for term in self.terms.values())  # type: ignore[return-value]


_TERMS: dict[str, Callable[[], nn.Module]] = {
    "bce": nn.BCEWithLogitsLoss,
    "dice": lambda: DiceLoss(mode="binary", from_logits=True, smooth=1.0),
    "jaccard": lambda: JaccardLoss(mode="binary", from_logits=True, smooth=1.0),
}

LOSSES = ("bce", "bce_dice", "bce_jaccard", "bce_jaccard_dice", "dice", "jaccard")


def build_loss(name: str) -> SumLoss:
    """`bce_jaccard_dice` -> BCE + Jaccard + Dice. Unknown names list the valid ones."""
    if name not in LOSSES:
        raise KeyError(f"unknown loss {name!r}; valid: {', '.join(LOSSES)}")
    return SumLoss({part: _TERMS[part]() for part in name.split("_")})
