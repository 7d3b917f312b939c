"""Unit tests of the allocation repair pass and of the `kubernetes` Service's endpoints."""

from __future__ import annotations

import pytest

from minik8s.api.kinds import resolve
from minik8s.api.server.masterservice import (
    MasterServiceReconciler, advertise_address, endpoints_for,
)
from minik8s.api.server.registry import Registry
from minik8s.api.server.serviceallocation import ip_key, node_port_key
from minik8s.api.server.servicerepair import repair
from minik8s.store import Create, Delete, Store

from .allocation_support import allocating_registry

SERVICES = resolve("services")
NAMESPACES = resolve("namespaces")



@pytest.fixture
def store(tmp_path) -> Store:
    s = Store(str(tmp_path / "db"))
    for ns in ("default", "kube-system"):
        s.apply(Create(key=NAMESPACES.store_key(ns), object={"metadata": {"name": ns}}))
    yield s
    s.close()


@pytest.fixture
def registry(store: Store) -> Registry:
    return allocating_registry(store, seed=3)


def test_repair_releases_leaked_keys_and_restores_missing_ones(store: Store, registry: Registry) -> None:
    svc = registry.create(SERVICES, {"metadata": {"name": "a"}, "spec": {"type": "NodePort", "ports": [{"port": 80}]}},
                          "default")
    ip, port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["nodePort"]
    # a leaked key (no such Service) and a missing one (the Service's IP key removed by hand)
    store.apply(Create(key=ip_key("10.96.9.9"), object={"metadata": {"name": "10.96.9.9"},
                                                       "service": {"namespace": "default", "name": "gone", "uid": "x"}}))
    store.apply(Delete(key=ip_key(ip)))
    report = repair(store, registry.propose)
    assert report.released == [ip_key("10.96.9.9")]
    assert report.restored == [ip_key(ip)]
    assert store.get(ip_key(ip))["service"]["uid"] == svc["metadata"]["uid"]
    assert store.get(node_port_key(port)) is not None
    assert repair(store, registry.propose).released == []  # a second pass finds nothing


def test_repair_reports_a_value_two_services_hold(store: Store, registry: Registry) -> None:
    registry.create(SERVICES, {"metadata": {"name": "a"}, "spec": {"clusterIP": "10.96.1.1", "ports": [{"port": 80}]}},
                    "default")
    other = {"metadata": {"name": "b", "namespace": "default", "uid": "u-b", "resourceVersion": "1"},
             "spec": {"clusterIP": "10.96.1.1", "clusterIPs": ["10.96.1.1"], "ports": [{"port": 80}]}}
    store.apply(Create(key=SERVICES.store_key("b", "default"), object=other))  # written around the API
    report = repair(store, registry.propose)
    assert report.duplicates == [ip_key("10.96.1.1")] and report.released == []


def test_endpoints_group_masters_by_port() -> None:
    endpoints, slices = endpoints_for([("127.0.0.1", 6444), ("127.0.0.1", 6443), ("127.0.0.1", 6443)])
    assert endpoints["subsets"] == [
        {"addresses": [{"ip": "127.0.0.1"}], "ports": [{"name": "https", "port": 6443, "protocol": "TCP"}]},
        {"addresses": [{"ip": "127.0.0.1"}], "ports": [{"name": "https", "port": 6444, "protocol": "TCP"}]},
    ]
    assert [s["metadata"]["name"] for s in slices] == ["kubernetes", "kubernetes-6444"]
    assert all(s["metadata"]["labels"]["kubernetes.io/service-name"] == "kubernetes" for s in slices)


def test_advertise_address() -> None:
    assert advertise_address("10.1.2.3:6443") == ("10.1.2.3", 6443)
    assert advertise_address("0.0.0.0:6443") == ("127.0.0.1", 6443)
    assert advertise_address("[::1]:7000") == ("::1", 7000)


def test_reconciler_creates_the_service_and_drops_expired_masters(store: Store, registry: Registry) -> None:
    now = [1_000_000.0]
    mine = MasterServiceReconciler(registry, name="m0", api_addr="127.0.0.1:6443", cluster_ip="10.96.0.1",
                                   is_leader=lambda: True, clock=lambda: now[0])
    other = MasterServiceReconciler(registry, name="m1", api_addr="127.0.0.1:6444", cluster_ip="10.96.0.1",
                                    is_leader=lambda: False, clock=lambda: now[0])
    other.sync()
    mine.sync()
    svc = registry.get(SERVICES, "kubernetes", "default")
    assert svc["spec"]["clusterIP"] == "10.96.0.1" and svc["spec"]["ports"][0]["port"] == 443
    ports = lambda: sorted(p["port"] for s in registry.get(resolve("endpoints"), "kubernetes", "default")["subsets"]
                           for p in s["ports"])  # noqa: E731
    assert ports() == [6443, 6444]
    now[0] += 60  # m1 stopped renewing
    mine.sync()
    assert ports() == [6443]
    slices, _ = registry.list(resolve("endpointslices"), "default")
    assert [s["metadata"]["name"] for s in slices] == ["kubernetes"]


def test_reconciler_type_none_only_creates_the_service(store: Store, registry: Registry) -> None:
    quiet = MasterServiceReconciler(registry, name="m0", api_addr="127.0.0.1:6443", cluster_ip="10.96.0.1",
                                    is_leader=lambda: False, reconcile_endpoints=False)
    quiet.sync()
    assert registry.get(SERVICES, "kubernetes", "default")["spec"]["clusterIP"] == "10.96.0.1"
    assert registry.list(resolve("endpoints"), "default")[0] == []
    assert registry.list(resolve("leases"), "kube-system")[0] == []


def test_repair_allocates_for_services_stored_without(store: Store, registry: Registry) -> None:
    old = {"metadata": {"name": "legacy", "namespace": "default", "uid": "u-l", "resourceVersion": "1",
                        "generation": 1},
           "spec": {"type": "NodePort", "selector": {"app": "x"}, "ports": [{"port": 80, "protocol": "TCP"}]}}
    store.apply(Create(key=SERVICES.store_key("legacy", "default"), object=old))  # a store from before allocation
    report = repair(store, registry.propose, registry.allocators["services"])  # type: ignore[arg-type]
    assert report.allocated == ["default/legacy"]
    svc = registry.get(SERVICES, "legacy", "default")
    ip, port = svc["spec"]["clusterIP"], svc["spec"]["ports"][0]["nodePort"]
    assert svc["spec"]["clusterIPs"] == [ip] and svc["spec"]["ipFamilies"] == ["IPv4"]
    assert svc["metadata"]["generation"] == 2
    assert store.get(ip_key(ip))["service"]["uid"] == "u-l" and store.get(node_port_key(port)) is not None
    again = repair(store, registry.propose, registry.allocators["services"])  # type: ignore[arg-type]
    assert again.allocated == [] and again.released == [] and again.restored == []
