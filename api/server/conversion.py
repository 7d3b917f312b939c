"""Serving a second version of a stored resource: the registry seen through a conversion.

Kubernetes keeps each resource in one storage version and converts on the way in and out; so does
minik8s for the few resources served in two versions (`autoscaling/v1` HorizontalPodAutoscalers are
stored as `autoscaling/v2`). `VersionedRegistry` has the registry's read and write methods: what a
client sends is converted to the stored version before it is defaulted, validated and stored, and
what the store holds is converted back before it is answered; a patch applies to the client's
version of the object. The conversion itself belongs to the kind (`ResourceType.conversion`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from minik8s.api.kinds import Conversion, ResourceType

from .registry import Registry

Obj = dict[str, Any]


class VersionedRegistry:
    """`registry` for the resource version `served`, which is stored as `served.conversion.stored`."""

    def __init__(self, registry: Registry, served: ResourceType) -> None:
        assert served.conversion is not None
        self.registry = registry
        self.served = served
        self.conversion: Conversion = served.conversion
        self.stored = served.conversion.stored

    def _out(self, obj: Obj) -> Obj:
        """A stored object in the served version (anything else, e.g. a Status, unchanged)."""
        if isinstance(obj, dict) and obj.get("kind") == self.stored.kind:
            return self.conversion.from_stored(obj)
        return obj

    def consistent_read(self, resource_version: str | None) -> None:
        """As `Registry.consistent_read`."""
        self.registry.consistent_read(resource_version)

    def get(self, rt: ResourceType, name: str, namespace: str | None) -> Obj:
        """The stored object, in the served version."""
        return self._out(self.registry.get(self.stored, name, namespace))

    def list(self, rt: ResourceType, namespace: str | None) -> tuple[list[Obj], int]:
        """The stored objects in the served version, and the revision read at."""
        items, revision = self.registry.list(self.stored, namespace)
        return [self._out(item) for item in items], revision

    def create(self, rt: ResourceType, body: Obj, namespace: str | None, *,
               managed_fields: list[Obj] | None = None) -> Obj:
        """Create from a body in the served version."""
        return self._out(self.registry.create(self.stored, self.conversion.to_stored(body), namespace,
                                              managed_fields=managed_fields))

    def update(self, rt: ResourceType, name: str, namespace: str | None, body: Obj, *,
               subresource: str | None = None, managed_fields: list[Obj] | None = None) -> Obj:
        """Replace (or write the status) from a body in the served version."""
        return self._out(self.registry.update(self.stored, name, namespace, self.conversion.to_stored(body),
                                              subresource=subresource, managed_fields=managed_fields))

    def mutate(self, rt: ResourceType, name: str, namespace: str | None, change: Callable[[Obj], Obj], *,
               subresource: str | None = None) -> Obj:
        """`change` sees and returns the served version; the result is stored in the stored version."""
        def converted(stored: Obj) -> Obj:
            return self.conversion.to_stored(change(self.conversion.from_stored(stored)))
        return self._out(self.registry.mutate(self.stored, name, namespace, converted, subresource=subresource))

    def delete(self, rt: ResourceType, name: str, namespace: str | None, options: Obj) -> Obj:
        """Delete; the deleted object (or the Status) in the served version."""
        return self._out(self.registry.delete(self.stored, name, namespace, options))


def served_registry(registry: Registry, rt: ResourceType) -> Registry | VersionedRegistry:
    """The registry to use for requests to `rt`: converting when `rt` is not the stored version."""
    return VersionedRegistry(registry, rt) if rt.conversion is not None else registry
