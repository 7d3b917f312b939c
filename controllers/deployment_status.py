"""A Deployment's status and conditions (pure): Kubernetes' `calculateStatus`, `syncRolloutStatus`
and `checkPausedConditions` (`pkg/controller/deployment/{sync,progress}.go`).

Counts come from the ReplicaSets' own status; `Available` is True while at least
`replicas - maxUnavailable` pods are available. `Progressing` tells a rollout's story:

- `NewReplicaSetCreated` / `FoundNewReplicaSet` (True) when the controller creates or first
  finds the new ReplicaSet;
- `ReplicaSetUpdated` (True) each time the rollout makes progress (more updated, ready or
  available pods, fewer old ones), its `lastUpdateTime` moved to now;
- `NewReplicaSetAvailable` (True) once complete: every replica updated and available;
- `ProgressDeadlineExceeded` (False) when no progress was seen for `progressDeadlineSeconds`
  after the last update; `kubectl rollout status` then fails;
- `DeploymentPaused` / `DeploymentResumed` (Unknown) when paused and resumed, so time spent
  paused never counts against the deadline.

A ReplicaSet's `ReplicaFailure` condition (the new one's first) is copied to the Deployment.
"""

from __future__ import annotations

import copy
from typing import Any

from minik8s.api.timefmt import format_time, parse_time

from .deployment_util import has_progress_deadline, max_unavailable, replica_count, spec_replicas, status_count

Obj = dict[str, Any]

AVAILABLE, PROGRESSING, REPLICA_FAILURE = "Available", "Progressing", "ReplicaFailure"
NEW_RS_CREATED = "NewReplicaSetCreated"
FOUND_NEW_RS = "FoundNewReplicaSet"
RS_UPDATED = "ReplicaSetUpdated"
NEW_RS_AVAILABLE = "NewReplicaSetAvailable"
TIMED_OUT = "ProgressDeadlineExceeded"
FAILED_RS_CREATE = "ReplicaSetCreateError"
PAUSED = "DeploymentPaused"
RESUMED = "DeploymentResumed"
MIN_AVAILABLE = "MinimumReplicasAvailable"
MIN_UNAVAILABLE = "MinimumReplicasUnavailable"
REQUEUE_NOW = 1.0  # a progress check due within this many seconds is done soon (REQUEUE_SOON)
REQUEUE_SOON = 0.5


def new_condition(kind: str, status: str, reason: str, message: str, *, now: float) -> Obj:
    """A Deployment condition stamped `now` (both update and transition time)."""
    stamp = format_time(now)
    return {"type": kind, "status": status, "lastUpdateTime": stamp, "lastTransitionTime": stamp,
            "reason": reason, "message": message}


def get_condition(status: Obj, kind: str) -> Obj | None:
    """The condition of type `kind` in `status`, or None."""
    return next((c for c in status.get("conditions") or [] if c.get("type") == kind), None)


def set_condition(status: Obj, condition: Obj) -> None:
    """Add or replace `condition` in `status` (in place) unless one of the same status and reason is
    there; an unchanged status keeps its `lastTransitionTime` (`SetDeploymentCondition`)."""
    current = get_condition(status, condition["type"])
    if current is not None and current.get("status") == condition["status"] \
            and current.get("reason") == condition.get("reason"):
        return
    if current is not None and current.get("status") == condition["status"]:
        condition = {**condition, "lastTransitionTime": current.get("lastTransitionTime")}
    remove_condition(status, condition["type"])
    status.setdefault("conditions", []).append(condition)


def remove_condition(status: Obj, kind: str) -> None:
    """Drop the condition of type `kind` from `status` (in place)."""
    if "conditions" in status:
        status["conditions"] = [c for c in status["conditions"] if c.get("type") != kind]


def calculate_status(all_rss: list[Obj | None], new_rs: Obj | None, d: Obj, *, now: float) -> Obj:
    """Counts, observed generation and the `Available` condition (Kubernetes' `calculateStatus`)."""
    rss = [rs for rs in all_rss if rs is not None]
    available = status_count(rss, "availableReplicas")
    old = d.get("status") or {}
    status: Obj = {
        "observedGeneration": (d.get("metadata") or {}).get("generation", 0),
        "replicas": status_count(rss, "replicas"),
        "updatedReplicas": status_count([new_rs], "replicas"),
        "readyReplicas": status_count(rss, "readyReplicas"),
        "availableReplicas": available,
        "unavailableReplicas": max(0, replica_count(rss) - available),
        "conditions": copy.deepcopy(old.get("conditions") or []),
    }
    if old.get("collisionCount") is not None:
        status["collisionCount"] = old["collisionCount"]
    if available >= spec_replicas(d) - max_unavailable(d):
        set_condition(status, new_condition(AVAILABLE, "True", MIN_AVAILABLE, "Deployment has minimum availability.",
                                            now=now))
    else:
        set_condition(status, new_condition(AVAILABLE, "False", MIN_UNAVAILABLE,
                                            "Deployment does not have minimum availability.", now=now))
    return status


def is_complete(d: Obj, status: Obj) -> bool:
    """Every replica updated and available, and the status is for the current generation."""
    replicas = spec_replicas(d)
    return (status.get("updatedReplicas", 0) == replicas and status.get("replicas", 0) == replicas
            and status.get("availableReplicas", 0) == replicas
            and status.get("observedGeneration", 0) >= (d.get("metadata") or {}).get("generation", 0))


