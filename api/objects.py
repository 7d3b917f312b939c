"""Server-side preparation of objects before they are proposed to the store.

A store command must be a pure function of its inputs (docs/architecture.md), so the API server
fixes here, once, everything Kubernetes fills in on a write: uid, timestamps, the generated name,
`generation`, defaults and the initial status. The functions are pure and deterministic: the caller
passes the clock reading, the uid and the random name suffix. What differs between kinds comes from
the kind's strategy (`rt.strategy`). The registry passes every body through
`minik8s.api.validation.conform` first (described fields hold their types, nulls are gone); below
the top level the strategies still accept any JSON, leaving wrongly typed fields for validation to
report, so validate the result of these functions, not their input.

`metadata.resourceVersion` is the client's precondition: it is removed on create and left as sent
on updates (the store stamps the real one).
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from minik8s.api.kinds import ResourceType

_GENERATED_NAME_BASE = 58  # Kubernetes trims generateName so that the 5-character suffix fits in 63
_CARRIED_METADATA = (
    "uid", "creationTimestamp", "namespace", "name", "generateName", "deletionTimestamp", "deletionGracePeriodSeconds",
    "managedFields",  # server-owned: set only by server-side apply (the registry), never by clients
)


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
    rt.strategy.default(out, now)
    rt.strategy.prepare_create(out)
    if "status" in rt.subresources:
        out["status"] = rt.strategy.initial_status(out)
    return out


def prepare_update(rt: ResourceType, new: dict[str, Any], old: dict[str, Any], *, now: str) -> dict[str, Any]:
    """The object to store for an update of the main resource: `new`, with what it may not change from `old`.

    Identity metadata comes from `old`, defaults are applied again, `generation` grows when `spec`
    changed, and `status` stays as stored for kinds whose status has its own subresource.
    """
    out = _typed_copy(rt, new)
    rt.strategy.default(out, now)
    rt.strategy.prepare_update(out, old)
    if isinstance(out["metadata"], dict):
        _carry_metadata(rt, out, old)
    if "status" in rt.subresources:
        _copy_key(out, old, "status")
    return out


def prepare_status_update(rt: ResourceType, new: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    """The object to store for a write to the status subresource: `status` from `new`, the rest from `old`.

    The client's `metadata.resourceVersion` is kept, as the precondition of the write.
    """
    return prepare_subresource_update(rt, "status", new, old)


def prepare_subresource_update(rt: ResourceType, subresource: str, new: dict[str, Any],
                               old: dict[str, Any]) -> dict[str, Any]:
    """The object to store for a write to `subresource` (one of `rt.strategy.subresource_writes()`):
    what that subresource covers from `new` (`status`; a namespace's `finalize`: `spec.finalizers`),
    the rest from `old`, and the client's `metadata.resourceVersion` as the write's precondition."""
    out = rt.strategy.subresource_writes()[subresource].prepare_update(new, old)
    out["apiVersion"], out["kind"] = rt.api_version, rt.kind
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
    if rt.strategy.generation:
        meta["generation"] = generation
    else:
        meta.pop("generation", None)


def _copy_key(target: dict[str, Any], source: dict[str, Any], key: str) -> None:
    """Make `target[key]` a copy of `source[key]`, or absent when `source` has none."""
    if key in source:
        target[key] = copy.deepcopy(source[key])
    else:
        target.pop(key, None)
