"""The training CLI end to end on 4 images: 1 step, a checkpoint, weights + card that load_model reads."""
import json

import numpy as np
import torch

from lungseg_core import load_model
from lungseg_core.cli import main
from lungseg_core.learning.training import checkpoint_path

from .conftest import SAMPLES, sample_cases


def test_train_one_step_writes_checkpoint_weights_card_and_curves(tiny_data_dir, tmp_path):
    out = tmp_path / "out"
    code = main(["train", "--model", "unet_vanilla_bce", "--data", str(tiny_data_dir), "--out", str(out),
                 "--epochs", "1", "--max-steps", "1", "--size", "64", "--batch-size", "2"])
    assert code == 0
    ckpt = checkpoint_path(out, "unet_vanilla_bce")
    saved = torch.load(ckpt, weights_only=True)  # a checkpoint must load without pickled code
    assert saved["state"]["step"] == 1 and saved["state"]["epoch"] == 1
    card = json.loads((out / "unet_vanilla_bce.json").read_text())
    assert card["training"]["train_cases"] == 2 and card["training"]["steps"] == 1
    assert card["recipe"]["input_size"] == 64
    assert set(card["test"]) == {"shenzhen", "all"}  # the one test case is Shenzhen
    assert (out / "unet_vanilla_bce.md").read_text().startswith("# 1. Vanilla U-Net")
    assert (out / "unet_vanilla_bce.curves.csv").read_text().startswith("epoch,")
    assert (out / "unet_vanilla_bce.curves.png").stat().st_size > 1000
    # load_model reads what training wrote (the input size comes from the registry recipe)
    seg = load_model("unet_vanilla_bce", out)
    image = np.asarray(__import__("PIL.Image", fromlist=["Image"]).open(SAMPLES / sample_cases()[0]["image_path"]))
    assert seg.predict(image).shape == image.shape


def test_training_resumes_from_its_checkpoint(tiny_data_dir, tmp_path, capsys):
    out = tmp_path / "out"
    args = ["train", "--model", "unet_vanilla_bce", "--data", str(tiny_data_dir), "--out", str(out),
            "--size", "64", "--batch-size", "2", "--no-test"]
    assert main(args + ["--epochs", "2", "--max-steps", "1"]) == 0  # "interrupted" after epoch 1
    assert main(args + ["--epochs", "2"]) == 0
    assert main(args + ["--epochs", "3"]) == 0  # asking for more epochs later extends the run
    printed = capsys.readouterr().out
    assert "resumed unet_vanilla_bce" in printed and "after epoch 1" in printed
    state = torch.load(checkpoint_path(out, "unet_vanilla_bce"), weights_only=True)["state"]
    assert state["epoch"] == 3 and [h["epoch"] for h in state["history"]] == [1, 2, 3]


def test_refresh_card_rewrites_figures_and_keeps_training_facts(tiny_data_dir, tmp_path):
    out = tmp_path / "out"
    assert main(["train", "--model", "unet_vanilla_bce", "--data", str(tiny_data_dir), "--out", str(out),
                 "--epochs", "1", "--max-steps", "1", "--size", "64", "--batch-size", "2", "--no-test"]) == 0
    card_file = out / "unet_vanilla_bce.json"
    assert "test" not in json.loads(card_file.read_text())
    assert main(["refresh-card", "--model", "unet_vanilla_bce", "--data", str(tiny_data_dir),
                 "--weights-dir", str(out)]) == 0
    card = json.loads(card_file.read_text())
    assert card["test"]["all"]["n"] == 1 and card["training"]["steps"] == 1
    assert "flip TTA on" in card["test_protocol"]


def test_ema_and_soft_targets_train_validate_and_ship_the_average(tiny_data_dir, tmp_path):
    from lungseg_core.models.registry import get_recipe
    from lungseg_core.learning.training import TrainOptions, train
    from lungseg_core.models.weights_store import load_weights

    recipe = get_recipe("unet_vanilla_bce").with_overrides(width=4, input_size=64, ema_decay=0.5,
                                                           soft_targets=True, batch_size=1)
    out = tmp_path / "out"
    card = train(recipe, TrainOptions(tiny_data_dir, out, epochs=1, evaluate_test=False))
    saved = torch.load(checkpoint_path(out, recipe.name), weights_only=True)
    assert "ema" in saved and int(saved["ema"]["n_averaged"]) == 2  # two train cases, batch 1
    assert "full resolution" in card["training"]["val_dice_measured"]
    assert 0.0 <= card["training"]["best_val_dice"] <= 1.0
    # the shipped weights are the average, not the last optimiser state
    from lungseg_core.models.registry import build_model

    shipped = load_weights(build_model(recipe), out / f"{recipe.name}.safetensors").state_dict()
    ema_params = {k[len("module."):]: v for k, v in saved["ema"].items() if k.startswith("module.")}
    key = next(k for k in saved["model"] if k.endswith("weight"))
    assert torch.allclose(shipped[key].float(), ema_params[key].float(), atol=1e-3)  # fp16 on disk
    assert "soft (lung-fraction) targets" in (out / f"{recipe.name}.md").read_text()


def test_a_frozen_encoder_keeps_its_weights_and_statistics_while_the_decoder_learns(tiny_data_dir, tmp_path):
    from lungseg_core.learning.training import TrainOptions, train
    from lungseg_core.models.registry import build_model, get_recipe
    from lungseg_core.models.weights_store import load_weights, save_weights

    recipe = get_recipe("unet_lite0_slim").with_overrides(input_size=64, batch_size=2, ema_decay=0.0)
    start = save_weights(build_model(recipe, load_pretrained=True), "start", tmp_path)
    train(recipe, TrainOptions(tiny_data_dir, tmp_path / "out", epochs=1, evaluate_test=False, init_weights=start,
                               output_name="tuned", learning_rate=1e-2, freeze_encoder=True))
    before = load_weights(build_model(recipe, load_pretrained=False), start).state_dict()
    after = load_weights(build_model(recipe, load_pretrained=False), tmp_path / "out" / "tuned.safetensors").state_dict()
    encoder = [k for k in before if k.startswith("encoder.")]
    decoder = [k for k in before if not k.startswith("encoder.") and before[k].is_floating_point()]
    assert encoder and all(torch.equal(before[k], after[k]) for k in encoder)  # incl. batch-norm running stats
    assert any(not torch.equal(before[k], after[k]) for k in decoder)


def test_keep_last_keeps_the_last_epoch_whatever_val_says(tiny_data_dir, tmp_path, monkeypatch):
    """A fine-tune whose val split is partly blind keeps its last epoch; otherwise the best val epoch."""
    from lungseg_core.learning import training
    from lungseg_core.models.registry import get_recipe

    scores = iter([0.9, 0.5, 0.9, 0.5])  # epoch 1 looks best every time
    monkeypatch.setattr(training, "mean_dice_full_size", lambda *a, **k: next(scores))
    recipe = get_recipe("unet_vanilla_bce").with_overrides(input_size=64)
    for keep_last, kept in ((False, 1), (True, 2)):
        card = training.train(recipe, training.TrainOptions(
            data_dir=tiny_data_dir, out_dir=tmp_path / str(keep_last), epochs=2, batch_size=2, resume=False,
            evaluate_test=False, keep_last=keep_last))
        assert card["training"]["best_epoch"] == kept
    assert card["training"]["split_used_for_selection"] == "none: the last epoch is kept"
