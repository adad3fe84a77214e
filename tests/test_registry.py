import pytest
import torch

from lungseg_core import DEFAULT_MODEL, UnknownModelError, build_model, get_recipe, registered_names
from lungseg_core.learning.losses import build_loss

STUDY_RECIPES = {"unet_vanilla_bce", "unet_bn_bce_jaccard_dice", "unet_effb3", "linknet_effb3",
                 "unet_vanilla_bce_jaccard"}


def test_registry_has_the_five_study_recipes_and_a_default():
    names = set(registered_names())
    assert STUDY_RECIPES <= names
    assert DEFAULT_MODEL in names


def test_unknown_name_lists_valid_ones():
    with pytest.raises(UnknownModelError) as err:
        get_recipe("resnet9000")
    message = str(err.value)
    assert "resnet9000" in message
    assert all(name in message for name in registered_names())


@pytest.mark.parametrize("name", registered_names())
def test_every_recipe_builds_and_trains_one_step(name):
    recipe = get_recipe(name)
    model = build_model(recipe).train()
    x = torch.randn(2, recipe.in_channels, 64, 64)
    y = (torch.rand(2, 1, 64, 64) > 0.5).float()
    out = model(x)
    assert out.shape == (2, 1, 64, 64)
    loss = build_loss(recipe.loss)(out, y)
    loss.backward()
    unused = [n for n, p in model.named_parameters() if p.grad is None]
    # smp's efficientnet encoders keep their (unused) classification head: nothing else may be idle
    assert all("_conv_head" in n or n.startswith("encoder._bn1") for n in unused), unused
    assert sum(float(p.grad.abs().sum()) for p in model.parameters() if p.grad is not None) > 0


def test_vanilla_unet_full_width_matches_the_paper():
    model = build_model(get_recipe("unet_vanilla_bce").with_overrides(width=64))
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(31.0e6, rel=0.02)


def test_decoder_channels_set_the_decoder_widths():
    default = build_model(get_recipe("unet_lite0"), load_pretrained=False)
    slim = build_model(get_recipe("unet_lite0_slim"), load_pretrained=False)

    def widths(model):
        return [block.conv2[0].out_channels for block in model.decoder.blocks]

    assert widths(default) == [256, 128, 64, 32, 16]
    assert widths(slim) == [128, 64, 32, 16, 16]
    assert sum(p.numel() for p in slim.parameters()) < sum(p.numel() for p in default.parameters())
