"""Events about objects: one builder and one best-effort recorder (client-go's `tools/record`).

`kubectl describe` shows the Events whose `involvedObject` is the object described. Every part
that reports what it did (the scheduler, the controllers, the node agent and kubelet, the API
server itself) builds them with `build_event`, so they all look like Kubernetes' own:

- named `<object>.<unix nanoseconds in hex>`, in the object's namespace (`default` for
  cluster-scoped objects such as Nodes);
- `involvedObject` is an object reference (`apiVersion`, `kind`, `name`, `namespace`, `uid`,
  `resourceVersion`, and `fieldPath` such as `spec.containers{web}` for one container);
- `source` (`component`, `host`) and `reportingComponent`/`reportingInstance` name the reporter;
- `type` Normal or Warning, `count` 1, `firstTimestamp` = `lastTimestamp`; messages are cut to
  1024 characters as Kubernetes cuts them.

`EventRecorder` sends them, best effort, as client-go's recorder does: a failure is logged and
never raised, so an event can never fail the work it reports. A repeat of an event (same object,
field path, type, reason and message) bumps `count` and `lastTimestamp` of the one recorded
before instead of creating another (client-go's `EventCorrelator`; the last 4096 kinds of event
are remembered). With `workers` > 0 events are queued and sent by threads of the recorder's own,
so recording never waits for the network, and the newest are dropped when the queue is full.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from minik8s.api import errors
from minik8s.api.client import ApiClient
from minik8s.api.threads import thread as guarded_thread
from minik8s.api.timefmt import format_time

__all__ = ["MAX_MESSAGE", "EventRecorder", "build_event", "container_field_path", "object_reference", "truncate_message"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]
MAX_MESSAGE = 1024  # Kubernetes cuts event (and container status) messages to this length
_REMEMBERED = 4096  # kinds of event whose last copy is remembered for counting repeats
_AggregateKey = tuple[str, str, str, str, str]


def truncate_message(message: str, limit: int = MAX_MESSAGE) -> str:
    """`message` cut to `limit` characters, ending in `...` when cut."""
    return message if len(message) <= limit else message[: limit - 3] + "..."


def container_field_path(container: str) -> str:
    """The `fieldPath` of one container of a pod in an object reference: `spec.containers{web}`."""
    return f"spec.containers{{{container}}}"


def object_reference(obj: Obj, *, field_path: str | None = None) -> Obj:
    """An `ObjectReference` to `obj` (fields it lacks are left out), e.g. for `involvedObject`."""
    meta = obj.get("metadata") or {}
    reference = {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "name": meta.get("name"),
                 "namespace": meta.get("namespace"), "uid": meta.get("uid"),
                 "resourceVersion": meta.get("resourceVersion"), "fieldPath": field_path}
    return {key: value for key, value in reference.items() if value is not None}


def build_event(involved: Obj, *, reason: str, message: str, component: str, event_type: str = "Normal",
                host: str | None = None, field_path: str | None = None, now_ns: int) -> Obj:
    """A core/v1 Event about `involved` (an object with `apiVersion`, `kind` and `metadata`).

    `component` (and `host`, the node it runs on, if any) names the reporter; `now_ns` (Unix
    nanoseconds) gives both the timestamps and the name's suffix.
    """
    meta = involved.get("metadata") or {}
    stamp = format_time(now_ns / 1e9)
    source = {"component": component, **({"host": host} if host else {})}
    event: Obj = {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": f"{meta.get('name')}.{now_ns:x}", "namespace": meta.get("namespace") or "default"},
        "involvedObject": object_reference(involved, field_path=field_path),
        "reason": reason, "message": truncate_message(message), "type": event_type,
        "source": source, "reportingComponent": component,
        "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
    }
    if host:
        event["reportingInstance"] = host
    return event


class EventRecorder:
    """Records Events from one component, best effort; in the background when `workers` > 0.

    Without workers `record` sends at once on the caller's thread (the controllers and the
    kubelet record from inside a reconcile that may wait); with workers, call `start()` first
    and `stop()` at the end, which sends what is still queued.
    """

    def __init__(self, client: ApiClient, *, component: str, host: str | None = None, workers: int = 0,
                 max_queued: int = 1000, clock_ns: Callable[[], int] = time.time_ns) -> None:
        self._client = client
        self._component = component
        self._host = host
        self._clock_ns = clock_ns
        self._seen: OrderedDict[_AggregateKey, tuple[str, str, int]] = OrderedDict()  # -> (namespace, name, count)
        self._lock = threading.Lock()
        self._queue: queue.Queue[Obj | None] = queue.Queue(max_queued)
        self._threads = [guarded_thread(self._drain, name=f"{component}-events-{i}") for i in range(workers)]

    def start(self) -> None:
        """Start the sending threads (a recorder with workers queues events until then)."""
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Send what is queued, then end the sending threads."""
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout)

    def record(self, involved: Obj, *, reason: str, message: str, event_type: str = "Normal",
               field_path: str | None = None) -> None:
        """Record an Event about `involved`; never raises."""
        event = build_event(involved, reason=reason, message=message, component=self._component,
                            event_type=event_type, host=self._host, field_path=field_path, now_ns=self._clock_ns())
        if not self._threads:
            self._send(event)
            return
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            log.warning("event queue full; dropped %s event about %s", reason, _describe(event))

    def forget(self, uid: str) -> None:
        """Drop what is remembered about the events of a removed object."""
        with self._lock:
            for key in [k for k in self._seen if k[0] == uid]:
                del self._seen[key]

    def _drain(self) -> None:
        while (event := self._queue.get()) is not None:
            self._send(event)

    def _send(self, event: Obj) -> None:
        """Count a repeat on the event recorded before, or create the event; log any failure."""
        key = _aggregate_key(event)
        with self._lock:
            seen = self._seen.get(key)
        try:
            if seen is not None and self._bump(key, seen, event["lastTimestamp"]):
                return
            namespace = event["metadata"]["namespace"]
            self._client.create(event, namespace=namespace)
        except errors.ApiError as exc:
            log.warning("could not record event %s about %s: %s", event["reason"], _describe(event), exc.message)
            return
        except Exception:  # best effort: one bad event must not end a reconcile or a sending thread
            log.exception("could not record event %s about %s", event["reason"], _describe(event))
            return
        self._remember(key, (namespace, event["metadata"]["name"], 1))

    def _bump(self, key: _AggregateKey, seen: tuple[str, str, int], stamp: str) -> bool:
        """Count one more on the event recorded before; False when it is gone (expired, deleted)."""
        namespace, name, count = seen
        try:
            self._client.patch("events", name, {"count": count + 1, "lastTimestamp": stamp}, namespace=namespace)
        except errors.NotFoundError:
            return False
        self._remember(key, (namespace, name, count + 1))
        return True

    def _remember(self, key: _AggregateKey, value: tuple[str, str, int]) -> None:
        with self._lock:
            self._seen[key] = value
            self._seen.move_to_end(key)
            while len(self._seen) > _REMEMBERED:
                self._seen.popitem(last=False)


def _aggregate_key(event: Obj) -> _AggregateKey:
    """What makes two events repeats of one another: object, field path, type, reason, message."""
    ref = event["involvedObject"]
    who = ref.get("uid") or f"{ref.get('kind')}:{ref.get('namespace')}/{ref.get('name')}"
    return who, ref.get("fieldPath", ""), event["type"], event["reason"], event["message"]


def _describe(event: Obj) -> str:
    ref = event["involvedObject"]
    name = f"{ref['namespace']}/{ref.get('name')}" if ref.get("namespace") else str(ref.get("name"))
    return f"{str(ref.get('kind', 'object')).lower()} {name}"
