"""Node lifecycle and node IPAM controllers against a real master, run by a ControllerManager.

The test plays the node agent: it creates a Node and renews its Lease in `kube-node-lease`
every 0.5 s. Grace period 2 s and eviction timeout 3 s keep the scenario short.
"""

from __future__ import annotations

import ipaddress
import itertools
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from minik8s.api import errors
from minik8s.api.client import ApiClient
from minik8s.api.timefmt import now_micro_time, now_time
from minik8s.api.reconcile import ControllerManager, LeaseTimings
from minik8s.controllers import NodeIpamController, NodeLifecycleController
from minik8s.controllers.node_taints import UNREACHABLE_TAINT_KEY

from .cluster import TOKEN, running, wait_for

GRACE, EVICTION, RENEW_EVERY = 2.0, 3.0, 0.5
TIMINGS = LeaseTimings(2.0, 1.5, 0.2)
_managers = itertools.count()


@pytest.fixture(scope="module")
def master(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with running(Path(tmp_path_factory.mktemp("node-lifecycle")) / "c", 1, extra_args=["--no-control-loops"]) as cluster:
        yield cluster.masters[0].url


@pytest.fixture
def client(master: str) -> Iterator[ApiClient]:
    with ApiClient(master, token=TOKEN) as c:
        yield c


def _run(client: ApiClient, controller: Any) -> ControllerManager:
    manager = ControllerManager(client, [controller], identity="test", lease_name=f"test-cm-{next(_managers)}",
                                timings=TIMINGS)
    manager.start()
    wait_for(lambda: manager.is_leader, timeout=10, what="the controller manager leads")
    return manager


def _node(name: str, **spec: Any) -> dict[str, Any]:
    now = now_time()
    conditions = [
        {"type": "MemoryPressure", "status": "False", "reason": "KubeletHasSufficientMemory",
         "lastHeartbeatTime": now, "lastTransitionTime": now},
        {"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "kubelet is posting ready status",
         "lastHeartbeatTime": now, "lastTransitionTime": now},
    ]
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "spec": spec,
            "status": {"conditions": conditions}}


def _bound_pod(client: ApiClient, name: str, node: str, **spec: Any) -> None:
    client.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                   "spec": {"containers": [{"name": "c", "image": "busybox"}], **spec}})
    client.request("POST", f"/api/v1/namespaces/default/pods/{name}/binding",
                   body={"apiVersion": "v1", "kind": "Binding", "metadata": {"name": name},
                         "target": {"kind": "Node", "name": node}})


class LeaseRenewer:
    """Plays the node agent's heartbeat: renews the node's Lease every RENEW_EVERY seconds while enabled."""

    def __init__(self, client: ApiClient, node: str) -> None:
        self.client, self.node = client, node
        self.enabled = threading.Event()
        self._stop = threading.Event()
        client.create({"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                       "metadata": {"name": node, "namespace": "kube-node-lease"},
                       "spec": {"holderIdentity": node, "leaseDurationSeconds": 40,
                                "renewTime": now_micro_time()}})
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self._thread.start()

    def _loop(self) -> None:
        while not self._stop.wait(RENEW_EVERY):
            if self.enabled.is_set():
                self.client.patch("leases.coordination.k8s.io", self.node,
                                  {"spec": {"renewTime": now_micro_time()}}, namespace="kube-node-lease")

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)


def _ready(node: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in node["status"]["conditions"] if c["type"] == "Ready")


def _unreachable_effects(node: dict[str, Any]) -> set[str]:
    return {t["effect"] for t in node["spec"].get("taints") or [] if t["key"] == UNREACHABLE_TAINT_KEY}


def _node_if(client: ApiClient, name: str, *, unreachable: bool) -> dict[str, Any] | None:
    """The node when it is (not) marked unreachable: Ready Unknown and both taints (Ready True, no taints)."""
    node = client.get("nodes", name)
    if unreachable:
        marked = _unreachable_effects(node) == {"NoSchedule", "NoExecute"} and _ready(node)["status"] == "Unknown"
    else:
        marked = not _unreachable_effects(node) and _ready(node)["status"] == "True"
    return node if marked else None


def _delete_quietly(client: ApiClient, resource: str, name: str, **kw: Any) -> None:
    try:
        client.delete(resource, name, **kw)
    except errors.NotFoundError:
        pass


