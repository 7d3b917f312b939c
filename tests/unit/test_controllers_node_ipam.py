"""Node IPAM allocation with a fake cache that lags the controller's own writes."""

from __future__ import annotations

from typing import Any

import pytest

from minik8s.controllers.node_ipam import NodeIpamController

Obj = dict[str, Any]


class LaggingCache:
    """Stands in for the node informer; it only learns about writes when the test says so."""

    def __init__(self) -> None:
        self.objects: dict[str, Obj] = {}

    def get(self, key: str) -> Obj | None:
        return self.objects.get(key)

    def list(self) -> list[Obj]:
        return list(self.objects.values())


class RecordingClient:
    def __init__(self) -> None:
        self.written: dict[str, Obj] = {}

    def replace(self, obj: Obj) -> Obj:
        self.written[obj["metadata"]["name"]] = obj
        return obj

    def create(self, obj: Obj, *, namespace: str | None = None) -> Obj:
        self.written[f"event:{obj['reason']}"] = obj
        return obj


class Harness(NodeIpamController):
    def __init__(self, **kw: Any) -> None:
        self.cache, self.fake = LaggingCache(), RecordingClient()
        super().__init__(self.fake, **kw)  # type: ignore[arg-type]
        self.setup()

    def watch(self, resource: Any, **kw: Any) -> Any:  # type: ignore[override]
        return self.cache

    def add_node(self, name: str, cidr: str | None = None) -> None:
        spec = {"podCIDR": cidr, "podCIDRs": [cidr]} if cidr else {}
        self.cache.objects[name] = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "spec": spec}


def _cidr(c: Harness, name: str) -> str:
    return c.fake.written[name]["spec"]["podCIDR"]


def test_node_ipam_skips_used_cidrs_even_before_the_cache_shows_them() -> None:
    """CIDRs on cached nodes and ones just handed out (not yet cached) are never handed out again."""
    c = Harness(cluster_cidr="10.244.0.0/16", node_mask_size=24)
    c.add_node("old", "10.244.0.0/24")
    c.add_node("a")
    c.add_node("b")
    c.reconcile("a")
    c.reconcile("b")  # the cache still shows "a" without a CIDR
    assert (_cidr(c, "a"), _cidr(c, "b")) == ("10.244.1.0/24", "10.244.2.0/24")
    assert c.fake.written["a"]["spec"]["podCIDRs"] == ["10.244.1.0/24"]


def test_node_ipam_retry_of_one_node_reuses_its_reservation() -> None:
    """Reconciling the same node again (e.g. after a 409) does not leak a CIDR."""
    c = Harness(cluster_cidr="10.244.0.0/16", node_mask_size=24)
    c.add_node("a")
    c.reconcile("a")
    c.reconcile("a")
    assert _cidr(c, "a") == "10.244.0.0/24"


def test_node_ipam_frees_cidr_of_deleted_node() -> None:
    """A deleted node's CIDR goes to the next node."""
    c = Harness(cluster_cidr="10.0.0.0/30", node_mask_size=31)
    c.add_node("a", "10.0.0.0/31")
    c.add_node("b", "10.0.0.2/31")
    c.add_node("c")
    result = c.reconcile("c")
    assert result is not None and result.requeue_after and "event:CIDRNotAvailable" in c.fake.written
    del c.cache.objects["a"]
    c.reconcile("a")
    c.reconcile("c")
    assert _cidr(c, "c") == "10.0.0.0/31"


def test_node_ipam_leaves_assigned_nodes_alone() -> None:
    """A node that has a podCIDR is never rewritten."""
    c = Harness()
    c.add_node("a", "10.244.7.0/24")
    assert c.reconcile("a") is None and c.fake.written == {}


def test_node_ipam_rejects_mask_outside_cluster_cidr() -> None:
    """The node mask must be at least as long as the cluster prefix."""
    with pytest.raises(ValueError):
        NodeIpamController(None, cluster_cidr="10.244.0.0/16", node_mask_size=8)  # type: ignore[arg-type]
