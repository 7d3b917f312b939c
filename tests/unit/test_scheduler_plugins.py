"""Scheduler plugins: each filter's verdict and reason in Kubernetes' words, and the scores."""

from __future__ import annotations

from typing import Any

import pytest

from minik8s.scheduler.framework import NodeInfo, PodInfo
from minik8s.scheduler.plugins import LeastAllocated, NodeAffinity, NodeReady, ResourcesFit, Spread, TaintToleration

READY = [{"type": "Ready", "status": "True"}]


def make_pod(name: str = "p", *, requests: dict[str, str] | None = None, limits: dict[str, str] | None = None,
             labels: dict[str, str] | None = None, owner: str | None = None, **spec: Any) -> dict[str, Any]:
    resources = {k: v for k, v in (("requests", requests), ("limits", limits)) if v}
    metadata: dict[str, Any] = {"name": name, "namespace": "default", "uid": f"uid-{name}"}
    if labels:
        metadata["labels"] = labels
    if owner:
        metadata["ownerReferences"] = [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": owner,
                                        "uid": f"uid-{owner}", "controller": True}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata,
            "spec": {"containers": [{"name": "c", "image": "i", "resources": resources}], **spec}}


def make_node(name: str = "n1", *, cpu: str = "2", memory: str = "4Gi", pods: str | None = None,
              labels: dict[str, str] | None = None, conditions: list[dict[str, str]] | None = None,
              **spec: Any) -> NodeInfo:
    allocatable = {"cpu": cpu, "memory": memory, **({"pods": pods} if pods else {})}
    info = NodeInfo(name)
    info.set_node({"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": labels or {}},
                   "spec": spec, "status": {"allocatable": allocatable,
                                            "conditions": READY if conditions is None else conditions}})
    return info


def with_pods(node: NodeInfo, *pods: dict[str, Any]) -> NodeInfo:
    for pod in pods:
        node.add_pod(PodInfo.of(pod))
    return node


# --- NodeReady --------------------------------------------------------------------------------

@pytest.mark.parametrize(("node", "pod", "expected"), [
    pytest.param(make_node(), make_pod(), (), id="ready"),
    pytest.param(make_node(unschedulable=True), make_pod(), ("node(s) were unschedulable",), id="cordoned"),
    pytest.param(make_node(unschedulable=True),
                 make_pod(tolerations=[{"key": "node.kubernetes.io/unschedulable", "operator": "Exists",
                                        "effect": "NoSchedule"}]), (), id="cordoned-tolerated"),
    pytest.param(make_node(conditions=[{"type": "Ready", "status": "False"}]), make_pod(),
                 ("node(s) had untolerated taint {node.kubernetes.io/not-ready: }",), id="not-ready"),
    pytest.param(make_node(conditions=[]), make_pod(),
                 ("node(s) had untolerated taint {node.kubernetes.io/not-ready: }",), id="no-ready-condition"),
    pytest.param(make_node(conditions=[{"type": "Ready", "status": "Unknown"}]), make_pod(),
                 ("node(s) had untolerated taint {node.kubernetes.io/unreachable: }",), id="unreachable"),
    pytest.param(make_node(conditions=[{"type": "Ready", "status": "False"}]),
                 make_pod(tolerations=[{"key": "node.kubernetes.io/not-ready", "operator": "Exists"}]), (),
                 id="not-ready-tolerated"),
])
def test_scheduler_node_ready_filter(node: NodeInfo, pod: dict[str, Any], expected: tuple[str, ...]) -> None:
    """Cordoned and not-Ready nodes are rejected with kube-scheduler's reasons unless tolerated."""
    assert NodeReady().filter(PodInfo.of(pod), node) == expected


# --- TaintToleration --------------------------------------------------------------------------

GPU_TAINT = {"key": "gpu", "value": "true", "effect": "NoSchedule"}


