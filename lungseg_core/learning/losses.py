"""Losses named as in the study: BCE, Dice, Jaccard and their sums (smp's implementations).

Every term skips pixels whose target is IGNORED (smp's `ignore_index`): a replayed base film leaves
the zone where a site's corrections redraw the lung to those corrections (`convention_replay`).
Without such pixels each term is the plain loss (smp's soft BCE with no smoothing is torch's BCE).
"""
from __future__ import annotations

from typing import Callable

import torch
from segmentation_models_pytorch.losses import DiceLoss, JaccardLoss, SoftBCEWithLogitsLoss
from torch import nn

LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
IGNORED = -1  # target value of a pixel no term learns from


class SumLoss(nn.Module):
    """Unweighted sum of terms, each taking (logits, target in {0,1})."""

    def __init__(self, terms: dict[str, nn.Module]) -> None:
        super().__init__()
        self.terms = nn.ModuleDict(terms)

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        logits = logits.float()  # losses in fp32 even under bf16 autocast
        return sum(term(logits, target) for term in self.terms.values())  # type: ignore[return-value]


_TERMS: dict[str, Callable[[], nn.Module]] = {
    "bce": lambda: SoftBCEWithLogitsLoss(ignore_index=IGNORED),
    "dice": lambda: DiceLoss(mode="binary", from_logits=True, smooth=1.0, ignore_index=IGNORED),
    "jaccard": lambda: JaccardLoss(mode="binary", from_logits=True, smooth=1.0, ignore_index=IGNORED),
}

LOSSES = ("bce", "bce_dice", "bce_jaccard", "bce_jaccard_dice", "dice", "jaccard")


def build_loss(name: str) -> SumLoss:
    """`bce_jaccard_dice` -> BCE + Jaccard + Dice. Unknown names list the valid ones."""
    if name not in LOSSES:
        raise KeyError(f"unknown loss {name!r}; valid: {', '.join(LOSSES)}")
    return SumLoss({part: _TERMS[part]() for part in name.split("_")})
