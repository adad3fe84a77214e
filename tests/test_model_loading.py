"""Every shipped weight file loads and segments the bundled sample cases well."""
import numpy as np
import pytest

from lungseg_core import (DEFAULT_MODEL, UnknownModelError, WeightsNotFoundError, list_models, load_model,
                          overlap_metrics, read_mask, read_xray)
from lungseg_core.models.weights_store import PACKAGE_WEIGHTS_DIR, load_card

from .conftest import SAMPLES, sample_cases

SHIPPED = list_models(PACKAGE_WEIGHTS_DIR)


def test_default_model_is_shipped_with_a_card():
    assert DEFAULT_MODEL in SHIPPED
    for name in SHIPPED:
        card = load_card(name, PACKAGE_WEIGHTS_DIR)
        assert card is not None and "test" in card, f"{name} has no card with test metrics"
        assert (PACKAGE_WEIGHTS_DIR / f"{name}.md").is_file()


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_segments_samples(name):
    seg = load_model(name, PACKAGE_WEIGHTS_DIR)
    dices = {}
    for row in sample_cases():
        image = read_xray((SAMPLES / row["image_path"]).read_bytes()).pixels
        truth = read_mask((SAMPLES / row["mask_path"]).read_bytes(), image.shape)
        mask = seg.predict(image)
        assert mask.shape == image.shape
        dices[row["id"]] = overlap_metrics(mask, truth).dice
    assert np.mean(list(dices.values())) >= 0.9, dices
    assert min(dices.values()) >= 0.85, dices


def test_bf16_and_fp32_masks_agree():
    fp32 = load_model(DEFAULT_MODEL, PACKAGE_WEIGHTS_DIR, precision="fp32")
    bf16 = load_model(DEFAULT_MODEL, PACKAGE_WEIGHTS_DIR, precision="bf16")
    image = read_xray((SAMPLES / sample_cases()[0]["image_path"]).read_bytes()).pixels
    a, b = fp32.predict(image), bf16.predict(image)
    assert overlap_metrics(a, b).dice > 0.99


def test_errors_for_unknown_name_and_missing_weights(tmp_path):
    with pytest.raises(UnknownModelError, match="Valid names"):
        load_model("no_such_model")
    with pytest.raises(WeightsNotFoundError, match="No trained weights"):
        load_model(DEFAULT_MODEL, tmp_path)
    assert list_models(tmp_path) == []


def test_uncertainty_is_low_inside_a_clear_lung():
    seg = load_model(DEFAULT_MODEL, PACKAGE_WEIGHTS_DIR)
    image = read_xray((SAMPLES / sample_cases()[0]["image_path"]).read_bytes()).pixels
    prob, uncertainty = seg.predict_uncertainty(image)
    assert prob.shape == uncertainty.shape == image.shape
    assert float(np.median(uncertainty[prob > 0.9])) < 0.1
