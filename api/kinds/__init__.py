"""The kinds minik8s serves: the resource table, and one module per kind holding all it knows.

Each module of this package that defines `RESOURCE` adds one served resource: its `ResourceType`
(where it lives on the wire) with its `Strategy` (defaults, validation, table, `describe`,
deletion rules) and, through `minik8s.api.schema.define`, its field schema. Modules without
`RESOURCE` hold what several kinds share (metadata, the pod template, workloads). Adding a kind is
adding one module here: the server, discovery, OpenAPI, validation, tables, the client and the CLI
all read this table.
"""

from __future__ import annotations

import importlib
import pkgutil

from .namespace import BUILTIN_NAMESPACES
from .resource import Conversion, ResourceType
from .strategy import Strategy


def _discover() -> tuple[ResourceType, ...]:
    """Import every module of the package; the `RESOURCE` of each, core group first, then by group and name."""
    found = []
    for module in pkgutil.iter_modules(__path__):
        resource = getattr(importlib.import_module(f"{__name__}.{module.name}"), "RESOURCE", None)
        if isinstance(resource, ResourceType):
            found.append(resource)
    # a group's preferred version first (discovery and `resolve` take the first): versions kept in the
    # store before those converted to it
    return tuple(sorted(found, key=lambda rt: (rt.group != "", rt.group, rt.conversion is not None, rt.plural)))


RESOURCES: tuple[ResourceType, ...] = _discover()
# What the store holds, once per resource (its storage version): what garbage collection, namespace
# deletion and migrations walk. Leaves out other versions of the same objects (autoscaling/v1 HPAs)
# and resources that are never stored (metrics.k8s.io).
STORED: tuple[ResourceType, ...] = tuple(rt for rt in RESOURCES if rt.stored and rt.conversion is None)


class UnknownResourceError(LookupError):
    """The name does not denote any served resource."""


def resolve(name: str) -> ResourceType:
    """Find a resource by plural, singular, kind, short name, or `plural.group` (case-insensitive)."""
    wanted = name.strip().lower()
    plural_part, _, group_part = wanted.partition(".")
    for rt in RESOURCES:
        names = {rt.plural, rt.singular, rt.kind.lower(), *rt.short_names}
        if group_part:
            if plural_part in names and group_part == rt.group:
                return rt
        elif wanted in names:
            return rt
    raise UnknownResourceError(f'the server doesn\'t have a resource type "{name}"')


def by_path(group: str, version: str, plural: str) -> ResourceType | None:
    """The resource served at `/api[s]/<group>/<version>/<plural>`, or None."""
    for rt in RESOURCES:
        if rt.group == group and rt.version == version and rt.plural == plural:
            return rt
    return None


def by_kind(api_version: str, kind: str) -> ResourceType | None:
    """The resource for an object's `apiVersion` and `kind`, or None."""
    for rt in RESOURCES:
        if rt.api_version == api_version and rt.kind == kind:
            return rt
    return None


def in_category(category: str) -> list[ResourceType]:
    """Resources listed under a category such as `all` (in their preferred version, as kubectl expands it)."""
    return [rt for rt in RESOURCES if category in rt.categories and rt.conversion is None]


__all__ = ["BUILTIN_NAMESPACES", "RESOURCES", "STORED", "Conversion", "ResourceType", "Strategy",
           "UnknownResourceError", "by_kind", "by_path", "in_category", "resolve"]
