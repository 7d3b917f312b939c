"""The table of API resources minik8s serves.

One row per resource: where it lives on the wire (group, version, plural), whether it is
namespaced, its kind and short names. The server routes by it, discovery is generated from it,
the client and CLI resolve `po`, `pods`, `Pod` and `deployments.apps` through it. Pure data,
imported by every part.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
    def group_plural(self) -> str:
        """Resource name qualified by group when not core (`deployments.apps`), as store keys use."""
        return f"{self.plural}.{self.group}" if self.group else self.plural


_WORKLOAD = ("all",)

RESOURCES: tuple[ResourceType, ...] = (
    ResourceType("", "v1", "namespaces", "Namespace", False, ("ns",), subresources=("status",),
                 verbs=("create", "delete", "get", "list", "patch", "update", "watch")),  # no deletecollection
    ResourceType("", "v1", "pods", "Pod", True, ("po",), _WORKLOAD, ("status", "log", "binding")),
    ResourceType("", "v1", "services", "Service", True, ("svc",), _WORKLOAD, ("status",)),
    ResourceType("", "v1", "endpoints", "Endpoints", True, ("ep",)),
    ResourceType("", "v1", "nodes", "Node", False, ("no",), subresources=("status",)),
    ResourceType("", "v1", "events", "Event", True, ("ev",)),
    ResourceType("", "v1", "configmaps", "ConfigMap", True, ("cm",)),
    ResourceType("apps", "v1", "replicasets", "ReplicaSet", True, ("rs",), _WORKLOAD, ("status", "scale")),
    ResourceType("apps", "v1", "deployments", "Deployment", True, ("deploy",), _WORKLOAD, ("status", "scale")),
    ResourceType(
        "autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", True, ("hpa",), _WORKLOAD,
        ("status",),
    ),
    ResourceType("coordination.k8s.io", "v1", "leases", "Lease", True),
    ResourceType("networking.k8s.io", "v1", "ingresses", "Ingress", True, ("ing",), subresources=("status",)),
)

BUILTIN_NAMESPACES = ("default", "kube-system", "kube-node-lease")


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
    """Resources listed under a category such as `all`."""
    return [rt for rt in RESOURCES if category in rt.categories]