def test_node_lifecycle_marks_silent_node_unknown_evicts_pods_and_recovers(client: ApiClient) -> None:
    """Renewals keep a node Ready; silence makes it Unknown + tainted, then evicts its pods; renewals heal it."""
    node = "lifecycle-n1"
    client.create(_node(node))
    renewer = LeaseRenewer(client, node)
    renewer.enabled.set()
    _bound_pod(client, "evicted", node)
    _bound_pod(client, "tolerant", node, tolerations=[
        {"key": UNREACHABLE_TAINT_KEY, "operator": "Exists", "effect": "NoExecute"}])
    manager = _run(client, NodeLifecycleController(client, node_monitor_grace_period=GRACE,
                                                   pod_eviction_timeout=EVICTION, node_monitor_period=0.5))
    try:
        deadline = time.monotonic() + GRACE + 2.0  # renewing for longer than the grace period
        while time.monotonic() < deadline:
            current = client.get("nodes", node)
            assert _ready(current)["status"] == "True" and not _unreachable_effects(current)
            time.sleep(0.2)

        renewer.enabled.clear()
        silent = time.monotonic()
        current = wait_for(lambda: _node_if(client, node, unreachable=True), timeout=GRACE + RENEW_EVERY + 3.0,
                           what="node marked unreachable")
        assert time.monotonic() - silent >= GRACE - RENEW_EVERY
        ready = _ready(current)
        assert (ready["reason"], ready["message"]) == ("NodeStatusUnknown", "Kubelet stopped posting node status.")
        assert ready["lastTransitionTime"] and ready["lastHeartbeatTime"]
        assert {c["type"]: c["status"] for c in current["status"]["conditions"]}["MemoryPressure"] == "False"
        assert all(t.get("timeAdded") for t in current["spec"]["taints"])

        marked = time.monotonic()
        wait_for(lambda: client.get("pods", "evicted")["metadata"].get("deletionTimestamp"),
                 timeout=EVICTION + 3.0, what="pod marked for deletion")
        assert time.monotonic() - marked >= EVICTION - 1.0
        assert not client.get("pods", "tolerant")["metadata"].get("deletionTimestamp")
        events = client.list("events", namespace="default", field_selector="involvedObject.name=evicted")["items"]
        assert any(e["reason"] == "TaintManagerEviction" and e["message"] == "Marking for deletion Pod default/evicted"
                   for e in events)

        renewer.enabled.set()
        healed = wait_for(lambda: _node_if(client, node, unreachable=False), timeout=RENEW_EVERY + 3.0,
                          what="unreachable taints removed and Ready again")
        assert "taints" not in healed["spec"]
        assert _ready(healed)["reason"] == "NodeLeaseRenewed"
    finally:
        manager.stop()
        renewer.close()
        for pod in ("evicted", "tolerant"):
            _delete_quietly(client, "pods", pod, grace_period_seconds=0)
        _delete_quietly(client, "leases.coordination.k8s.io", node, namespace="kube-node-lease")
        _delete_quietly(client, "nodes", node)


def test_node_ipam_gives_each_node_a_distinct_pod_cidr(client: ApiClient) -> None:
    """Three new nodes get distinct /24s of the cluster CIDR, none overlapping one already in use."""
    taken = "10.244.0.0/24"
    names = ["ipam-n0", "ipam-n1", "ipam-n2", "ipam-n3"]
    client.create(_node(names[0], podCIDR=taken, podCIDRs=[taken]))
    manager = _run(client, NodeIpamController(client, cluster_cidr="10.244.0.0/16", node_mask_size=24))
    try:
        for name in names[1:]:
            client.create(_node(name))

        def assigned() -> list[dict[str, Any]] | None:
            specs = [client.get("nodes", name)["spec"] for name in names]
            return specs if all(spec.get("podCIDR") for spec in specs) else None

        nodes = wait_for(assigned, timeout=10, what="pod CIDRs assigned")
        cidrs = [spec["podCIDR"] for spec in nodes]
        assert cidrs[0] == taken
        assert len(set(cidrs)) == 4
        for spec in nodes[1:]:
            network = ipaddress.ip_network(spec["podCIDR"])
            assert network.prefixlen == 24 and network.subnet_of(ipaddress.ip_network("10.244.0.0/16"))
            assert spec["podCIDRs"] == [spec["podCIDR"]]
    finally:
        manager.stop()
        for name in names:
            _delete_quietly(client, "nodes", name)
