"""Expectations: a controller does not act on a cache that has not yet seen its own last actions.

A ReplicaSet that just created 5 pods must not, on its next sync, count the pods in an informer
cache that shows only 3 of them and create 2 more. Kubernetes' `ControllerExpectations` and
`UIDTrackingControllerExpectations` (`pkg/controller/controller_utils.go`): before acting the
controller records how many creations it expects and which pods (by `namespace/name`) it expects
to see deleted; the informer's handlers lower the counts as the events arrive (a creation per
pod added, a deletion once per tracked pod, whether seen as a `deletionTimestamp` or as the
delete itself); the controller only manages replicas again once everything expected was seen.
A record older than `ttl` (5 minutes, as in Kubernetes) counts as satisfied, so a lost event
delays a controller but never blocks it. Pure apart from the injected clock; thread-safe.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

EXPECTATIONS_TTL = 300.0


@dataclass
class _Record:
    adds: int
    deleting: set[str] = field(default_factory=set)  # pod keys whose deletion is still to be seen
    stamp: float = 0.0


class Expectations:
    """Per controller key: creations and deletions expected but not yet observed."""

    def __init__(self, *, ttl: float = EXPECTATIONS_TTL, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._records: dict[str, _Record] = {}
        self._lock = threading.Lock()

    def satisfied(self, key: str) -> bool:
        """True when nothing is expected for `key` any more (or the record expired, or never existed)."""
        with self._lock:
            record = self._records.get(key)
            if record is None:
                return True
            if record.adds <= 0 and not record.deleting:
                return True
            return self._clock() - record.stamp > self._ttl

    def expect_creations(self, key: str, count: int) -> None:
        """Expect `count` pods to be created for `key` (replacing earlier creation expectations)."""
        with self._lock:
            record = self._records.get(key)
            deleting = record.deleting if record is not None else set()
            self._records[key] = _Record(count, deleting, self._clock())

    def expect_deletions(self, key: str, pod_keys: Iterable[str]) -> None:
        """Expect these pods of `key` to be deleted (each counted once when seen)."""
        with self._lock:
            record = self._records.get(key)
            adds = record.adds if record is not None else 0
            deleting = (record.deleting if record is not None else set()) | set(pod_keys)
            self._records[key] = _Record(adds, deleting, self._clock())

    def creation_observed(self, key: str) -> None:
        """One expected creation was seen (or will never happen: the create failed)."""
        with self._lock:
            if (record := self._records.get(key)) is not None:
                record.adds -= 1

    def deletion_observed(self, key: str, pod_key: str) -> None:
        """The deletion of `pod_key` was seen (or will never happen); counts only tracked pods, once."""
        with self._lock:
            if (record := self._records.get(key)) is not None:
                record.deleting.discard(pod_key)

    def delete(self, key: str) -> None:
        """Forget `key` (its owner is gone, or a new one of the same name starts clean)."""
        with self._lock:
            self._records.pop(key, None)

    def pending(self, key: str) -> tuple[int, int]:
        """(creations, deletions) still expected for `key`, for logs and tests."""
        with self._lock:
            record = self._records.get(key)
            return (0, 0) if record is None else (max(0, record.adds), len(record.deleting))
