"""Watch fan-out over the store's event log, for both watch styles.

Writers never wait for watchers (etcd's `watchable_store` idea): a commit only bumps the hub's
revision and wakes sleepers; each watcher then catches up from the event log by itself. Recent
events are kept decoded and JSON-encoded in a ring, so N watchers of one write cost one decode
and one encode rather than N.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from minik8s.store import Event, Store

Matcher = Callable[[Event], bool]


@dataclass(frozen=True)
class CachedEvent:
    """An event and its encoded `{"type","object"}` line (without newline)."""

    event: Event
    line: bytes


class WatchCapacityError(Exception):
    """Every watch slot is taken."""


class WatchHub:
    """Wakes watchers on new revisions and serves recent events from memory."""

    def __init__(self, store: Store, *, max_watches: int, ring_size: int = 4096) -> None:
        self._store = store
        self._cond = threading.Condition()
        self._revision = store.revision
        self._ring: OrderedDict[int, CachedEvent] = OrderedDict()
        self._ring_lock = threading.Lock()
        self._ring_size = ring_size
        self.max_watches = max_watches
        self.open_watches = 0
        store.add_listener(self.notify)

    def notify(self, revision: int) -> None:
        """Store listener: a commit reached `revision`."""
        with self._cond:
            self._revision = revision
            self._cond.notify_all()

    @property
    def revision(self) -> int:
        return self._revision

    def wait_beyond(self, revision: int, deadline: float) -> int:
        """Block until the store passes `revision` or `deadline` (monotonic); return the revision."""
        with self._cond:
            while self._revision <= revision:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cond.wait(remaining)
            return self._revision

    def acquire_slot(self) -> None:
        """Count one more open watch, or raise WatchCapacityError."""
        with self._cond:
            if self.open_watches >= self.max_watches:
                raise WatchCapacityError(f"too many open watches (limit {self.max_watches})")
            self.open_watches += 1

    def release_slot(self) -> None:
        with self._cond:
            self.open_watches -= 1

    def events_after(self, revision: int, *, limit: int = 10_000) -> tuple[list[CachedEvent], int]:
        """Events after `revision` (CompactedError below the floor) and the revision read up to.

        The returned revision never goes below `revision`: a replica that is behind what the
        client already saw (elsewhere) answers "nothing new yet", never older events again.
        """
        cached = self._from_ring(revision)
        if cached is not None:
            events, last = cached
        else:
            found, current = self._store.events_since(revision, limit=limit)
            events = [self._remember(e) for e in found]
            last = events[-1].event.revision if len(events) >= limit else current
        return events, max(last, revision)

    def _from_ring(self, revision: int) -> tuple[list[CachedEvent], int] | None:
        """Serve from the ring when it holds every event from revision+1 to the head."""
        current = self._revision
        with self._ring_lock:
            if not self._ring:
                return None
            oldest, newest = next(iter(self._ring)), next(reversed(self._ring))
            if revision + 1 < oldest or newest < current:
                return None
            return [self._ring[r] for r in range(revision + 1, current + 1)], current

    def _remember(self, event: Event) -> CachedEvent:
        """Encode an event once; the ring holds a contiguous run of the newest revisions."""
        with self._ring_lock:
            hit = self._ring.get(event.revision)
        if hit is not None:
            return hit
        line = json.dumps({"type": event.type, "object": event.object}, separators=(",", ":"), allow_nan=False).encode()
        cached = CachedEvent(event, line)
        with self._ring_lock:
            newest = next(reversed(self._ring)) if self._ring else None
            if newest is None or event.revision == newest + 1:
                self._ring[event.revision] = cached
            elif event.revision > newest + 1:  # a gap: restart the run here
                self._ring.clear()
                self._ring[event.revision] = cached
            while len(self._ring) > self._ring_size:
                self._ring.popitem(last=False)
        return cached
