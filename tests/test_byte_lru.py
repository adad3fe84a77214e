import numpy as np

from lungseg_core.models.byte_lru import ByteLRU, nbytes_of
from lungseg_core.workflow.case_segmentation import CaseSegmentation as Segmentation
from lungseg_core.workflow.mask_quality import QualitySignals


def _seg(side: int) -> Segmentation:
    a = np.zeros((side, side), np.float32)
    signals = QualitySignals(1.0, 0.0, 1.0, 2, 1.1, 0.25, 0.0, 0.9, 0.0, 0.0, {})
    return Segmentation(a > 0, signals, 0.97, [], "m", a, a.copy(), 0.0)


def test_bounded_by_bytes_least_recently_used_first():
    one = nbytes_of(_seg(100))
    assert one == 100 * 100 * (4 + 4 + 1)
    cache: ByteLRU[Segmentation] = ByteLRU(3 * one)
    calls = []
    for key in "abc":
        cache.get_or_compute(key, lambda k=key: calls.append(k) or _seg(100))
    cache.get_or_compute("a", lambda: calls.append("a again") or _seg(100))  # a hit, and now most recent
    cache.get_or_compute("d", lambda: calls.append("d") or _seg(100))  # evicts b, the least recent
    assert calls == ["a", "b", "c", "d"] and len(cache) == 3 and cache.bytes_held == 3 * one
    cache.get_or_compute("b", lambda: calls.append("b again") or _seg(100))
    assert calls[-1] == "b again"
    huge = cache.get_or_compute("huge", lambda: _seg(400))  # bigger than the budget: returned, not kept
    assert huge.probability.shape == (400, 400) and cache.bytes_held <= 3 * one
