"""Recording `Event`s about objects, so `kubectl describe` shows what a controller did.

Events are best effort, as in Kubernetes: failing to record one is logged and never fails the
reconcile that reported it. Events about cluster-scoped objects (Nodes) go to `default`. Names
are `<object>.<unix nanoseconds in hex>`, as client-go's event recorder makes them.
"""

from __future__ import annotations

import logging
import time

from minik8s.api import errors
from minik8s.api.client import ApiClient
from minik8s.api.informer import Obj

log = logging.getLogger(__name__)


def record_event(client: ApiClient, involved: Obj, *, reason: str, message: str, component: str,
                 event_type: str = "Normal") -> None:
    """Create an Event about `involved` (a Pod, a Node, …) from `component`."""
    meta = involved.get("metadata") or {}
    namespace = meta.get("namespace") or "default"
    reference = {
        "apiVersion": involved.get("apiVersion"), "kind": involved.get("kind"), "name": meta.get("name"),
        "namespace": meta.get("namespace"), "uid": meta.get("uid"),
    }
    event = {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": f"{meta.get('name')}.{time.time_ns():x}", "namespace": namespace},
        "involvedObject": {k: v for k, v in reference.items() if v is not None},
        "reason": reason, "message": message, "type": event_type,
        "source": {"component": component}, "reportingComponent": component,
    }
    try:
        client.create(event, namespace=namespace)
    except errors.ApiError as exc:
        log.warning("could not record event %s about %s: %s", reason, meta.get("name"), exc)
