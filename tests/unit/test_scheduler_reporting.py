"""Scheduler reporting: the PodScheduled condition, shaped like kube-scheduler's."""

from __future__ import annotations

from minik8s.scheduler.reporting import reports, with_unschedulable

from .test_scheduler_plugins import make_pod

MESSAGE = "0/3 nodes are available: 3 Insufficient cpu."


def test_scheduler_unschedulable_condition() -> None:
    """The condition is set without touching the original; its transition time sticks while False."""
    pod = make_pod("p")
    pod["status"] = {"phase": "Pending", "conditions": [{"type": "Initialized", "status": "True"}]}
    first = with_unschedulable(pod, MESSAGE, 0)
    assert "PodScheduled" not in str(pod)
    assert first["status"]["conditions"][-1] == {
        "type": "PodScheduled", "status": "False", "lastProbeTime": None,
        "lastTransitionTime": "1970-01-01T00:00:00Z", "reason": "Unschedulable", "message": MESSAGE}
    assert reports(first, MESSAGE) and not reports(first, "other")
    second = with_unschedulable(first, "other", 3600)
    assert [c["type"] for c in second["status"]["conditions"]] == ["Initialized", "PodScheduled"]
    assert second["status"]["conditions"][-1]["lastTransitionTime"] == "1970-01-01T00:00:00Z"
