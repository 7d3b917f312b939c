"""ReplicaSets end to end: `minik8s up --masters 3 --nodes 3` (process runtime).

A ReplicaSet of 20 keeps 20 pods through pod deletions, through the eviction of a node whose
agent was killed, and through a `kill -9` of the master leading the controllers; a sampler
checks that once settled it never runs more than 20. Then it scales 0 -> 50 -> 0. The tests run
in order on one cluster (the leader kill last but one).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest

from minik8s.api import errors
from minik8s.chaos.node_failure import kill_agent, restart_agent

from .cluster import wait_for
from .workload_support import NAMESPACE, Sampler, Up3, active_pods, replicaset, running_ready

RS = "replicasets.apps"
LEASE = ("leases.coordination.k8s.io", "minik8s-controller-manager", "kube-system")


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up3]:
    cluster = Up3(tmp_path_factory.mktemp("replicasets") / "data")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def keep(up: Up3) -> Iterator[Sampler]:
    """ReplicaSet `keep` of 20, settled, with a sampler running for the module's tests."""
    up.client.create(replicaset("keep", 20))
    wait_for(lambda: len(running_ready(up.client, "keep")) == 20, timeout=60, interval=0.5, what="20 pods running")
    with Sampler(up.client, "keep", interval=0.2) as sampler:
        yield sampler


def settled_at_20(up: Up3) -> bool:
    return len(running_ready(up.client, "keep")) == 20 and len(active_pods(up.client, "keep")) == 20


def test_replicaset_replaces_deleted_pods(up: Up3, keep: Sampler) -> None:
    """5 pods deleted: 5 new ones, never more than 20 at a time."""
    victims = [p["metadata"]["name"] for p in active_pods(up.client, "keep")[:5]]
    for name in victims:
        up.client.delete("pods", name, namespace=NAMESPACE)
    wait_for(lambda: settled_at_20(up) and not set(victims) & {p["metadata"]["name"]
                                                            for p in active_pods(up.client, "keep")},
             timeout=60, interval=0.5, what="5 replacements running")
    assert keep.most_pods <= 20


@pytest.mark.slow  # 13 s; a node's pods evicted and replaced: test_nodes, test_node_lifecycle
def test_replicaset_survives_a_node_eviction(up: Up3, keep: Sampler) -> None:
    """node-2's agent killed: once its pods are evicted, replacements run elsewhere; 20, never more."""
    on_node = [p["metadata"]["name"] for p in active_pods(up.client, "keep") if p["spec"].get("nodeName") == "node-2"]
    assert on_node, "the scheduler spread no pod to node-2"
    state = up.state
    assert kill_agent(state, 2)
    try:
        wait_for(lambda: settled_at_20(up) and all(p["spec"].get("nodeName") != "node-2"
                                                   for p in active_pods(up.client, "keep")),
                 timeout=60, interval=0.5, what="20 pods on the other nodes")
    finally:
        restart_agent(state, 2, up.root / "node-2.log")
    assert keep.most_pods <= 20

    def evicted_gone() -> bool:  # the restarted agent finishes the evicted pods' deletion
        names = {p["metadata"]["name"] for p in up.client.list("pods", namespace=NAMESPACE)["items"]}
        return not names & set(on_node)

    wait_for(evicted_gone, timeout=60, interval=0.5, what="evicted pods removed by the returning agent")


@pytest.mark.slow  # 18 s; controllers finishing a dead leader's work: test_garbage_collector, test_service_allocation, the chaos suite
def test_replicaset_survives_a_leader_kill(up: Up3, keep: Sampler) -> None:
    """kill -9 of the master holding the controller lease: the next leader replaces deleted pods."""
    holder = up.client.get(LEASE[0], LEASE[1], namespace=LEASE[2])["spec"]["holderIdentity"]
    index = int(holder.rsplit("-", 1)[1])
    os.kill(up.state["pids"][index], signal.SIGKILL)
    victims = [p["metadata"]["name"] for p in active_pods(up.client, "keep")[:3]]
    for name in victims:
        try:
            up.client.delete("pods", name, namespace=NAMESPACE)
        except errors.NotFoundError:
            pass
    wait_for(lambda: up.client.get(LEASE[0], LEASE[1], namespace=LEASE[2])["spec"]["holderIdentity"] != holder,
             timeout=60, interval=0.5, what="a new controller leader")
    wait_for(lambda: settled_at_20(up), timeout=60, interval=0.5, what="20 pods after the leader kill")
    assert keep.most_pods <= 20


def test_replicaset_scales_0_50_0(up: Up3, keep: Sampler) -> None:
    """Scale to 0, to 50 (all running), back to 0."""
    up.client.scale(RS, "keep", namespace=NAMESPACE, replicas=0)
    wait_for(lambda: not active_pods(up.client, "keep"), timeout=60, interval=0.5, what="scaled to 0")
    up.client.scale(RS, "keep", namespace=NAMESPACE, replicas=50)
    wait_for(lambda: len(running_ready(up.client, "keep")) == 50, timeout=120, interval=1, what="50 pods running")
    assert len(active_pods(up.client, "keep")) == 50
    status = up.client.get(RS, "keep", namespace=NAMESPACE)["status"]
    wait_for(lambda: up.client.get(RS, "keep", namespace=NAMESPACE)["status"].get("availableReplicas") == 50,
             timeout=30, interval=0.5, what=f"status at 50 (was {status})")
    up.client.scale(RS, "keep", namespace=NAMESPACE, replicas=0)
    wait_for(lambda: not active_pods(up.client, "keep"), timeout=60, interval=0.5, what="back to 0")
    assert keep.most_pods <= 50
