"""Watches served on the API front's event loop: one dispatcher per master, no thread per watch.

After every commit the `WatchHub` wakes the dispatcher (`call_soon_threadsafe`, coalesced: one
pending wake-up however many commits). It reads the new events once (from the hub's ring) and,
for every key prefix watched, writes each interested watcher's lines: a batch that needs no
per-watcher encoding (no selectors, no conversion, no Table) is framed once and the same bytes go
to every such watcher. Writes never wait: a watcher whose client has not drained its previous
lines and whose write buffer is over `buffer_limit` is cut off (its client resumes from the last
revision it saw, or gets 410 if that was compacted) instead of slowing everyone else down.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from typing import Any

from minik8s.api import errors
from minik8s.store import CompactedError

from .httpwire import chunk
from .resources import error_line, long_poll_body
from .watch import CachedEvent, WatchHub, WatchPlan

log = logging.getLogger(__name__)

# How a watch ended: its deadline or an ERROR line (the stream ends cleanly), a long-poll answer,
# a 410 for a long-poll, its client went away, or it was too slow.
ENDED, ANSWERED, EXPIRED, GONE, CUT = "ended", "answered", "expired", "gone", "cut"


class Watcher:
    """One open watch on one client connection."""

    def __init__(self, plan: WatchPlan, transport: asyncio.WriteTransport, *, chunked: bool) -> None:
        self.plan = plan
        self.revision = plan.revision
        self.transport = transport
        self.chunked = chunked
        self.done: asyncio.Future[str] = asyncio.get_running_loop().create_future()
        self.answer: list[bytes] = []  # long-poll: the lines of the answer
        self.expired: dict[str, Any] | None = None  # long-poll: the 410 Status
        self.timer: asyncio.TimerHandle | None = None

    def frame(self, lines: bytes) -> bytes:
        return chunk(lines) if self.chunked else lines

    def finish(self, how: str) -> None:
        if not self.done.done():
            self.done.set_result(how)


class WatchDispatcher:
    """Feeds every open watch of one master from the hub's events, on the front's loop."""

    def __init__(self, hub: WatchHub, loop: asyncio.AbstractEventLoop, *, buffer_limit: int = 1 << 20) -> None:
        self._hub = hub
        self._loop = loop
        self.buffer_limit = buffer_limit
        self._by_prefix: dict[str, set[Watcher]] = {}
        self._dispatched = hub.revision  # every watcher has had every event up to here
        self._pending = False
        self.cut = 0  # watchers cut off for being too slow
        hub.subscribe(self.wake)

    def wake(self) -> None:
        """A commit happened (any thread): dispatch on the loop, once for any number of commits."""
        if not self._pending:
            self._pending = True
            self._loop.call_soon_threadsafe(self._dispatch)

    def add(self, watcher: Watcher) -> None:
        """Start feeding `watcher` (on the loop); it catches up at once if it is behind."""
        self._by_prefix.setdefault(watcher.plan.prefix, set()).add(watcher)
        delay = max(0.0, watcher.plan.deadline - time.monotonic())
        watcher.timer = self._loop.call_later(delay, self._expire, watcher)
        if watcher.revision < self._dispatched:
            try:
                events, read = self._hub.events_after(watcher.revision)
            except CompactedError as exc:
                self._compacted(watcher, exc)
                return
            self._deliver(watcher, [c for c in events if c.event.key.startswith(watcher.plan.prefix)], read, None)

    def remove(self, watcher: Watcher) -> None:
        """Stop feeding `watcher` (idempotent)."""
        watchers = self._by_prefix.get(watcher.plan.prefix)
        if watchers is not None:
            watchers.discard(watcher)
            if not watchers:
                del self._by_prefix[watcher.plan.prefix]
        if watcher.timer is not None:
            watcher.timer.cancel()

    @property
    def watching(self) -> int:
        return sum(len(w) for w in self._by_prefix.values())

    def _dispatch(self) -> None:
        self._pending = False
        head = self._hub.revision
        if head <= self._dispatched:
            return
        if not self._by_prefix:  # nobody to feed: nothing to read (a later watcher catches up by itself)
            self._dispatched = head
            return
        try:
            events, read = self._hub.events_after(self._dispatched)
        except CompactedError as exc:  # a snapshot replaced the log: every watcher must relist
            self._dispatched = head
            for watchers in list(self._by_prefix.values()):
                for watcher in list(watchers):
                    self._compacted(watcher, exc)
            return
        self._dispatched = max(self._dispatched, read)
        if read < self._hub.revision:  # a capped read: the rest in the next round
            self.wake()
        for prefix, watchers in list(self._by_prefix.items()):
            mine = [c for c in events if c.event.key.startswith(prefix)]
            if not mine:
                continue
            shared: list[bytes | None] = [None, None]  # the batch framed once: [chunked, close-delimited]
            for watcher in list(watchers):
                self._deliver(watcher, mine, read, shared)

    def _deliver(self, watcher: Watcher, events: list[CachedEvent], read: int, shared: list[bytes | None] | None) -> None:
        """Give `watcher` the events after its revision (all under its prefix)."""
        if watcher.done.done() or not events or watcher.revision >= events[-1].event.revision:
            watcher.revision = max(watcher.revision, read)
            return
        plan = watcher.plan
        if plan.shared and not plan.long_poll and shared is not None and watcher.revision < events[0].event.revision:
            index = 0 if watcher.chunked else 1
            if shared[index] is None:
                shared[index] = watcher.frame(b"\n".join(c.line for c in events) + b"\n")
            data: bytes | None = shared[index]
            lines: list[bytes] = []
        else:
            lines = [line for c in events if c.event.revision > watcher.revision
                     and (line := plan.render(c)) is not None]
            data = None
        watcher.revision = max(watcher.revision, read)
        if plan.long_poll:
            if lines:
                watcher.answer = lines
                self._end(watcher, ANSWERED)
            return
        if data is None and lines:
            data = watcher.frame(b"\n".join(lines) + b"\n")
        if data:
            self._write(watcher, data)

    def _write(self, watcher: Watcher, data: bytes) -> None:
        transport = watcher.transport
        behind = transport.get_write_buffer_size()
        transport.write(data)
        if behind and transport.get_write_buffer_size() > self.buffer_limit:
            self.cut += 1
            log.info("watch of %s cut off: its client is %d bytes behind", watcher.plan.prefix,
                     transport.get_write_buffer_size())
            self._end(watcher, CUT)

    def _expire(self, watcher: Watcher) -> None:
        """The watch's deadline: a long-poll answers (empty), a stream sends its BOOKMARK and ends."""
        watcher.timer = None
        watcher.revision = max(watcher.revision, self._dispatched)
        if watcher.plan.long_poll:
            self._end(watcher, ANSWERED)
            return
        if watcher.plan.bookmark is not None and not watcher.done.done():
            watcher.transport.write(watcher.frame(watcher.plan.bookmark(watcher.revision)))
        self._end(watcher, ENDED)

    def _compacted(self, watcher: Watcher, exc: CompactedError) -> None:
        status = errors.ExpiredError(f"too old resource version: {exc.revision} ({exc.floor})").to_status()
        if watcher.plan.long_poll:
            watcher.expired = status
            self._end(watcher, EXPIRED)
            return
        if not watcher.done.done():
            watcher.transport.write(watcher.frame(error_line(status)))
        self._end(watcher, ENDED)

    def _end(self, watcher: Watcher, how: str) -> None:
        self.remove(watcher)
        watcher.finish(how)


def long_poll_answer(watcher: Watcher) -> tuple[int, bytes, list[tuple[str, str]]]:
    """Status, body and extra headers of a finished long-poll."""
    if watcher.expired is not None:
        return 410, json.dumps(watcher.expired, separators=(",", ":")).encode(), []
    return 200, long_poll_body(watcher.revision, watcher.answer), [("X-Minik8s-Revision", str(watcher.revision))]
