"""`list_models` / `load_model`: registered names joined with the weights present on disk."""
from __future__ import annotations

import hashlib
from pathlib import Path

from .registry import build_model, get_recipe, registered_names
from .segmenter import Segmenter
from .weights_store import available_names, load_card, load_weights, weights_dir, weights_path


def list_models(directory: str | Path | None = None) -> list[str]:
    """Registered model names whose weights are present, in registry order."""
    present = set(available_names(Path(directory) if directory else None))
    return [name for name in registered_names() if name in present]


def load_model(name: str, directory: str | Path | None = None, precision: str | None = None) -> Segmenter:
    """A ready Segmenter for a registered name. Unknown names raise UnknownModelError (with the
    valid names); missing weights raise WeightsNotFoundError."""
    recipe = get_recipe(name)
    d = Path(directory) if directory else weights_dir()
    path = weights_path(name, d)
    model = load_weights(build_model(recipe, load_pretrained=False), path)
    version = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return Segmenter(recipe, model, precision=precision, card=load_card(name, d), version=version)
