"""Segmenter contract on an untrained tiny model: any size/dtype in, same HxW out."""
import numpy as np
import pytest

from lungseg_core import Segmenter, build_model, get_recipe


@pytest.fixture(scope="module")
def tiny_segmenter():
    recipe = get_recipe("unet_vanilla_bce").with_overrides(width=4, input_size=64)
    return Segmenter(recipe, build_model(recipe), precision="fp32")


@pytest.mark.parametrize("shape, dtype", [((100, 80), np.uint8), ((333, 517), np.uint16), ((64, 64), np.float32),
                                          ((90, 70, 3), np.uint8)])
def test_any_size_and_dtype(tiny_segmenter, shape, dtype):
    image = (np.random.default_rng(0).random(shape) * (255 if dtype == np.uint8 else 4000)).astype(dtype)
    prob = tiny_segmenter.predict_proba(image)
    assert prob.shape == shape[:2] and prob.dtype == np.float32
    assert 0.0 <= prob.min() and prob.max() <= 1.0
    mask = tiny_segmenter.predict(image)
    assert mask.shape == shape[:2] and mask.dtype == bool


def test_flip_tta_averages_views(tiny_segmenter):
    image = np.random.default_rng(1).random((64, 64)).astype(np.float32)
    plain = tiny_segmenter.predict_proba(image, tta=False)
    flipped = tiny_segmenter.predict_proba(image[:, ::-1].copy(), tta=False)[:, ::-1]
    assert np.allclose(tiny_segmenter.predict_proba(image, tta=True), (plain + flipped) / 2, atol=1e-5)
    prob, uncertainty = tiny_segmenter.predict_uncertainty(image)
    assert np.allclose(uncertainty, np.abs(plain - flipped), atol=1e-5)
    assert np.allclose(prob, tiny_segmenter.predict_proba(image), atol=1e-5)


def test_precision_is_validated():
    recipe = get_recipe("unet_vanilla_bce").with_overrides(width=4)
    with pytest.raises(ValueError):
        Segmenter(recipe, build_model(recipe), precision="fp8")


def test_bf16_casts_the_weights_and_fp32_keeps_them():
    import torch

    recipe = get_recipe("unet_vanilla_bce").with_overrides(width=4, input_size=64)
    bf16 = Segmenter(recipe, build_model(recipe), precision="bf16")
    fp32 = Segmenter(recipe, build_model(recipe), precision="fp32")
    assert {p.dtype for p in bf16.model.parameters()} == {torch.bfloat16}
    assert {p.dtype for p in fp32.model.parameters()} == {torch.float32}
    prob = bf16.predict_proba(np.random.default_rng(2).random((80, 70)).astype(np.float32))
    assert prob.dtype == np.float32 and prob.shape == (80, 70)
