"""What the workload controllers and the rollout clients agree on about ReplicaSets and Deployments.

The Deployment controller writes, and `minik8s rollout`/`kubectl rollout` read, the same labels
and annotations on ReplicaSets (Kubernetes' `pkg/controller/deployment/util` and kubectl's copy
of it in `k8s.io/kubectl/pkg/util/deployment`); both decide which ReplicaSets a Deployment owns
through the controller `ownerReference`, and when two pod templates are the same "ignoring the
hash". Written once here so the controller and the CLI cannot disagree. Pure: no I/O.

Template equality is Kubernetes' *semantic* equality: Go decodes a missing field, a null and an
empty map or list alike, so a template kubectl round-trips through Go structs (`rollout undo`
sends one back with `creationTimestamp: null` and `resources: {}`) still equals the stored one.
"""

from __future__ import annotations

from typing import Any

from minik8s.api.ownership import owner_references

__all__ = [
    "ANNOTATIONS_NOT_COPIED", "CHANGE_CAUSE_ANNOTATION", "DESIRED_REPLICAS_ANNOTATION", "MAX_REPLICAS_ANNOTATION",
    "POD_TEMPLATE_HASH_LABEL", "RESTARTED_AT_ANNOTATION", "REVISION_ANNOTATION", "REVISION_HISTORY_ANNOTATION",
    "condition", "controller_ref", "equal_ignoring_hash", "is_controlled_by", "new_controller_ref", "revision",
    "semantic",
]

Obj = dict[str, Any]

POD_TEMPLATE_HASH_LABEL = "pod-template-hash"
REVISION_ANNOTATION = "deployment.kubernetes.io/revision"
REVISION_HISTORY_ANNOTATION = "deployment.kubernetes.io/revision-history"
DESIRED_REPLICAS_ANNOTATION = "deployment.kubernetes.io/desired-replicas"
MAX_REPLICAS_ANNOTATION = "deployment.kubernetes.io/max-replicas"
CHANGE_CAUSE_ANNOTATION = "kubernetes.io/change-cause"
RESTARTED_AT_ANNOTATION = "kubectl.kubernetes.io/restartedAt"
LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration"
ROLLBACK_TO_ANNOTATION = "deprecated.deployment.rollback.to"

# Deployment annotations that are not copied to its ReplicaSets (and kept on a rollback), as in Kubernetes.
ANNOTATIONS_NOT_COPIED = frozenset({
    LAST_APPLIED_ANNOTATION, REVISION_ANNOTATION, REVISION_HISTORY_ANNOTATION, DESIRED_REPLICAS_ANNOTATION,
    MAX_REPLICAS_ANNOTATION, ROLLBACK_TO_ANNOTATION,
})


def controller_ref(obj: Obj) -> Obj | None:
    """The well-formed `ownerReference` with `controller: true` (Kubernetes' `metav1.GetControllerOf`), or None."""
    return next((ref for ref in owner_references(obj) if ref.get("controller") is True), None)


def new_controller_ref(owner: Obj) -> Obj:
    """A controller reference to `owner` that blocks its foreground deletion (`metav1.NewControllerRef`)."""
    meta = owner.get("metadata") or {}
    return {"apiVersion": owner["apiVersion"], "kind": owner["kind"], "name": meta["name"], "uid": meta["uid"],
            "controller": True, "blockOwnerDeletion": True}


def is_controlled_by(obj: Obj, owner: Obj) -> bool:
    """Whether `obj`'s controller reference names `owner` (by uid)."""
    ref = controller_ref(obj)
    return ref is not None and ref.get("uid") == (owner.get("metadata") or {}).get("uid")


def revision(obj: Obj) -> int | None:
    """The `deployment.kubernetes.io/revision` annotation as a number: 0 when absent, None when malformed."""
    value = ((obj.get("metadata") or {}).get("annotations") or {}).get(REVISION_ANNOTATION)
    if value is None:
        return 0
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def semantic(value: Any) -> Any:
    """`value` with nulls, empty maps and empty lists removed at every depth (Go's zero values)."""
    if isinstance(value, dict):
        cleaned = {k: semantic(v) for k, v in value.items()}
        return {k: v for k, v in cleaned.items() if v is not None and v != {} and v != []}
    if isinstance(value, list):
        return [semantic(v) for v in value]
    return value


def equal_ignoring_hash(template1: Obj | None, template2: Obj | None) -> bool:
    """Whether two pod templates are semantically equal, ignoring their `pod-template-hash` labels
    (Kubernetes' `EqualIgnoreHash`)."""
    return _without_hash(template1) == _without_hash(template2)


def _without_hash(template: Obj | None) -> Any:
    copied = semantic(template or {})
    labels = (copied.get("metadata") or {}).get("labels")
    if isinstance(labels, dict) and POD_TEMPLATE_HASH_LABEL in labels:
        labels = {k: v for k, v in labels.items() if k != POD_TEMPLATE_HASH_LABEL}
        copied["metadata"] = {**copied["metadata"], "labels": labels}
        copied = semantic(copied)
    return copied


def condition(obj: Obj, kind: str) -> Obj | None:
    """The status condition of type `kind`, or None."""
    conditions = (obj.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if isinstance(c, dict) and c.get("type") == kind), None)
