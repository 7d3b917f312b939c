"""Informer against a tiny in-test API server: list, long-poll watch, 410 relist diff, back-off, resync.

The fake implements only the list and long-poll watch contract of docs/architecture.md for
pods, over a store whose history the test can compact, and can answer 503 to simulate an
unavailable cluster.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from minik8s.api.client import ApiClient
from minik8s.api.informer import Informer, object_key

PODS = "/api/v1/namespaces/default/pods"


class FakeCluster:
    """Pods with a revisioned event log, served over HTTP on 127.0.0.1."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.revision = 0
        self.pods: dict[str, dict[str, Any]] = {}
        self.events: list[tuple[int, dict[str, Any]]] = []
        self.floor = 0
        self.available = True
        self.closing = False
        self.lists = 0
        self.polls: list[str] = []  # resourceVersion of each served long poll
        self.rejected = 0
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.cluster = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def _record(self, kind: str, obj: dict[str, Any]) -> None:
        self.events.append((self.revision, {"type": kind, "object": obj}))
        self.cond.notify_all()

    def put(self, name: str, **spec: Any) -> dict[str, Any]:
        with self.cond:
            self.revision += 1
            kind = "MODIFIED" if name in self.pods else "ADDED"
            self.pods[name] = {"metadata": {"name": name, "namespace": "default",
                                            "resourceVersion": str(self.revision)}, "spec": spec}
            self._record(kind, self.pods[name])
            return self.pods[name]

    def delete(self, name: str) -> None:
        with self.cond:
            self.revision += 1
            final = self.pods.pop(name)
            final = {**final, "metadata": {**final["metadata"], "resourceVersion": str(self.revision)}}
            self._record("DELETED", final)

    def compact(self) -> None:
        with self.cond:
            self.floor = self.revision
            self.events.clear()
            self.cond.notify_all()

    def set_available(self, available: bool) -> None:
        with self.cond:
            self.available = available
            self.cond.notify_all()

    def close(self) -> None:
        with self.cond:
            self.closing = True
            self.cond.notify_all()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()

    def serve(self, query: dict[str, str]) -> tuple[int, dict[str, Any]]:
        with self.cond:
            if not self.available:
                self.rejected += 1
                return 503, {"kind": "Status", "code": 503, "reason": "ServiceUnavailable", "message": "no leader"}
            if query.get("watch") != "true":
                self.lists += 1
                return 200, {"kind": "PodList", "apiVersion": "v1", "items": [*self.pods.values()],
                             "metadata": {"resourceVersion": str(self.revision)}}
            return self.long_poll(int(query["resourceVersion"]), float(query["timeoutSeconds"]))

    def long_poll(self, after: int, timeout: float) -> tuple[int, dict[str, Any]]:
        self.polls.append(str(after))
        self.cond.wait_for(
            lambda: self.closing or not self.available or after < self.floor
            or any(rev > after for rev, _ in self.events),
            timeout,
        )
        if not self.available:
            return 503, {"kind": "Status", "code": 503, "reason": "ServiceUnavailable", "message": "no leader"}
        if after < self.floor:  # also a waiting poll whose revision got compacted away
            return 410, {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old resource version"}
        fresh = [(rev, ev) for rev, ev in self.events if rev > after]
        next_rev = fresh[-1][0] if fresh else max(after, self.revision)
        return 200, {"kind": "WatchEventList", "apiVersion": "minik8s.io/v1",
                     "metadata": {"resourceVersion": str(next_rev)}, "items": [ev for _, ev in fresh]}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        """Keep test output quiet."""

    def do_GET(self) -> None:
        cluster: FakeCluster = self.server.cluster  # type: ignore[attr-defined]
        url = urlsplit(self.path)
        assert url.path == PODS, url.path
        code, body = cluster.serve({k: v[0] for k, v in parse_qs(url.query).items()})
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class Recorder:
    """Handler callbacks that record (event, name, ...) tuples."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[tuple[Any, ...]] = []

    def on_add(self, obj: dict[str, Any]) -> None:
        self._record("add", obj["metadata"]["name"])

    def on_update(self, old: dict[str, Any], new: dict[str, Any]) -> None:
        self._record("update", new["metadata"]["name"], old["spec"], new["spec"])

    def on_delete(self, obj: dict[str, Any]) -> None:
        self._record("delete", obj["metadata"]["name"])

    def _record(self, *call: Any) -> None:
        with self.lock:
            self.calls.append(call)

    def snapshot(self) -> list[tuple[Any, ...]]:
        with self.lock:
            return [*self.calls]


def wait_until(condition: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.01)
    raise AssertionError("condition not met in time")


@pytest.fixture
def cluster() -> Iterator[FakeCluster]:
    c = FakeCluster()
    yield c
    c.close()


@pytest.fixture
def start_informer(cluster: FakeCluster) -> Iterator[Callable[..., tuple[Informer, Recorder]]]:
    started: list[tuple[Informer, ApiClient]] = []

    def start(**kwargs: Any) -> tuple[Informer, Recorder]:
        client = ApiClient(cluster.url, token="t")
        informer = Informer(client, "pods", namespace="default", watch_timeout_seconds=5, **kwargs)
        recorder = Recorder()
        informer.add_handler(recorder.on_add, recorder.on_update, recorder.on_delete)
        informer.start()
        started.append((informer, client))
        assert informer.wait_for_sync(5)
        return informer, recorder

    yield start
    with cluster.cond:  # release pending long polls so the informers notice stop() at once
        cluster.closing = True
        cluster.cond.notify_all()
    for informer, client in started:
        informer.stop(5)
        client.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("informer-")]


def cached_specs(informer: Informer) -> dict[str, Any]:
    return {object_key(obj): obj["spec"] for obj in informer.list()}


def test_informer_cache_follows_add_modify_delete(cluster, start_informer) -> None:
    """After the initial list, watch events keep cache and handlers in step."""
    cluster.put("a", image="v1")
    cluster.put("b", image="v1")
    informer, recorder = start_informer()
    assert informer.has_synced()
    assert sorted(recorder.snapshot()) == [("add", "a"), ("add", "b")]
    assert informer.get("default/a")["kind"] == "Pod"  # type meta filled in for list items
    cluster.put("a", image="v2")
    cluster.put("c")
    cluster.delete("b")
    wait_until(lambda: len(recorder.snapshot()) == 5)
    assert recorder.snapshot()[2:] == [("update", "a", {"image": "v1"}, {"image": "v2"}), ("add", "c"),
                                       ("delete", "b")]
    assert cached_specs(informer) == {"default/a": {"image": "v2"}, "default/c": {}}
    assert informer.get("default/b") is None
    assert informer.resource_version == str(cluster.revision)
    assert cluster.lists == 1


def test_informer_relists_on_410_and_emits_diff(cluster, start_informer) -> None:
    """Changes lost to compaction arrive as the diff between the relist and the cache."""
    for name in ("same", "changed", "gone"):
        cluster.put(name, image="v1")
    informer, recorder = start_informer()
    wait_until(lambda: cluster.polls)
    with cluster.cond:  # change and compact before the pending poll can see any of it
        cluster.put("changed", image="v2")
        cluster.delete("gone")
        cluster.put("new")
        cluster.compact()
    wait_until(lambda: len(recorder.snapshot()) == 6)
    assert sorted(recorder.snapshot()[3:]) == [
        ("add", "new"), ("delete", "gone"), ("update", "changed", {"image": "v1"}, {"image": "v2"}),
    ]
    assert cluster.lists == 2
    assert cached_specs(informer) == {"default/same": {"image": "v1"}, "default/changed": {"image": "v2"},
                                      "default/new": {}}
    wait_until(lambda: cluster.polls[-1] == str(cluster.revision))  # watching again from the relist


def test_informer_backs_off_and_resumes_from_last_revision(cluster, start_informer) -> None:
    """While no server answers the informer retries; then it resumes the watch without relisting."""
    cluster.put("a")
    informer, recorder = start_informer()
    wait_until(lambda: cluster.polls)
    cluster.set_available(False)
    wait_until(lambda: cluster.rejected >= 1)
    cluster.put("b")
    cluster.set_available(True)
    wait_until(lambda: informer.get("default/b"))
    assert recorder.snapshot() == [("add", "a"), ("add", "b")]
    assert cluster.lists == 1 and "1" in cluster.polls[1:]


def test_informer_resync_redelivers_cached_objects(cluster, start_informer) -> None:
    """With resync_seconds, every cached object is re-sent as on_update(obj, obj)."""
    cluster.put("a", image="v1")
    informer, recorder = start_informer(resync_seconds=0.05)
    wait_until(lambda: recorder.snapshot().count(("update", "a", {"image": "v1"}, {"image": "v1"})) >= 2)


def test_informer_late_handler_gets_cached_objects(cluster, start_informer) -> None:
    """A handler added after sync first receives on_add for everything already cached."""
    cluster.put("a")
    cluster.put("b")
    informer, _ = start_informer()
    late = Recorder()
    informer.add_handler(on_add=late.on_add)
    assert sorted(late.snapshot()) == [("add", "a"), ("add", "b")]


def test_informer_survives_failing_handler(cluster, start_informer) -> None:
    """An exception in one handler neither stops the informer nor other handlers."""
    informer, recorder = start_informer()

    def broken(obj: dict[str, Any]) -> None:
        raise RuntimeError("handler bug")

    informer.add_handler(on_add=broken)
    cluster.put("a")
    cluster.put("b")
    wait_until(lambda: len(recorder.snapshot()) == 2)
    assert informer.get("default/b") is not None
