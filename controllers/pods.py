"""What the workload controllers read from a pod: active, ready, available, restarts (pure).

Kubernetes' `pkg/api/v1/pod` (`IsPodReady`, `IsPodAvailable`) and `pkg/controller`
(`IsPodActive`). Readiness is the pod's `Ready` condition, whatever sets it: today the kubelet
marks a pod Ready when its containers run; with readiness probes it is the probes' verdict, and
nothing here changes. Availability is readiness held for `minReadySeconds`, measured from the
condition's `lastTransitionTime` (the node's wall clock, second precision, as in Kubernetes).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from minik8s.api.timefmt import parse_time

Obj = dict[str, Any]

TERMINAL_PHASES = ("Succeeded", "Failed")


def is_active(pod: Obj) -> bool:
    """Neither finished (Succeeded/Failed) nor being deleted."""
    return (pod.get("status") or {}).get("phase") not in TERMINAL_PHASES and not _deleting(pod)


def is_terminated(pod: Obj) -> bool:
    """In phase Succeeded or Failed."""
    return (pod.get("status") or {}).get("phase") in TERMINAL_PHASES


def _deleting(pod: Obj) -> bool:
    return bool((pod.get("metadata") or {}).get("deletionTimestamp"))


def ready_condition(pod: Obj) -> Obj | None:
    """The pod's `Ready` condition, or None."""
    conditions = (pod.get("status") or {}).get("conditions") or []
    return next((c for c in conditions if isinstance(c, dict) and c.get("type") == "Ready"), None)


def is_ready(pod: Obj) -> bool:
    """The `Ready` condition is True."""
    return (ready_condition(pod) or {}).get("status") == "True"


def ready_since(pod: Obj) -> datetime | None:
    """When a ready pod became ready (its Ready condition's `lastTransitionTime`); None otherwise."""
    if not is_ready(pod):
        return None
    return parse_time((ready_condition(pod) or {}).get("lastTransitionTime"))


def is_available(pod: Obj, min_ready_seconds: int, now: float) -> bool:
    """Ready, and (with `min_ready_seconds`) ready for longer than that at epoch `now`."""
    if not is_ready(pod):
        return False
    if not min_ready_seconds:
        return True
    since = ready_since(pod)
    return since is not None and since.timestamp() + min_ready_seconds < now


def available_in(pod: Obj, min_ready_seconds: int, now: float) -> float | None:
    """Seconds until a ready pod becomes available (0 when it is), None when it is not ready."""
    if not is_ready(pod):
        return None
    if not min_ready_seconds:
        return 0.0
    since = ready_since(pod)
    if since is None:
        return None
    return max(0.0, since.timestamp() + min_ready_seconds - now)


def max_restarts(pod: Obj) -> int:
    """The highest `restartCount` of the pod's containers."""
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    return max((s.get("restartCount") or 0 for s in statuses if isinstance(s, dict)), default=0)


def pod_key(pod: Obj) -> str:
    """`namespace/name`, the key expectations track deletions by."""
    meta = pod.get("metadata") or {}
    return f"{meta.get('namespace')}/{meta.get('name')}"
