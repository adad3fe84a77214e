"""The Markdown card says how the weights were made; old and new card layouts both render."""
from lungseg_core.models.model_card import render_markdown
from lungseg_core.models.registry import get_recipe


def _card(**training_extra):
    training = {"data_dir": "cxr-lungs", "train_cases": 493, "val_cases": 106, "epochs": 30, "best_epoch": 24,
                "steps": 1830, "batch_size": 8, "precision": "bf16 autocast", "wall_time_min": 31.8,
                "machine": "test CPU", "finished": "2026-11-27T00:00:00+00:00", **training_extra}
    stats = {m: {"mean": 0.96, "median": 0.97} for m in ("dice", "iou", "precision", "recall", "accuracy")}
    return {"name": "unet_lite0", "title": "Default", "recipe": get_recipe("unet_lite0").as_dict(),
            "training": training, "weights": {"file": "unet_lite0.safetensors", "dtype": "float16", "params_million": 5.2},
            "test": {"all": {"n": 105, **stats}}, "test_protocol": "test split, 105 images"}


def test_card_states_recipe_training_and_test_figures():
    text = render_markdown(_card(best_val_dice=0.9651, val_dice_measured="full"))
    assert text.startswith("# Default")
    assert "val Dice at full resolution 0.9651" in text
    assert "soft (lung-fraction) targets" in text and "exponential moving average (decay 0.995)" in text
    assert "| all | 105 | 0.9600 (0.9700)" in text
    assert "493 images" in text and "31.8 min on test CPU" in text
    assert "non-commercial" in text


def test_older_cards_scored_at_model_size_still_render():
    card = _card(best_val_dice_model_size=0.9647)
    for key in ("soft_targets", "ema_decay"):  # fields newer than the card
        card["recipe"].pop(key)
    text = render_markdown(card)
    assert "val Dice at model size 0.9647" in text and "binary targets" in text
    assert "exponential moving average (decay" not in text
