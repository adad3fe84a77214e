"""Human-readable model card (Markdown) rendered from the card dict the training code writes."""
from __future__ import annotations

from typing import Any

from ..imaging.metrics import METRIC_NAMES


def _metric_table(by_source: dict[str, Any]) -> list[str]:
    lines = ["| source | n | " + " | ".join(f"{m} mean (median)" for m in METRIC_NAMES) + " |",
             "|---|---|" + "---|" * len(METRIC_NAMES)]
    for src, s in by_source.items():
        cells = " | ".join(f"{s[m]['mean']:.4f} ({s[m]['median']:.4f})" for m in METRIC_NAMES)
        lines.append(f"| {src} | {s['n']} | {cells} |")
    return lines


def _best_val(training: dict[str, Any]) -> str:
    """Older cards scored validation at model size; newer ones at the masks' full resolution."""
    if "best_val_dice" in training:
        return f"val Dice at full resolution {training['best_val_dice']}"
    return f"val Dice at model size {training['best_val_dice_model_size']}"


def render_markdown(card: dict[str, Any]) -> str:
    recipe, training = card["recipe"], card["training"]
    lines = [f"# {card['title']}", "", f"Model name: `{card['name']}` (weights `{card['weights']['file']}`, "
             f"{card['weights']['dtype']}, {card['weights']['params_million']} M parameters). "
             "Written by the training code (`python -m lungseg_core train`).", ""]
    if recipe.get("notes"):
        lines += [recipe["notes"], ""]
    arch = recipe["architecture"] + (f" / encoder {recipe['encoder']}" if recipe.get("encoder") else "")
    if recipe["architecture"] == "vanilla_unet":
        arch += (f" (first-level width {recipe['width']}, BatchNorm {'yes' if recipe['batch_norm'] else 'no'}, "
                 f"dropout {recipe['dropout']})")
    lines += [
        "## Recipe", "",
        f"- Architecture: {arch}",
        f"- Initialisation: {'trained weights of `' + recipe['init_from'] + '`' if recipe.get('init_from') else ''}"
        f"{'' if recipe.get('init_from') else (recipe.get('pretrained') or 'from scratch (random)')}",
        f"- Loss: {recipe['loss'].replace('_', ' + ')}; augmentation: {recipe['augmentation']}; "
        f"input {recipe['input_size']}x{recipe['input_size']}, {recipe['in_channels']} channel(s); "
        f"{'soft (lung-fraction) targets' if recipe.get('soft_targets') else 'binary targets'} at model size",
        f"- Optimiser: AdamW, one-cycle LR (max {recipe['learning_rate']}), weight decay {recipe['weight_decay']}"
        + (f"; the shipped weights are an exponential moving average (decay {recipe['ema_decay']})"
           if recipe.get("ema_decay") else ""),
        f"- Inference: flip TTA {'on' if recipe['tta_flip'] else 'off'}; threshold 0.5; post-processing keeps "
        "the two largest components and fills small holes",
        "", "## Training", "",
        f"- Data: `{training['data_dir']}`, split `train` ({training['train_cases']} images) for training, "
        f"`val` ({training['val_cases']}) to pick the epoch; `test` used only for the figures below.",
        f"- Epochs: {training['epochs']} (best on val: epoch {training['best_epoch']}, {_best_val(training)}), "
        f"{training['steps']} steps, batch {training['batch_size']}, "
        f"{training['precision']}",
        f"- Wall time: {training['wall_time_min']} min on {training['machine']}; finished {training['finished']}",
        "",
    ]
    if "test" in card:
        lines += ["## Test split (reported, never used for choices)", "", card.get("test_protocol", ""), ""]
        lines += _metric_table(card["test"]) + [""]
    if "val" in card:
        lines += ["## Validation split", ""] + _metric_table(card["val"]) + [""]
    if recipe.get("study"):
        study = ", ".join(f"{k} {v}" for k, v in recipe["study"].items())
        lines += ["## The study's figure for this recipe", "", f"Reported (validation): {study}.", ""]
    lines += ["## Data terms", "",
              "Trained on NLM's Montgomery County and Shenzhen chest X-ray sets (Jaeger et al. 2014; "
              "Candemir et al. 2014); Shenzhen masks by Stirenko et al. 2018, CC BY-NC-SA 4.0: "
              "treat these weights as non-commercial.", ""]
    return "\n".join(lines)
