import numpy as np
import pytest

from lungseg_core.errors import MaskError
from lungseg_core.imaging.metrics import confusion, overlap_metrics, summarize


def test_hand_computed_values():
    truth = np.zeros((4, 4), bool)
    truth[:2, :] = True  # 8 pixels
    pred = np.zeros((4, 4), bool)
    pred[1:3, :] = True  # 8 pixels, 4 overlap
    assert confusion(pred, truth) == (4, 4, 4, 4)
    m = overlap_metrics(pred, truth)
    assert m.iou == pytest.approx(4 / 12)
    assert m.dice == pytest.approx(8 / 16)
    assert m.precision == pytest.approx(0.5)
    assert m.recall == pytest.approx(0.5)
    assert m.accuracy == pytest.approx(8 / 16)


def test_asymmetric_case():
    truth = np.zeros((10, 10), bool)
    truth[:5] = True  # 50
    pred = np.zeros((10, 10), bool)
    pred[:2] = True  # 20, all inside truth
    m = overlap_metrics(pred, truth)
    assert (m.precision, m.recall) == (1.0, pytest.approx(0.4))
    assert m.iou == pytest.approx(20 / 50)
    assert m.dice == pytest.approx(40 / 70)
    assert m.accuracy == pytest.approx(70 / 100)


def test_empty_mask_conventions():
    empty = np.zeros((5, 5), bool)
    full = np.ones((5, 5), bool)
    both = overlap_metrics(empty, empty)
    assert both.as_dict() == {"dice": 1.0, "iou": 1.0, "precision": 1.0, "recall": 1.0, "accuracy": 1.0}
    missed = overlap_metrics(empty, full)  # predicted nothing where everything is lung
    assert (missed.dice, missed.iou, missed.precision, missed.recall, missed.accuracy) == (0, 0, 0, 0, 0)
    spurious = overlap_metrics(full, empty)
    assert (spurious.dice, spurious.iou, spurious.precision, spurious.recall) == (0, 0, 0, 0)


def test_shape_mismatch_is_a_mask_error():
    with pytest.raises(MaskError, match="differ in size"):
        overlap_metrics(np.zeros((3, 3), bool), np.zeros((4, 4), bool))


def test_summarize_mean_and_median():
    rows = [{"dice": 0.5}, {"dice": 0.7}, {"dice": 1.0}]
    s = summarize(rows, ("dice",))
    assert s["dice"]["mean"] == pytest.approx(2.2 / 3)
    assert s["dice"]["median"] == pytest.approx(0.7)
