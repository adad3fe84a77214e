"""Model versions made by retraining, kept apart from the bundled weights, and which model is
the default.

Bundled weights live in `weights/` (in git); retrained versions in `<store>/models/` (or
$LUNGSEG_MODELS), each with a card that records its root recipe and full lineage. A retrained
version is only ever a candidate: it becomes the default by an admin's explicit `promote`, after
reading the gate's evidence, and `rollback` returns to any earlier default. Both check the role,
load the model through the public `load_model` first (a version that cannot load never becomes
the default), write `promoted.json` atomically, append to `promotions.jsonl` (the history of
defaults is never lost) and to the audit log, with who, when and why.
"""
from __future__ import annotations

import fcntl
import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..people.access_control import User, require
from ..people.audit import AuditLog, record
from ..storage.files import atomic_write
from ..errors import LungSegError
from .model_loading import load_model  # a version is loaded the way the app loads it before it is made default
from .registry import DEFAULT_MODEL, registered_names
from .version_folder import (derived_names, lineage_chain, models_dir,  # noqa: F401 (re-exported)
                             next_version_name, release_version_name, reserve_version_name, root_recipe_name)
from .weights_store import load_card, weights_dir


class PromotionError(LungSegError):
    """A promotion or rollback that cannot be done (the message says why)."""


def promoted_name(directory: Path | None = None) -> str | None:
    """The promoted default, if its weights are still present."""
    d = directory or models_dir()
    path = d / "promoted.json"
    if not path.is_file():
        return None
    try:
        name = json.loads(path.read_text())["name"]
    except (ValueError, KeyError, TypeError):
        return None
    bundled = name in registered_names() and (weights_dir() / f"{name}.safetensors").is_file()
    if (d / f"{name}.safetensors").is_file() or bundled:
        return name
    return None


def default_model_name() -> str:
    """The promoted version when there is one, else the registry's default."""
    return promoted_name() or DEFAULT_MODEL


def promotion_history(directory: Path | None = None) -> list[dict[str, Any]]:
    """Every promotion and rollback, oldest first."""
    path = (directory or models_dir()) / "promotions.jsonl"
    if not path.is_file():
        return []
    entries = []
    for line in path.read_text().splitlines():
        try:
            entries.append(json.loads(line))
        except ValueError:
            continue  # a torn last line from a crash is skipped, the rest stays readable
    return entries


def earlier_defaults(directory: Path | None = None) -> list[str]:
    """Models that were the default before, newest first (the registry's default included)."""
    current = default_model_name()
    names = [e["name"] for e in reversed(promotion_history(directory)) if e.get("name")] + [DEFAULT_MODEL]
    return [n for n in dict.fromkeys(names) if n != current]


def _set_default(name: str, actor: User, reason: str, action: str, audit_log: AuditLog,
                 directory: Path | None) -> dict[str, Any]:
    """Under an exclusive lock: two clicks (or two admins) at once make one change, not two."""
    d = directory or models_dir()
    d.mkdir(parents=True, exist_ok=True)
    with open(d / ".promote.lock", "a") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        try:
            if action == "promote" and name == default_model_name():
                raise PromotionError(f"{name} is already the default")
            if action == "rollback" and name not in earlier_defaults(directory):
                raise PromotionError(f"{name} was never the default: promote it instead")
            return _write_default(name, actor, reason, action, audit_log, d)
        finally:
            fcntl.flock(guard, fcntl.LOCK_UN)


def _write_default(name: str, actor: User, reason: str, action: str, audit_log: AuditLog, d: Path) -> dict[str, Any]:
    if not reason.strip():
        raise PromotionError("give a reason (it is kept with the promotion history and in the audit log)")
    try:
        load_model(name)
    except LungSegError as exc:
        raise PromotionError(f"{name} cannot be loaded, so it cannot become the default: {exc}") from exc
    previous = default_model_name()
    entry = {"name": name, "action": action, "previous": previous, "by": actor.username, "reason": reason.strip(),
             "promoted_at": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    with audit_log.change(actor, action) as con:  # the entry commits only once the default is written
        with open(d / "promotions.jsonl", "a") as fh:
            fh.write(json.dumps(entry) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        atomic_write(d / "promoted.json", lambda tmp: Path(tmp).write_text(json.dumps(entry)))
        record(con, actor.username, "promoted" if action == "promote" else "rolled_back", name,
               {"previous": previous}, reason.strip())
    return entry


def gate_of(name: str, directory: Path | None = None) -> dict[str, Any] | None:
    """The retraining gate's decision written in a version's card (None for a shipped model)."""
    d = directory or models_dir()
    card = load_card(name, d) if (d / f"{name}.json").is_file() else None
    gate = (card or {}).get("lineage", {}).get("gate")
    return gate if isinstance(gate, dict) else None


def gate_words(gate: dict[str, Any]) -> str:
    if not gate.get("decided", True):
        return "not decided: too little evidence"
    return "recommends promotion" if gate.get("promote") else "does not recommend promotion"


def promote(name: str, actor: User, reason: str, audit_log: AuditLog, directory: Path | None = None,
            against_gate: bool = False) -> dict[str, Any]:
    """Make `name` the default for every user (admin only). A retrained version its gate did not
    recommend (or could not decide on) is refused unless `against_gate`: the admin has read the
    verdict and promotes anyway, which the history and the audit log then say."""
    require(actor, "promote")
    gate = gate_of(name, directory)
    if gate is not None and not gate.get("promote") and not against_gate:
        raise PromotionError(f"the gate {gate_words(gate)} for {name} ({gate.get('reason', 'no reason given')}): "
                             "confirm that you promote it against the gate")
    if gate is not None and not gate.get("promote"):
        reason = f"{reason.strip()} [promoted against the gate: {gate_words(gate)}]" if reason.strip() else reason
    return _set_default(name, actor, reason, "promote", audit_log, directory)


def rollback(to_name: str, actor: User, reason: str, audit_log: AuditLog,
             directory: Path | None = None) -> dict[str, Any]:
    """Return to an earlier default (admin only)."""
    require(actor, "rollback")
    return _set_default(to_name, actor, reason, "rollback", audit_log, directory)
