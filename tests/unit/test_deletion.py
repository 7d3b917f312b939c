"""What a DELETE does to an object: the API server's pure decision (`minik8s.api.server.deletion`)."""

from __future__ import annotations

from typing import Any

import pytest

from minik8s.api.kinds import resolve
from minik8s.api.server.deletion import Action, finished, gc_finalizers, plan_delete
from minik8s.api.timefmt import format_time

NOW = 1_800_000_000.0
CM = resolve("configmaps").strategy
PODS = resolve("pods").strategy
NS = resolve("namespaces").strategy


def configmap(**meta: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "uid": "u", **meta}}


def pod(node: str | None = "n1", grace: int | None = None, **meta: Any) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "i"}]}
    if node:
        spec["nodeName"] = node
    if grace is not None:
        spec["terminationGracePeriodSeconds"] = grace
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "uid": "u", **meta}, "spec": spec}


def namespace(finalizers: list[str] | None = None, **meta: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "x", "uid": "u", "generation": 1, **meta},
            "spec": {"finalizers": ["kubernetes"] if finalizers is None else finalizers},
            "status": {"phase": "Active"}}


@pytest.mark.parametrize(("finalizers", "options", "expected"), [
    pytest.param([], {}, [], id="default-background"),
    pytest.param([], {"propagationPolicy": "Orphan"}, ["orphan"], id="orphan"),
    pytest.param([], {"orphanDependents": True}, ["orphan"], id="deprecated-orphan-dependents"),
    pytest.param([], {"orphanDependents": False}, [], id="orphan-dependents-false"),
    pytest.param(["a"], {"propagationPolicy": "Foreground"}, ["a", "foregroundDeletion"], id="foreground"),
    pytest.param(["orphan"], {"propagationPolicy": "Foreground"}, ["foregroundDeletion"], id="policy-replaces"),
    pytest.param(["foregroundDeletion"], {"propagationPolicy": "Background"}, [], id="background-removes"),
    pytest.param(["foregroundDeletion", "a"], {}, ["foregroundDeletion", "a"], id="no-policy-keeps"),
])
def test_gc_finalizers_follow_the_propagation_policy(finalizers: list[str], options: dict[str, Any],
                                                     expected: list[str]) -> None:
    """An explicit policy sets `orphan`/`foregroundDeletion` exclusively; without one the object's own stay."""
    assert gc_finalizers(finalizers, options) == expected


def test_plan_delete_removes_a_plain_object_now() -> None:
    """Background (the default) removes an object without finalizers at once: dependents are the GC's work."""
    assert plan_delete(CM, configmap(), {"propagationPolicy": "Background"}, now=NOW).action is Action.NOW


@pytest.mark.parametrize("options", [{"propagationPolicy": "Foreground"}, {"propagationPolicy": "Orphan"},
                                     {"orphanDependents": True}])
def test_plan_delete_marks_an_owner_for_the_garbage_collector(options: dict[str, Any]) -> None:
    """Foreground and Orphan keep the owner, marked with the finalizer, a deletionTimestamp and no grace."""
    plan = plan_delete(CM, configmap(), options, now=NOW)
    assert plan.action is Action.MARK and plan.object is not None
    meta = plan.object["metadata"]
    assert meta["deletionTimestamp"] == format_time(NOW) and meta["deletionGracePeriodSeconds"] == 0
    wanted = "foregroundDeletion" if options.get("propagationPolicy") == "Foreground" else "orphan"
    assert meta["finalizers"] == [wanted]


def test_plan_delete_lets_a_second_delete_change_the_gc_finalizer_of_a_marked_object() -> None:
    """A non-graceful object waiting for finalizers keeps its timestamp; Orphan replaces foregroundDeletion."""
    marked = configmap(deletionTimestamp=format_time(NOW - 5), deletionGracePeriodSeconds=0,
                       finalizers=["foregroundDeletion"])
    plan = plan_delete(CM, marked, {"propagationPolicy": "Orphan"}, now=NOW)
    assert plan.action is Action.MARK and plan.object is not None
    assert plan.object["metadata"]["finalizers"] == ["orphan"]
    assert plan.object["metadata"]["deletionTimestamp"] == format_time(NOW - 5)
    assert plan_delete(CM, marked, {}, now=NOW).action is Action.KEEP


