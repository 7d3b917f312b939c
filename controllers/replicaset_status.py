"""A ReplicaSet's status from the pods it owns (pure): Kubernetes' `calculateStatus` and
`updateReplicaSetStatus` (`pkg/controller/replicaset/replica_set_utils.go`).

- `replicas`: active pods owned; `fullyLabeledReplicas`: those also carrying every label of
  the template; `readyReplicas`: Ready ones; `availableReplicas`: Ready for `minReadySeconds`;
- `observedGeneration`: the generation this status was computed for;
- `ReplicaFailure` (True, `FailedCreate`/`FailedDelete`, the error) while creating or deleting
  pods fails; removed once a sync succeeds.
"""

from __future__ import annotations

import copy
from typing import Any

from minik8s.api.timefmt import format_time

from .pods import available_in, is_available, is_ready

Obj = dict[str, Any]

REPLICA_FAILURE = "ReplicaFailure"
AVAILABILITY_SKEW = 1.0  # seconds added to a wait for minReadySeconds
COUNTED_FIELDS = ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas")


def calculate_status(rs: Obj, pods: list[Obj], manage_error: Exception | None, *, now: float) -> Obj:
    """The status `rs` should have, given its active owned `pods` and the outcome of managing them."""
    spec = rs.get("spec") or {}
    status = copy.deepcopy(rs.get("status") or {})
    template_labels = ((spec.get("template") or {}).get("metadata") or {}).get("labels") or {}
    min_ready = spec.get("minReadySeconds") or 0
    fully_labeled = ready = available = 0
    for pod in pods:
        labels = (pod.get("metadata") or {}).get("labels") or {}
        if all(labels.get(k) == v for k, v in template_labels.items()):
            fully_labeled += 1
        if is_ready(pod):
            ready += 1
            if is_available(pod, min_ready, now):
                available += 1
    conditions = [c for c in status.get("conditions") or [] if c.get("type") != REPLICA_FAILURE]
    failure = next((c for c in status.get("conditions") or [] if c.get("type") == REPLICA_FAILURE), None)
    if manage_error is not None:
        if failure is None:
            diff = len(pods) - (spec.get("replicas") if spec.get("replicas") is not None else 1)
            reason = "FailedCreate" if diff < 0 else "FailedDelete" if diff > 0 else ""
            failure = {"type": REPLICA_FAILURE, "status": "True", "reason": reason,
                       "message": str(manage_error), "lastTransitionTime": format_time(now)}
        conditions.append(failure)
    status["conditions"] = conditions
    if not conditions:
        status.pop("conditions")
    status.update(replicas=len(pods), fullyLabeledReplicas=fully_labeled, readyReplicas=ready,
                  availableReplicas=available)
    status["observedGeneration"] = (rs.get("metadata") or {}).get("generation", 0)
    return status


def status_changed(rs: Obj, status: Obj) -> bool:
    """Whether `status` differs from what `rs` shows (the counts, the generation or the conditions)."""
    old = rs.get("status") or {}
    return (any((old.get(f) or 0) != (status.get(f) or 0) for f in COUNTED_FIELDS)
            or old.get("observedGeneration") != status.get("observedGeneration")
            or (old.get("conditions") or []) != (status.get("conditions") or []))


def next_availability_check(rs: Obj, pods: list[Obj], *, now: float) -> float | None:
    """Seconds until a look at `rs` may find another pod available: the first ready pod that is not
    available yet becomes so then (one second added, as Kubernetes does against clock skew); None
    when no pod waits for that."""
    min_ready = (rs.get("spec") or {}).get("minReadySeconds") or 0
    waits = [w for p in pods
             if not is_available(p, min_ready, now) and (w := available_in(p, min_ready, now)) is not None]
    return min(waits) + AVAILABILITY_SKEW if waits else None
