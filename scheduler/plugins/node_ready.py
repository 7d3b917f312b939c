"""NodeReady: pods go only to Ready nodes that are not cordoned.

Kubernetes expresses both as taints: `kubectl cordon` sets `spec.unschedulable` (the
NodeUnschedulable plugin treats it as the taint `node.kubernetes.io/unschedulable:NoSchedule`),
and the node lifecycle controller taints a node whose Ready condition is False (or missing) with
`node.kubernetes.io/not-ready` and one whose condition is Unknown with
`node.kubernetes.io/unreachable`. This plugin reads the node's state directly, so a node is
skipped even before any controller has tainted it, and reports the reasons kube-scheduler
would print. Pods that tolerate the corresponding taint (DaemonSet-style) pass.
"""

from __future__ import annotations

from collections.abc import Mapping

from minik8s.api.taints import tolerated

from ..framework import NodeInfo, PodInfo
from .taint_toleration import reason as taint_reason

NAME = "NodeReady"
REASON_UNSCHEDULABLE = "node(s) were unschedulable"
UNSCHEDULABLE_TAINT = {"key": "node.kubernetes.io/unschedulable", "effect": "NoSchedule"}
NOT_READY_TAINT = {"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"}
UNREACHABLE_TAINT = {"key": "node.kubernetes.io/unreachable", "effect": "NoSchedule"}


def readiness_taint(ready: str | None) -> Mapping[str, str] | None:
    """The taint the status of a node's Ready condition stands for (None: no condition); None if Ready."""
    if ready == "True":
        return None
    return UNREACHABLE_TAINT if ready == "Unknown" else NOT_READY_TAINT


class NodeReady:
    """Filter: rejects cordoned nodes and nodes whose Ready condition is not True."""

    name = NAME

    def filter(self, pod: PodInfo, node: NodeInfo) -> tuple[str, ...]:
        if node.unschedulable and not tolerated(UNSCHEDULABLE_TAINT, pod.tolerations):
            return (REASON_UNSCHEDULABLE,)
        taint = readiness_taint(node.ready)
        if taint is not None and not tolerated(taint, pod.tolerations):
            return (taint_reason(taint),)
        return ()
