"""Events about pods, sent in the background so they never slow down bindings.

Like client-go's event broadcaster that kube-scheduler uses, recording is best effort: events go
into a bounded queue that a few threads of their own drain, and when the API cannot keep up the
newest events are dropped (with a warning) rather than delaying the scheduling of other pods.
`stop()` sends what is still queued before it returns.
"""

from __future__ import annotations

import logging
import queue
import time

from minik8s.api import errors
from minik8s.api.client import ApiClient
from minik8s.api.informer import object_key
from minik8s.api.threads import thread as guarded_thread

from .framework import Obj
from .reporting import pod_event

log = logging.getLogger(__name__)


class EventRecorder:
    """Creates core/v1 Events about pods from a bounded queue on `workers` threads."""

    def __init__(self, client: ApiClient, *, component: str, workers: int = 4, max_queued: int = 1000) -> None:
        self._client = client
        self._component = component
        self._queue: queue.Queue[Obj | None] = queue.Queue(max_queued)
        self._threads = [guarded_thread(self._drain, name=f"{component}-events-{i}") for i in range(workers)]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self, timeout: float | None = None) -> None:
        """Send what is queued, then end the threads."""
        for _ in self._threads:
            self._queue.put(None)
        for thread in self._threads:
            thread.join(timeout)

    def record(self, pod: Obj, reason: str, message: str, event_type: str) -> None:
        """Queue an Event about `pod`; dropped when the queue is full."""
        event = pod_event(pod, reason=reason, message=message, event_type=event_type, component=self._component,
                          now=time.time())
        try:
            self._queue.put_nowait(event)
        except queue.Full:
            log.warning("event queue full; dropped %s event for pod %s", reason, object_key(pod))

    def _drain(self) -> None:
        while (event := self._queue.get()) is not None:
            try:
                self._client.create(event)
            except errors.ApiError as exc:
                log.warning("could not record event %s for pod %s/%s: %s", event["reason"],
                            event["involvedObject"]["namespace"], event["involvedObject"]["name"], exc.message)
            except Exception:  # best effort: one bad event must not end the recorder
                log.exception("could not record event %s", event.get("reason"))
