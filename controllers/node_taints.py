"""Pure helpers for the node lifecycle controller: the Ready condition, unreachable taints, tolerations.

They take API objects and return changed deep copies (informer caches are never modified),
so the controller's decisions can be tested without a cluster. Shapes follow Kubernetes:
`status.conditions[type=Ready]`, `spec.taints[{key, effect, timeAdded}]`, and the pod
toleration rules of `k8s.io/api/core/v1/toleration.go` (`minik8s.api.taints`, which the scheduler uses too).
"""

from __future__ import annotations

import copy

from minik8s.api.informer import Obj
from minik8s.api.taints import matching_tolerations

UNREACHABLE_TAINT_KEY = "node.kubernetes.io/unreachable"
UNREACHABLE_EFFECTS = ("NoSchedule", "NoExecute")
UNREACHABLE_NO_EXECUTE = {"key": UNREACHABLE_TAINT_KEY, "effect": "NoExecute"}  # the taint that evicts


def ready_condition(node: Obj) -> Obj | None:
    """The node's `Ready` condition, or None when it has none."""
    conditions = (node.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if c.get("type") == "Ready"), None)


def with_ready(node: Obj, *, status: str, reason: str, message: str, now: str) -> Obj:
    """A copy of `node` whose Ready condition has `status`/`reason`/`message`; other conditions are kept.

    `lastTransitionTime` becomes `now` when the status changes; `lastHeartbeatTime` is left alone
    (it is the node agent's to write).
    """
    out = copy.deepcopy(node)
    node_status = out["status"] = out.get("status") or {}
    conditions = node_status["conditions"] = node_status.get("conditions") or []
    ready = next((c for c in conditions if c.get("type") == "Ready"), None)
    if ready is None:
        ready = {"type": "Ready"}
        conditions.append(ready)
    if ready.get("status") != status:
        ready["lastTransitionTime"] = now
    ready.update(status=status, reason=reason, message=message)
    return out


def _taints(node: Obj) -> list[Obj]:
    return (node.get("spec") or {}).get("taints") or []


def unreachable_effects(node: Obj) -> set[str]:
    """The effects of the node's `node.kubernetes.io/unreachable` taints."""
    return {t.get("effect") for t in _taints(node) if t.get("key") == UNREACHABLE_TAINT_KEY}


def with_unreachable_taints(node: Obj, *, now: str) -> Obj:
    """A copy of `node` with both unreachable taints (NoSchedule, NoExecute); existing ones are kept."""
    out = copy.deepcopy(node)
    spec = out["spec"] = out.get("spec") or {}
    present = unreachable_effects(out)
    spec["taints"] = _taints(out) + [
        {"key": UNREACHABLE_TAINT_KEY, "effect": effect, "timeAdded": now}
        for effect in UNREACHABLE_EFFECTS if effect not in present
    ]
    return out


def without_unreachable_taints(node: Obj) -> Obj:
    """A copy of `node` without unreachable taints (`spec.taints` dropped when nothing is left)."""
    out = copy.deepcopy(node)
    spec = out["spec"] = out.get("spec") or {}
    kept = [t for t in _taints(out) if t.get("key") != UNREACHABLE_TAINT_KEY]
    if kept:
        spec["taints"] = kept
    else:
        spec.pop("taints", None)
    return out


def eviction_delay(pod: Obj, default: float) -> float | None:
    """How long `pod` may stay on an unreachable node; None means forever.

    The least `tolerationSeconds` among its tolerations of the NoExecute unreachable taint;
    forever when it tolerates the taint with no time limit; `default` when it does not tolerate it
    (Kubernetes admission gives every pod such a toleration of 300 s; minik8s uses the default).
    """
    matching = matching_tolerations(UNREACHABLE_NO_EXECUTE, (pod.get("spec") or {}).get("tolerations") or [])
    if not matching:
        return default
    limits = [max(0.0, float(t["tolerationSeconds"])) for t in matching if t.get("tolerationSeconds") is not None]
    return min(limits) if limits else None
