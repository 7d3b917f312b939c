"""The queue of pods waiting to be scheduled, keyed by `namespace/name`.

A pod is in one place at a time: *active* (ready, ordered by priority then arrival), *backing
off* after a failed attempt (1 s, doubling up to 30 s, per pod), or *in flight* (popped, being
scheduled). Repeated adds collapse. When the cluster changes in a way that may help (a node
appears or changes, a pod frees its resources) every backing-off pod becomes active at once;
a pod in flight at that moment is retried at once if its attempt fails, so no change is missed
(kube-scheduler's move request cycle). The clock is injected for tests.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections.abc import Callable


class SchedulingQueue:
    """Active heap + back-off timers + in-flight set, safe to use from any thread."""

    def __init__(self, *, initial_backoff: float = 1.0, max_backoff: float = 30.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._initial = initial_backoff
        self._maximum = max_backoff
        self._clock = clock
        self._cond = threading.Condition()
        self._seq = itertools.count()
        self._active: dict[str, tuple[int, int]] = {}  # key -> (-priority, seq) of its heap entry
        self._heap: list[tuple[int, int, str]] = []  # may hold stale entries; _active decides
        self._priority: dict[str, int] = {}
        self._backoff: dict[str, float] = {}  # key -> ready time
        self._timers: list[tuple[float, str]] = []  # may hold stale entries; _backoff decides
        self._in_flight: set[str] = set()
        self._retry_now: set[str] = set()  # in flight, and something changed meanwhile
        self._attempts: dict[str, int] = {}
        self._closed = False

    def add(self, key: str, priority: int = 0) -> None:
        """A new or changed pod: schedule it as soon as possible."""
        with self._cond:
            self._priority[key] = priority
            if key in self._in_flight:
                self._retry_now.add(key)
            else:
                self._backoff.pop(key, None)
                self._activate(key)

    def pop(self, timeout: float | None = None) -> str | None:
        """The next pod to schedule (now in flight); None on timeout or after `close()`."""
        deadline = None if timeout is None else self._clock() + timeout
        with self._cond:
            while not self._closed:
                self._release_due()
                while self._heap:
                    priority, seq, key = heapq.heappop(self._heap)
                    if self._active.get(key) == (priority, seq):
                        del self._active[key]
                        self._in_flight.add(key)
                        return key
                wait = self._next_timer()
                if deadline is not None:
                    remaining = deadline - self._clock()
                    if remaining <= 0:
                        return None
                    wait = remaining if wait is None else min(wait, remaining)
                self._cond.wait(wait)
            return None

    def done(self, key: str) -> None:
        """The pod was placed (or is gone): forget it and its failed attempts."""
        with self._cond:
            self._in_flight.discard(key)
            self._retry_now.discard(key)
            self._attempts.pop(key, None)

    def retry(self, key: str) -> None:
        """The attempt failed: back off (longer each time), or retry now if things changed meanwhile."""
        with self._cond:
            self._in_flight.discard(key)
            attempts = self._attempts[key] = self._attempts.get(key, 0) + 1
            if key in self._retry_now:
                self._retry_now.discard(key)
                self._activate(key)
                return
            self._active.pop(key, None)
            delay = min(self._initial * 2 ** (attempts - 1), self._maximum)
            ready = self._clock() + delay
            self._backoff[key] = ready
            heapq.heappush(self._timers, (ready, key))
            self._cond.notify()

    def delete(self, key: str) -> None:
        """The pod no longer needs scheduling (bound elsewhere, deleted, not ours)."""
        with self._cond:
            self._active.pop(key, None)
            self._backoff.pop(key, None)
            self._retry_now.discard(key)
            self._attempts.pop(key, None)
            self._priority.pop(key, None)

    def move_all_to_active(self) -> None:
        """The cluster changed: every backing-off pod is retried now, in-flight ones after their attempt."""
        with self._cond:
            for key in list(self._backoff):
                del self._backoff[key]
                self._activate(key)
            self._retry_now |= self._in_flight

    def close(self) -> None:
        """Wake every `pop`; they (and later ones) return None."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    def __len__(self) -> int:
        """Pods waiting (active or backing off), not counting those in flight."""
        with self._cond:
            return len(self._active) + len(self._backoff)

    def _activate(self, key: str) -> None:
        if key in self._active:
            return
        entry = (-self._priority.get(key, 0), next(self._seq))
        self._active[key] = entry
        heapq.heappush(self._heap, (*entry, key))
        self._cond.notify()

    def _release_due(self) -> None:
        now = self._clock()
        while self._timers and self._timers[0][0] <= now:
            ready, key = heapq.heappop(self._timers)
            if self._backoff.get(key) == ready:
                del self._backoff[key]
                self._activate(key)

    def _next_timer(self) -> float | None:
        while self._timers and self._backoff.get(self._timers[0][1]) != self._timers[0][0]:
            heapq.heappop(self._timers)
        return max(0.0, self._timers[0][0] - self._clock()) if self._timers else None
