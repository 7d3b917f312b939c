"""The kubelet's container restart back-off (CrashLoopBackOff), one entry per container (pure).

As in Kubernetes: the first start of a container happens at once; every later attempt — after
the container exited, or after an attempt that could not start it at all (a missing program, a
bad spec) — waits for the back-off, which starts at `initial` (10 s), doubles with each attempt
up to `cap` (300 s), and starts over at `initial` when the container had run for `reset_after`
(10 min) before it exited.
"""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass


@dataclass(frozen=True)
class _Entry:
    until: float  # no attempt before this time
    delay: float  # the back-off that set `until`


class RestartBackoff:
    """Per-key exponential back-off between attempts; time is passed in (seconds)."""

    def __init__(self, *, initial: float = 10.0, cap: float = 300.0, reset_after: float = 600.0) -> None:
        if not 0 < initial <= cap:
            raise ValueError("need 0 < initial <= cap")
        self.initial, self.cap, self.reset_after = initial, cap, reset_after
        self._entries: dict[Hashable, _Entry] = {}

    def remaining(self, key: Hashable, now: float) -> float:
        """Seconds until the next attempt for `key` may be made (0: now)."""
        entry = self._entries.get(key)
        return max(0.0, entry.until - now) if entry else 0.0

    def until(self, key: Hashable) -> float:
        """When the back-off in force for `key` ends (0 when none): identifies one back-off window."""
        entry = self._entries.get(key)
        return entry.until if entry else 0.0

    def delay(self, key: Hashable) -> float:
        """The back-off currently in force for `key` (0 when none)."""
        entry = self._entries.get(key)
        return entry.delay if entry else 0.0

    def attempt(self, key: Hashable, now: float, *, ran_for: float = 0.0) -> float:
        """Record a retry made `now` after a failure (the container ran `ran_for` seconds, 0 if it never
        started); returns how long the attempt after this one must wait."""
        entry = self._entries.get(key)
        if entry is None or ran_for >= self.reset_after:
            delay = self.initial
        else:
            delay = min(entry.delay * 2, self.cap)
        self._entries[key] = _Entry(now + delay, delay)
        return delay

    def forget(self, key: Hashable) -> None:
        self._entries.pop(key, None)

    def forget_if(self, predicate) -> None:  # noqa: ANN001 - Callable[[Hashable], bool]
        """Drop every key for which `predicate(key)` holds (e.g. all containers of a removed pod)."""
        for key in [k for k in self._entries if predicate(k)]:
            del self._entries[key]
