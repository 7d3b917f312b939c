"""The one event builder and best-effort recorder (`minik8s.api.events`) every part uses."""

from __future__ import annotations

import copy
import itertools
import threading
from typing import Any

import pytest

from minik8s.api import errors
from minik8s.api.events import EventRecorder, build_event, container_field_path, object_reference

NOW_NS = 1_700_000_000_123_456_789
POD = {"apiVersion": "v1", "kind": "Pod",
       "metadata": {"name": "web", "namespace": "prod", "uid": "u1", "resourceVersion": "7"}}
NODE = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-a", "uid": "n1"}}


class FakeClient:
    """Records creates and patches of events; can fail them on demand."""

    def __init__(self) -> None:
        self.created: list[dict[str, Any]] = []
        self.patched: list[tuple[str, str, dict[str, Any]]] = []
        self.fail_create: Exception | None = None
        self.gone = False  # patches answer NotFound (the event expired)
        self.unblock = threading.Event()
        self.unblock.set()

    def create(self, obj: dict[str, Any], *, namespace: str | None = None) -> dict[str, Any]:
        self.unblock.wait(5)
        if self.fail_create is not None:
            raise self.fail_create
        self.created.append(copy.deepcopy(obj))
        return obj

    def patch(self, resource: str, name: str, patch: dict[str, Any], *, namespace: str | None = None) -> Any:
        if self.gone:
            raise errors.NotFoundError(f'events "{name}" not found')
        self.patched.append((namespace or "", name, patch))
        return patch


def ticking_clock() -> Any:
    """A nanosecond clock that moves one second per reading."""
    counter = itertools.count()
    return lambda: NOW_NS + next(counter) * 1_000_000_000


def test_events_build_event_is_shaped_like_kubernetes() -> None:
    """Name `<obj>.<hex ns>`, the object's namespace, a full reference, source and timestamps."""
    event = build_event(POD, reason="Failed", message="Error: x", component="kubelet", event_type="Warning",
                        host="node-a", field_path=container_field_path("c"), now_ns=NOW_NS)
    assert event["metadata"] == {"name": f"web.{NOW_NS:x}", "namespace": "prod"}
    assert event["involvedObject"] == {"apiVersion": "v1", "kind": "Pod", "name": "web", "namespace": "prod",
                                       "uid": "u1", "resourceVersion": "7", "fieldPath": "spec.containers{c}"}
    assert (event["reason"], event["message"], event["type"], event["count"]) == ("Failed", "Error: x", "Warning", 1)
    assert event["source"] == {"component": "kubelet", "host": "node-a"}
    assert (event["reportingComponent"], event["reportingInstance"]) == ("kubelet", "node-a")
    assert event["firstTimestamp"] == event["lastTimestamp"] == "2023-11-14T22:13:20Z"


def test_events_about_cluster_scoped_objects_go_to_default() -> None:
    """A Node's events live in `default`; its reference has no namespace; no host means none in source."""
    event = build_event(NODE, reason="NodeNotReady", message="m", component="node-controller", now_ns=NOW_NS)
    assert event["metadata"]["namespace"] == "default"
    assert object_reference(NODE) == {"apiVersion": "v1", "kind": "Node", "name": "node-a", "uid": "n1"}
    assert event["source"] == {"component": "node-controller"} and "reportingInstance" not in event


def test_events_messages_are_cut_to_1024_characters() -> None:
    """Long messages end in `...` at 1024 characters, as Kubernetes cuts them."""
    event = build_event(POD, reason="r", message="x" * 5000, component="c", now_ns=NOW_NS)
    assert len(event["message"]) == 1024 and event["message"].endswith("...")


def test_events_recorder_counts_repeats_on_the_first_event() -> None:
    """A repeat bumps count and lastTimestamp; another message or field path is a new event."""
    client = FakeClient()
    recorder = EventRecorder(client, component="kubelet", clock_ns=ticking_clock())  # type: ignore[arg-type]
    for _ in range(3):
        recorder.record(POD, reason="Failed", message="boom", event_type="Warning")
    recorder.record(POD, reason="Failed", message="other", event_type="Warning")
    recorder.record(POD, reason="Failed", message="boom", event_type="Warning", field_path="spec.containers{c}")
    first = client.created[0]["metadata"]["name"]
    assert [e["message"] for e in client.created] == ["boom", "other", "boom"]
    assert client.patched == [("prod", first, {"count": 2, "lastTimestamp": "2023-11-14T22:13:21Z"}),
                              ("prod", first, {"count": 3, "lastTimestamp": "2023-11-14T22:13:22Z"})]


def test_events_recorder_recreates_an_expired_event_and_forgets_removed_objects() -> None:
    """A repeat of an event that is gone creates a new one; after forget(uid) repeats start over."""
    client = FakeClient()
    recorder = EventRecorder(client, component="kubelet", clock_ns=ticking_clock())  # type: ignore[arg-type]
    recorder.record(POD, reason="Failed", message="boom")
    client.gone = True
    recorder.record(POD, reason="Failed", message="boom")
    client.gone = False
    recorder.forget("u1")
    recorder.record(POD, reason="Failed", message="boom")
    assert len(client.created) == 3 and client.patched == []


@pytest.mark.parametrize("failure", [
    pytest.param(errors.ServiceUnavailableError("no leader"), id="api-error"),
    pytest.param(RuntimeError("bug"), id="unexpected"),
])
def test_events_recorder_is_best_effort(failure: Exception) -> None:
    """A failure to record is logged, never raised to the caller."""
    client = FakeClient()
    client.fail_create = failure
    EventRecorder(client, component="c").record(POD, reason="r", message="m")  # type: ignore[arg-type]
    assert client.created == []


def test_events_recorder_in_the_background_never_waits_and_drops_when_full() -> None:
    """With workers, record() returns at once; a full queue drops the newest; stop() sends the rest."""
    client = FakeClient()
    client.unblock.clear()  # the sending thread hangs in its first create
    recorder = EventRecorder(client, component="default-scheduler", workers=1, max_queued=2,  # type: ignore[arg-type]
                             clock_ns=ticking_clock())
    recorder.start()
    for i in range(6):
        recorder.record(POD, reason="Scheduled", message=f"m{i}")  # returns although nothing is sent
    client.unblock.set()
    recorder.stop(timeout=5)
    sent = [e["message"] for e in client.created]
    assert sent[0] == "m0" and 2 <= len(sent) <= 3 and sent == sorted(sent)
