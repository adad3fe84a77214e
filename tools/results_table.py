"""Print the Markdown results table of the shipped models, read from their cards (for the README).

    .venv/bin/python tools/results_table.py
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from lungseg_core import list_models  # noqa: E402
from lungseg_core.models.weights_store import PACKAGE_WEIGHTS_DIR, load_card  # noqa: E402


def main() -> None:
    print("| model | params M | epochs (best) | train min | test Dice | test IoU | Montgomery Dice | "
          "Shenzhen Dice | pixel acc. | study reported |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for name in list_models(PACKAGE_WEIGHTS_DIR):
        c = load_card(name, PACKAGE_WEIGHTS_DIR)
        t, tr = c["test"], c["training"]
        study = ", ".join(f"{k} {v}" for k, v in c["recipe"]["study"].items()) or "—"
        print(f"| `{name}` | {c['weights']['params_million']} | {tr['epochs']} ({tr['best_epoch']}) | "
              f"{tr['wall_time_min']} | {t['all']['dice']['mean']:.4f} | {t['all']['iou']['mean']:.4f} | "
              f"{t['montgomery']['dice']['mean']:.4f} | {t['shenzhen']['dice']['mean']:.4f} | "
              f"{t['all']['accuracy']['mean']:.4f} | {study} |")


if __name__ == "__main__":
    main()
