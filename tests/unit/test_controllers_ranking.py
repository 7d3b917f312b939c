"""Which pods a ReplicaSet deletes first: Kubernetes' ActivePodsWithRanks rules, one case per rule."""

from __future__ import annotations

from typing import Any

import pytest

from minik8s.api.timefmt import format_time
from minik8s.controllers.ranking import DELETION_COST_ANNOTATION, deletion_cost, pods_to_delete, ranks_by_node

NOW = 2_000_000_000.0
Obj = dict[str, Any]


def pod(name: str, *, node: str | None = "n1", phase: str = "Running", ready: bool = True,
        ready_ago: float | None = 1000.0, created_ago: float = 2000.0, restarts: int = 0,
        cost: str | None = None, uid: str | None = None) -> Obj:
    annotations = {DELETION_COST_ANNOTATION: cost} if cost is not None else {}
    conditions = [{"type": "Ready", "status": "True" if ready else "False",
                   **({"lastTransitionTime": format_time(NOW - ready_ago)} if ready_ago is not None else {})}]
    return {"metadata": {"name": name, "uid": uid or name, "creationTimestamp": format_time(NOW - created_ago),
                         "annotations": annotations},
            "spec": {"nodeName": node} if node else {},
            "status": {"phase": phase, "conditions": conditions,
                       "containerStatuses": [{"name": "c", "restartCount": restarts}]}}


def first_deleted(a: Obj, b: Obj, related: list[Obj] | None = None) -> str:
    """The name of the pod deleted first of two, whichever order they come in."""
    forward = pods_to_delete([a, b], related if related is not None else [a, b], 1, now=NOW)[0]
    backward = pods_to_delete([b, a], related if related is not None else [a, b], 1, now=NOW)[0]
    assert forward is backward, "the order must not depend on the input order"
    return forward["metadata"]["name"]


@pytest.mark.parametrize(("a", "b", "related", "expected"), [
    pytest.param(pod("x", node=None, phase="Pending"), pod("y"), None, "x", id="1-unassigned-before-assigned"),
    pytest.param(pod("x", phase="Pending", ready=False), pod("y", phase="Running", ready=False), None, "x",
                 id="2-pending-before-running"),
    pytest.param(pod("x", phase="Unknown"), pod("y", phase="Running"), None, "x", id="2-unknown-before-running"),
    pytest.param(pod("x", phase="Pending"), pod("y", phase="Unknown"), None, "x", id="2-pending-before-unknown"),
    pytest.param(pod("x", ready=False), pod("y"), None, "x", id="3-not-ready-before-ready"),
    pytest.param(pod("x", cost="-5"), pod("y"), None, "x", id="4-lower-deletion-cost-first"),
    pytest.param(pod("x", cost="10"), pod("y", cost="2"), None, "y", id="4-higher-cost-kept"),
    pytest.param(pod("x", cost="10", node="n1"), pod("y", cost="2", node="n2"),
                 [pod("a", node="n1"), pod("b", node="n1")], "y", id="4-cost-before-node-rank"),
    pytest.param(pod("x", node="n1"), pod("y", node="n2"),
                 [pod("x", node="n1"), pod("y", node="n2"), pod("z", node="n2")], "y", id="5-more-pods-on-node-first"),
    pytest.param(pod("x", ready_ago=10), pod("y", ready_ago=10_000), None, "x", id="6-ready-for-less-time-first"),
    pytest.param(pod("x", ready_ago=None), pod("y", ready_ago=10), None, "x", id="6-unknown-ready-time-first"),
    pytest.param(pod("x", restarts=3), pod("y", restarts=1), None, "x", id="7-more-restarts-first"),
    pytest.param(pod("x", created_ago=100), pod("y", created_ago=100_000), None, "x", id="8-newer-first"),
    pytest.param(pod("x", ready=False, created_ago=100_000), pod("y", ready=False, created_ago=100), None, "y",
                 id="8-newer-first-not-ready"),
])
def test_ranking_deletes_in_kubernetes_order(a: Obj, b: Obj, related: list[Obj] | None, expected: str) -> None:
    """At the first rule that tells two pods apart, the one Kubernetes deletes first goes first."""
    assert first_deleted(a, b, related) == expected


def test_ranking_uses_log_scale_and_uid_within_a_bucket() -> None:
    """Ages in the same power-of-two bucket tie on time; the lower uid goes first (Kubernetes' pseudo-random order)."""
    a = pod("a", ready_ago=1000.0, uid="bbb")
    b = pod("b", ready_ago=1001.0, uid="aaa")  # 1000 s and 1001 s: same log2 bucket of nanoseconds
    assert first_deleted(a, b) == "b"
    c = pod("c", ready_ago=1000.0, uid="aaa")
    d = pod("d", ready_ago=3000.0, uid="bbb")  # a different bucket: the more recent goes first
    assert first_deleted(c, d) == "c"


def test_ranking_rules_apply_in_order() -> None:
    """Rules earlier in the list win over later ones (restarts cannot beat readiness)."""
    crashed_ready = pod("crashed", restarts=50)
    calm_not_ready = pod("calm", ready=False)
    assert first_deleted(crashed_ready, calm_not_ready) == "calm"


def test_ranking_picks_count_and_all_when_asked_for_all() -> None:
    """Asking for as many pods as there are returns them all without sorting."""
    pods = [pod(f"p{i}") for i in range(3)]
    assert pods_to_delete(pods, pods, 3, now=NOW) == pods
    assert len(pods_to_delete(pods, pods, 2, now=NOW)) == 2


def test_ranking_counts_only_active_related_pods_on_a_node() -> None:
    """Terminating and finished pods do not count towards a node's rank."""
    gone = pod("gone", node="n1")
    gone["metadata"]["deletionTimestamp"] = format_time(NOW)
    done = pod("done", node="n1", phase="Succeeded")
    x, y = pod("x", node="n1"), pod("y", node="n2")
    assert ranks_by_node([x, y], [x, y, gone, done]) == [1, 1]


@pytest.mark.parametrize(("value", "cost"), [
    pytest.param(None, 0, id="absent"), pytest.param("100", 100, id="positive"),
    pytest.param("-3", -3, id="negative"), pytest.param("abc", 0, id="not-a-number"),
    pytest.param(str(2**31), 0, id="beyond-int32"),
])
def test_ranking_deletion_cost_annotation(value: str | None, cost: int) -> None:
    """The annotation is an int32; anything else counts as 0."""
    assert deletion_cost(pod("p", cost=value)) == cost
