"""The work queue between informer handlers and reconcile workers (client-go's `workqueue`).

Handlers `add` keys; workers `get` one, reconcile it and call `done`. Two sets make this safe
and cheap, as in client-go's `queue.go`:

- *dirty*: keys waiting to be processed. Adding a key that is already dirty does nothing, so a
  burst of events about one object collapses into one reconcile.
- *processing*: keys a worker holds. A key added while it is processed is only marked dirty and
  goes back into the queue on `done`, so two workers never reconcile the same key at once and
  the change is still seen afterwards.

On top of that, `add_after` parks a key until a delay has passed (a `requeue_after`, or
`add_rate_limited`, whose delay comes from a `RateLimiter`, by default client-go's per-item
exponential back-off max'ed with a token bucket). A key parked twice keeps the earlier time.

Unlike client-go, `get` returns None as soon as the queue shuts down, dropping what is still
queued: a controller stops when it loses its lease and must not act on anything afterwards.
The clock that decides when parked keys are due is injected; `get`'s own timeout is real time.
"""

from __future__ import annotations

import heapq
import itertools
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from minik8s.api.reconcile.ratelimit import RateLimiter, default_controller_rate_limiter

T = TypeVar("T", bound=Hashable)


class WorkQueue(Generic[T]):
    """A deduplicating, delaying, rate-limited FIFO of keys; thread-safe."""

    def __init__(self, *, rate_limiter: RateLimiter | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._rate_limiter = rate_limiter or default_controller_rate_limiter(clock)
        self._queue: deque[T] = deque()
        self._dirty: set[T] = set()
        self._processing: set[T] = set()
        self._waiting: dict[T, float] = {}  # parked item -> when it is due
        self._heap: list[tuple[float, int, T]] = []  # (due, sequence, item); stale entries skipped
        self._sequence = itertools.count()
        self._shutting_down = False
        self._cond = threading.Condition()

    # -- adding -------------------------------------------------------------------------------

    def add(self, item: T) -> None:
        """Queue `item` unless it is already waiting to be processed (or the queue shut down).

        Parked items that are due are queued first, so they are handed out before `item`.
        """
        with self._cond:
            self._promote_due()
            self._add_locked(item)

    def add_after(self, item: T, delay: float) -> None:
        """Queue `item` once `delay` seconds have passed; at once when `delay` <= 0."""
        with self._cond:
            if self._shutting_down:
                return
            if delay <= 0:
                self._promote_due()
                self._add_locked(item)
                return
            due = self._clock() + delay
            if item in self._waiting and self._waiting[item] <= due:
                return
            self._waiting[item] = due
            heapq.heappush(self._heap, (due, next(self._sequence), item))
            self._cond.notify()

    def add_rate_limited(self, item: T) -> None:
        """Queue `item` after the back-off its rate limiter asks for (counts one more failure)."""
        self.add_after(item, self._rate_limiter.when(item))

    def forget(self, item: T) -> None:
        """Reset `item`'s back-off (it was handled successfully); does not unqueue it."""
        self._rate_limiter.forget(item)

    def num_requeues(self, item: T) -> int:
        """How many rate-limited retries `item` has had since it was last forgotten."""
        return self._rate_limiter.num_requeues(item)

    # -- processing ---------------------------------------------------------------------------

    def get(self, timeout: float | None = None) -> T | None:
        """Take the next item and mark it processing; None on timeout or once the queue shut down.

        The caller must call `done(item)` when finished with it.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while True:
                if self._shutting_down:
                    return None
                next_due = self._promote_due()
                if self._queue:
                    item = self._queue.popleft()
                    self._processing.add(item)
                    self._dirty.discard(item)
                    return item
                wait = None if next_due is None else max(0.0, next_due - self._clock())
                if deadline is not None:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        return None
                    wait = remaining if wait is None else min(wait, remaining)
                self._cond.wait(wait)

    def done(self, item: T) -> None:
        """Finish processing `item`; if it was added meanwhile, it is queued again now."""
        with self._cond:
            self._processing.discard(item)
            if item in self._dirty and not self._shutting_down:
                self._queue.append(item)
                self._cond.notify()

    def shutdown(self) -> None:
        """Stop handing out items: `get` returns None from now on and adds are ignored."""
        with self._cond:
            self._shutting_down = True
            self._cond.notify_all()

    @property
    def shutting_down(self) -> bool:
        """True once `shutdown()` was called."""
        with self._cond:
            return self._shutting_down

    def __len__(self) -> int:
        """The number of items ready to be handed out (parked ones count once they are due)."""
        with self._cond:
            self._promote_due()
            return len(self._queue)

    # -- internals (called with the lock held) ------------------------------------------------

    def _add_locked(self, item: T) -> None:
        if self._shutting_down or item in self._dirty:
            return
        self._dirty.add(item)
        if item in self._processing:
            return
        self._queue.append(item)
        self._cond.notify()

    def _promote_due(self) -> float | None:
        """Queue the parked items that are due; return when the next parked one is due (None: none)."""
        now = self._clock()
        while self._heap:
            due, _, item = self._heap[0]
            if self._waiting.get(item) != due:  # superseded by an earlier time, or already promoted
                heapq.heappop(self._heap)
                continue
            if due > now:
                return due
            heapq.heappop(self._heap)
            del self._waiting[item]
            self._add_locked(item)
        return None
