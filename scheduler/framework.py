"""The scheduling framework: what plugins see, what they return, and how their answers combine.

A scheduling cycle runs every filter plugin against every node (in plugin order, stopping at
the first one that rejects the node, as kube-scheduler does), scores the feasible nodes with
the weighted score plugins and picks the best one; ties go to the node with the fewest pods,
then to the smallest name, so runs are reproducible. A filter returns the reasons it rejects
a node, in Kubernetes' exact words (`Insufficient cpu`); when no node fits, the reasons are
aggregated into kube-scheduler's message (`0/3 nodes are available: 3 Insufficient cpu.`),
which ends up in the pod's PodScheduled condition and its FailedScheduling event.

`PodInfo` and `NodeInfo` precompute what plugins ask for on every node (requests, the pods
already on a node and their sums), so a cycle costs O(nodes x plugins), not O(nodes x pods).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from minik8s.api.informer import object_key

from .resources import Resources, add, node_allocatable, non_zero_requests, pod_requests

Obj = dict[str, Any]

NO_NODES_MESSAGE = "no nodes available to schedule pods"


def spread_group(pod: Mapping[str, Any]) -> str | None:
    """Which pods count as "the same" for spreading: same controller (owner uid), else same labels."""
    metadata = pod.get("metadata") or {}
    owners = metadata.get("ownerReferences") or []
    owner = next((o for o in owners if o.get("controller")), owners[0] if owners else None)
    if owner and owner.get("uid"):
        return f"owner:{owner['uid']}"
    labels = metadata.get("labels") or {}
    if labels:
        return "labels:" + ",".join(f"{k}={v}" for k, v in sorted(labels.items()))
    return None


@dataclass(frozen=True)
class PodInfo:
    """A pod with what the plugins need from it computed once."""

    key: str
    pod: Obj
    requests: Resources
    non_zero: tuple[int, int]  # (millicores, bytes) for scoring, with defaults for unset requests
    group: str | None
    tolerations: tuple[Mapping[str, Any], ...]

    @classmethod
    def of(cls, pod: Obj) -> PodInfo:
        tolerations = tuple((pod.get("spec") or {}).get("tolerations") or ())
        return cls(object_key(pod), pod, pod_requests(pod), non_zero_requests(pod), spread_group(pod), tolerations)

    @property
    def spec(self) -> Mapping[str, Any]:
        return self.pod.get("spec") or {}


@dataclass
class NodeInfo:
    """One node as the scheduler sees it: the Node object, the pods on it and what they request.

    `node` is None while pods are known to be bound to a node whose object is not (yet) seen.
    """

    name: str
    node: Obj | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    taints: Sequence[Mapping[str, Any]] = ()
    unschedulable: bool = False
    ready: str | None = None  # the status of the Ready condition: "True", "False", "Unknown"
    allocatable: Resources = field(default_factory=dict)
    requested: Resources = field(default_factory=dict)
    non_zero_requested: list[int] = field(default_factory=lambda: [0, 0])
    pods: dict[str, PodInfo] = field(default_factory=dict)
    groups: Counter[str] = field(default_factory=Counter)

    def set_node(self, node: Obj | None) -> None:
        """Take in a new version of the Node object (None: not known), precomputing what plugins read."""
        self.node = node
        spec, status = (node or {}).get("spec") or {}, (node or {}).get("status") or {}
        self.labels = ((node or {}).get("metadata") or {}).get("labels") or {}
        self.taints = spec.get("taints") or ()
        self.unschedulable = bool(spec.get("unschedulable"))
        ready = [c for c in status.get("conditions") or [] if c.get("type") == "Ready"]
        self.ready = ready[0].get("status") if ready else None
        self.allocatable = node_allocatable(node) if node is not None else {}

    def add_pod(self, pod: PodInfo) -> None:
        self.remove_pod(pod.key)
        self.pods[pod.key] = pod
        add(self.requested, pod.requests)
        self.non_zero_requested[0] += pod.non_zero[0]
        self.non_zero_requested[1] += pod.non_zero[1]
        if pod.group:
            self.groups[pod.group] += 1

    def remove_pod(self, key: str) -> None:
        pod = self.pods.pop(key, None)
        if pod is None:
            return
        add(self.requested, pod.requests, -1)
        self.non_zero_requested[0] -= pod.non_zero[0]
        self.non_zero_requested[1] -= pod.non_zero[1]
        if pod.group:
            self.groups[pod.group] -= 1


class FilterPlugin(Protocol):
    """Decides whether a pod may run on a node."""

    name: str

    def filter(self, pod: PodInfo, node: NodeInfo) -> tuple[str, ...]:
        """Why the pod cannot run on the node, in Kubernetes' words; `()` when it fits."""
        ...


class ScorePlugin(Protocol):
    """Ranks the nodes a pod fits on; the framework multiplies the score by `weight`."""

    name: str
    weight: float

    def score(self, pod: PodInfo, node: NodeInfo) -> float:
        """How good the node is for the pod, 0 (worst) to 100 (best)."""
        ...


def unschedulable_message(total_nodes: int, rejections: Iterable[Sequence[str]]) -> str:
    """kube-scheduler's FitError text: `0/N nodes are available: ` + sorted `count reason` + `.`.

    Like kube-scheduler, it sorts the `"<count> <reason>"` strings themselves.
    """
    if total_nodes == 0:
        return NO_NODES_MESSAGE
    counts = Counter(reason for reasons in rejections for reason in reasons)
    histogram = sorted(f"{count} {reason}" for reason, count in counts.items())
    return f"0/{total_nodes} nodes are available: {', '.join(histogram)}."


@dataclass(frozen=True)
class ScheduleResult:
    """The node chosen, or why none was: the message and every rejected node's reasons."""

    node: str | None
    message: str = ""
    rejected: Mapping[str, tuple[str, ...]] = field(default_factory=dict)


class Framework:
    """Runs the filter and score plugins over a set of nodes for one pod."""

    def __init__(self, filters: Sequence[FilterPlugin], scores: Sequence[ScorePlugin]) -> None:
        self.filters = tuple(filters)
        self.scores = tuple(scores)

    def reasons(self, pod: PodInfo, node: NodeInfo) -> tuple[str, ...]:
        """The first rejecting filter's reasons; `()` when every filter passes."""
        for plugin in self.filters:
            reasons = plugin.filter(pod, node)
            if reasons:
                return reasons
        return ()

    def score(self, pod: PodInfo, node: NodeInfo) -> float:
        """The weighted sum of every score plugin's score."""
        return sum(plugin.weight * plugin.score(pod, node) for plugin in self.scores)

    def schedule(self, pod: PodInfo, nodes: Sequence[NodeInfo]) -> ScheduleResult:
        """Filter, score, pick: the best node, or the message explaining why none fits."""
        feasible: list[NodeInfo] = []
        rejected: dict[str, tuple[str, ...]] = {}
        for node in nodes:
            reasons = self.reasons(pod, node)
            if reasons:
                rejected[node.name] = reasons
            else:
                feasible.append(node)
        if not feasible:
            return ScheduleResult(None, unschedulable_message(len(nodes), rejected.values()), rejected)
        if len(feasible) == 1:
            return ScheduleResult(feasible[0].name, rejected=rejected)
        best = min(feasible, key=lambda n: (-self.score(pod, n), len(n.pods), n.name))
        return ScheduleResult(best.name, rejected=rejected)
