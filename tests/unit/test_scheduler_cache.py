"""Scheduler cache: assumed pods count at once, are confirmed, forgotten or expire; queued changes."""

from __future__ import annotations

from typing import Any

import pytest

from minik8s.scheduler.cache import Cache, node_fingerprint
from minik8s.scheduler.framework import PodInfo

from .test_scheduler_plugins import make_pod


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def node(name: str, **status: Any) -> dict[str, Any]:
    return {"metadata": {"name": name}, "status": {"allocatable": {"cpu": "2"}, **status}}


def bound(pod: dict[str, Any], node_name: str) -> dict[str, Any]:
    return {**pod, "spec": {**pod["spec"], "nodeName": node_name}}


def requested(cache: Cache) -> dict[str, int]:
    cache.apply()
    return {n.name: n.requested.get("cpu", 0) for n in cache.nodes()}


def test_scheduler_cache_changes_wait_for_apply() -> None:
    """Changes from other threads are queued and take effect, in order, on `apply`."""
    cache = Cache()
    cache.update_node(node("n1"))
    cache.add_pod(bound(make_pod("p", requests={"cpu": "1"}), "n1"))
    assert cache.nodes() == []
    assert requested(cache) == {"n1": 1000}


def test_scheduler_cache_assume_counts_before_binding() -> None:
    """An assumed pod's requests count on its node until the binding is forgotten."""
    cache = Cache()
    cache.update_node(node("n1"))
    cache.apply()
    pod = make_pod("p", requests={"cpu": "500m"})
    cache.assume(PodInfo.of(pod), "n1")
    assert requested(cache) == {"n1": 500} and cache.holds(pod)
    cache.forget("default/p")
    assert requested(cache) == {"n1": 0} and not cache.holds(pod)


def test_scheduler_cache_confirmed_pod_survives_forget_and_expiry() -> None:
    """Once the informer reports the pod bound, the assumption is settled."""
    clock = FakeClock()
    cache = Cache(assume_ttl=30, clock=clock)
    cache.update_node(node("n1"))
    cache.apply()
    pod = make_pod("p", requests={"cpu": "500m"})
    cache.assume(PodInfo.of(pod), "n1")
    cache.add_pod(bound(pod, "n1"))
    cache.finish_binding("default/p")
    cache.forget("default/p")
    cache.apply()
    clock.now = 100
    assert cache.expire() == []
    assert requested(cache) == {"n1": 500}
    cache.remove_pod(bound(pod, "n1"))
    assert requested(cache) == {"n1": 0}


def test_scheduler_cache_unconfirmed_binding_expires() -> None:
    """A bound pod the informer never reports stops counting TTL seconds after its binding."""
    clock = FakeClock()
    cache = Cache(assume_ttl=30, clock=clock)
    cache.update_node(node("n1"))
    cache.apply()
    cache.assume(PodInfo.of(make_pod("p", requests={"cpu": "1"})), "n1")
    clock.now = 1000
    assert cache.expire() == []  # still binding: never expires
    cache.finish_binding("default/p")
    cache.apply()
    clock.now = 1029
    assert cache.expire() == []
    clock.now = 1031
    assert cache.expire() == ["default/p"]
    assert requested(cache) == {"n1": 0}


def test_scheduler_cache_holds_checks_uid() -> None:
    """A pod recreated under the same name (new uid) is not mistaken for the placed one."""
    cache = Cache()
    old = make_pod("p")
    cache.add_pod(bound(old, "n1"))
    cache.apply()
    new = make_pod("p")
    new["metadata"]["uid"] = "another"
    assert cache.holds(old) and not cache.holds(new)


def test_scheduler_cache_deleted_node_keeps_pod_usage() -> None:
    """Pods bound to a node not (or no longer) known count once the node (re)appears."""
    cache = Cache()
    cache.add_pod(bound(make_pod("p", requests={"cpu": "1"}), "n1"))
    assert requested(cache) == {}
    cache.update_node(node("n1"))
    assert requested(cache) == {"n1": 1000}
    cache.remove_node("n1")
    assert requested(cache) == {}
    cache.update_node(node("n1"))
    assert requested(cache) == {"n1": 1000}


READY = {"type": "Ready", "status": "True", "lastHeartbeatTime": "1"}


@pytest.mark.parametrize(("after", "changed"), [
    pytest.param(node("n", conditions=[{**READY, "lastHeartbeatTime": "2"}]), False, id="heartbeat"),
    pytest.param(node("n", conditions=[{**READY, "status": "False"}]), True, id="not-ready"),
    pytest.param({**node("n", conditions=[READY]), "spec": {"unschedulable": True}}, True, id="cordoned"),
    pytest.param(node("n", conditions=[READY], allocatable={"cpu": "4"}), True, id="allocatable"),
    pytest.param({**node("n", conditions=[READY]), "metadata": {"name": "n", "labels": {"a": "b"}}}, True,
                 id="labels"),
])
def test_scheduler_node_fingerprint(after: dict[str, Any], changed: bool) -> None:
    """Only changes the plugins can notice count as node changes (a heartbeat does not)."""
    assert (node_fingerprint(node("n", conditions=[READY])) != node_fingerprint(after)) is changed
