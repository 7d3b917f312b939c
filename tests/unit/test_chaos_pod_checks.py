"""The pod chaos run's checkers (`chaos.pod_checks`) on synthetic observations: clean ones pass, each defect
is caught."""

from __future__ import annotations

from typing import Any

import pytest

from minik8s.chaos.history import Op
from minik8s.chaos.pod_checks import (ABSENT, EITHER, PRESENT, RuntimeSample, bare_pod_expectations,
                                      check_bare_pods, check_deployment, check_exclusive, check_runtime,
                                      replica_candidates)

Obj = dict[str, Any]
_ids = iter(range(10_000))


def op(kind: str, key: str, outcome: str = "ok", *, at: float = 0.0, until: float | None = None,
       value: str | None = None, error: str | None = None) -> Op:
    """One operation invoked at `at`, answered at `until` (default: 0.1 s later; none when unknown)."""
    complete = None if outcome == "unknown" else (at + 0.1 if until is None else until)
    return Op(id=next(_ids), process=0, key=key, kind=kind, value=value, expect_version=None, invoke=at,
              complete=complete, outcome=outcome, result_version=None, error=error)


def scale(replicas: int, outcome: str = "ok", *, at: float, until: float | None = None) -> Op:
    return op("update", "deployment/web", outcome, at=at, until=until, value=str(replicas))


