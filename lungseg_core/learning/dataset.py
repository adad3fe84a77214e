"""Reading a data folder laid out like cxr-lungs (manifest.csv + images/ + masks/).

The same layout is what the Review page exports, so the training CLI reads both.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from .augment import SPARED_TARGET, build_augmentation
from .losses import IGNORED
from ..imaging.preprocessing import prepare_input, resize_mask, to_channels

SPLITS = ("train", "val", "test")


@dataclass(frozen=True)
class Case:
    id: str
    source: str
    split: str
    image_path: Path
    mask_path: Path
    spared_path: Path | None = None  # a mask of pixels the loss skips (`convention_replay`); optional column



def read_manifest(data_dir: str | Path, split: str | None = None, limit: int | None = None) -> list[Case]:
    """Cases of one split (or all). Needs columns id, split, image_path, mask_path; source and
    spared_path optional."""
    data_dir = Path(data_dir)
    manifest = data_dir / "manifest.csv"
    if not manifest.is_file():
        raise FileNotFoundError(f"{manifest} not found: the data folder needs a manifest.csv")
    cases: list[Case] = []
    with manifest.open(newline="") as fh:
        for row in csv.DictReader(fh):
            if split is not None and row.get("split") != split:
                continue
            spared = row.get("spared_path") or None
            cases.append(Case(row["id"], row.get("source") or "unknown", row.get("split", ""),
                              data_dir / row["image_path"], data_dir / row["mask_path"],
                              data_dir / spared if spared else None))
    if limit is not None:
        cases = cases[:limit]
    return cases


def load_gray(path: Path) -> np.ndarray:
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None:
        raise FileNotFoundError(f"cannot read image {path}")
    if img.ndim == 3:
        img = cv2.cvtColor(img, cv2.COLOR_BGR2GRAY)
    return img


def load_mask(path: Path) -> np.ndarray:
    m = load_gray(path)
    return m > (int(m.max()) // 2 if m.max() > 1 else 0)


class SegmentationDataset(Dataset):
    """All cases held in memory at model size (493 x 256^2 floats: ~130 MB), augmented on the fly."""

    def __init__(self, cases: list[Case], size: int, in_channels: int, augmentation: str = "none",
                 soft_targets: bool = False, keep_full_masks: bool = False) -> None:
        self.cases = cases
        self.in_channels = in_channels
        self.images = [prepare_input(load_gray(c.image_path), size) for c in cases]
        full = [load_mask(c.mask_path) for c in cases]
        self.masks = [resize_mask(m, size, soft=soft_targets) for m in full]
        full_spared = [load_mask(c.spared_path) if c.spared_path else None for c in cases]
        self.spared = [resize_mask(z, size).astype(np.uint8) if z is not None else None for z in full_spared]
        self.full_spared = full_spared if keep_full_masks else None
        # validation scores at the masks' own resolution, as the model is judged and used
        self.full_masks = full if keep_full_masks else None
        self.transform = build_augmentation(augmentation, size, soft_masks=soft_targets)

    def __len__(self) -> int:
        return len(self.cases)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        image, mask, spared = self.images[index], self.masks[index], self.spared[index]
        if self.transform is not None:
            out = self.transform(image=image, mask=mask, **({SPARED_TARGET: spared} if spared is not None else {}))
            image, mask = np.clip(out["image"], 0.0, 1.0), out["mask"]
            spared = out.get(SPARED_TARGET, spared)
        target = np.array(mask, dtype=np.float32)
        if spared is not None:
            target[np.asarray(spared) > 0.5] = IGNORED
        x = torch.from_numpy(np.ascontiguousarray(to_channels(image.astype(np.float32), self.in_channels)))
        y = torch.from_numpy(target)[None]
        return x, y
