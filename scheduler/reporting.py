"""What the scheduler writes about pods besides bindings: the PodScheduled condition, event reasons.

`kubectl describe pod` shows both: the condition says why a pod is Pending
(`PodScheduled=False`, reason `Unschedulable`, kube-scheduler's message) and the Events list
shows `FailedScheduling` warnings and the `Scheduled` note once a pod is bound (recorded with
`minik8s.api.events`). Pure builders; the scheduler sends them.
"""

from __future__ import annotations

import copy
from typing import Any

from minik8s.api.timefmt import format_time

from .framework import Obj

UNSCHEDULABLE = "Unschedulable"
FAILED_SCHEDULING = "FailedScheduling"
SCHEDULED = "Scheduled"


def scheduled_condition(pod: Obj) -> dict[str, Any] | None:
    return next((c for c in (pod.get("status") or {}).get("conditions") or [] if c.get("type") == "PodScheduled"),
                None)


def reports(pod: Obj, message: str) -> bool:
    """Whether the pod's PodScheduled condition already says it is unschedulable for `message`."""
    condition = scheduled_condition(pod) or {}
    return (condition.get("status"), condition.get("reason"), condition.get("message")) == (
        "False", UNSCHEDULABLE, message)


def with_unschedulable(pod: Obj, message: str, now: float) -> Obj:
    """A copy of `pod` whose PodScheduled condition is False/Unschedulable with `message`."""
    updated = copy.deepcopy(pod)
    status = updated.setdefault("status", {})
    old = scheduled_condition(updated) or {}
    transition = old.get("lastTransitionTime") if old.get("status") == "False" else None
    condition = {"type": "PodScheduled", "status": "False", "lastProbeTime": None,
                 "lastTransitionTime": transition or format_time(now), "reason": UNSCHEDULABLE, "message": message}
    status["conditions"] = [c for c in status.get("conditions") or [] if c.get("type") != "PodScheduled"]
    status["conditions"].append(condition)
    status.setdefault("phase", "Pending")
    return updated
