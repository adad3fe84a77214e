import torch

from lungseg_core import build_model, get_recipe
from lungseg_core.models.pretrained_encoders import lite0_imagenet_state_dict


def test_lite0_weights_map_onto_timm_and_into_the_encoder():
    weights = lite0_imagenet_state_dict()
    assert "conv_stem.weight" in weights and weights["conv_stem.weight"].shape == (32, 3, 3, 3)
    recipe = get_recipe("unet_lite0")
    pretrained = build_model(recipe)
    scratch = build_model(recipe, load_pretrained=False)
    stem = pretrained.encoder.model.conv_stem.weight
    assert torch.equal(stem, weights["conv_stem.weight"])
    assert not torch.equal(stem, scratch.encoder.model.conv_stem.weight)
    # ImageNet BN statistics were copied too (random init has mean 0, var 1)
    assert pretrained.encoder.model.bn1.running_var.mean() != 1.0
