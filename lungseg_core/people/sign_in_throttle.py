"""Sign-in throttling: back-off after repeated failures, and a bound on password checks at once.

Each password check costs argon2's memory (~64 MiB with argon2-cffi's RFC 9106 low-memory profile)
and CPU, so a flood of wrong passwords is both a guessing attack and a way to exhaust the server.
Two defences, both in the library so every caller gets them:

- Back-off per user name and per client address: the first `FREE_FAILURES` failures cost nothing
  more; after that each attempt must wait 2, 4, 8 … seconds (capped at `MAX_DELAY_S`) since the last
  failure, and an attempt made too early is refused *without* running argon2. A success clears the
  user name's and the client's count; a quiet `BURST_RESET_S` ends a burst.
- At most `MAX_CONCURRENT_CHECKS` argon2 verifications run at once in this process; others wait
  up to `QUEUE_WAIT_S` and are then refused ("busy"), so memory stays bounded whatever arrives.

The counts live in this process (each app server throttles what reaches it); an attacker spread
over many servers and addresses is slowed per server. Written here because no maintained library
throttles a Streamlit form (Flask-Limiter and slowapi are middlewares of their own frameworks).
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Callable, Iterator

FREE_FAILURES = 5
MAX_DELAY_S = 300.0
BURST_RESET_S = 900.0
MAX_CONCURRENT_CHECKS = 2
QUEUE_WAIT_S = 10.0
MAX_TRACKED = 10_000  # keys remembered at once (oldest forgotten first): the throttle's own memory bound


@dataclass
class _Burst:
    failures: int
    last: float


class SignInThrottle:
    def __init__(self, free_failures: int = FREE_FAILURES, max_delay_s: float = MAX_DELAY_S,
                 burst_reset_s: float = BURST_RESET_S, max_concurrent: int = MAX_CONCURRENT_CHECKS,
                 queue_wait_s: float = QUEUE_WAIT_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.free_failures, self.max_delay_s, self.burst_reset_s = free_failures, max_delay_s, burst_reset_s
        self.queue_wait_s, self.clock = queue_wait_s, clock
        self._bursts: OrderedDict[str, _Burst] = OrderedDict()
        self._lock = threading.Lock()
        self._checks = threading.BoundedSemaphore(max_concurrent)

    @staticmethod
    def keys(username: str, client: str | None) -> list[str]:
        return [f"user:{username.strip().lower()[:64]}"] + ([f"client:{client}"] if client else [])

    def _live(self, key: str, now: float) -> _Burst | None:
        burst = self._bursts.get(key)
        if burst is not None and now - burst.last > self.burst_reset_s:
            del self._bursts[key]
            return None
        return burst

    def delay_for(self, failures: int) -> float:
        """Seconds an attempt must wait after the last failure, given the failures so far."""
        if failures < self.free_failures:
            return 0.0
        return min(self.max_delay_s, 2.0 ** (failures - self.free_failures + 1))

    def retry_after(self, keys: list[str]) -> float:
        """0 if an attempt may be checked now, else the seconds to wait."""
        now = self.clock()
        with self._lock:
            waits = [self.delay_for(b.failures) - (now - b.last) for k in keys if (b := self._live(k, now))]
        return max([0.0, *waits])

    def failed(self, keys: list[str]) -> int:
        """Count a failure; returns the largest failure count among the keys (1 = a new burst)."""
        now = self.clock()
        with self._lock:
            counts = []
            for k in keys:
                burst = self._live(k, now) or _Burst(0, now)
                burst.failures += 1
                burst.last = now
                self._bursts[k] = burst
                self._bursts.move_to_end(k)
                counts.append(burst.failures)
            while len(self._bursts) > MAX_TRACKED:
                self._bursts.popitem(last=False)
        return max(counts)

    def succeeded(self, keys: list[str]) -> None:
        with self._lock:
            for k in keys:
                self._bursts.pop(k, None)

    @contextmanager
    def check_slot(self) -> Iterator[bool]:
        """One of the bounded password-check slots; yields False if none freed up in time."""
        got = self._checks.acquire(timeout=self.queue_wait_s)
        try:
            yield got
        finally:
            if got:
                self._checks.release()


#: The process's throttle (every UserDirectory of this process shares it).
SHARED = SignInThrottle()