@pytest.mark.parametrize(("taints", "tolerations", "expected"), [
    pytest.param([], [], (), id="no-taints"),
    pytest.param([GPU_TAINT], [], ("node(s) had untolerated taint {gpu: true}",), id="untolerated"),
    pytest.param([GPU_TAINT], [{"key": "gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}], (),
                 id="equal"),
    pytest.param([GPU_TAINT], [{"key": "gpu", "value": "true"}], (), id="default-operator-any-effect"),
    pytest.param([GPU_TAINT], [{"key": "gpu", "operator": "Equal", "value": "false"}],
                 ("node(s) had untolerated taint {gpu: true}",), id="value-differs"),
    pytest.param([GPU_TAINT], [{"key": "gpu", "operator": "Exists"}], (), id="exists"),
    pytest.param([GPU_TAINT], [{"operator": "Exists"}], (), id="exists-everything"),
    pytest.param([GPU_TAINT], [{"key": "gpu", "operator": "Exists", "effect": "NoExecute"}],
                 ("node(s) had untolerated taint {gpu: true}",), id="effect-differs"),
    pytest.param([{"key": "x", "effect": "NoExecute"}], [], ("node(s) had untolerated taint {x: }",),
                 id="no-execute"),
    pytest.param([{"key": "x", "effect": "PreferNoSchedule"}], [], (), id="prefer-no-schedule-ignored"),
    pytest.param([{"key": "a", "value": "1", "effect": "NoSchedule"}, GPU_TAINT],
                 [{"key": "a", "operator": "Exists"}], ("node(s) had untolerated taint {gpu: true}",),
                 id="first-untolerated-reported"),
])
def test_scheduler_taint_toleration_filter(taints: list[dict[str, str]], tolerations: list[dict[str, str]],
                                           expected: tuple[str, ...]) -> None:
    """NoSchedule/NoExecute taints need a matching toleration (key, operator, value, effect)."""
    pod = PodInfo.of(make_pod(tolerations=tolerations))
    assert TaintToleration().filter(pod, make_node(taints=taints)) == expected


# --- NodeAffinity -----------------------------------------------------------------------------

def required(*terms: dict[str, Any]) -> dict[str, Any]:
    return {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": list(terms)}}}


def expr(key: str, operator: str, *values: str) -> dict[str, Any]:
    return {"matchExpressions": [{"key": key, "operator": operator, "values": list(values)}]}


LABELS = {"zone": "a", "disk": "ssd", "cores": "8"}


@pytest.mark.parametrize(("spec", "fits"), [
    pytest.param({}, True, id="no-constraints"),
    pytest.param({"nodeSelector": {"zone": "a"}}, True, id="selector-match"),
    pytest.param({"nodeSelector": {"zone": "b"}}, False, id="selector-value-differs"),
    pytest.param({"nodeSelector": {"zone": "a", "gpu": "yes"}}, False, id="selector-label-missing"),
    pytest.param({"affinity": required(expr("zone", "In", "a", "b"))}, True, id="in"),
    pytest.param({"affinity": required(expr("zone", "In", "b"))}, False, id="in-miss"),
    pytest.param({"affinity": required(expr("zone", "NotIn", "b"))}, True, id="notin"),
    pytest.param({"affinity": required(expr("zone", "NotIn", "a"))}, False, id="notin-miss"),
    pytest.param({"affinity": required(expr("gpu", "NotIn", "x"))}, True, id="notin-absent-label"),
    pytest.param({"affinity": required(expr("disk", "Exists"))}, True, id="exists"),
    pytest.param({"affinity": required(expr("gpu", "Exists"))}, False, id="exists-miss"),
    pytest.param({"affinity": required(expr("gpu", "DoesNotExist"))}, True, id="does-not-exist"),
    pytest.param({"affinity": required(expr("disk", "DoesNotExist"))}, False, id="does-not-exist-miss"),
    pytest.param({"affinity": required(expr("cores", "Gt", "4"))}, True, id="gt"),
    pytest.param({"affinity": required(expr("cores", "Gt", "8"))}, False, id="gt-equal"),
    pytest.param({"affinity": required(expr("cores", "Lt", "16"))}, True, id="lt"),
    pytest.param({"affinity": required(expr("zone", "Gt", "1"))}, False, id="gt-not-a-number"),
    pytest.param({"affinity": required(expr("gpu", "Lt", "1"))}, False, id="lt-absent-label"),
    pytest.param({"affinity": required({"matchExpressions": [
        {"key": "zone", "operator": "In", "values": ["a"]},
        {"key": "disk", "operator": "In", "values": ["hdd"]}]})}, False, id="expressions-anded"),
    pytest.param({"affinity": required(expr("zone", "In", "b"), expr("disk", "In", "ssd"))}, True,
                 id="terms-ored"),
    pytest.param({"affinity": required({})}, False, id="empty-term-matches-nothing"),
    pytest.param({"affinity": required()}, False, id="no-terms-match-nothing"),
    pytest.param({"affinity": required({"matchFields": [
        {"key": "metadata.name", "operator": "In", "values": ["n1"]}]})}, True, id="match-fields-name"),
    pytest.param({"affinity": required({"matchFields": [
        {"key": "metadata.name", "operator": "NotIn", "values": ["n1"]}]})}, False, id="match-fields-notin"),
    pytest.param({"nodeSelector": {"zone": "b"}, "affinity": required(expr("zone", "In", "a"))}, False,
                 id="selector-and-affinity-both-needed"),
])
def test_scheduler_node_affinity_filter(spec: dict[str, Any], fits: bool) -> None:
    """nodeSelector and required node affinity terms select nodes as in Kubernetes."""
    reasons = NodeAffinity().filter(PodInfo.of(make_pod(**spec)), make_node("n1", labels=LABELS))
    assert reasons == (() if fits else ("node(s) didn't match Pod's node affinity/selector",))


# --- NodeResourcesFit -------------------------------------------------------------------------

@pytest.mark.parametrize(("node", "pod", "expected"), [
    pytest.param(make_node(), make_pod(requests={"cpu": "1", "memory": "1Gi"}), (), id="fits"),
    pytest.param(make_node(), make_pod(requests={"cpu": "2", "memory": "4Gi"}), (), id="exactly-fits"),
    pytest.param(make_node(), make_pod(requests={"cpu": "2001m"}), ("Insufficient cpu",), id="cpu-millicores"),
    pytest.param(make_node(), make_pod(requests={"memory": "5Gi"}), ("Insufficient memory",), id="memory"),
    pytest.param(make_node(), make_pod(requests={"cpu": "100", "memory": "100Gi"}),
                 ("Insufficient cpu", "Insufficient memory"), id="both-reported"),
    pytest.param(make_node(), make_pod(limits={"cpu": "3"}), ("Insufficient cpu",), id="limit-is-request"),
    pytest.param(make_node(), make_pod(), (), id="no-requests"),
    pytest.param(with_pods(make_node(), make_pod("a", requests={"cpu": "1500m"})),
                 make_pod(requests={"cpu": "600m"}), ("Insufficient cpu",), id="already-requested"),
    pytest.param(with_pods(make_node(), make_pod("a"), make_pod("b")), make_pod(requests={"cpu": "2"}), (),
                 id="pods-without-requests-count-zero"),
    pytest.param(with_pods(make_node(pods="2"), make_pod("a"), make_pod("b")), make_pod(), ("Too many pods",),
                 id="pod-capacity"),
    pytest.param(make_node(), make_pod(requests={"nvidia.com/gpu": "1"}), ("Insufficient nvidia.com/gpu",),
                 id="extended-resource-not-offered"),
    pytest.param(make_node(), make_pod(overhead={"cpu": "100m"}, requests={"cpu": "1950m"}),
                 ("Insufficient cpu",), id="overhead"),
    pytest.param(make_node(), make_pod(initContainers=[{"name": "i", "resources": {"requests": {"cpu": "3"}}}]),
                 ("Insufficient cpu",), id="init-container-max"),
])
def test_scheduler_resources_fit_filter(node: NodeInfo, pod: dict[str, Any], expected: tuple[str, ...]) -> None:
    """Requests are compared with allocatable minus what the node's pods already request."""
    assert ResourcesFit().filter(PodInfo.of(pod), node) == expected


# --- scores -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("node", "pod", "expected"), [
    pytest.param(make_node(cpu="2", memory="4Gi"), make_pod(requests={"cpu": "1", "memory": "1Gi"}), 62.5,
                 id="half-cpu-quarter-memory"),
    pytest.param(make_node(cpu="1", memory="1Gi"), make_pod(requests={"cpu": "2", "memory": "2Gi"}), 0.0,
                 id="over-committed"),
    pytest.param(make_node(cpu="1", memory="800Mi"), make_pod(), 82.5, id="non-zero-defaults"),
    pytest.param(make_node(cpu="0", memory="0"), make_pod(), 0.0, id="nothing-allocatable"),
])
def test_scheduler_least_allocated_score(node: NodeInfo, pod: dict[str, Any], expected: float) -> None:
    """The score is the average free share of cpu and memory after placing the pod."""
    assert LeastAllocated().score(PodInfo.of(pod), node) == pytest.approx(expected)


@pytest.mark.parametrize(("node", "pod", "expected"), [
    pytest.param(make_node(), make_pod(owner="rs"), 100.0, id="empty-node"),
    pytest.param(with_pods(make_node(), make_pod("a", owner="rs")), make_pod(owner="rs"), 50.0, id="one-sibling"),
    pytest.param(with_pods(make_node(), make_pod("a", owner="rs"), make_pod("b", owner="rs")),
                 make_pod(owner="rs"), 100 / 3, id="two-siblings"),
    pytest.param(with_pods(make_node(), make_pod("a", owner="other")), make_pod(owner="rs"), 100.0,
                 id="other-owner"),
    pytest.param(with_pods(make_node(), make_pod("a", labels={"app": "web"})), make_pod(labels={"app": "web"}),
                 50.0, id="same-labels-without-owner"),
    pytest.param(with_pods(make_node(), make_pod("a", labels={"app": "db"})), make_pod(labels={"app": "web"}),
                 100.0, id="other-labels"),
    pytest.param(with_pods(make_node(), make_pod("a")), make_pod(), 100.0, id="no-owner-no-labels"),
])
def test_scheduler_spread_score(node: NodeInfo, pod: dict[str, Any], expected: float) -> None:
    """Fewer pods of the same owner (or, without owner, the same labels) on a node scores higher."""
    assert Spread().score(PodInfo.of(pod), node) == pytest.approx(expected)
