"""The watch dispatcher feeds only the watchers of the touched prefix, misses no event, reports
compaction, and cuts off a watcher that does not read instead of slowing the others down."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from minik8s.api.server.watch import CachedEvent, WatchHub, WatchPlan
from minik8s.api.server.watchserve import ANSWERED, CUT, ENDED, EXPIRED, WatchDispatcher, Watcher
from minik8s.store import Create, Store, StoreSettings


def _write(store: Store, key: str) -> int:
    result = store.apply(Create(key=key, object={"metadata": {"name": key.rsplit("/", 1)[-1]}}))
    return result.revision


class FakeTransport:
    """Records what is written; `stuck` makes every write stay in the buffer (a client that never reads)."""

    def __init__(self, stuck: bool = False) -> None:
        self.written: list[bytes] = []
        self.stuck = stuck
        self.buffered = 0

    def write(self, data: bytes) -> None:
        self.written.append(data)
        if self.stuck:
            self.buffered += len(data)

    def get_write_buffer_size(self) -> int:
        return self.buffered

    def names(self) -> list[str]:
        return [json.loads(line)["object"]["metadata"]["name"] for data in self.written
                for line in data.split(b"\n") if line.startswith(b"{")]


def _plan(prefix: str, revision: int, *, long_poll: bool = False, seconds: float = 30.0) -> WatchPlan:
    def render(cached: CachedEvent) -> bytes | None:
        return cached.line if cached.event.key.startswith(prefix) else None

    return WatchPlan(prefix, revision, render, lambda: None, time.monotonic() + seconds, long_poll=long_poll,
                     shared=True)


async def _until(condition: Callable[[], Any], what: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, what
        await asyncio.sleep(0.01)


def _run(tmp_path: Path, test: Callable[[Store, WatchHub, WatchDispatcher], Any], **settings: Any) -> None:
    async def main() -> None:
        store = Store(str(tmp_path / "db"), StoreSettings(**settings))
        hub = WatchHub(store, max_watches=10)
        try:
            await test(store, hub, WatchDispatcher(hub, asyncio.get_running_loop(), buffer_limit=4096))
        finally:
            await asyncio.sleep(0.05)  # a dispatch still queued on the loop reads the store
            store.close()

    asyncio.run(main())


def test_only_watchers_of_the_touched_prefix_get_lines(tmp_path: Path) -> None:
    async def test(store: Store, hub: WatchHub, dispatcher: WatchDispatcher) -> None:
        pods, cms = FakeTransport(), FakeTransport()
        pod_watch = Watcher(_plan("/registry/pods/", hub.revision), pods, chunked=False)  # type: ignore[arg-type]
        cm_watch = Watcher(_plan("/registry/configmaps/", hub.revision), cms, chunked=True)  # type: ignore[arg-type]
        dispatcher.add(pod_watch)
        dispatcher.add(cm_watch)
        _write(store, "/registry/configmaps/default/a")
        _write(store, "/registry/configmaps/default/b")
        await _until(lambda: cms.names() == ["a", "b"], "the ConfigMap watcher got both events")
        size, _, rest = cms.written[0].partition(b"\r\n")
        assert int(size, 16) == len(rest) - 2 and rest.endswith(b"\n\r\n"), "not one chunk of lines"
        assert pods.written == [] and not pod_watch.done.done()
        _write(store, "/registry/pods/default/p")
        await _until(lambda: pods.names() == ["p"], "the Pod watcher got its event")
        assert cms.names() == ["a", "b"]

    _run(tmp_path, test)


def test_a_watcher_behind_catches_up_and_a_long_poll_answers(tmp_path: Path) -> None:
    async def test(store: Store, hub: WatchHub, dispatcher: WatchDispatcher) -> None:
        start = hub.revision
        _write(store, "/registry/pods/default/early")
        await _until(lambda: hub.revision > start, "committed")
        stream, poll = FakeTransport(), FakeTransport()
        late = Watcher(_plan("/registry/pods/", start), stream, chunked=False)  # type: ignore[arg-type]
        dispatcher.add(late)
        await _until(lambda: stream.names() == ["early"], "an event committed before the watcher was added")
        waiting = Watcher(_plan("/registry/pods/", hub.revision, long_poll=True), poll, chunked=False)  # type: ignore[arg-type]
        dispatcher.add(waiting)
        _write(store, "/registry/configmaps/default/other")
        await asyncio.sleep(0.05)
        assert not waiting.done.done(), "a long-poll answered for another prefix's event"
        revision = _write(store, "/registry/pods/default/late")
        assert await asyncio.wait_for(waiting.done, 5) == ANSWERED
        assert [json.loads(line)["object"]["metadata"]["name"] for line in waiting.answer] == ["late"]
        assert waiting.revision == revision and poll.written == []  # the front writes the answer
        await _until(lambda: stream.names() == ["early", "late"], "the stream got the later event")

    _run(tmp_path, test)


def test_a_quiet_long_poll_answers_at_its_deadline_with_the_newest_revision(tmp_path: Path) -> None:
    async def test(store: Store, hub: WatchHub, dispatcher: WatchDispatcher) -> None:
        waiting = Watcher(_plan("/registry/pods/", hub.revision, long_poll=True, seconds=0.3), FakeTransport(),  # type: ignore[arg-type]
                          chunked=False)
        dispatcher.add(waiting)
        revision = _write(store, "/registry/configmaps/default/c")
        assert await asyncio.wait_for(waiting.done, 5) == ANSWERED
        assert waiting.answer == [] and waiting.revision == revision

    _run(tmp_path, test)


def test_below_the_floor_a_stream_gets_an_error_line_and_a_long_poll_410(tmp_path: Path) -> None:
    async def test(store: Store, hub: WatchHub, dispatcher: WatchDispatcher) -> None:
        for n in range(10):
            _write(store, f"/registry/configmaps/default/c{n}")
        stream = FakeTransport()
        old = Watcher(_plan("/registry/configmaps/", 1), stream, chunked=False)  # type: ignore[arg-type]
        dispatcher.add(old)
        assert await asyncio.wait_for(old.done, 5) == ENDED
        assert json.loads(stream.written[0])["object"]["code"] == 410
        poll = Watcher(_plan("/registry/configmaps/", 1, long_poll=True), FakeTransport(), chunked=False)  # type: ignore[arg-type]
        dispatcher.add(poll)
        assert await asyncio.wait_for(poll.done, 5) == EXPIRED and poll.expired is not None and poll.expired["code"] == 410

    _run(tmp_path, test, event_window_count=3)


def test_a_watcher_that_does_not_read_is_cut_off_and_the_others_get_every_event(tmp_path: Path) -> None:
    async def test(store: Store, hub: WatchHub, dispatcher: WatchDispatcher) -> None:
        stuck, reading = FakeTransport(stuck=True), FakeTransport()
        slow = Watcher(_plan("/registry/pods/", hub.revision), stuck, chunked=True)  # type: ignore[arg-type]
        fine = Watcher(_plan("/registry/pods/", hub.revision), reading, chunked=True)  # type: ignore[arg-type]
        dispatcher.add(slow)
        dispatcher.add(fine)
        for n in range(200):
            _write(store, f"/registry/pods/default/p{n}")
            await asyncio.sleep(0)
        await _until(lambda: len(reading.names()) == 200, "the reading watcher got every event")
        assert await asyncio.wait_for(slow.done, 5) == CUT and dispatcher.cut == 1
        assert not fine.done.done()

    _run(tmp_path, test)