def pod(name: str, uid: str, node: str = "node-0", *, phase: str = "Running", ready: bool = True,
        terminating: bool = False, labels: dict[str, str] | None = None) -> Obj:
    meta: Obj = {"name": name, "namespace": "churn", "uid": uid, "labels": labels or {"chaos": "bare"}}
    if terminating:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return {"metadata": meta, "spec": {"nodeName": node},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def web(uid: str, node: str = "node-0", **kwargs: Any) -> Obj:
    return pod(f"web-{uid}", uid, node, labels={"app": "web"}, **kwargs)


def deploy(replicas: int, *, ready: int | None = None, observed: int = 2) -> Obj:
    ready = replicas if ready is None else ready
    return {"metadata": {"name": "web", "generation": 2}, "spec": {"replicas": replicas},
            "status": {"observedGeneration": observed, "replicas": replicas, "readyReplicas": ready}}


def sample(at: float, **running: dict[str, str]) -> RuntimeSample:
    return RuntimeSample(at, {node.replace("_", "-"): pods for node, pods in running.items()})


# -- no pod on two nodes ------------------------------------------------------------------------

BINDINGS = {"u1": {"node-0"}, "u2": {"node-1"}}


def test_exclusive_clean_samples_pass() -> None:
    """Pods seen only on the node they are bound to, one node per sample: ok."""
    samples = [sample(1.0, node_0={"u1": "churn/a"}, node_1={"u2": "churn/b"}), sample(2.0, node_0={"u1": "churn/a"})]
    check = check_exclusive(samples, BINDINGS)
    assert check["verdict"] == "ok", check
    assert check["summary"].startswith("2 samples") and "2 pods seen running" in check["summary"]


@pytest.mark.parametrize(("samples", "bindings", "caught"), [
    pytest.param([sample(1.0, node_0={"u1": "churn/a"}, node_1={"u1": "churn/a"})], BINDINGS,
                 "runs on 2 nodes: node-0, node-1", id="one-uid-on-two-nodes"),
    pytest.param([sample(1.0, node_2={"u1": "churn/a"})], BINDINGS, "runs on node-2, bound to node-0",
                 id="runs-where-not-bound"),
    pytest.param([], {"u1": {"node-0", "node-1"}}, "bound to ['node-0', 'node-1']", id="bound-twice"),
])
def test_exclusive_catches(samples: list[RuntimeSample], bindings: dict[str, set[str]], caught: str) -> None:
    """A pod on two nodes in one sample, on a node it is not bound to, or bound to two nodes: a violation."""
    check = check_exclusive(samples, bindings)
    assert check["verdict"] == "violation" and any(caught in e for e in check["examples"]), check


def test_exclusive_on_two_nodes_at_different_times_is_no_overlap() -> None:
    """Never bound, seen on node-0 and later on node-1: not two nodes at once, only unverified."""
    check = check_exclusive([sample(1.0, node_0={"u9": "churn/x"}), sample(2.0, node_1={"u9": "churn/x"})], {})
    assert check["verdict"] == "ok" and "(1 never seen bound in the API)" in check["summary"], check


# -- what the history leaves --------------------------------------------------------------------


@pytest.mark.parametrize(("ops", "expected"), [
    pytest.param([op("create", "a")], PRESENT, id="created"),
    pytest.param([op("create", "a"), op("delete", "a", at=1)], ABSENT, id="deleted"),
    pytest.param([op("create", "a"), op("delete", "a", "unknown", at=1)], EITHER, id="delete-unanswered"),
    pytest.param([op("create", "a", "unknown")], EITHER, id="create-unanswered"),
    pytest.param([op("create", "a", "fail", error="ServiceUnavailableError")], ABSENT, id="create-refused"),
    pytest.param([op("create", "a"), op("delete", "a", "fail", at=1, error="ServiceUnavailableError")], PRESENT,
                 id="delete-refused"),
    pytest.param([op("create", "a"), op("delete", "a", "unknown", at=1),
                  op("delete", "a", "fail", at=2, error="NotFound")], ABSENT, id="unanswered-then-notfound"),
])
def test_bare_pod_expectations(ops: list[Op], expected: str) -> None:
    assert bare_pod_expectations(ops) == ({"a": expected}, [])


def test_a_pod_that_vanished_is_named() -> None:
    """Created (acknowledged), never deleted, then a delete answers NotFound: it vanished."""
    expected, vanished = bare_pod_expectations([op("create", "a"), op("delete", "a", "fail", at=1, error="NotFound")])
    assert expected == {"a": ABSENT} and len(vanished) == 1 and vanished[0].startswith("a: created")


@pytest.mark.parametrize(("ops", "candidates"), [
    pytest.param([], {3}, id="never-scaled"),
    pytest.param([scale(5, at=1), scale(2, at=2)], {2}, id="sequential"),
    pytest.param([scale(5, at=1, until=3), scale(2, at=2)], {2, 5}, id="overlapping"),
    pytest.param([scale(5, at=1), scale(4, "unknown", at=2)], {4, 5}, id="unanswered-last"),
    pytest.param([scale(4, "unknown", at=1), scale(5, at=2)], {4, 5}, id="unanswered-may-apply-late"),
    pytest.param([scale(4, "unknown", at=1)], {3, 4}, id="only-unanswered"),
    pytest.param([scale(5, at=1), scale(6, "fail", at=2)], {5}, id="refused-ignored"),
])
def test_replica_candidates(ops: list[Op], candidates: set[int]) -> None:
    """The counts a Deployment (created with 3) may hold: writes no later acknowledged write overwrote."""
    assert replica_candidates(ops, "web", 3) == candidates


# -- the state after healing --------------------------------------------------------------------


def test_deployment_converged_passes() -> None:
    check = check_deployment(deploy(2), [web("w1"), web("w2", "node-1"), pod("a", "u1")], [scale(2, at=1)],
                             app="web", initial=3)
    assert check["verdict"] == "ok", check


@pytest.mark.parametrize(("deployment", "pods", "caught"), [
    pytest.param(deploy(2), [web("w1")], "1 active pods, 1 Running and Ready, want 2", id="too-few"),
    pytest.param(deploy(2), [web("w1"), web("w2"), web("w3")], "3 active pods", id="too-many"),
    pytest.param(deploy(2, ready=1), [web("w1"), web("w2", ready=False)], "1 Running and Ready", id="not-ready"),
    pytest.param(deploy(2), [web("w1"), web("w2"), web("w3", terminating=True)], "pod still terminating",
                 id="terminating-left"),
    pytest.param(deploy(2, ready=1), [web("w1"), web("w2")], "status.readyReplicas is 1", id="status-behind"),
    pytest.param(deploy(2, observed=1), [web("w1"), web("w2")], "observedGeneration", id="status-stale"),
    pytest.param(deploy(6), [web(f"w{i}") for i in range(6)], "spec.replicas is 6", id="lost-scale"),
    pytest.param(None, [], "gone", id="deleted"),
])
def test_deployment_catches(deployment: Obj | None, pods: list[Obj], caught: str) -> None:
    """Too few or many pods, unready or terminating ones, a stale status or a lost scale: a violation."""
    check = check_deployment(deployment, pods, [scale(2, at=1)], app="web", initial=3)
    assert check["verdict"] == "violation" and any(caught in e for e in check["examples"]), check


HISTORY = [op("create", "keep"), op("create", "gone"), op("delete", "gone", at=1),
           op("create", "maybe", "unknown"), op("create", "refused", "fail", error="ServiceUnavailableError")]


@pytest.mark.parametrize("pods", [
    pytest.param([pod("keep", "u1")], id="unanswered-create-absent"),
    pytest.param([pod("keep", "u1"), pod("maybe", "u2")], id="unanswered-create-present"),
])
def test_bare_pods_converged_pass(pods: list[Obj]) -> None:
    check = check_bare_pods(pods, HISTORY)
    assert check["verdict"] == "ok", check
    assert check["summary"].startswith("1 bare pods expected running, 2 gone, 1 either"), check


@pytest.mark.parametrize(("pods", "caught"), [
    pytest.param([], "keep: created and never deleted, but gone", id="lost"),
    pytest.param([pod("keep", "u1"), pod("gone", "u2")], "gone: should be gone", id="deleted-still-there"),
    pytest.param([pod("keep", "u1"), pod("refused", "u3")], "refused: should be gone", id="refused-create-exists"),
    pytest.param([pod("keep", "u1", phase="Pending", ready=False)], "phase Pending", id="not-running"),
    pytest.param([pod("keep", "u1", terminating=True)], "terminating", id="terminating"),
    pytest.param([pod("keep", "u1"), pod("maybe", "u2", ready=False)], "maybe: expected either", id="either-stuck"),
    pytest.param([pod("keep", "u1"), pod("stranger", "u4")], "stranger: exists, but no client created it",
                 id="phantom"),
])
def test_bare_pods_catch(pods: list[Obj], caught: str) -> None:
    """A lost pod, a deleted one still there, one not running, or one nobody created: a violation."""
    check = check_bare_pods(pods, HISTORY)
    assert check["verdict"] == "violation" and any(caught in e for e in check["examples"]), check


def test_bare_pods_vanished_is_a_violation() -> None:
    check = check_bare_pods([], [op("create", "a"), op("delete", "a", "fail", at=1, error="NotFound")])
    assert check["verdict"] == "violation" and check["examples"][0].startswith("a: created (acknowledged)")


def test_runtime_matching_passes() -> None:
    """Every Running pod runs on its node, nothing else runs: ok (pods not Running need no process)."""
    pods = [pod("a", "u1"), pod("b", "u2", "node-1"), pod("c", "u3", phase="Pending", ready=False)]
    check = check_runtime(pods, sample(9.0, node_0={"u1": "churn/a"}, node_1={"u2": "churn/b"}))
    assert check["verdict"] == "ok" and "0 leftover" in check["summary"], check


@pytest.mark.parametrize(("pods", "running", "caught"), [
    pytest.param([pod("a", "u1")], {"node_0": {"u1": "churn/a", "u7": "churn/old"}},
                 "pod churn/old (u7) still has processes on node-0", id="leftover-of-deleted-pod"),
    pytest.param([pod("a", "u1"), pod("t", "u2", terminating=True)], {"node_0": {"u1": "churn/a", "u2": "churn/t"}},
                 "pod churn/t (u2) still has processes", id="leftover-of-terminating-pod"),
    pytest.param([pod("a", "u1")], {"node_0": {}}, "is Running on node-0 in the API, but no process", id="not-running"),
    pytest.param([pod("a", "u1")], {"node_0": {}, "node_1": {"u1": "churn/a"}}, "no process of it runs there",
                 id="on-another-node"),
])
def test_runtime_catches(pods: list[Obj], running: dict[str, dict[str, str]], caught: str) -> None:
    """Processes of a pod the API no longer runs, or a Running pod with no process on its node: a violation."""
    check = check_runtime(pods, sample(9.0, **running))
    assert check["verdict"] == "violation" and any(caught in e for e in check["examples"]), check
