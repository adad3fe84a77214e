"""A least-recently-used cache bounded by the bytes its values hold, shared by every user of one
server. A count bound (Streamlit's max_entries) is no bound at all when one 16-megapixel upload's
probability and uncertainty maps weigh 130 MB and a 512x512 one's 2 MB."""
from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import fields, is_dataclass
from typing import Any, Callable, Generic, Hashable, TypeVar

import numpy as np

V = TypeVar("V")


def nbytes_of(value: Any) -> int:
    """Bytes of the numpy arrays a value holds (directly, in a dataclass, or in a tuple/list)."""
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if is_dataclass(value):
        return sum(nbytes_of(getattr(value, f.name)) for f in fields(value))
    if isinstance(value, (tuple, list)):
        return sum(nbytes_of(v) for v in value)
    return 0


class ByteLRU(Generic[V]):
    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._items: OrderedDict[Hashable, tuple[V, int]] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()

    @property
    def bytes_held(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._items)

    def get_or_compute(self, key: Hashable, compute: Callable[[], V]) -> V:
        with self._lock:
            if key in self._items:
                self._items.move_to_end(key)
                return self._items[key][0]
        value = compute()  # outside the lock: other users are not blocked by one prediction
        size = nbytes_of(value)
        with self._lock:
            if key in self._items:
                return self._items[key][0]
            if size <= self.max_bytes:  # a value bigger than the whole budget is returned, not kept
                self._items[key] = (value, size)
                self._bytes += size
                while self._bytes > self.max_bytes:
                    _, (_, old) = self._items.popitem(last=False)
                    self._bytes -= old
        return value
