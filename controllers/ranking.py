"""Which pods a ReplicaSet deletes first when it has too many (pure).

Kubernetes' `ActivePodsWithRanks.Less` (`pkg/controller/controller_utils.go`) and
`getPodsToDelete` (`pkg/controller/replicaset/replica_set.go`), with the `PodDeletionCost`
and `LogarithmicScaleDown` features on, as they are by default since Kubernetes 1.22. A pod is
deleted before another when, at the first rule that tells them apart, it is:

1. not assigned to a node (while the other is);
2. in an earlier phase: Pending < Unknown < Running;
3. not ready (while the other is);
4. of lower `controller.kubernetes.io/pod-deletion-cost` (an int32 annotation, default 0);
5. on a node with more active pods of the same owner (its *rank*);
6. both ready: ready for less time (on a log2 scale of nanoseconds; equal buckets: lower uid first);
7. restarted more often (the highest container `restartCount`);
8. created more recently (log2 scale again, lower uid first within a bucket).
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from datetime import datetime
from typing import Any

from minik8s.api.timefmt import parse_time

from .pods import is_active, is_ready, max_restarts, ready_since

Obj = dict[str, Any]

DELETION_COST_ANNOTATION = "controller.kubernetes.io/pod-deletion-cost"
_PHASE_ORDINAL = {"Pending": 0, "Unknown": 1, "Running": 2}
_INT32 = (-(2**31), 2**31 - 1)


def deletion_cost(pod: Obj) -> int:
    """The pod's deletion cost annotation; 0 when absent or not an int32."""
    value = ((pod.get("metadata") or {}).get("annotations") or {}).get(DELETION_COST_ANNOTATION)
    try:
        cost = int(str(value).strip()) if value is not None else 0
    except ValueError:
        return 0
    return cost if _INT32[0] <= cost <= _INT32[1] else 0


def ranks_by_node(pods: list[Obj], related: list[Obj]) -> list[int]:
    """For each pod, how many active pods of `related` share its node (Kubernetes' rank)."""
    on_node = Counter(_node(p) for p in related if is_active(p))
    return [on_node[_node(p)] for p in pods]


def pods_to_delete(pods: list[Obj], related: list[Obj], count: int, *, now: float) -> list[Obj]:
    """The `count` pods of `pods` to delete first; `related` are the active pods of every
    ReplicaSet with the same owner (for the per-node rank); `now` is epoch seconds."""
    if count >= len(pods):
        return list(pods[:count])
    ranked = list(zip(pods, ranks_by_node(pods, related)))
    ordered = sorted(ranked, key=functools.cmp_to_key(lambda a, b: _compare(a, b, now)))
    return [pod for pod, _ in ordered[:count]]


def _compare(a: tuple[Obj, int], b: tuple[Obj, int], now: float) -> int:
    if _less(a, b, now):
        return -1
    return 1 if _less(b, a, now) else 0


def _less(a: tuple[Obj, int], b: tuple[Obj, int], now: float) -> bool:
    """Kubernetes' `ActivePodsWithRanks.Less`: should pod `a` be deleted before pod `b`?"""
    (pa, rank_a), (pb, rank_b) = a, b
    node_a, node_b = _node(pa), _node(pb)
    if node_a != node_b and (not node_a or not node_b):
        return not node_a
    phase_a, phase_b = _phase_ordinal(pa), _phase_ordinal(pb)
    if phase_a != phase_b:
        return phase_a < phase_b
    ready_a, ready_b = is_ready(pa), is_ready(pb)
    if ready_a != ready_b:
        return not ready_a
    cost_a, cost_b = deletion_cost(pa), deletion_cost(pb)
    if cost_a != cost_b:
        return cost_a < cost_b
    if rank_a != rank_b:
        return rank_a > rank_b
    if ready_a and ready_b:
        since_a, since_b = ready_since(pa), ready_since(pb)
        if since_a != since_b:
            return _newer_first(since_a, since_b, _uid(pa), _uid(pb), now)
    restarts_a, restarts_b = max_restarts(pa), max_restarts(pb)
    if restarts_a != restarts_b:
        return restarts_a > restarts_b
    created_a, created_b = _created(pa), _created(pb)
    if created_a != created_b:
        return _newer_first(created_a, created_b, _uid(pa), _uid(pb), now)
    return False


def _newer_first(t1: datetime | None, t2: datetime | None, uid1: str, uid2: str, now: float) -> bool:
    """Kubernetes' time rule: an unknown time first, then the more recent one on a log2 scale of
    its age, ties within a bucket broken by uid."""
    if t1 is None or t2 is None:
        return t1 is None  # afterOrZero: a zero time comes first
    diff = _log_rank(t1, now) - _log_rank(t2, now)
    if diff == 0:
        return uid1 < uid2
    return diff < 0


def _log_rank(t: datetime, now: float) -> int:
    """floor(log2(age in nanoseconds)), -1 for an age of zero or less."""
    age_ns = (now - t.timestamp()) * 1e9
    return int(math.log2(age_ns)) if age_ns > 0 else -1


def _node(pod: Obj) -> str:
    return (pod.get("spec") or {}).get("nodeName") or ""


def _phase_ordinal(pod: Obj) -> int:
    return _PHASE_ORDINAL.get((pod.get("status") or {}).get("phase") or "", 0)


def _created(pod: Obj) -> datetime | None:
    return parse_time((pod.get("metadata") or {}).get("creationTimestamp"))


def _uid(pod: Obj) -> str:
    return str((pod.get("metadata") or {}).get("uid") or "")
