"""Scheduler framework: kube-scheduler's unschedulable message, node choice, resource arithmetic."""

from __future__ import annotations

from typing import Any

import pytest

from minik8s.scheduler.framework import Framework, NodeInfo, PodInfo, unschedulable_message
from minik8s.scheduler.plugins import default_framework
from minik8s.scheduler.resources import amount, node_allocatable, pod_requests

from .test_scheduler_plugins import make_node, make_pod, with_pods

CPU = "Insufficient cpu"
MEMORY = "Insufficient memory"
AFFINITY = "node(s) didn't match Pod's node affinity/selector"


@pytest.mark.parametrize(("total", "rejections", "expected"), [
    pytest.param(3, [(CPU,)] * 3, "0/3 nodes are available: 3 Insufficient cpu.", id="one-reason"),
    pytest.param(5, [(MEMORY,)] * 2 + [(AFFINITY,)] * 3,
                 "0/5 nodes are available: 2 Insufficient memory, 3 node(s) didn't match Pod's node "
                 "affinity/selector.", id="two-reasons"),
    pytest.param(2, [(CPU, MEMORY), (CPU,)], "0/2 nodes are available: 1 Insufficient memory, 2 Insufficient cpu.",
                 id="several-reasons-per-node-sorted-as-strings"),
    pytest.param(12, [(CPU,)] * 10 + [(MEMORY,)] * 2,
                 "0/12 nodes are available: 10 Insufficient cpu, 2 Insufficient memory.", id="lexicographic-counts"),
    pytest.param(0, [], "no nodes available to schedule pods", id="no-nodes"),
])
def test_scheduler_unschedulable_message(total: int, rejections: list[tuple[str, ...]], expected: str) -> None:
    """Reasons are counted per node and the `count reason` strings sorted, as kube-scheduler does."""
    assert unschedulable_message(total, rejections) == expected


def test_scheduler_framework_reports_every_rejection() -> None:
    """When nothing fits, the result carries the message and each node's reasons."""
    nodes = [make_node("a", cpu="1"), make_node("b", cpu="1", labels={"zone": "x"}), make_node("c", unschedulable=True)]
    pod = PodInfo.of(make_pod(requests={"cpu": "1500m"}, nodeSelector={"zone": "x"}))
    result = default_framework().schedule(pod, nodes)
    assert result.node is None
    assert result.rejected == {"a": (AFFINITY,), "b": (CPU,), "c": ("node(s) were unschedulable",)}
    assert result.message == ("0/3 nodes are available: 1 Insufficient cpu, 1 node(s) didn't match Pod's node "
                              "affinity/selector, 1 node(s) were unschedulable.")


def test_scheduler_framework_stops_at_first_failing_filter() -> None:
    """A node rejected by an early plugin is not asked about by later ones (one reason per plugin)."""
    node = make_node("a", cpu="1", unschedulable=True)
    pod = PodInfo.of(make_pod(requests={"cpu": "2"}))
    assert default_framework().reasons(pod, node) == ("node(s) were unschedulable",)


@pytest.mark.parametrize(("nodes", "pod", "expected"), [
    pytest.param([make_node("a", cpu="1"), make_node("b", cpu="4")], make_pod(requests={"cpu": "500m"}), "b",
                 id="least-allocated"),
    pytest.param([with_pods(make_node("a"), make_pod("x", owner="rs")), make_node("b")], make_pod(owner="rs"), "b",
                 id="spread-owner"),
    pytest.param([make_node("a", cpu="1"), make_node("b", cpu="8", unschedulable=True)],
                 make_pod(requests={"cpu": "1"}), "a", id="only-feasible"),
])
def test_scheduler_framework_picks_best_node(nodes: list[NodeInfo], pod: dict[str, Any], expected: str) -> None:
    """The highest weighted score wins."""
    assert default_framework().schedule(PodInfo.of(pod), nodes).node == expected


@pytest.mark.parametrize(("nodes", "expected"), [
    pytest.param([make_node("b"), make_node("a")], "a", id="smallest-name"),
    pytest.param([with_pods(make_node("a"), make_pod("x")), make_node("b")], "b", id="fewest-pods-first"),
])
def test_scheduler_framework_breaks_ties(nodes: list[NodeInfo], expected: str) -> None:
    """Equal scores go to the node with the fewest pods, then to the smallest name."""
    assert Framework([], []).schedule(PodInfo.of(make_pod()), nodes).node == expected


def test_scheduler_framework_spreads_a_burst() -> None:
    """Assuming each placed pod spreads identical pods evenly over identical nodes."""
    nodes = [make_node(f"n{i}") for i in range(3)]
    framework = default_framework()
    for i in range(9):
        pod = PodInfo.of(make_pod(f"p{i}", requests={"cpu": "100m"}, owner="rs"))
        chosen = framework.schedule(pod, nodes).node
        next(n for n in nodes if n.name == chosen).add_pod(pod)
    assert [len(n.pods) for n in nodes] == [3, 3, 3]


def test_scheduler_node_info_tracks_requests() -> None:
    """Adding and removing pods keeps the requested sums and spread counts exact."""
    node = make_node()
    a, b = PodInfo.of(make_pod("a", requests={"cpu": "250m"}, owner="rs")), PodInfo.of(make_pod("b", owner="rs"))
    node.add_pod(a)
    node.add_pod(b)
    node.add_pod(a)  # re-adding replaces
    assert (node.requested, node.non_zero_requested, node.groups["owner:uid-rs"]) == (
        {"cpu": 250}, [350, 400 * 1024 * 1024], 2)
    node.remove_pod("default/a")
    assert (node.requested, node.non_zero_requested, node.groups["owner:uid-rs"]) == (
        {"cpu": 0}, [100, 200 * 1024 * 1024], 1)


@pytest.mark.parametrize(("name", "quantity", "expected"), [
    pytest.param("cpu", "100m", 100, id="cpu-milli"),
    pytest.param("cpu", "0.1", 100, id="cpu-decimal"),
    pytest.param("cpu", "2", 2000, id="cpu-cores"),
    pytest.param("cpu", 1, 1000, id="cpu-int"),
    pytest.param("cpu", "1u", 1, id="cpu-rounds-up"),
    pytest.param("memory", "4Gi", 4 * 2**30, id="memory-binary"),
    pytest.param("memory", "1.5G", 1_500_000_000, id="memory-decimal"),
    pytest.param("memory", "bogus", 0, id="not-a-quantity"),
])
def test_scheduler_resource_amounts(name: str, quantity: Any, expected: int) -> None:
    """Quantities become integers: cpu in millicores (rounded up), the rest in base units."""
    assert amount(name, quantity) == expected


def test_scheduler_pod_requests_and_node_allocatable() -> None:
    """Requests sum containers, cover init containers, add overhead; allocatable falls back to capacity."""
    pod = make_pod(requests={"cpu": "1", "memory": "1Gi"}, overhead={"cpu": "10m"},
                   initContainers=[{"name": "i", "resources": {"requests": {"memory": "2Gi"}}}])
    pod["spec"]["containers"].append({"name": "d", "resources": {"limits": {"cpu": "500m"}}})
    assert pod_requests(pod) == {"cpu": 1510, "memory": 2 * 2**30}
    node = {"status": {"capacity": {"cpu": "4", "memory": "8Gi", "pods": "20"}, "allocatable": {"cpu": "3"}}}
    assert node_allocatable(node) == {"cpu": 3000, "memory": 8 * 2**30, "pods": 20}
    assert node_allocatable({}) == {"pods": 110}
