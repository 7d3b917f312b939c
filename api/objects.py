"""Server-side preparation of objects before they are proposed to the store.

A store command must be a pure function of its inputs (docs/architecture.md), so the API server
fixes here, once, everything Kubernetes fills in on a write: uid, timestamps, the generated name,
`generation`, defaults and the initial status. The functions are pure and deterministic: the caller
passes the clock reading, the uid and the random name suffix. The registry passes every body
through `minik8s.api.validation.conform` first (described fields hold their types, nulls are
gone); below the top level these functions still accept any JSON, leaving wrongly typed fields
for `minik8s.api.validation` to report, so validate the result of these functions, not their input.

`metadata.resourceVersion` is the client's precondition: it is removed on create and left as sent
on updates (the store stamps the real one).
"""

from __future__ import annotations

import copy
from collections import Counter
from collections.abc import Callable
from typing import Any

from minik8s.api.kinds import ResourceType
from minik8s.api.validation import parse_quantity

_GENERATED_NAME_BASE = 58  # Kubernetes trims generateName so that the 5-character suffix fits in 63
_SPEC_KINDS = frozenset({
    "Pod", "Service", "Node", "Namespace", "ReplicaSet", "Deployment", "HorizontalPodAutoscaler", "Lease",
    "Ingress",
})
_CARRIED_METADATA = (
    "uid", "creationTimestamp", "namespace", "name", "generateName", "deletionTimestamp", "deletionGracePeriodSeconds",
    "managedFields",  # server-owned: set only by server-side apply (the registry), never by clients
)
_POD_SPEC_DEFAULTS = {
    "restartPolicy": "Always", "terminationGracePeriodSeconds": 30, "dnsPolicy": "ClusterFirst",
    "schedulerName": "default-scheduler",
}
_CONTAINER_DEFAULTS = {
    "imagePullPolicy": "IfNotPresent", "terminationMessagePath": "/dev/termination-log",
    "terminationMessagePolicy": "File",
}


def prepare_create(rt: ResourceType, obj: dict[str, Any], *, namespace: str | None, now: str, uid: str,
                   name_suffix: str) -> dict[str, Any]:
    """The object to store for a create: a deep copy with identity, timestamps, defaults and status fixed.

    `namespace` (the one in the URL) wins over `metadata.namespace`; without either a namespaced
    object lands in `default`. `now` is RFC 3339 (`2026-11-26T22:49:57Z`).
    """
    out = _typed_copy(rt, obj)
    meta = out["metadata"]
    if isinstance(meta, dict):
        _stamp_identity(rt, meta, namespace=namespace, uid=uid, name_suffix=name_suffix)
        meta["creationTimestamp"] = now
        for key in ("resourceVersion", "deletionTimestamp", "deletionGracePeriodSeconds"):
            meta.pop(key, None)
        _set_generation(rt, meta, 1)
    _apply_defaults(rt, out, now)
    _reset_status(rt, out)
    return out


def prepare_update(rt: ResourceType, new: dict[str, Any], old: dict[str, Any], *, now: str) -> dict[str, Any]:
    """The object to store for an update of the main resource: `new`, with what it may not change from `old`.

    Identity metadata comes from `old`, defaults are applied again, `generation` grows when `spec`
    changed, and `status` stays as stored for kinds whose status has its own subresource.
    """
    out = _typed_copy(rt, new)
    _apply_defaults(rt, out, now)
    if rt.kind == "Service":
        _keep_service_allocations(out.get("spec"), old.get("spec"))
    if isinstance(out["metadata"], dict):
        _carry_metadata(rt, out, old)
    if "status" in rt.subresources:
        _copy_key(out, old, "status")
    return out


