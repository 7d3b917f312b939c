"""The watch hub wakes only the watchers whose key prefix a commit touched, and misses no event."""

from __future__ import annotations

import threading
import time
from pathlib import Path

from minik8s.api.server.watch import WatchHub
from minik8s.store import Create, Store, StoreSettings


def _write(store: Store, key: str) -> int:
    result = store.apply(Create(key=key, object={"metadata": {"name": key.rsplit("/", 1)[-1]}}))
    return result.revision


def _waiting(hub: WatchHub, revision: int, prefix: str, seconds: float) -> tuple[threading.Thread, list[float]]:
    """A thread blocked in wait_beyond; the list gets how long it slept."""
    slept: list[float] = []

    def run() -> None:
        started = time.monotonic()
        hub.wait_beyond(revision, started + seconds, prefix)
        slept.append(time.monotonic() - started)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, slept


def test_watch_hub_wakes_only_watchers_of_the_touched_prefix(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "db"))
    hub = WatchHub(store, max_watches=10)
    start = hub.revision
    pods, pod_slept = _waiting(hub, start, "/registry/pods/", 3.0)
    cms, cm_slept = _waiting(hub, start, "/registry/configmaps/", 3.0)
    _write(store, "/registry/configmaps/default/a")
    cms.join(timeout=5)
    assert cm_slept and cm_slept[0] < 1.0, "the ConfigMap watcher was not woken by its write"
    assert pods.is_alive(), "the Pod watcher was woken by a ConfigMap write"
    pods.join(timeout=5)
    assert pod_slept[0] >= 2.5


def test_watch_hub_write_before_registration_is_not_missed(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "db"))
    hub = WatchHub(store, max_watches=10)
    start = hub.revision
    revision = _write(store, "/registry/pods/default/p")
    deadline = time.monotonic() + 5
    while hub.wait_beyond(start, time.monotonic() + 0.05, "/registry/nothing/") < revision:  # dispatched
        assert time.monotonic() < deadline
    began = time.monotonic()
    assert hub.wait_beyond(start, began + 3.0, "/registry/pods/") >= revision
    assert time.monotonic() - began < 0.5, "an event dispatched before the wait was slept through"


def test_watch_hub_below_the_floor_wakes_and_reports_compaction(tmp_path: Path) -> None:
    store = Store(str(tmp_path / "db"), StoreSettings(event_window_count=3))
    hub = WatchHub(store, max_watches=10)
    for n in range(10):
        _write(store, f"/registry/configmaps/default/c{n}")
    began = time.monotonic()
    hub.wait_beyond(1, began + 3.0, "/registry/pods/")  # events after 1 are compacted: cannot tell
    assert time.monotonic() - began < 0.5
