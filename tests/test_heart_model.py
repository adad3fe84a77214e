"""The heart network the site estimate reads (`models/heart_model`): the shipped weights outline a
heart where a heart is, it is no lung model, and without its weights the estimate does without it."""
from __future__ import annotations

import numpy as np

from lungseg_core.imaging.image_io import decode_mask_pixels, read_xray
from lungseg_core.models.heart_model import HEART_MODEL, heart_mask, load_heart_model
from lungseg_core.models.model_loading import list_models
from lungseg_core.models.samples import list_samples


def test_the_shipped_heart_network_outlines_the_heart_between_the_lungs():
    """On the bundled films (Montgomery and Shenzhen: other hospitals than JSRT's) the heart is one
    piece of a heart's size, between the two lungs and low in the chest. (Not "outside the lung
    masks": one Shenzhen mask draws the left lung behind the heart, as some sites do.)"""
    seg = load_heart_model()
    assert seg is not None, "weights/heart.safetensors is missing: run tools/train_heart.py"
    for sample in list_samples():
        image = read_xray(sample.image_path.read_bytes()).pixels
        lungs = decode_mask_pixels(sample.mask_path.read_bytes()) > 127
        heart = heart_mask(seg, image)
        ly, lx = np.nonzero(lungs)
        hy, hx = np.nonzero(heart)
        middle = (lx.min() + lx.max()) / 2
        assert 0.03 < heart.mean() < 0.15, sample.id  # one heart, of a heart's size
        assert abs(hx.mean() - middle) < 0.15 * (lx.max() - lx.min()), sample.id  # between the lungs
        assert hx.max() - hx.min() < 0.6 * (lx.max() - lx.min()), sample.id  # narrower than the chest
        assert hy.mean() > (ly.min() + ly.max()) / 2, sample.id  # in the lower half of the lung field
        assert hy.max() <= ly.max() + 0.1 * (ly.max() - ly.min()), sample.id  # above the diaphragm


def test_the_heart_network_is_not_a_lung_model_and_may_be_missing(tmp_path):
    assert HEART_MODEL not in list_models()
    assert load_heart_model(tmp_path) is None  # a weights folder without it: the estimate does without the heart
    from lungseg_core.workflow.site_quality import film_heart_share

    assert film_heart_share(np.ones((8, 8), bool), None) is None
