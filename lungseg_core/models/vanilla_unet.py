"""The study's classic U-Net (Ronneberger et al. 2015): 4 down / 4 up, dropout at the bottom.

`base` sets the first level's width (64 in the paper: 64->1024). `batch_norm` gives recipe 2
(U-Net with BatchNorm). Width is a parameter because the full model costs ~20 s per batch on a
2-core CPU; cards say which width was trained.
"""
from __future__ import annotations

import torch
from torch import nn


class _DoubleConv(nn.Sequential):
    def __init__(self, cin: int, cout: int, batch_norm: bool) -> None:
        layers: list[nn.Module] = []
        for i in range(2):
            layers.append(nn.Conv2d(cin if i == 0 else cout, cout, 3, padding=1, bias=not batch_norm))
            if batch_norm:
                layers.append(nn.BatchNorm2d(cout))
            layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class VanillaUNet(nn.Module):
    """Input N x in_channels x H x W (H, W divisible by 16) -> N x classes x H x W logits."""

    def __init__(self, in_channels: int = 1, classes: int = 1, base: int = 64,
                 batch_norm: bool = False, dropout: float = 0.5) -> None:
        super().__init__()
        widths = [base * 2**i for i in range(5)]
        self.downs = nn.ModuleList()
        cin = in_channels
        for w in widths[:-1]:
            self.downs.append(_DoubleConv(cin, w, batch_norm))
            cin = w
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = _DoubleConv(widths[-2], widths[-1], batch_norm)
        self.dropout = nn.Dropout2d(dropout) if dropout > 0 else nn.Identity()
        self.ups = nn.ModuleList()
        self.up_convs = nn.ModuleList()
        for w in reversed(widths[:-1]):
            self.ups.append(nn.ConvTranspose2d(w * 2, w, 2, stride=2))
            self.up_convs.append(_DoubleConv(w * 2, w, batch_norm))
        self.head = nn.Conv2d(widths[0], classes, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for down in self.downs:
            x = down(x)
            skips.append(x)
            x = self.pool(x)
        x = self.dropout(self.bottleneck(x))
        for up, conv, skip in zip(self.ups, self.up_convs, reversed(skips)):
            x = conv(torch.cat([up(x), skip], dim=1))
        return self.head(x)
