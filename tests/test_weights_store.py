import torch

from lungseg_core import build_model, get_recipe
from lungseg_core.models.weights_store import available_names, load_card, load_weights, save_card, save_weights


def test_fp16_round_trip_and_card(tmp_path):
    recipe = get_recipe("unet_vanilla_bce").with_overrides(width=4)
    model = build_model(recipe).eval()
    path = save_weights(model, recipe.name, tmp_path)
    assert path.suffix == ".safetensors" and not list(tmp_path.glob("*.tmp"))
    again = load_weights(build_model(recipe), path).eval()
    x = torch.randn(1, 1, 32, 32)
    assert torch.allclose(model(x), again(x), atol=1e-2)
    save_card(recipe.name, tmp_path, {"name": recipe.name, "test": {}}, "# card\n")
    assert load_card(recipe.name, tmp_path)["name"] == recipe.name
    assert (tmp_path / f"{recipe.name}.md").read_text() == "# card\n"
    assert available_names(tmp_path) == [recipe.name]
