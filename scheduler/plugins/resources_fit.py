"""NodeResourcesFit: a pod fits where every resource it requests is still free.

Free means the node's allocatable minus what the pods already on it (bound or assumed by this
scheduler) request. CPU is compared in millicores, memory and the rest in their base units;
extended resources (`nvidia.com/gpu`) work the same way and a node that does not offer one has
none. Requests that are not set count as zero, as in Kubernetes, so such pods are limited only by
the node's pod capacity. Every exhausted resource is reported (`Insufficient cpu`,
`Insufficient memory`, `Too many pods`), each counted on its own in the aggregated message.
"""

from __future__ import annotations

from ..framework import NodeInfo, PodInfo
from ..resources import PODS

NAME = "NodeResourcesFit"
REASON_TOO_MANY_PODS = "Too many pods"


def insufficient(resource: str) -> str:
    """Kubernetes' wording for a node short of `resource`."""
    return f"Insufficient {resource}"


class ResourcesFit:
    """Filter: rejects nodes without room for the pod's requests or for one more pod."""

    name = NAME

    def filter(self, pod: PodInfo, node: NodeInfo) -> tuple[str, ...]:
        reasons = []
        if len(node.pods) + 1 > node.allocatable.get(PODS, 0):
            reasons.append(REASON_TOO_MANY_PODS)
        for resource, wanted in pod.requests.items():
            free = node.allocatable.get(resource, 0) - node.requested.get(resource, 0)
            if wanted > free:
                reasons.append(insufficient(resource))
        return tuple(reasons)
