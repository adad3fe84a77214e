import numpy as np
import pytest

from lungseg_core.imaging.overlay import (FALSE_NEGATIVE_COLOUR, FALSE_POSITIVE_COLOUR, agreement_map, contour_of,
                                  error_map, heat_map, mask_overlay)


@pytest.fixture()
def image():
    return (np.arange(100 * 120).reshape(100, 120) % 251).astype(np.uint16) * 100


def test_overlay_fill_and_contour(image):
    mask = np.zeros(image.shape, bool)
    mask[20:80, 30:90] = True
    filled = mask_overlay(image, mask, opacity=0.5, style="fill")
    contour = mask_overlay(image, mask, opacity=0.5, style="contour")
    assert filled.shape == (100, 120, 3) and filled.dtype == np.uint8
    inside = (slice(40, 60), slice(50, 70))
    assert not np.array_equal(filled[inside], contour[inside])  # fill tints the inside, contour does not
    assert np.array_equal(contour[~mask], filled[~mask])
    assert contour_of(mask).sum() > 0 and not contour_of(mask)[50, 60]
    with pytest.raises(ValueError):
        mask_overlay(image, mask, style="dots")


def test_error_map_colours(image):
    pred = np.zeros(image.shape, bool)
    truth = np.zeros(image.shape, bool)
    pred[10:20, 10:20] = True  # false positive
    truth[50:60, 50:60] = True  # false negative
    out = error_map(image, pred, truth, opacity=1.0)
    assert tuple(out[15, 15]) == FALSE_POSITIVE_COLOUR
    assert tuple(out[55, 55]) == FALSE_NEGATIVE_COLOUR


def test_heat_and_agreement_maps(image):
    values = np.zeros(image.shape, np.float32)
    values[:, 60:] = 1.0
    hm = heat_map(image, values)
    assert hm.shape == (100, 120, 3)
    a = np.zeros(image.shape, bool)
    b = a.copy()
    a[10:50, 10:50] = True
    b[10:50, 10:60] = True  # models disagree on columns 50..59
    agree = agreement_map(image, [a, b])
    assert agree.shape == (100, 120, 3)
    assert not np.array_equal(agree[30, 55], agree[30, 30])


def test_render_view_every_view_and_display_size(image):
    from lungseg_core.imaging.overlay import VIEWS, render_view

    mask = np.zeros(image.shape, bool)
    mask[20:80, 30:90] = True
    prob = mask.astype(np.float32)
    for view in VIEWS:
        full = render_view(view, image, mask, prob, prob * 0.1, truth=mask, opacity=0.5)
        small = render_view(view, image, mask, prob, prob * 0.1, truth=mask, opacity=0.5, max_side=60)
        assert full.shape == (100, 120, 3) and small.shape == (50, 60, 3)
    with pytest.raises(ValueError):
        render_view("X-ray vision", image, mask)
