"""How long a failed work item waits before it is retried (client-go's `default_rate_limiters.go`).

A controller retries a key whose reconcile raised. Two limits apply at once, and the larger
delay wins: a per-item exponential back-off (5 ms, 10 ms, 20 ms, … up to 1000 s), so one
broken object backs off without slowing the others, and a global token bucket (10 per second,
bursts of 100), so a wave of failures cannot hammer the API servers. `forget` resets an item
after it succeeds. The clock is injected so tests can step time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Protocol


class RateLimiter(Protocol):
    """Decides the delay before an item is retried."""

    def when(self, item: Hashable) -> float:
        """The delay (seconds) before `item` may be retried now; counts one more failure."""

    def forget(self, item: Hashable) -> None:
        """Stop tracking `item` (it succeeded)."""

    def num_requeues(self, item: Hashable) -> int:
        """How many failures of `item` were counted since it was last forgotten."""


class ItemExponentialRateLimiter:
    """`base_delay * 2**failures`, capped at `max_delay`, counted per item."""

    def __init__(self, base_delay: float = 0.005, max_delay: float = 1000.0) -> None:
        self._base = base_delay
        self._max = max_delay
        self._failures: dict[Hashable, int] = {}
        self._lock = threading.Lock()

    def when(self, item: Hashable) -> float:
        with self._lock:
            exponent = self._failures.get(item, 0)
            self._failures[item] = exponent + 1
        if exponent > 64:  # 2**64 * any sane base is past every cap; avoid float overflow
            return self._max
        return min(self._base * 2**exponent, self._max)

    def forget(self, item: Hashable) -> None:
        with self._lock:
            self._failures.pop(item, None)

    def num_requeues(self, item: Hashable) -> int:
        with self._lock:
            return self._failures.get(item, 0)


class TokenBucketRateLimiter:
    """A bucket of `burst` tokens refilled at `qps`; each retry takes one, waiting when it is empty.

    Like `rate.Limiter.Reserve()`: a retry always gets a reservation, the delay being how long
    until its token will have been refilled, so tokens can go negative under load.
    """

    def __init__(self, qps: float = 10.0, burst: int = 100, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._qps = qps
        self._burst = float(burst)
        self._clock = clock
        self._tokens = float(burst)
        self._last = clock()
        self._lock = threading.Lock()

    def when(self, item: Hashable) -> float:
        with self._lock:
            now = self._clock()
            self._tokens = min(self._burst, self._tokens + (now - self._last) * self._qps)
            self._last = now
            self._tokens -= 1
            return 0.0 if self._tokens >= 0 else -self._tokens / self._qps

    def forget(self, item: Hashable) -> None:
        """Tokens are global: nothing to forget per item."""

    def num_requeues(self, item: Hashable) -> int:
        return 0


class MaxOfRateLimiter:
    """The longest delay any of its limiters asks for."""

    def __init__(self, *limiters: RateLimiter) -> None:
        self._limiters = limiters

    def when(self, item: Hashable) -> float:
        return max(limiter.when(item) for limiter in self._limiters)

    def forget(self, item: Hashable) -> None:
        for limiter in self._limiters:
            limiter.forget(item)

    def num_requeues(self, item: Hashable) -> int:
        return max(limiter.num_requeues(item) for limiter in self._limiters)


def default_controller_rate_limiter(clock: Callable[[], float] = time.monotonic) -> MaxOfRateLimiter:
    """client-go's `DefaultControllerRateLimiter`: 5 ms…1000 s per item, max'ed with 10 qps / burst 100."""
    return MaxOfRateLimiter(ItemExponentialRateLimiter(), TokenBucketRateLimiter(clock=clock))
