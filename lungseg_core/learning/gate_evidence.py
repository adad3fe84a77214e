"""The gate's evidence as an admin reads it: one compact table per split, a row per source, with the
parent's figure, the candidate's and the difference side by side (the card stores them per model)."""
from __future__ import annotations

from typing import Any

SPLIT_NAMES = {"holdout": "Your team's held-back corrections", "val": "Original validation split",
               "test": "Test split (reported, never used to decide)"}


def evidence_tables(lineage: dict[str, Any]) -> list[tuple[str, list[dict[str, Any]]]]:
    """[(split title, rows)] in the order an admin reads them: the site's corrections first."""
    evidence = lineage.get("evidence", {})
    tables = []
    for split in ("holdout", "val", "test"):
        by_who = evidence.get(split)
        if not by_who or "parent" not in by_who or "candidate" not in by_who:
            continue
        rows = []
        for source, before in by_who["parent"].items():
            after = by_who["candidate"].get(source, {})
            row: dict[str, Any] = {"source": source, "images": before.get("n")}
            for metric in ("dice", "precision", "recall"):
                b, a = before.get(metric), after.get(metric)
                row[f"{metric} before"] = round(b, 4) if b is not None else None
                row[f"{metric} after"] = round(a, 4) if a is not None else None
                if metric == "dice":
                    row["Dice change"] = round(a - b, 4) if a is not None and b is not None else None
            rows.append(row)
        tables.append((SPLIT_NAMES.get(split, split), rows))
    return tables