def is_progressing(d: Obj, new_status: Obj) -> bool:
    """Whether `new_status` shows progress over the stored status (`DeploymentProgressing`)."""
    old = d.get("status") or {}
    old_old = old.get("replicas", 0) - old.get("updatedReplicas", 0)
    new_old = new_status.get("replicas", 0) - new_status.get("updatedReplicas", 0)
    return (new_status.get("updatedReplicas", 0) > old.get("updatedReplicas", 0) or new_old < old_old
            or new_status.get("readyReplicas", 0) > old.get("readyReplicas", 0)
            or new_status.get("availableReplicas", 0) > old.get("availableReplicas", 0))


def _deadline(d: Obj) -> int:
    return int((d.get("spec") or {}).get("progressDeadlineSeconds") or 0)


def _updated_at(condition: Obj) -> float:
    stamp = parse_time(condition.get("lastUpdateTime"))
    return stamp.timestamp() if stamp else 0.0


def is_timed_out(d: Obj, new_status: Obj, *, now: float) -> bool:
    """No progress for `progressDeadlineSeconds` since the Progressing condition's last update."""
    if not has_progress_deadline(d):
        return False
    condition = get_condition(new_status, PROGRESSING)
    if condition is None or condition.get("reason") == NEW_RS_AVAILABLE:
        return False
    if condition.get("reason") == TIMED_OUT:
        return True
    return _updated_at(condition) + _deadline(d) < now


def rollout_status(d: Obj, all_rss: list[Obj | None], new_rs: Obj | None, *, now: float) -> tuple[Obj, float | None]:
    """The status after a rollout step, and seconds until the deadline must be checked again
    (None: no check due) (Kubernetes' `syncRolloutStatus` and `requeueStuckDeployment`)."""
    status = calculate_status(all_rss, new_rs, d, now=now)
    if not has_progress_deadline(d):
        remove_condition(status, PROGRESSING)
    current = get_condition(d.get("status") or {}, PROGRESSING)
    complete_before = (status["replicas"] == status["updatedReplicas"] and current is not None
                       and current.get("reason") == NEW_RS_AVAILABLE)
    new_name = (new_rs or {}).get("metadata", {}).get("name")
    subject = f'ReplicaSet "{new_name}"' if new_rs is not None else f'Deployment "{d["metadata"]["name"]}"'
    if has_progress_deadline(d) and not complete_before:
        if is_complete(d, status):
            set_condition(status, new_condition(PROGRESSING, "True", NEW_RS_AVAILABLE,
                                                f"{subject} has successfully progressed.", now=now))
        elif is_progressing(d, status):
            condition = new_condition(PROGRESSING, "True", RS_UPDATED, f"{subject} is progressing.", now=now)
            if current is not None:
                if current.get("status") == "True":
                    condition["lastTransitionTime"] = current.get("lastTransitionTime")
                remove_condition(status, PROGRESSING)
            set_condition(status, condition)
        elif is_timed_out(d, status, now=now):
            set_condition(status, new_condition(PROGRESSING, "False", TIMED_OUT,
                                                f"{subject} has timed out progressing.", now=now))
    failures = replica_failures(all_rss, new_rs)
    if failures:
        set_condition(status, failures[0])
    else:
        remove_condition(status, REPLICA_FAILURE)
    return status, _progress_check_after(d, status, now=now)


def _progress_check_after(d: Obj, new_status: Obj, *, now: float) -> float | None:
    """Seconds until a stuck rollout's deadline passes (`requeueStuckDeployment`), None when no
    check is due (no deadline, complete, or timed out already)."""
    current = get_condition(d.get("status") or {}, PROGRESSING)
    if not has_progress_deadline(d) or current is None:
        return None
    if is_complete(d, new_status) or current.get("reason") == TIMED_OUT:
        return None
    after = _updated_at(current) + _deadline(d) - now
    return REQUEUE_SOON if after < REQUEUE_NOW else after + 1.0


def replica_failures(all_rss: list[Obj | None], new_rs: Obj | None) -> list[Obj]:
    """`ReplicaFailure` conditions of the new ReplicaSet, else of any ReplicaSet, as Deployment conditions."""
    def failures(rss: list[Obj | None]) -> list[Obj]:
        found = []
        for rs in rss:
            for c in ((rs or {}).get("status") or {}).get("conditions") or []:
                if c.get("type") == REPLICA_FAILURE:
                    found.append({"type": REPLICA_FAILURE, "status": c.get("status"),
                                  "lastUpdateTime": c.get("lastTransitionTime"),
                                  "lastTransitionTime": c.get("lastTransitionTime"),
                                  "reason": c.get("reason"), "message": c.get("message")})
        return found
    return failures([new_rs]) or failures(all_rss)


def paused_condition(d: Obj, *, now: float) -> Obj | None:
    """The status with a `DeploymentPaused`/`DeploymentResumed` condition when pausing or resuming
    changed it; None when nothing is to be written (`checkPausedConditions`)."""
    if not has_progress_deadline(d):
        return None
    status = copy.deepcopy(d.get("status") or {})
    current = get_condition(status, PROGRESSING)
    if current is not None and current.get("reason") == TIMED_OUT:
        return None
    paused_recorded = current is not None and current.get("reason") == PAUSED
    paused = bool((d.get("spec") or {}).get("paused"))
    if paused and not paused_recorded:
        set_condition(status, new_condition(PROGRESSING, "Unknown", PAUSED, "Deployment is paused", now=now))
    elif not paused and paused_recorded:
        set_condition(status, new_condition(PROGRESSING, "Unknown", RESUMED, "Deployment is resumed", now=now))
    else:
        return None
    return status
