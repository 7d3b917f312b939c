"""Node lifecycle decisions with a fake clock, fake caches and a recording client; and its pure helpers."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from minik8s.controllers.node_lifecycle import NodeLifecycleController
from minik8s.controllers.node_taints import (
    UNREACHABLE_TAINT_KEY, eviction_delay, unreachable_effects, with_ready, with_unreachable_taints,
    without_unreachable_taints,
)
from tests.unit.test_reconcile_workqueue import FakeClock

GRACE, EVICTION = 50.0, 300.0
Obj = dict[str, Any]


class FakeCache:
    """Stands in for an informer: objects by key."""

    def __init__(self) -> None:
        self.objects: dict[str, Obj] = {}

    def get(self, key: str) -> Obj | None:
        return self.objects.get(key)


class FakeClient:
    """Records calls; writes echo the object back and into the node cache (an informer without lag)."""

    def __init__(self, nodes: FakeCache) -> None:
        self.nodes = nodes
        self.calls: list[tuple[str, Any]] = []
        self.pods: list[Obj] = []

    def _store(self, kind: str, obj: Obj) -> Obj:
        self.calls.append((kind, copy.deepcopy(obj)))
        self.nodes.objects[obj["metadata"]["name"]] = copy.deepcopy(obj)
        return obj

    def update_status(self, obj: Obj) -> Obj:
        return self._store("status", obj)

    def replace(self, obj: Obj) -> Obj:
        return self._store("replace", obj)

    def list(self, resource: Any, *, field_selector: str | None = None) -> Obj:
        self.calls.append(("list", field_selector))
        return {"items": copy.deepcopy(self.pods)}

    def delete(self, resource: Any, name: str, *, namespace: str | None = None) -> Obj:
        """Marks the pod terminating, as the server does for pods bound to a node."""
        self.calls.append(("delete", f"{namespace}/{name}"))
        for pod in self.pods:
            if pod["metadata"]["name"] == name:
                pod["metadata"]["deletionTimestamp"] = "now"
        return {}

    def create(self, obj: Obj, *, namespace: str | None = None) -> Obj:
        self.calls.append(("event", obj["reason"]))
        return obj

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.calls]


class Harness(NodeLifecycleController):
    """The controller with fake caches in place of informers."""

    def __init__(self, clock: FakeClock) -> None:
        self.node_cache, self.lease_cache = FakeCache(), FakeCache()
        self.fake = FakeClient(self.node_cache)
        super().__init__(
            self.fake,  # type: ignore[arg-type]
            node_monitor_grace_period=GRACE, pod_eviction_timeout=EVICTION, node_monitor_period=5.0,
            clock=clock, wall_clock=lambda: 1.8e9,
        )
        self.setup()

    def watch(self, resource: Any, **kw: Any) -> Any:  # type: ignore[override]
        return self.lease_cache if kw.get("namespace") == "kube-node-lease" else self.node_cache

    def renew(self, stamp: str) -> None:
        self.lease_cache.objects["kube-node-lease/n1"] = {"metadata": {"name": "n1"}, "spec": {"renewTime": stamp}}


def _node(*, ready: str = "True", reason: str = "KubeletReady", tainted: bool = False) -> Obj:
    node: Obj = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "n1", "resourceVersion": "7"}, "spec": {},
                 "status": {"conditions": [{"type": "DiskPressure", "status": "False"},
                                           {"type": "Ready", "status": ready, "reason": reason}]}}
    return with_unreachable_taints(node, now="t") if tainted else node


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_node_lifecycle_marks_node_silent_for_the_grace_period(clock: FakeClock) -> None:
    """No renewal observed for the grace period: Ready Unknown, both taints, a NodeNotReady event."""
    c = Harness(clock)
    c.node_cache.objects["n1"] = _node()
    c.renew("a")
    result = c.reconcile("n1")
    assert c.fake.calls == [] and result is not None and result.requeue_after == GRACE
    clock.advance(GRACE)
    c.reconcile("n1")
    assert c.fake.kinds()[:4] == ["status", "event", "replace", "list"]
    node = c.node_cache.objects["n1"]
    ready = node["status"]["conditions"][1]
    assert (ready["status"], ready["reason"], ready["lastTransitionTime"]) == ("Unknown", "NodeStatusUnknown",
                                                                               "2027-01-15T08:00:00Z")
    assert node["status"]["conditions"][0] == {"type": "DiskPressure", "status": "False"}
    assert unreachable_effects(node) == {"NoSchedule", "NoExecute"}


def test_node_lifecycle_each_observed_renewal_restarts_the_grace_period(clock: FakeClock) -> None:
    """The countdown runs from when a renewTime change was seen locally, whatever the renewTime says."""
    c = Harness(clock)
    c.node_cache.objects["n1"] = _node()
    c.renew("2000-01-01T00:00:00.000000Z")
    c.reconcile("n1")
    clock.advance(GRACE - 1)
    c.renew("1999-01-01T00:00:00.000000Z")  # a skewed clock on the node: still a renewal
    result = c.reconcile("n1")
    assert result is not None and result.requeue_after == GRACE
    clock.advance(GRACE - 1)
    c.reconcile("n1")
    assert c.fake.calls == []


def test_node_lifecycle_first_sighting_decides_nothing(clock: FakeClock) -> None:
    """A new leader neither untaints a tainted node nor marks it again until it observes a renewal or the grace ends."""
    c = Harness(clock)
    c.node_cache.objects["n1"] = _node(ready="Unknown", reason="NodeStatusUnknown", tainted=True)
    c.renew("a")
    c.reconcile("n1")
    assert c.fake.calls == []
    clock.advance(1)
    c.renew("b")
    c.reconcile("n1")
    assert c.fake.kinds() == ["status", "replace"]
    node = c.node_cache.objects["n1"]
    assert node["status"]["conditions"][1]["status"] == "True" and "taints" not in node["spec"]


def test_node_lifecycle_leaves_ready_to_the_agent_when_it_wrote_it(clock: FakeClock) -> None:
    """A Ready condition the agent itself set is not overwritten when the node comes back; only taints go."""
    c = Harness(clock)
    c.node_cache.objects["n1"] = _node(ready="False", reason="KubeletNotReady", tainted=True)
    c.renew("a")
    c.reconcile("n1")
    c.renew("b")
    c.reconcile("n1")
    assert c.fake.kinds() == ["replace"]


def test_node_lifecycle_evicts_pods_after_their_eviction_delay(clock: FakeClock) -> None:
    """Pods go after pod_eviction_timeout (or their tolerationSeconds); terminating and tolerant pods stay."""
    c = Harness(clock)
    c.node_cache.objects["n1"] = _node()
    c.fake.pods = [
        {"metadata": {"name": "plain", "namespace": "default"}, "spec": {}},
        {"metadata": {"name": "quick", "namespace": "default"}, "spec": {"tolerations": [
            {"key": UNREACHABLE_TAINT_KEY, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 10}]}},
        {"metadata": {"name": "forever", "namespace": "default"}, "spec": {"tolerations": [{"operator": "Exists"}]}},
        {"metadata": {"name": "going", "namespace": "default", "deletionTimestamp": "x"}, "spec": {}},
    ]
    c.reconcile("n1")
    clock.advance(GRACE)
    result = c.reconcile("n1")  # marks; nothing due yet
    assert "delete" not in c.fake.kinds() and result is not None and result.requeue_after == 5.0
    assert ("list", "spec.nodeName=n1") in c.fake.calls
    clock.advance(10)
    c.reconcile("n1")
    assert [v for k, v in c.fake.calls if k == "delete"] == ["default/quick"]
    clock.advance(EVICTION - 10)
    c.reconcile("n1")
    assert [v for k, v in c.fake.calls if k == "delete"] == ["default/quick", "default/plain"]
    assert c.fake.kinds().count("event") == 3  # NodeNotReady + one TaintManagerEviction per pod


def test_node_lifecycle_forgets_deleted_nodes(clock: FakeClock) -> None:
    """A node gone from the cache needs no requeue."""
    assert Harness(clock).reconcile("gone") is None


@pytest.mark.parametrize(
    ("tolerations", "delay"),
    [
        pytest.param(None, 300.0, id="none"),
        pytest.param([{"key": "other", "operator": "Exists"}], 300.0, id="other-key"),
        pytest.param([{"key": UNREACHABLE_TAINT_KEY, "effect": "NoSchedule"}], 300.0, id="other-effect"),
        pytest.param([{"key": UNREACHABLE_TAINT_KEY, "operator": "Exists"}], None, id="forever"),
        pytest.param([{"operator": "Exists"}], None, id="wildcard"),
        pytest.param([{"key": UNREACHABLE_TAINT_KEY, "value": "x"}], 300.0, id="value-mismatch"),
        pytest.param([{"key": UNREACHABLE_TAINT_KEY, "effect": "NoExecute", "tolerationSeconds": 60},
                      {"operator": "Exists", "tolerationSeconds": 20}], 20.0, id="least-seconds"),
        pytest.param([{"key": UNREACHABLE_TAINT_KEY, "tolerationSeconds": -5}], 0.0, id="negative-is-zero"),
    ],
)
def test_eviction_delay_follows_toleration_rules(tolerations: list[Obj] | None, delay: float | None) -> None:
    """Tolerations of the NoExecute unreachable taint decide how long a pod stays on an unreachable node."""
    assert eviction_delay({"spec": {"tolerations": tolerations}}, 300.0) == delay


def test_taint_helpers_copy_and_keep_other_taints() -> None:
    """Adding and removing unreachable taints keeps other taints and never modifies the input."""
    node = {"spec": {"taints": [{"key": "dedicated", "effect": "NoSchedule"},
                                {"key": UNREACHABLE_TAINT_KEY, "effect": "NoExecute", "timeAdded": "old"}]}}
    original = copy.deepcopy(node)
    tainted = with_unreachable_taints(node, now="new")
    assert [t.get("timeAdded") for t in tainted["spec"]["taints"]] == [None, "old", "new"]
    assert without_unreachable_taints(tainted)["spec"]["taints"] == [{"key": "dedicated", "effect": "NoSchedule"}]
    assert node == original


def test_with_ready_adds_missing_condition_and_keeps_transition_time_when_unchanged() -> None:
    """Ready is created when absent; lastTransitionTime moves only when the status changes."""
    node = with_ready({"metadata": {}}, status="Unknown", reason="r", message="m", now="t1")
    assert node["status"]["conditions"] == [{"type": "Ready", "status": "Unknown", "reason": "r", "message": "m",
                                             "lastTransitionTime": "t1"}]
    again = with_ready(node, status="Unknown", reason="r2", message="m2", now="t2")
    assert again["status"]["conditions"][0]["lastTransitionTime"] == "t1"
