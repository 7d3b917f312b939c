"""Watch fan-out over the store's event log, for both watch styles.

Writers never wait for watchers (etcd's `watchable_store` idea): a commit only bumps the hub's
revision and signals one dispatcher thread. The dispatcher reads the new events once (kept
decoded and JSON-encoded in a ring, so N watchers of one write cost one decode and one encode
rather than N) and wakes only the watchers whose key prefix one of them touched: a write of a
ConfigMap does not wake the watchers of Pods. Each woken watcher catches up from the ring by itself.
"""

from __future__ import annotations

import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from minik8s.api.threads import start_thread
from minik8s.store import CompactedError, Event, Store

Matcher = Callable[[Event], bool]


@dataclass(frozen=True)
class CachedEvent:
    """An event and its encoded `{"type","object"}` line (without newline)."""

    event: Event
    line: bytes


class WatchCapacityError(Exception):
    """Every watch slot is taken."""


@dataclass(eq=False)
class _Waiter:
    """A watcher asleep until an event under `prefix` after revision `after` is dispatched."""

    prefix: str
    after: int
    woken: threading.Event = field(default_factory=threading.Event)


class WatchHub:
    """Wakes watchers on new revisions and serves recent events from memory."""

    def __init__(self, store: Store, *, max_watches: int, ring_size: int = 4096) -> None:
        self._store = store
        self._cond = threading.Condition()
        self._revision = store.revision  # the newest commit
        self._dispatched = self._revision  # watchers were woken for every event up to here
        self._waiters: set[_Waiter] = set()
        self._ring: OrderedDict[int, CachedEvent] = OrderedDict()
        self._ring_lock = threading.Lock()
        self._ring_size = ring_size
        self.max_watches = max_watches
        self.open_watches = 0
        store.add_listener(self.notify)
        start_thread(self._dispatch_forever, name="watch-dispatcher")

    def notify(self, revision: int) -> None:
        """Store listener: a commit reached `revision` (cheap: it runs on the apply path)."""
        with self._cond:
            self._revision = revision
            self._cond.notify_all()

    @property
    def revision(self) -> int:
        return self._revision

    def wait_beyond(self, revision: int, deadline: float, prefix: str = "") -> int:
        """Sleep until an event under `prefix` past `revision` is dispatched, or `deadline`
        (monotonic); return the dispatched revision. Nothing under `prefix` happened between
        `revision` and the answer unless the caller was woken for it."""
        waiter = _Waiter(prefix, revision)
        with self._cond:
            self._waiters.add(waiter)
            dispatched = self._dispatched
        try:
            if dispatched > revision and self._touched(prefix, revision):
                return dispatched  # it happened before this waiter was registered
            waiter.woken.wait(max(0.0, deadline - time.monotonic()))
            return self._dispatched
        finally:
            with self._cond:
                self._waiters.discard(waiter)

    def _touched(self, prefix: str, revision: int) -> bool:
        """Whether an event under `prefix` came after `revision` (also when they were compacted)."""
        try:
            events, _ = self.events_after(revision)
        except CompactedError:
            return True
        return any(cached.event.key.startswith(prefix) for cached in events)

    def _dispatch_forever(self) -> None:
        """Read each new batch of events once and wake the watchers whose prefix it touched."""
        while True:
            with self._cond:
                while self._revision <= self._dispatched:
                    self._cond.wait()
                start = self._dispatched
                if not self._waiters:  # nobody asleep: nothing to read (a late waiter checks by itself)
                    self._dispatched = self._revision
                    continue
            try:
                events, read = self.events_after(start)
                keys = [(cached.event.revision, cached.event.key) for cached in events]
            except CompactedError:  # a snapshot replaced the log: everyone re-reads
                read, keys = self._revision, None
            with self._cond:
                self._dispatched = max(self._dispatched, read)
                for waiter in self._waiters:
                    if keys is None or any(rev > waiter.after and key.startswith(waiter.prefix) for rev, key in keys):
                        waiter.woken.set()

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
        """Serve from the ring when it holds every event from revision+1 to the head (and the store
        has not compacted them: a watcher below the floor must get its 410)."""
        if revision < self._store.compacted_floor:
            return None
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
