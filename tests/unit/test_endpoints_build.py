"""Unit tests of what the Endpoints and EndpointSlice controllers build from a Service and its pods."""

from __future__ import annotations

from typing import Any

from minik8s.controllers.endpoints_build import (
    MANAGED_BY, endpoints_subsets, find_port, plan_slices, slice_groups, truncate_subsets,
)


def svc(name: str = "web", **spec: Any) -> dict[str, Any]:
    spec.setdefault("selector", {"app": "web"})
    spec.setdefault("ports", [{"name": "http", "port": 80, "targetPort": "http", "protocol": "TCP"}])
    return {"metadata": {"name": name, "namespace": "default", "uid": "svc-uid", "labels": {"team": "a"}},
            "spec": spec}


def pod(name: str, ip: str | None, *, ready: bool = True, deleting: bool = False, port: int = 8080,
        labels: dict[str, str] | None = None, phase: str = "Running", **spec: Any) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": "default", "uid": f"uid-{name}",
                            "labels": labels if labels is not None else {"app": "web"}}
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    status: dict[str, Any] = {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    if ip:
        status["podIP"] = ip
    return {"metadata": meta, "status": status,
            "spec": {"nodeName": "node-0", "containers": [{"name": "c", "ports": [
                {"name": "http", "containerPort": port, "protocol": "TCP"}]}], **spec}}


def test_find_port_resolves_names_per_pod() -> None:
    assert find_port(pod("a", "10.0.0.1", port=9000), {"port": 80, "targetPort": "http", "protocol": "TCP"}) == 9000
    assert find_port(pod("a", "10.0.0.1"), {"port": 80, "targetPort": "http", "protocol": "UDP"}) is None
    assert find_port(pod("a", "10.0.0.1"), {"port": 80, "targetPort": 8443}) == 8443
    assert find_port(pod("a", "10.0.0.1"), {"port": 80}) == 80


def test_endpoints_ready_not_ready_and_terminating() -> None:
    pods = [pod("a", "10.0.0.1"), pod("b", "10.0.0.2", ready=False), pod("c", "10.0.0.3", deleting=True),
            pod("d", None), pod("e", "10.0.0.5", phase="Succeeded"), pod("f", "10.0.0.6", labels={"app": "x"})]
    subsets = endpoints_subsets(svc(), pods)
    assert subsets == [{
        "addresses": [{"ip": "10.0.0.1", "nodeName": "node-0",
                       "targetRef": {"kind": "Pod", "namespace": "default", "name": "a", "uid": "uid-a"}}],
        "notReadyAddresses": [{"ip": "10.0.0.2", "nodeName": "node-0",
                               "targetRef": {"kind": "Pod", "namespace": "default", "name": "b", "uid": "uid-b"}}],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}],
    }]
    published = endpoints_subsets(svc(publishNotReadyAddresses=True), pods)
    assert [a["ip"] for a in published[0]["addresses"]] == ["10.0.0.1", "10.0.0.2", "10.0.0.3"]


def test_endpoints_repacked_by_port_set_and_truncated() -> None:
    subsets = endpoints_subsets(svc(), [pod("a", "10.0.0.1", port=9000), pod("b", "10.0.0.2"), pod("c", "10.0.0.3")])
    assert [(s["ports"][0]["port"], [a["ip"] for a in s["addresses"]]) for s in subsets] == \
        [(8080, ["10.0.0.2", "10.0.0.3"]), (9000, ["10.0.0.1"])]
    cut, truncated = truncate_subsets(subsets, limit=2)
    assert truncated and sum(len(s["addresses"]) for s in cut) == 2


def test_headless_hostname_and_no_ports() -> None:
    service = svc(clusterIP="None", ports=[])
    subsets = endpoints_subsets(service, [pod("a", "10.0.0.1", hostname="h0", subdomain="web")])
    assert subsets == [{"addresses": [{"ip": "10.0.0.1", "hostname": "h0", "nodeName": "node-0", "targetRef": {
        "kind": "Pod", "namespace": "default", "name": "a", "uid": "uid-a"}}]}]


def test_slice_conditions_as_upstream() -> None:
    groups = slice_groups(svc(), [pod("a", "10.0.0.1"), pod("b", "10.0.0.2", ready=False),
                                  pod("c", "10.0.0.3", deleting=True), pod("d", "10.0.0.4", ready=False, deleting=True)])
    (group,) = groups.values()
    conditions = {addr: e["conditions"] for addr, e in group.endpoints.items()}
    assert conditions == {
        "10.0.0.1": {"ready": True, "serving": True, "terminating": False},
        "10.0.0.2": {"ready": False, "serving": False, "terminating": False},
        "10.0.0.3": {"ready": False, "serving": True, "terminating": True},
        "10.0.0.4": {"ready": False, "serving": False, "terminating": True},
    }
    published = slice_groups(svc(publishNotReadyAddresses=True), [pod("b", "10.0.0.2", ready=False)])
    assert next(iter(published.values())).endpoints["10.0.0.2"]["conditions"]["ready"] is True


def _stored(piece: dict[str, Any], name: str) -> dict[str, Any]:
    return {**piece, "metadata": {**piece["metadata"], "name": name, "resourceVersion": "1"}}


def test_plan_slices_max_100_stable_and_placeholder() -> None:
    pods = [pod(f"p{i}", f"10.0.{i // 250}.{i % 250 + 1}") for i in range(250)]
    creates, updates, deletes = plan_slices(svc(), pods, [])
    assert [len(s["endpoints"]) for s in creates] == [100, 100, 50] and not updates and not deletes
    first = creates[0]
    assert first["metadata"]["generateName"] == "web-"
    assert first["metadata"]["labels"] == {"team": "a", "kubernetes.io/service-name": "web",
                                           "endpointslice.kubernetes.io/managed-by": MANAGED_BY}
    assert first["metadata"]["ownerReferences"][0]["kind"] == "Service"
    assert first["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    stored = [_stored(s, f"web-{i}") for i, s in enumerate(creates)]
    assert plan_slices(svc(), pods, stored) == ([], [], [])  # nothing to do
    # one pod gone from the first slice, one new: the new one fills the hole, nothing else moves
    changed = pods[1:] + [pod("new", "10.9.9.9")]
    creates, updates, deletes = plan_slices(svc(), changed, stored)
    assert not creates and not deletes and [u["metadata"]["name"] for u in updates] == ["web-0"]
    # no pods: one empty placeholder, the others deleted
    creates, updates, deletes = plan_slices(svc(), [], stored)
    assert not creates and len(updates) == 1 and updates[0]["endpoints"] == [] and updates[0]["ports"] == []
    assert sorted(d["metadata"]["name"] for d in deletes) == ["web-1", "web-2"]
    assert plan_slices(svc(), [], [])[0][0]["endpoints"] == []
    # the first endpoint goes into the placeholder (an update, not a delete and a create)
    placeholder = _stored(plan_slices(svc(), [], [])[0][0], "web-p")
    creates, updates, deletes = plan_slices(svc(), pods[:1], [placeholder])
    assert not creates and not deletes and updates[0]["metadata"]["name"] == "web-p"
    assert updates[0]["ports"] and len(updates[0]["endpoints"]) == 1
