"""What the app shows about each model, read from the cards the training code wrote."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .model_loading import list_models, model_folder
from .model_versions import default_model_name
from .weights_store import load_card


def model_summaries(directory: Path | None = None) -> list[dict[str, Any]]:
    """One row per model with weights: name, title, test Dice/IoU (all and per source), default flag."""
    rows = []
    default = default_model_name()
    for name in list_models(directory):
        folder = model_folder(name, directory)
        card = load_card(name, folder) or {}
        test = card.get("test", {})
        row: dict[str, Any] = {"model": name, "title": card.get("title", name), "default": name == default}
        for source in ("all", "montgomery", "shenzhen"):
            if source in test:
                row[f"test Dice ({source})"] = round(test[source]["dice"]["mean"], 4)
        if "all" in test:
            row["test IoU (all)"] = round(test["all"]["iou"]["mean"], 4)
        row["train time (min)"] = card.get("training", {}).get("wall_time_min")
        if card.get("lineage"):
            row["parent"] = card["lineage"]["parent"]
        rows.append(row)
    return rows
