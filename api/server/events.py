"""Events the API server records about what it does on behalf of users (scale, cascading deletes).

Recording is best effort, as in Kubernetes: a failed event never fails the request.
"""

from __future__ import annotations

import logging
import secrets
from typing import Any

from minik8s.api import errors
from minik8s.api.kinds import ResourceType, resolve
from minik8s.api.timefmt import format_time

from .registry import Registry

log = logging.getLogger(__name__)

_EVENTS = resolve("events")
COMPONENT = "minik8s-apiserver"


class EventRecorder:
    """Creates core/v1 Events about objects."""

    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def record(self, rt: ResourceType, obj: dict[str, Any], reason: str, message: str, *,
               event_type: str = "Normal") -> None:
        """Record one event about `obj`; logs and swallows any failure."""
        meta = obj.get("metadata") or {}
        namespace = meta.get("namespace") or "default"
        now = format_time(self.registry.clock())
        event = {
            "metadata": {"name": f"{meta.get('name')}.{secrets.token_hex(8)}", "namespace": namespace},
            "involvedObject": {"kind": rt.kind, "apiVersion": rt.api_version, "name": meta.get("name"),
                               "namespace": meta.get("namespace"), "uid": meta.get("uid"),
                               "resourceVersion": meta.get("resourceVersion")},
            "reason": reason, "message": message, "type": event_type,
            "source": {"component": COMPONENT}, "reportingComponent": COMPONENT,
            "firstTimestamp": now, "lastTimestamp": now, "count": 1,
        }
        try:
            self.registry.create(_EVENTS, event, namespace)
        except errors.ApiError as exc:
            log.warning("could not record event %s for %s/%s: %s", reason, rt.plural, meta.get("name"), exc.message)
