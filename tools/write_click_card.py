"""Write weights/click_fix.json and .md from the training log and bench/click_noc.py's results
(val and severe set: bench/results/click_noc.json; test split: click_noc_test.json).

    .venv/bin/python tools/write_click_card.py
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from lungseg_core.models.weights_store import save_card  # noqa: E402


def main() -> None:
    results = ROOT / "bench" / "results"
    train = json.loads((results / "click_fix_train.json").read_text())
    noc = json.loads((results / "click_noc.json").read_text())
    test = json.loads((results / "click_noc_test.json").read_text())
    card = {"name": "click_fix", "title": "Click-to-fix (default network + mask and click channels)",
            "click": {"base": train["base"], "channels": "image x3, mask being corrected, positive disks, negative disks",
                      "disk_radius_model_px": 5},
            "training": train, "val_and_severe": noc["summaries"], "severe_by_condition": noc["severe_by_condition"],
            "test": test, "data_terms": "NLM Montgomery County and Shenzhen sets; Shenzhen masks CC BY-NC-SA 4.0: "
                                        "non-commercial"}
    s = noc["summaries"]
    t = test["summary"]
    md = [
        "# Click-to-fix: the default network with mask and click channels", "",
        "Weights `click_fix.safetensors` (float16). Loaded by `lungseg_core.models.click_fix.load_click_fixer` "
        "(safetensors only). Used by the Correct page's *Fix: add lung (click)* and *Fix: remove (click)* tools.", "",
        "## How it was trained", "",
        f"- Network: `{train['base']}` (U-Net, Lite0 encoder) with 3 more input channels: the mask being corrected, "
        "disks (radius 5 at 256 px) at positive and at negative clicks. Initialised from the base's trained weights "
        "with the new channels' first-layer weights at zero (it then predicts exactly what the base does).",
        "- Simulation (RITM-style, `lungseg_core/learning/click_training.py`): train split only (493 X-rays), "
        "'severe' augmentation; the start mask is the base model's own prediction (35 %), a corrupted reference "
        "(a lobe or the base of a lung left out, a region added at the edge, a tight or loose outline; 55 %) or "
        "empty (10 %); a click at the centre of the largest error (jittered half the time), then 0-3 rounds where "
        "the network's answer becomes the mask and the next click goes to its largest error; BCE + Dice on the last.",
        f"- {train['steps']} steps, batch {train['batch_size']}, AdamW LR {train['learning_rate']}, weight average "
        f"(decay {train['ema_decay']}) shipped, bf16, {train['minutes_this_run']} min on one {train['device_name']} "
        "(`tools/device_train_click.sh`; `python -m lungseg_core train-click` runs the same code on CPU).",
        "- Inference: only the connected pieces of change that touch a click are applied; a click the network "
        "ignored still paints a small disk.", "",
        "## Clicks to reach Dice 0.90 / 0.95 (NoC; at most 20 clicks at the centre of the largest error)", "",
        "| set | n | Dice at start | NoC@90 | NoC@95 | perfect brush, px to 0.95 |", "|---|---|---|---|---|---|",
    ]
    for name, v in s.items():
        md.append(f"| {name.strip()} | {v['n']} | {v['dice_start']:.4f} | {v['noc90']:.2f} | {v['noc95']:.2f} | "
                  f"{(v['px95'] or 0):,.0f} |")
    md += ["", "Val and the severe-change set (val images) were used to check the model; nothing was tuned on test.", "",
           "## Test split (reported only), from the default's mask", "",
           "| source | n | Dice at start | NoC@90 | NoC@95 | perfect brush, px to 0.95 |", "|---|---|---|---|---|---|"]
    for name, v in [*test["by_source"].items(), ("all", t)]:
        md.append(f"| {name} | {v['n']} | {v['dice_start']:.4f} | {v['noc90']:.2f} | {v['noc95']:.2f} | "
                  f"{(v['px95'] or 0):,.0f} |")
    md += ["", f"One click's answer: median {noc['click_seconds_median'] * 1000:.0f} ms on 2 CPU cores "
               f"({noc['precision']}).", "", "## Data terms", "", card["data_terms"], ""]
    save_card("click_fix", ROOT / "weights", card, "\n".join(md))
    print("\n".join(md))


if __name__ == "__main__":
    main()
