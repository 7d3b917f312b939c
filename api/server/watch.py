"""The event ring and watch slots behind both watch styles.

Writers never wait for watchers (etcd's `watchable_store` idea): a commit only records the hub's
revision and calls the subscriber (the API front's dispatcher, which then reads the new events once
on its loop). Events are kept decoded and JSON-encoded in a ring, so N watchers of one write cost
one decode and one encode rather than N. `WatchPlan` is what the API app hands the front for one
watch: everything it needs to serve it without a thread.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from minik8s.api import failpoints
from minik8s.store import CompactedError, Event, Store


@dataclass(frozen=True)
class CachedEvent:
    """An event and its encoded `{"type","object"}` line (without newline)."""

    event: Event
    line: bytes


class WatchCapacityError(Exception):
    """Every watch slot is taken."""


@dataclass(eq=False)
class WatchPlan:
    """One watch, checked and set up by the API app, to be served by the front's dispatcher.

    `render(event)` is the event's line as this watcher sees it (selectors, conversion, Table),
    without newline, or None; with `shared` it only ever returns the event's cached line, so the
    dispatcher can encode one batch once for all such watchers of a prefix. `release` gives the
    watch slot back; the front calls it exactly once.
    """

    prefix: str
    revision: int  # events after this one are the watcher's
    render: Callable[[CachedEvent], bytes | None]
    release: Callable[[], None]
    deadline: float  # time.monotonic() at which the watch ends (long-poll: answers empty)
    long_poll: bool = False
    shared: bool = False
    initial: list[bytes] = field(default_factory=list)  # stream: lines (with newline) sent first
    ended: bool = False  # stream: nothing follows `initial` (an ERROR line)
    bookmark: Callable[[int], bytes] | None = None  # stream: the BOOKMARK line at the deadline
    content_type: str = "application/json"


WATCH_PLAN = "minik8s.watch_plan"  # environ key: the front's `PlanSlot`; the app leaves its plan there


@dataclass(frozen=True)
class PollTemplate:
    """What a checked long-poll request asked for, less its resourceVersion: the front re-arms the
    next long-poll of the same request on the same connection from it, without running the app."""

    prefix: str
    render: Callable[[CachedEvent], bytes | None]
    shared: bool
    timeout: float  # seconds a long-poll waits for a first event


@dataclass(eq=False)
class PlanSlot:
    """Where the app puts the `WatchPlan` of a watch request run for the front (and, for a
    long-poll, its `PollTemplate`)."""

    plan: WatchPlan | None = None
    template: PollTemplate | None = None


class WatchHub:
    """Records new revisions, tells the subscriber, serves recent events from memory, counts slots."""

    def __init__(self, store: Store, *, max_watches: int, ring_size: int = 4096) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._revision = store.revision  # the newest commit
        self._subscribers: list[Callable[[], None]] = []
        self._ring: OrderedDict[int, CachedEvent] = OrderedDict()
        self._ring_lock = threading.Lock()
        self._ring_size = ring_size
        self.max_watches = max_watches
        self.open_watches = 0
        store.add_listener(self.notify)

    def subscribe(self, callback: Callable[[], None]) -> None:
        """Call `callback()` after every commit (on the apply path: it must be cheap and thread-safe)."""
        self._subscribers.append(callback)

    def notify(self, revision: int) -> None:
        """Store listener: a commit reached `revision`."""
        self._revision = revision
        for callback in self._subscribers:
            callback()

    @property
    def revision(self) -> int:
        return self._revision

    def acquire_slot(self) -> None:
        """Count one more open watch, or raise WatchCapacityError."""
        with self._lock:
            if self.open_watches >= self.max_watches:
                raise WatchCapacityError(f"too many open watches (limit {self.max_watches})")
            self.open_watches += 1

    def release_slot(self) -> None:
        with self._lock:
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
        if failpoints.ACTIVE:
            events = [e for e in events if not failpoints.drops(e.event.revision)]
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
