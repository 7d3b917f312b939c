"""Pod garbage collection: which pods go (terminated beyond the threshold, orphans after quarantine, ...)."""

from __future__ import annotations

from typing import Any

from minik8s.api.timefmt import format_time
from minik8s.controllers.podgc import (
    OUT_OF_SERVICE_TAINT_KEY, Quarantine, terminated_to_delete, terminating_on_out_of_service_nodes,
    unscheduled_terminating,
)

Obj = dict[str, Any]


def pod(name: str, *, phase: str = "Running", created: float = 0, node: str | None = "n1",
        deleting: bool = False, reason: str | None = None) -> Obj:
    meta: Obj = {"name": name, "namespace": "default", "creationTimestamp": format_time(1.9e9 + created)}
    if deleting:
        meta["deletionTimestamp"] = format_time(1.9e9 + 100)
    status: Obj = {"phase": phase, **({"reason": reason} if reason else {})}
    return {"metadata": meta, "spec": {"nodeName": node} if node else {}, "status": status}


def node(name: str, *, ready: str, out_of_service: bool) -> Obj:
    taints = [{"key": OUT_OF_SERVICE_TAINT_KEY, "effect": "NoExecute"}] if out_of_service else []
    return {"metadata": {"name": name}, "spec": {"taints": taints},
            "status": {"conditions": [{"type": "Ready", "status": ready}]}}


def names(pods: list[Obj]) -> list[str]:
    return [p["metadata"]["name"] for p in pods]


def test_podgc_terminated_beyond_threshold_evicted_then_oldest_first() -> None:
    """Above the threshold the surplus of Succeeded/Failed pods goes: evicted first, then the oldest."""
    pods = [pod("new-done", phase="Succeeded", created=30), pod("old-failed", phase="Failed", created=10),
            pod("evicted", phase="Failed", created=50, reason="Evicted"), pod("running", created=0),
            pod("mid", phase="Succeeded", created=20)]
    assert names(terminated_to_delete(pods, 2)) == ["evicted", "old-failed"]
    assert terminated_to_delete(pods, 4) == []
    assert terminated_to_delete(pods, 0) == []  # 0 turns this off


def test_podgc_terminating_only_on_not_ready_out_of_service_nodes() -> None:
    """A terminating pod is force-deleted only on a NotReady node tainted out-of-service (as in Kubernetes)."""
    nodes = {"down-oos": node("down-oos", ready="Unknown", out_of_service=True),
             "down": node("down", ready="Unknown", out_of_service=False),
             "up-oos": node("up-oos", ready="True", out_of_service=True)}
    pods = [pod("a", node="down-oos", deleting=True), pod("b", node="down", deleting=True),
            pod("c", node="up-oos", deleting=True), pod("d", node="down-oos")]
    assert names(terminating_on_out_of_service_nodes(pods, nodes)) == ["a"]


def test_podgc_unscheduled_terminating() -> None:
    """A pod being deleted that never got a node is force-deleted."""
    pods = [pod("a", node=None, deleting=True), pod("b", node=None), pod("c", deleting=True)]
    assert names(unscheduled_terminating(pods)) == ["a"]


def test_podgc_quarantine_waits_before_checking_a_missing_node() -> None:
    """A node missing from the cache is checked once it has been missing for the quarantine, then forgotten."""
    q = Quarantine(40)
    assert q.due({"gone"}, now=0) == []
    assert q.due({"gone"}, now=39) == []
    assert q.due({"gone"}, now=40) == ["gone"]
    assert q.due({"gone"}, now=41) == []  # a fresh quarantine after each check
    assert q.due(set(), now=100) == [] and q.due({"gone"}, now=100) == []
    assert q.due({"gone", "back"}, now=120) == []
    assert q.due({"gone"}, now=140) == ["gone"]  # "back" returned meanwhile: never checked
