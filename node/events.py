"""Events the kubelet records about pods (`kubectl describe pod` shows them), best effort.

Like the kubelet's event recorder: source `kubelet` on this host, the container as
`involvedObject.fieldPath` (`spec.containers{web}`), and a repeat of the same event (same pod,
container, reason and message) bumps `count` and `lastTimestamp` of the first one instead of
creating another. Messages are cut to 1024 characters as Kubernetes does. A failure to record
is logged, never raised: events must not stop a pod's reconcile.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from minik8s.api import errors
from minik8s.api.client import ApiClient
from minik8s.api.timefmt import format_time

log = logging.getLogger(__name__)

Obj = dict[str, Any]
MAX_MESSAGE = 1024


def truncate(message: str, limit: int = MAX_MESSAGE) -> str:
    return message if len(message) <= limit else message[: limit - 3] + "..."


class PodEvents:
    """Records (and aggregates) Events about pods on behalf of one node's kubelet."""

    def __init__(self, client: ApiClient, *, host: str, component: str = "kubelet") -> None:
        self._client = client
        self._host = host
        self._component = component
        self._seen: dict[tuple[str, str, str, str], tuple[str, str, int]] = {}  # key -> (namespace, name, count)
        self._lock = threading.Lock()

    def record(self, pod: Obj, *, container: str | None, reason: str, message: str, event_type: str = "Warning",
               now: float | None = None) -> None:
        meta = pod.get("metadata") or {}
        uid, namespace = meta.get("uid") or "", meta.get("namespace") or "default"
        message = truncate(message)
        key = (uid, container or "", reason, message)
        stamp = format_time(time.time() if now is None else now)
        with self._lock:
            seen = self._seen.get(key)
        if seen is not None:
            ns, name, count = seen
            try:
                self._client.patch("events", name, {"count": count + 1, "lastTimestamp": stamp}, namespace=ns)
                with self._lock:
                    self._seen[key] = (ns, name, count + 1)
                return
            except errors.NotFoundError:
                pass  # expired or deleted: record a new one
            except errors.ApiError as exc:
                log.warning("could not update event %s about pod %s/%s: %s", reason, namespace, meta.get("name"), exc)
                return
        involved = {"apiVersion": "v1", "kind": "Pod", "name": meta.get("name"), "namespace": namespace, "uid": uid}
        if container:
            involved["fieldPath"] = f"spec.containers{{{container}}}"
        name = f"{meta.get('name')}.{time.time_ns():x}"
        event = {
            "apiVersion": "v1", "kind": "Event", "metadata": {"name": name, "namespace": namespace},
            "involvedObject": involved, "reason": reason, "message": message, "type": event_type,
            "source": {"component": self._component, "host": self._host}, "reportingComponent": self._component,
            "reportingInstance": self._host, "firstTimestamp": stamp, "lastTimestamp": stamp, "count": 1,
        }
        try:
            self._client.create(event, namespace=namespace)
        except errors.ApiError as exc:
            log.warning("could not record event %s about pod %s/%s: %s", reason, namespace, meta.get("name"), exc)
            return
        with self._lock:
            self._seen[key] = (namespace, name, 1)

    def forget(self, uid: str) -> None:
        """Drop what is remembered about a removed pod's events."""
        with self._lock:
            for key in [k for k in self._seen if k[0] == uid]:
                del self._seen[key]
