"""The scheduler against a real master: pods are bound and spread; a pod that fits nowhere is reported."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from minik8s.api.client import ApiClient
from minik8s.scheduler import Scheduler

from .cluster import TOKEN, Cluster, wait_for

NODES = ("node-a", "node-b", "node-c")


def node(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "status": {"allocatable": {"cpu": "2", "memory": "4Gi", "pods": "110"},
                       "capacity": {"cpu": "2", "memory": "4Gi", "pods": "110"},
                       "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}}


def pod(name: str, cpu: str, memory: str = "256Mi") -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default"},
            "spec": {"containers": [{"name": "main", "image": "busybox",
                                     "resources": {"requests": {"cpu": cpu, "memory": memory}}}]}}


@pytest.fixture
def client(tmp_path: Path) -> Iterator[ApiClient]:
    # Without the master's own control loops: no second scheduler, no lifecycle controller marking
    # the agent-less test nodes NotReady.
    cluster = Cluster(tmp_path / "c", 1, extra_args=["--no-control-loops"])
    try:
        cluster.start()
        cluster.wait_ready()
        with ApiClient([m.url for m in cluster.masters], token=TOKEN) as api:
            yield api
    finally:
        cluster.stop()


@pytest.fixture
def scheduler(client: ApiClient) -> Iterator[Scheduler]:
    sched = Scheduler(client, watch_timeout_seconds=2)
    sched.start()
    try:
        yield sched
    finally:
        sched.stop(timeout=10)


def test_scheduler_binds_spreads_and_reports_unschedulable(client: ApiClient, scheduler: Scheduler) -> None:
    """Six pods land two per node; a pod asking 100 cpus stays Pending with kube-scheduler's reason,
    reported again (condition and event) only when the reason changes."""
    for name in NODES:
        client.create(node(name))
    for i in range(6):
        client.create(pod(f"web-{i}", "500m"))
    client.create(pod("huge", "100"))

    def placements() -> Counter[str] | None:
        pods = client.list("pods", namespace="default")["items"]
        nodes = {p["metadata"]["name"]: p["spec"].get("nodeName") for p in pods}
        web = [nodes[f"web-{i}"] for i in range(6)]
        return Counter(web) if all(web) else None

    assert wait_for(placements, timeout=30, what="web pods bound") == Counter({n: 2 for n in NODES})
    for i in range(6):
        conditions = client.get("pods", f"web-{i}")["status"]["conditions"]
        assert {"type": "PodScheduled", "status": "True"}.items() <= conditions[-1].items()

    message = "0/3 nodes are available: 3 Insufficient cpu."

    def unschedulable() -> dict[str, Any] | None:
        huge = client.get("pods", "huge")
        condition = next((c for c in huge["status"].get("conditions") or [] if c["type"] == "PodScheduled"), None)
        return condition if condition and condition.get("reason") == "Unschedulable" else None

    condition = wait_for(unschedulable, timeout=30, what="huge reported unschedulable")
    assert (condition["status"], condition["message"]) == ("False", message)
    huge = client.get("pods", "huge")
    assert not huge["spec"].get("nodeName") and huge["status"]["phase"] == "Pending"

    def failed_scheduling(count: int) -> list[dict[str, Any]] | None:
        events = client.list("events", namespace="default", field_selector="involvedObject.name=huge")["items"]
        failed = [e for e in events if e["reason"] == "FailedScheduling"]
        return failed if len(failed) >= count else None

    events = wait_for(lambda: failed_scheduling(1), timeout=30, what="FailedScheduling event")
    assert [(e["type"], e["message"], e["source"]["component"]) for e in events] == [
        ("Warning", message, "default-scheduler")]

    # A new node is tried at once (not after the back-off); only the changed message is reported again.
    client.create(node("node-d"))
    wider = "0/4 nodes are available: 4 Insufficient cpu."
    wait_for(lambda: (unschedulable() or {}).get("message") == wider, timeout=10, what="message for 4 nodes")
    events = wait_for(lambda: failed_scheduling(2), timeout=10, what="second FailedScheduling event")
    assert sorted(e["message"] for e in events) == [message, wider]

    def scheduled() -> list[dict[str, Any]]:
        return client.list("events", namespace="default", field_selector="involvedObject.name=web-0")["items"]

    event = wait_for(scheduled, timeout=30, what="Scheduled event")[0]
    assert (event["reason"], event["type"]) == ("Scheduled", "Normal")
    assert event["message"].startswith("Successfully assigned default/web-0 to node-")
