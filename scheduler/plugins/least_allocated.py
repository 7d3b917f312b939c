"""LeastAllocated: prefer the node with the most CPU and memory left after placing the pod.

Kubernetes' default NodeResourcesFit scoring: for cpu and memory, the free share of allocatable
once the pod is added, averaged and scaled to 0..100. Like kube-scheduler it scores with
"non-zero" requests (a container without requests counts as 100m and 200Mi), so pods that
request nothing still spread over nodes instead of piling onto one.
"""

from __future__ import annotations

from ..framework import NodeInfo, PodInfo
from ..resources import CPU, MEMORY

NAME = "NodeResourcesLeastAllocated"


def free_share(allocatable: int, requested: int) -> float:
    """100 x the unrequested fraction of `allocatable`; 0 when nothing is left (or offered)."""
    if allocatable <= 0 or requested > allocatable:
        return 0.0
    return (allocatable - requested) * 100.0 / allocatable


class LeastAllocated:
    """Score: the average free share of cpu and memory with the pod placed."""

    name = NAME

    def __init__(self, weight: float = 1.0) -> None:
        self.weight = weight

    def score(self, pod: PodInfo, node: NodeInfo) -> float:
        cpu = free_share(node.allocatable.get(CPU, 0), node.non_zero_requested[0] + pod.non_zero[0])
        memory = free_share(node.allocatable.get(MEMORY, 0), node.non_zero_requested[1] + pod.non_zero[1])
        return (cpu + memory) / 2
