"""Model versions made by retraining, kept apart from the bundled weights, and which model is
the default (a promoted version, or the registry's default).

Bundled weights live in `weights/` (in git); retrained versions in `<store>/models/` (or
$LUNGSEG_MODELS), each with a card that records its lineage. Promotion writes `promoted.json`
atomically and appends to `promotions.jsonl`, so the history of defaults is never lost.
"""
from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path

from .corrections_store import default_store_dir
from .registry import DEFAULT_MODEL
from .weights_store import _atomic_write, available_names, load_card


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
    """`<recipe>-ft<N>`: N counts the versions of that recipe made so far."""
    root = base.split("-ft")[0]
    taken = {n for n in available_names(directory or models_dir()) if n.startswith(f"{root}-ft")}
    n = 1
    while f"{root}-ft{n}" in taken:
        n += 1
    return f"{root}-ft{n}"


def promoted_name(directory: Path | None = None) -> str | None:
    path = (directory or models_dir()) / "promoted.json"
    if not path.is_file():
        return None
    try:
        name = json.loads(path.read_text())["name"]
    except (ValueError, KeyError):
        return None
    return name if (path.parent / f"{name}.safetensors").is_file() else None


def default_model_name() -> str:
    """The promoted version when there is one, else the registry's default."""
    return promoted_name() or DEFAULT_MODEL


def promote(name: str, reason: str, directory: Path | None = None) -> None:
    d = directory or models_dir()
    entry = {"name": name, "reason": reason, "promoted_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    with open(d / "promotions.jsonl", "a") as fh:
        fh.write(json.dumps(entry) + "\n")
        fh.flush()
        os.fsync(fh.fileno())
    _atomic_write(d / "promoted.json", lambda tmp: Path(tmp).write_text(json.dumps(entry)))
