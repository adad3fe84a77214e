"""What the app shows about each model, read from the cards the training code wrote."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .model_loading import list_models
from .registry import DEFAULT_MODEL, get_recipe
from .weights_store import load_card


def model_summaries(directory: Path | None = None) -> list[dict[str, Any]]:
    """One row per model with weights: name, title, test Dice/IoU (all and per source), default flag."""
    rows = []
    for name in list_models(directory):
        card = load_card(name, directory) or {}
        test = card.get("test", {})
        row: dict[str, Any] = {"model": name, "title": get_recipe(name).title, "default": name == DEFAULT_MODEL}
        for source in ("all", "montgomery", "shenzhen"):
            if source in test:
                row[f"test Dice ({source})"] = round(test[source]["dice"]["mean"], 4)
        if "all" in test:
            row["test IoU (all)"] = round(test["all"]["iou"]["mean"], 4)
        row["train time (min)"] = card.get("training", {}).get("wall_time_min")
        rows.append(row)
    return rows
