"""Which ReplicaSet a rollout step scales, and to what (pure): Kubernetes' `rolling.go`,
`recreate.go` and `cleanupDeployment` (`pkg/controller/deployment/`).

A rolling update alternates two moves, each only as far as the fenceposts allow:

- scale the new ReplicaSet *up* while the pods of all ReplicaSets stay within
  `replicas + maxSurge` (`new_rs_target`);
- scale old ReplicaSets *down* while at least `replicas - maxUnavailable` pods stay available:
  first their unavailable pods, which costs no availability (`cleanupUnhealthyReplicas`), then,
  oldest ReplicaSet first, as many as there are available pods above the minimum
  (`scaleDownOldReplicaSetsForRollingUpdate`) (`old_rs_targets`).

Counts are the ReplicaSets' own `status`, which lags the pods a little. Two guards keep the
fenceposts while it does: Kubernetes stops scaling down when an old ReplicaSet shows more
available pods than it is asked to have (its status does not yet show pods it is deleting: the
"invalid request to scale down" it refuses), and minik8s also counts, for the surge, an old
ReplicaSet's pods as the larger of `spec.replicas` and `status.replicas`, so new pods are not
started before the old ReplicaSet has marked the pods it scales away (Kubernetes counts
`spec.replicas` only and so may briefly run more than `replicas + maxSurge` pods).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .deployment_util import (
    active, by_creation, by_revision, is_rolling_update, max_unavailable, replica_count, scaled_value,
    spec_replicas, status_count,
)

Obj = dict[str, Any]


@dataclass(frozen=True)
class Scale:
    """Scale ReplicaSet `rs` to `replicas`."""

    rs: Obj
    replicas: int


def _uid(rs: Obj) -> str:
    return str((rs.get("metadata") or {}).get("uid") or "")


def _available(rs: Obj | None) -> int:
    return int(((rs or {}).get("status") or {}).get("availableReplicas") or 0)


def _pods(rs: Obj | None) -> int:
    """Pods an old ReplicaSet may still run: its spec, or its status while deletions are under way."""
    if rs is None:
        return 0
    return max(spec_replicas(rs), int((rs.get("status") or {}).get("replicas") or 0))


def new_rs_target(d: Obj, all_rss: list[Obj | None], new_rs: Obj) -> int | None:
    """The size the new ReplicaSet should have now, or None when it stays (`reconcileNewReplicaSet`)."""
    replicas, current = spec_replicas(d), spec_replicas(new_rs)
    if current == replicas:
        return None
    if current > replicas:
        return replicas
    if not is_rolling_update(d):
        return replicas
    surge = scaled_value((((d.get("spec") or {}).get("strategy") or {}).get("rollingUpdate") or {})
                         .get("maxSurge", "25%"), replicas, round_up=True)
    others = [rs for rs in all_rss if rs is not None and _uid(rs) != _uid(new_rs)]
    pods = current + sum(_pods(rs) for rs in others)
    max_total = replicas + surge
    if pods >= max_total:
        return None
    target = current + min(max_total - pods, replicas - current)
    return target if target != current else None


def old_rs_targets(d: Obj, all_rss: list[Obj | None], old_rss: list[Obj], new_rs: Obj) -> list[Scale]:
    """How far to scale down the active old ReplicaSets `old_rss` (`reconcileOldReplicaSets`)."""
    if replica_count(old_rss) == 0:
        return []
    min_available = spec_replicas(d) - max_unavailable(d)
    new_unavailable = spec_replicas(new_rs) - _available(new_rs)
    max_scaled_down = replica_count(all_rss) - min_available - new_unavailable
    if max_scaled_down <= 0:
        return []
    sizes = {_uid(rs): spec_replicas(rs) for rs in old_rss}
    cleaned = 0
    for rs in by_creation(old_rss):  # unavailable pods first: removing them costs no availability
        if cleaned >= max_scaled_down:
            break
        size = sizes[_uid(rs)]
        if size == 0 or size == _available(rs):
            continue
        if size < _available(rs):
            return []  # its status still counts pods it is deleting: wait for it (Kubernetes refuses too)
        count = min(max_scaled_down - cleaned, size - _available(rs))
        sizes[_uid(rs)] = size - count
        cleaned += count
    available = sum(_available(rs) for rs in old_rss) + _available(new_rs)
    if available > min_available:
        to_remove, removed = available - min_available, 0
        for rs in by_creation(old_rss):
            if removed >= to_remove:
                break
            size = sizes[_uid(rs)]
            if size == 0:
                continue
            count = min(size, to_remove - removed)
            sizes[_uid(rs)] = size - count
            removed += count
    return [Scale(rs, sizes[_uid(rs)]) for rs in old_rss if sizes[_uid(rs)] != spec_replicas(rs)]


def recreate_scale_down(old_rss: list[Obj]) -> list[Scale]:
    """Recreate: every active old ReplicaSet to 0 (`scaleDownOldReplicaSetsForRecreate`)."""
    return [Scale(rs, 0) for rs in active(old_rss)]


def old_pods_running(new_rs: Obj | None, old_rss: list[Obj], pods_by_rs: dict[str, list[Obj]]) -> bool:
    """Whether a pod of an old ReplicaSet may still run (Recreate waits for none: `oldPodsRunning`)."""
    if status_count(old_rss, "replicas") > 0:
        return True
    new_uid = _uid(new_rs) if new_rs is not None else None
    for rs_uid, pods in pods_by_rs.items():
        if rs_uid == new_uid:
            continue
        if any((p.get("status") or {}).get("phase") not in ("Succeeded", "Failed") for p in pods):
            return True
    return False


def replica_sets_to_clean_up(d: Obj, old_rss: list[Obj]) -> list[Obj]:
    """The old ReplicaSets beyond `revisionHistoryLimit` to delete, lowest revision first; only
    those scaled to 0 with no pods left and their status up to date (`cleanupDeployment`)."""
    limit = (d.get("spec") or {}).get("revisionHistoryLimit")
    if limit is None:
        return []
    alive = [rs for rs in old_rss if not (rs.get("metadata") or {}).get("deletionTimestamp")]
    excess = len(alive) - int(limit)
    if excess <= 0:
        return []
    doomed = []
    for rs in by_revision(alive)[:excess]:
        status, meta = rs.get("status") or {}, rs.get("metadata") or {}
        if (status.get("replicas") or 0) != 0 or spec_replicas(rs) != 0 \
                or meta.get("generation", 0) > status.get("observedGeneration", 0):
            continue
        doomed.append(rs)
    return doomed
