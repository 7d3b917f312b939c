"""Deployment status and conditions: counts, Available, and the Progressing story kubectl rollout status reads."""

from __future__ import annotations

from typing import Any

from minik8s.api.timefmt import format_time
from minik8s.controllers.deployment_status import (
    NEW_RS_AVAILABLE, PAUSED, PROGRESSING, RESUMED, RS_UPDATED, TIMED_OUT, calculate_status, get_condition,
    new_condition, paused_condition, rollout_status,
)

Obj = dict[str, Any]
NOW = 2_000_000_000.0


def deployment(replicas: int = 3, *, generation: int = 2, deadline: int | None = 60, paused: bool = False,
               status: Obj | None = None) -> Obj:
    spec: Obj = {"replicas": replicas, "paused": paused,
                 "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}}
    if deadline is not None:
        spec["progressDeadlineSeconds"] = deadline
    return {"metadata": {"name": "web", "generation": generation}, "spec": spec, "status": status or {}}


def rs(name: str, *, replicas: int, ready: int, available: int, spec: int | None = None,
       conditions: list[Obj] | None = None) -> Obj:
    return {"metadata": {"name": name, "uid": name}, "spec": {"replicas": replicas if spec is None else spec},
            "status": {"replicas": replicas, "readyReplicas": ready, "availableReplicas": available,
                       "conditions": conditions or []}}


def progressing(reason: str, *, ago: float, status: str = "True") -> Obj:
    return {**new_condition(PROGRESSING, status, reason, "m", now=NOW - ago)}


def test_status_counts_and_available_condition() -> None:
    """Counts sum the ReplicaSets' status; Available holds with replicas - maxUnavailable available."""
    old, new = rs("old", replicas=2, ready=2, available=2), rs("new", replicas=2, ready=1, available=1)
    status = calculate_status([old, new], new, deployment(3), now=NOW)
    assert {k: status[k] for k in ("observedGeneration", "replicas", "updatedReplicas", "readyReplicas",
                                   "availableReplicas", "unavailableReplicas")} == {
        "observedGeneration": 2, "replicas": 4, "updatedReplicas": 2, "readyReplicas": 3,
        "availableReplicas": 3, "unavailableReplicas": 1}
    assert get_condition(status, "Available")["status"] == "True"
    short = calculate_status([rs("new", replicas=3, ready=2, available=2)], None, deployment(3), now=NOW)
    assert get_condition(short, "Available")["reason"] == "MinimumReplicasUnavailable"


def test_status_progress_updates_the_condition_time() -> None:
    """More available pods than before: ReplicaSetUpdated with lastUpdateTime now, transition time kept."""
    before = {"replicas": 3, "updatedReplicas": 1, "availableReplicas": 2,
              "conditions": [progressing("NewReplicaSetCreated", ago=30)]}
    d = deployment(3, status=before)
    status, _ = rollout_status(d, [rs("new", replicas=3, ready=3, available=3, spec=3)],
                               rs("new", replicas=2, ready=2, available=2), now=NOW)
    cond = get_condition(status, PROGRESSING)
    assert (cond["reason"], cond["lastUpdateTime"]) == (RS_UPDATED, format_time(NOW))
    assert cond["lastTransitionTime"] == format_time(NOW - 30)


def test_status_complete_rollout_is_new_replica_set_available() -> None:
    """All updated and available at the current generation: NewReplicaSetAvailable, no further check."""
    new = rs("new", replicas=3, ready=3, available=3)
    d = deployment(3, generation=1, status={"conditions": [progressing(RS_UPDATED, ago=5)]})
    status, check = rollout_status(d, [new], new, now=NOW)
    assert get_condition(status, PROGRESSING)["reason"] == NEW_RS_AVAILABLE
    assert 'ReplicaSet "new" has successfully progressed.' == get_condition(status, PROGRESSING)["message"]


def test_status_no_progress_past_the_deadline_times_out() -> None:
    """No progress for progressDeadlineSeconds: Progressing False ProgressDeadlineExceeded."""
    stuck = rs("new", replicas=1, ready=0, available=0)
    old = rs("old", replicas=3, ready=3, available=3)
    seen = {"replicas": 4, "updatedReplicas": 1, "readyReplicas": 3, "availableReplicas": 3}
    early = deployment(3, status={**seen, "conditions": [progressing(RS_UPDATED, ago=30)]})
    status, check = rollout_status(early, [old, stuck], stuck, now=NOW)
    assert get_condition(status, PROGRESSING)["reason"] == RS_UPDATED
    assert check is not None and 30 < check <= 32  # looked at again once the deadline passes
    late = deployment(3, status={**seen, "conditions": [progressing(RS_UPDATED, ago=61)]})
    status, check = rollout_status(late, [old, stuck], stuck, now=NOW)
    cond = get_condition(status, PROGRESSING)
    assert (cond["status"], cond["reason"]) == ("False", TIMED_OUT)
    assert cond["message"] == 'ReplicaSet "new" has timed out progressing.'


def test_status_without_deadline_has_no_progressing_condition() -> None:
    """progressDeadlineSeconds unset: no Progressing condition at all."""
    new = rs("new", replicas=3, ready=3, available=3)
    d = deployment(3, deadline=None, status={"conditions": [progressing(RS_UPDATED, ago=5)]})
    status, check = rollout_status(d, [new], new, now=NOW)
    assert get_condition(status, PROGRESSING) is None and check is None


def test_status_replica_failure_is_copied_from_the_new_rs() -> None:
    """A ReplicaSet's ReplicaFailure shows on the Deployment; it goes when the ReplicaSet's does."""
    failure = {"type": "ReplicaFailure", "status": "True", "reason": "FailedCreate", "message": "quota",
               "lastTransitionTime": format_time(NOW)}
    new = rs("new", replicas=0, ready=0, available=0, spec=3, conditions=[failure])
    status, _ = rollout_status(deployment(3), [new], new, now=NOW)
    assert get_condition(status, "ReplicaFailure")["reason"] == "FailedCreate"
    healed = rs("new", replicas=3, ready=3, available=3)
    status, _ = rollout_status(deployment(3, status=status), [healed], healed, now=NOW)
    assert get_condition(status, "ReplicaFailure") is None


def test_status_pause_and_resume_conditions() -> None:
    """Pausing records DeploymentPaused, resuming DeploymentResumed (both Unknown); a timeout is kept."""
    paused = paused_condition(deployment(paused=True, status={"conditions": [progressing(RS_UPDATED, ago=5)]}),
                              now=NOW)
    assert paused is not None and get_condition(paused, PROGRESSING)["reason"] == PAUSED
    assert paused_condition(deployment(paused=True, status=paused), now=NOW) is None
    resumed = paused_condition(deployment(paused=False, status=paused), now=NOW)
    assert resumed is not None and get_condition(resumed, PROGRESSING)["reason"] == RESUMED
    timed_out = {"conditions": [progressing(TIMED_OUT, ago=5, status="False")]}
    assert paused_condition(deployment(paused=True, status=timed_out), now=NOW) is None
