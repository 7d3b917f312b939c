"""Spread: prefer nodes running fewer pods of the same workload as the pod.

Pods are "the same" when they share their controller (the ownerReference with `controller`,
else the first, compared by uid), or, without an owner, when they carry the same labels (see
`framework.spread_group`). The score falls with every such pod on the node: 100, 50, 33, ...
Pods without owner or labels get the same score everywhere. Counts come from the node's
index, so scoring a node costs O(1).
"""

from __future__ import annotations

from ..framework import NodeInfo, PodInfo

NAME = "SelectorSpread"


class Spread:
    """Score: 100 / (1 + pods of the same group already on the node)."""

    name = NAME

    def __init__(self, weight: float = 2.0) -> None:
        self.weight = weight

    def score(self, pod: PodInfo, node: NodeInfo) -> float:
        if pod.group is None:
            return 100.0
        return 100.0 / (1 + node.groups[pod.group])
