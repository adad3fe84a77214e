"""Folding BatchNorm into the convolutions keeps every bundled model's output (fp32) and mask."""
import numpy as np
import pytest
import torch
from PIL import Image

from lungseg_core import list_models, registered_names
from lungseg_core.models.batchnorm_folding import fold_batchnorm
from lungseg_core.models.model_loading import model_folder
from lungseg_core.models.registry import build_model, get_recipe
from lungseg_core.models.samples import list_samples
from lungseg_core.models.weights_store import load_weights, weights_path


@pytest.mark.parametrize("name", [n for n in list_models() if n in registered_names() and not n.startswith("unet_vanilla")])
def test_folded_model_gives_the_same_probabilities(name):
    recipe = get_recipe(name)
    model = build_model(recipe, load_pretrained=False)
    load_weights(model, weights_path(name, model_folder(name)))
    model.eval()
    size = recipe.input_size
    image = np.asarray(Image.open(list_samples()[0].image_path).convert("L").resize((size, size)), np.float32) / 255
    x = torch.from_numpy(np.repeat(image[None, None], recipe.in_channels, axis=1))
    with torch.inference_mode():
        before = torch.sigmoid(model(x))
        assert fold_batchnorm(model) > 0
        after = torch.sigmoid(model(x))
    assert float((before - after).abs().max()) < 1e-4
    assert bool(((before >= 0.5) == (after >= 0.5)).all())


def test_refuses_a_model_in_training_mode():
    model = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2))
    with pytest.raises(ValueError):
        fold_batchnorm(model.train())
    assert fold_batchnorm(model.eval()) == 1 and isinstance(model[1], torch.nn.Identity)
