"""Events the API server records about what it does on behalf of users (scale, cascading deletes).

Recording is best effort, as in Kubernetes: a failed event never fails the request. The events
are built like every other part's (`minik8s.api.events.build_event`) but written through the
registry, since the API server is their destination.
"""

from __future__ import annotations

import logging
from typing import Any

from minik8s.api import errors
from minik8s.api.events import build_event
from minik8s.api.kinds import ResourceType, resolve

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
        involved = {"apiVersion": rt.api_version, "kind": rt.kind, "metadata": meta}
        event = build_event(involved, reason=reason, message=message, component=COMPONENT, event_type=event_type,
                            now_ns=int(self.registry.clock() * 1e9))
        namespace = event["metadata"]["namespace"]
        try:
            self.registry.create(_EVENTS, event, namespace)
        except errors.ApiError as exc:
            log.warning("could not record event %s for %s/%s: %s", reason, rt.plural, meta.get("name"), exc.message)
