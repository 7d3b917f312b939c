"""`ResourceType`: one served resource, where it lives on the wire, and its strategy.

The server routes by it, discovery is generated from it, the client and CLI resolve `po`, `pods`,
`Pod` and `deployments.apps` through it; its `strategy` holds what minik8s knows about the kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from minik8s.api import schema

from .strategy import Strategy

Obj = dict[str, Any]


@dataclass(frozen=True)
class Conversion:
    """How a second version of a stored resource is served: `stored` is the version objects are
    kept in; `to_stored`/`from_stored` convert whole objects (apiVersion included) both ways."""

    stored: ResourceType
    to_stored: Callable[[Obj], Obj]
    from_stored: Callable[[Obj], Obj]


@dataclass(frozen=True)
class ResourceType:
    """One served resource (e.g. apps/v1 deployments)."""

    group: str  # "" for the core group
    version: str
    plural: str
    kind: str
    namespaced: bool
    short_names: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    subresources: tuple[str, ...] = ()
    verbs: tuple[str, ...] = field(
        default=("create", "delete", "deletecollection", "get", "list", "patch", "update", "watch")
    )
    strategy: Strategy = field(default_factory=Strategy, compare=False, repr=False)
    # False: never in the store, answered by a provider of the API server (metrics.k8s.io)
    stored: bool = True
    # set on a second version of a stored resource (autoscaling/v1 HPAs are stored as autoscaling/v2)
    conversion: Conversion | None = field(default=None, compare=False, repr=False)

    @property
    def api_version(self) -> str:
        """`v1` for the core group, else `group/version`."""
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def singular(self) -> str:
        return self.kind.lower()

    @property
    def group_version_prefix(self) -> str:
        """URL prefix of the group-version: `/api/v1` or `/apis/apps/v1`."""
        return f"/apis/{self.group}/{self.version}" if self.group else f"/api/{self.version}"

    def collection_path(self, namespace: str | None = None) -> str:
        """URL of the collection, namespaced when a namespace is given."""
        if self.namespaced and namespace:
            return f"{self.group_version_prefix}/namespaces/{namespace}/{self.plural}"
        return f"{self.group_version_prefix}/{self.plural}"

    def object_path(self, name: str, namespace: str | None = None) -> str:
        """URL of one object."""
        return f"{self.collection_path(namespace)}/{name}"

    def store_prefix(self, namespace: str | None = None) -> str:
        """Store key prefix for a collection (trailing slash, so `default` never matches `default2`)."""
        if self.namespaced and namespace:
            return f"/registry/{self.group_plural}/{namespace}/"
        return f"/registry/{self.group_plural}/"

    def store_key(self, name: str, namespace: str | None = None) -> str:
        """Store key of one object: `/registry/<resource>/<namespace>/<name>`."""
        if self.namespaced:
            return f"/registry/{self.group_plural}/{namespace}/{name}"
        return f"/registry/{self.group_plural}/{name}"

    @property
    def merge_keys(self) -> dict[str, str]:
        """Field path → merge key of the lists strategic merge merges (from the kind's schema)."""
        return schema.merge_keys(self.group, self.version, self.kind)

    @property
    def group_plural(self) -> str:
        """Resource name qualified by group when not core (`deployments.apps`), as store keys use."""
        return f"{self.plural}.{self.group}" if self.group else self.plural
