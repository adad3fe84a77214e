"""`list_models` / `load_model`: registered recipes joined with the weights present on disk
(bundled `weights/`), plus retrained versions (see model_versions)."""
from __future__ import annotations

import hashlib
from pathlib import Path

from ..errors import UnknownModelError
from .registry import Recipe, build_model, get_recipe, registered_names
from .segmenter import Segmenter
from .version_folder import derived_names, models_dir, root_recipe_name
from .weights_store import available_names, load_card, load_weights, weights_dir, weights_path


def list_models(directory: str | Path | None = None) -> list[str]:
    """Models that can be loaded: registered names with weights (registry order), then
    retrained versions (oldest first). With `directory`, only the models in that folder."""
    if directory is not None:
        d = Path(directory)
        present = set(available_names(d))
        derived = [n for n in sorted(present - set(registered_names())) if (load_card(n, d) or {}).get("lineage")]
        return [n for n in registered_names() if n in present] + derived
    present = set(available_names(weights_dir()))
    return [n for n in registered_names() if n in present] + derived_names()


def model_folder(name: str, directory: Path | None = None) -> Path:
    """The folder holding `name`'s weights."""
    if directory is not None:
        return directory
    if name in registered_names():
        return weights_dir()
    if weights_path(name, models_dir()).is_file():
        return models_dir()
    valid = sorted(set(registered_names()) | set(list_models()))
    raise UnknownModelError(f"Unknown model {name!r}. Valid names: {', '.join(valid)}")


def load_model(name: str, directory: str | Path | None = None, precision: str | None = None) -> Segmenter:
    """A ready Segmenter. Unknown names raise UnknownModelError (listing the valid names);
    missing weights raise WeightsNotFoundError. Retrained versions, of any generation, use their
    root recipe."""
    d = model_folder(name, Path(directory) if directory else None)
    card = load_card(name, d)
    if name in registered_names():
        recipe = get_recipe(name)
        trained_size = ((card or {}).get("recipe") or {}).get("input_size")
        if trained_size:  # weights trained with --size run at that size
            recipe = recipe.with_overrides(input_size=trained_size)
    elif card and card.get("lineage"):
        recipe = get_recipe(root_recipe_name(name, d)).with_overrides(
            input_size=card["recipe"].get("input_size"), name=name, title=card.get("title"))
    else:
        get_recipe(name)  # raises UnknownModelError with the valid names
        raise AssertionError("unreachable")
    return segmenter_from_weights(recipe, weights_path(name, d), precision=precision, card=card)


def segmenter_from_weights(recipe: Recipe, path: Path, precision: str | None = None,
                           card: dict | None = None) -> Segmenter:
    """A Segmenter for a recipe and a weights file (safetensors only); its version is the file's hash."""
    model = load_weights(build_model(recipe, load_pretrained=False), path)
    version = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return Segmenter(recipe, model, precision=precision, card=card, version=version)