def test_plan_delete_marks_a_bound_pod_with_its_grace_period() -> None:
    """A pod on a node gets deletionTimestamp now + grace and the grace period; the node removes it."""
    plan = plan_delete(PODS, pod(grace=7), {}, now=NOW)
    assert plan.action is Action.MARK and plan.object is not None
    meta = plan.object["metadata"]
    assert (meta["deletionTimestamp"], meta["deletionGracePeriodSeconds"]) == (format_time(NOW + 7), 7)


@pytest.mark.parametrize(("options", "action"), [
    pytest.param({}, Action.KEEP, id="no-grace-keeps"),
    pytest.param({"gracePeriodSeconds": 30}, Action.KEEP, id="longer-keeps"),
    pytest.param({"gracePeriodSeconds": 0}, Action.NOW, id="zero-removes"),
    pytest.param({"gracePeriodSeconds": 2, "propagationPolicy": "Orphan"}, Action.MARK, id="shorter-marks"),
])
def test_plan_delete_only_shortens_a_graceful_deletion(options: dict[str, Any], action: Action) -> None:
    """A graceful deletion in progress only gets shorter; a request that cannot shorten it changes nothing."""
    terminating = pod(deletionTimestamp=format_time(NOW + 10), deletionGracePeriodSeconds=10)
    plan = plan_delete(PODS, terminating, options, now=NOW)
    assert plan.action is action
    if action is Action.MARK:
        assert plan.object is not None
        meta = plan.object["metadata"]
        assert (meta["deletionTimestamp"], meta["deletionGracePeriodSeconds"]) == (format_time(NOW + 2), 2)
        assert meta["finalizers"] == ["orphan"]


def test_plan_delete_keeps_a_terminated_pod_with_finalizers_until_they_are_gone() -> None:
    """The node's final delete (grace 0) of a pod a finalizer holds only marks it with grace 0."""
    terminating = pod(deletionTimestamp=format_time(NOW + 10), deletionGracePeriodSeconds=10,
                      finalizers=["foregroundDeletion"])
    plan = plan_delete(PODS, terminating, {"gracePeriodSeconds": 0}, now=NOW)
    assert plan.action is Action.MARK and plan.object is not None
    assert plan.object["metadata"]["deletionGracePeriodSeconds"] == 0
    assert finished(PODS, {**plan.object, "metadata": {**plan.object["metadata"], "finalizers": []}})


def test_plan_delete_marks_a_namespace_terminating() -> None:
    """A namespace is marked Terminating, without a grace period, and kept for the namespace controller."""
    plan = plan_delete(NS, namespace(), {}, now=NOW)
    assert plan.action is Action.MARK and plan.object is not None
    assert plan.object["status"]["phase"] == "Terminating"
    assert plan.object["metadata"]["deletionTimestamp"] == format_time(NOW)
    assert "deletionGracePeriodSeconds" not in plan.object["metadata"]
    assert plan_delete(NS, plan.object, {}, now=NOW + 1).action is Action.KEEP


def test_plan_delete_removes_a_namespace_nothing_holds() -> None:
    """With empty spec.finalizers and no metadata.finalizers a namespace goes at once."""
    assert plan_delete(NS, namespace(finalizers=[]), {}, now=NOW).action is Action.NOW


@pytest.mark.parametrize(("strategy", "obj", "done"), [
    pytest.param(CM, configmap(deletionTimestamp="t", deletionGracePeriodSeconds=0), True, id="cm-unheld"),
    pytest.param(CM, configmap(deletionTimestamp="t", finalizers=["orphan"]), False, id="cm-finalizer"),
    pytest.param(CM, configmap(), False, id="cm-not-deleting"),
    pytest.param(PODS, pod(deletionTimestamp="t", deletionGracePeriodSeconds=30), False, id="pod-grace-running"),
    pytest.param(NS, namespace(deletionTimestamp="t"), False, id="ns-spec-finalizer"),
    pytest.param(NS, namespace(finalizers=[], deletionTimestamp="t"), True, id="ns-finalized"),
    pytest.param(NS, namespace(finalizers=[], deletionTimestamp="t") | {
        "metadata": {"name": "x", "deletionTimestamp": "t", "finalizers": ["f"]}}, False, id="ns-metadata-finalizer"),
])
def test_finished_when_nothing_holds_a_marked_object(strategy: Any, obj: dict[str, Any], done: bool) -> None:
    """Removed on the write that leaves no finalizer (metadata or a namespace's spec) and no grace period."""
    assert finished(strategy, obj) is done