def prepare_status_update(rt: ResourceType, new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    """The object to store for a write to the status subresource: `status` from `new`, the rest from `old`.

    The client's `metadata.resourceVersion` is kept, as the precondition of the write.
    """
    out = _typed_copy(rt, old)
    if isinstance(out["metadata"], dict) and isinstance(old.get("metadata"), dict):
        _copy_key(out["metadata"], old["metadata"], "managedFields")
    _copy_key(out, new, "status")
    new_meta = new.get("metadata")
    if isinstance(out["metadata"], dict):
        _copy_key(out["metadata"], new_meta if isinstance(new_meta, dict) else {}, "resourceVersion")
    return out


# --- metadata ------------------------------------------------------------------------------------

def _typed_copy(rt: ResourceType, obj: dict[str, Any]) -> dict[str, Any]:
    """A deep copy stamped with `rt`'s apiVersion and kind, with a `metadata` key and no `managedFields`.

    `apiVersion` and `kind` come first, as kubectl shows them.
    """
    out = {"apiVersion": rt.api_version, "kind": rt.kind, **copy.deepcopy(obj)}
    out["apiVersion"], out["kind"] = rt.api_version, rt.kind
    if out.get("metadata") is None:
        out["metadata"] = {}
    if isinstance(out["metadata"], dict):
        out["metadata"].pop("managedFields", None)
    return out


def _stamp_identity(rt: ResourceType, meta: dict[str, Any], *, namespace: str | None, uid: str,
                    name_suffix: str) -> None:
    """Namespace (or none for cluster-scoped kinds), the name generated when asked for, and the uid."""
    if rt.namespaced:
        given = meta.get("namespace")
        meta["namespace"] = namespace or (given if isinstance(given, str) and given else "default")
    else:
        meta.pop("namespace", None)
    generate = meta.get("generateName")
    if not meta.get("name") and isinstance(generate, str) and generate:
        meta["name"] = generate[:_GENERATED_NAME_BASE] + name_suffix
    meta["uid"] = uid


def _carry_metadata(rt: ResourceType, out: dict[str, Any], old: dict[str, Any]) -> None:
    """Identity from `old`, and its generation, one up when the spec changed."""
    meta = out["metadata"]
    old_meta = old.get("metadata") if isinstance(old.get("metadata"), dict) else {}
    for key in _CARRIED_METADATA:
        _copy_key(meta, old_meta, key)
    previous = old_meta.get("generation")
    if isinstance(previous, bool) or not isinstance(previous, int):
        previous = 1
    _set_generation(rt, meta, previous + 1 if out.get("spec") != old.get("spec") else previous)


def _set_generation(rt: ResourceType, meta: dict[str, Any], generation: int) -> None:
    """`generation` for kinds with a spec; other kinds have none."""
    if rt.kind in _SPEC_KINDS:
        meta["generation"] = generation
    else:
        meta.pop("generation", None)


def _copy_key(target: dict[str, Any], source: dict[str, Any], key: str) -> None:
    """Make `target[key]` a copy of `source[key]`, or absent when `source` has none."""
    if key in source:
        target[key] = copy.deepcopy(source[key])
    else:
        target.pop(key, None)


def _reset_status(rt: ResourceType, obj: dict[str, Any]) -> None:
    """The status a new object starts with; Nodes keep the status their agent reports."""
    if rt.kind == "Pod":
        obj["status"] = {"phase": "Pending", "qosClass": _qos_class(obj.get("spec"))}
    elif rt.kind == "Namespace":
        obj["status"] = {"phase": "Active"}
    elif "status" in rt.subresources and rt.kind != "Node":
        obj["status"] = {}


# --- defaults ------------------------------------------------------------------------------------

def _default(target: dict[str, Any], key: str, value: Any) -> None:
    """Set `key` to `value` (unless that is None) when it is missing or null."""
    if target.get(key) is None and value is not None:
        target[key] = copy.deepcopy(value)


def _child(parent: dict[str, Any], key: str) -> dict[str, Any] | None:
    """The object under `key`, created when missing; None when something else is there."""
    _default(parent, key, {})
    value = parent[key]
    return value if isinstance(value, dict) else None


def _dicts(value: Any) -> list[dict[str, Any]]:
    """The object items of `value` when it is a list."""
    return [item for item in value if isinstance(item, dict)] if isinstance(value, list) else []


def _apply_defaults(rt: ResourceType, obj: dict[str, Any], now: str) -> None:
    defaulter = _DEFAULTERS.get(rt.kind)
    if defaulter is not None:
        defaulter(obj, now)


def _default_pod(obj: dict[str, Any], now: str) -> None:
    if (spec := _child(obj, "spec")) is not None:
        _default_pod_spec(spec)


def _default_pod_spec(spec: dict[str, Any]) -> None:
    for key, value in _POD_SPEC_DEFAULTS.items():
        _default(spec, key, value)
    for container in _dicts(spec.get("containers")) + _dicts(spec.get("initContainers")):
        for key, value in _CONTAINER_DEFAULTS.items():
            _default(container, key, value)
        for port in _dicts(container.get("ports")):
            _default(port, "protocol", "TCP")
        resources = _child(container, "resources")
        if resources is not None and isinstance(resources.get("limits"), dict) and resources["limits"]:
            if (requests := _child(resources, "requests")) is not None:
                for name, limit in resources["limits"].items():  # requests default to limits
                    _default(requests, name, limit)


def _default_replicaset(obj: dict[str, Any], now: str) -> None:
    if (spec := _child(obj, "spec")) is None:
        return
    _default(spec, "replicas", 1)
    template = spec.get("template")
    if isinstance(template, dict) and (template_spec := _child(template, "spec")) is not None:
        _default_pod_spec(template_spec)


def _default_deployment(obj: dict[str, Any], now: str) -> None:
    _default_replicaset(obj, now)
    if (spec := _child(obj, "spec")) is None:
        return
    _default(spec, "revisionHistoryLimit", 10)
    _default(spec, "progressDeadlineSeconds", 600)
    if (strategy := _child(spec, "strategy")) is None:
        return
    _default(strategy, "type", "RollingUpdate")
    if strategy["type"] == "RollingUpdate" and (rolling := _child(strategy, "rollingUpdate")) is not None:
        _default(rolling, "maxSurge", "25%")
        _default(rolling, "maxUnavailable", "25%")


def _default_service(obj: dict[str, Any], now: str) -> None:
    if (spec := _child(obj, "spec")) is None:
        return
    _default(spec, "type", "ClusterIP")
    _default(spec, "sessionAffinity", "None")
    for port in _dicts(spec.get("ports")):
        _default(port, "protocol", "TCP")
        _default(port, "targetPort", port.get("port"))


def _default_namespace(obj: dict[str, Any], now: str) -> None:
    if (spec := _child(obj, "spec")) is not None:
        _default(spec, "finalizers", ["kubernetes"])


def _default_event(obj: dict[str, Any], now: str) -> None:
    _default(obj, "count", 1)
    _default(obj, "firstTimestamp", now)
    _default(obj, "lastTimestamp", now)


def _default_hpa(obj: dict[str, Any], now: str) -> None:
    if (spec := _child(obj, "spec")) is not None:
        _default(spec, "minReplicas", 1)


_DEFAULTERS: dict[str, Callable[[dict[str, Any], str], None]] = {
    "Pod": _default_pod, "ReplicaSet": _default_replicaset, "Deployment": _default_deployment,
    "Service": _default_service, "Namespace": _default_namespace, "Event": _default_event,
    "HorizontalPodAutoscaler": _default_hpa,
}


def _keep_service_allocations(spec: Any, old_spec: Any) -> None:
    """Keep the cluster IP and node ports allocated at create when an update leaves them out."""
    if not isinstance(spec, dict) or not isinstance(old_spec, dict):
        return
    if spec.get("type") != "ExternalName" and not spec.get("clusterIP") and old_spec.get("clusterIP"):
        spec["clusterIP"] = old_spec["clusterIP"]
        _default(spec, "clusterIPs", old_spec.get("clusterIPs"))
    if spec.get("type") not in ("NodePort", "LoadBalancer"):
        return
    for port in _dicts(spec.get("ports")):
        for old_port in _dicts(old_spec.get("ports")):
            if (old_port.get("port"), old_port.get("protocol")) == (port.get("port"), port.get("protocol")):
                _default(port, "nodePort", old_port.get("nodePort"))


def _qos_class(spec: Any) -> str:
    """Kubernetes' QoS class: BestEffort without cpu/memory requests or limits, Guaranteed when every
    container limits both and requests equal limits, else Burstable."""
    containers = _dicts(spec.get("containers")) + _dicts(spec.get("initContainers")) if isinstance(spec, dict) else []
    requests: Counter[str] = Counter()
    limits: Counter[str] = Counter()
    guaranteed = True
    for container in containers:
        resources = container.get("resources") if isinstance(container.get("resources"), dict) else {}
        requests.update(_qos_quantities(resources.get("requests")))
        container_limits = _qos_quantities(resources.get("limits"))
        limits.update(container_limits)
        guaranteed = guaranteed and set(container_limits) == {"cpu", "memory"}
    if not requests and not limits:
        return "BestEffort"
    return "Guaranteed" if guaranteed and requests == limits else "Burstable"


def _qos_quantities(resource_list: Any) -> dict[str, float]:
    """The positive cpu and memory quantities of a resource list (unparsable ones are skipped)."""
    found: dict[str, float] = {}
    for name in ("cpu", "memory"):
        try:
            quantity = parse_quantity(resource_list[name]) if isinstance(resource_list, dict) else 0.0
        except (KeyError, ValueError):
            continue
        if quantity > 0:
            found[name] = quantity
    return found
