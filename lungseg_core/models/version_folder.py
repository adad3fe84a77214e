"""Where retrained versions live (`<store>/models/` or $LUNGSEG_MODELS), how they are named and
reserved, and their lineage read from their cards. Below both loading (`model_loading`) and
promotion (`model_versions`), which each need it."""
from __future__ import annotations

import os
from pathlib import Path

from ..errors import LungSegError
from ..storage.files import default_store_dir
from .registry import registered_names
from .weights_store import available_names, load_card


def models_dir() -> Path:
    return Path(os.environ.get("LUNGSEG_MODELS", default_store_dir() / "models"))


def derived_names(directory: Path | None = None) -> list[str]:
    """Retrained versions present (weights + a card with lineage), oldest first."""
    d = directory or models_dir()
    rows = []
    for name in available_names(d):
        card = load_card(name, d)
        if card and "lineage" in card:
            rows.append((card["lineage"].get("created", ""), name))
    return [name for _, name in sorted(rows)]


def next_version_name(base: str, directory: Path | None = None) -> str:
    """`<root recipe>-ft<N>`: the first N not taken by a version or a reservation."""
    root = base.split("-ft")[0]
    d = directory or models_dir()
    taken = {n for n in available_names(d) if n.startswith(f"{root}-ft")}
    if d.is_dir():
        taken |= {p.name[1:-len(".reserved")] for p in d.glob(f".{root}-ft*.reserved")}
    n = 1
    while f"{root}-ft{n}" in taken:
        n += 1
    return f"{root}-ft{n}"


def reserve_version_name(base: str, directory: Path | None = None) -> str:
    """A version name nobody else can get: `.<name>.reserved` is created exclusively (O_EXCL), so
    two jobs, even in two processes at once, never publish under the same name. The reservation
    is removed by `release_version_name` once the version is published or the job ends."""
    d = directory or models_dir()
    d.mkdir(parents=True, exist_ok=True)
    for _ in range(1000):
        name = next_version_name(base, d)
        try:
            os.close(os.open(d / f".{name}.reserved", os.O_CREAT | os.O_EXCL | os.O_WRONLY))
        except FileExistsError:
            continue
        return name
    raise LungSegError(f"could not reserve a version name for {base}")


def release_version_name(name: str, directory: Path | None = None) -> None:
    ((directory or models_dir()) / f".{name}.reserved").unlink(missing_ok=True)


def root_recipe_name(name: str, directory: Path | None = None) -> str:
    """The registered recipe a version descends from, following parents (cards written by release 1
    named a retrain-of-a-retrain's recipe after its parent version)."""
    seen: set[str] = set()
    current = name
    while current not in registered_names():
        if current in seen:
            raise LungSegError(f"the lineage of {name!r} loops at {current!r}")
        seen.add(current)
        card = load_card(current, directory or models_dir()) or load_card(current, models_dir())
        if not card:
            raise LungSegError(f"no card for {current!r}, a parent of {name!r}: its lineage is lost")
        recipe = (card.get("recipe") or {}).get("name")
        current = recipe if recipe and recipe != current else (card.get("lineage") or {}).get("parent", "")
    return current


def lineage_chain(name: str, directory: Path | None = None) -> list[str]:
    """[root recipe, first version, …, name]."""
    chain = [name]
    d = directory or models_dir()
    while chain[-1] not in registered_names():
        card = load_card(chain[-1], d) or load_card(chain[-1], models_dir()) or {}
        parent = (card.get("lineage") or {}).get("parent")
        if not parent or parent in chain:
            break
        chain.append(parent)
    return chain[::-1]
