"""Trained weights on disk: `<name>.safetensors` (fp16) with a model card beside it.

The card comes in two forms written together by the training code: `<name>.json` (read by the
app and tools) and `<name>.md` (for people). Weights are only ever read with safetensors, never
from pickles.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from ..errors import WeightsNotFoundError
from ..storage.files import atomic_write

PACKAGE_WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "weights"


def weights_dir() -> Path:
    """Where models are looked up: $LUNGSEG_WEIGHTS_DIR or the project's bundled weights/."""
    return Path(os.environ.get("LUNGSEG_WEIGHTS_DIR", PACKAGE_WEIGHTS_DIR))


def weights_path(name: str, directory: Path | None = None) -> Path:
    return (directory or weights_dir()) / f"{name}.safetensors"


def card_path(name: str, directory: Path | None = None) -> Path:
    return (directory or weights_dir()) / f"{name}.json"


def save_weights(model: nn.Module, name: str, directory: Path, metadata: dict[str, str] | None = None) -> Path:
    """Write the state dict as fp16 safetensors (floats only; integer buffers kept as they are)."""
    state = {k: (v.detach().to(torch.float16) if v.is_floating_point() else v.detach()).contiguous().cpu()
             for k, v in model.state_dict().items()}
    path = weights_path(name, directory)
    atomic_write(path, lambda tmp: save_file(state, tmp, metadata=metadata or {}))
    return path


def load_weights(model: nn.Module, path: Path) -> nn.Module:
    if not path.is_file():
        raise WeightsNotFoundError(f"No trained weights at {path}. Train the model or pick another one.")
    state = load_file(str(path))
    own = model.state_dict()
    state = {k: v.to(own[k].dtype) if k in own else v for k, v in state.items()}
    model.load_state_dict(state, strict=True)
    return model


def save_card(name: str, directory: Path, card: dict[str, Any], markdown: str) -> None:
    atomic_write(card_path(name, directory),
                  lambda tmp: Path(tmp).write_text(json.dumps(card, indent=2, sort_keys=False) + "\n"))
    atomic_write(directory / f"{name}.md", lambda tmp: Path(tmp).write_text(markdown))


def load_card(name: str, directory: Path | None = None) -> dict[str, Any] | None:
    path = card_path(name, directory)
    if not path.is_file():
        return None
    return json.loads(path.read_text())


def available_names(directory: Path | None = None) -> list[str]:
    d = directory or weights_dir()
    return sorted(p.stem for p in d.glob("*.safetensors")) if d.is_dir() else []
