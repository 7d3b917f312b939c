"""Unit tests of Service allocations through the registry: cluster IPs and node ports held by index keys
committed in one Txn with the Service, against a real store (the Raft layer replaced by direct applies)."""

from __future__ import annotations

import threading
from typing import Any

import pytest

from minik8s.api import errors
from minik8s.api.kinds import resolve
from minik8s.api.server.ranges import parse_ip_range
from minik8s.api.server.registry import Registry
from minik8s.api.server.serviceallocation import IP_PREFIX, NODE_PORT_PREFIX, ip_key, node_port_key
from minik8s.store import Create, Store

from .allocation_support import allocating_registry

SERVICES = resolve("services")
NAMESPACES = resolve("namespaces")




@pytest.fixture
def store(tmp_path) -> Store:
    s = Store(str(tmp_path / "db"))
    s.apply(Create(key=NAMESPACES.store_key("default"), object={"metadata": {"name": "default"}}))
    yield s
    s.close()


@pytest.fixture
def registry(store: Store) -> Registry:
    return allocating_registry(store)


def _svc(name: str, **spec: Any) -> dict:
    spec.setdefault("ports", [{"port": 80}])
    return {"metadata": {"name": name}, "spec": {"selector": {"app": name}, **spec}}


def _index(store: Store) -> dict[str, str]:
    """index key -> owning Service name."""
    out = {}
    for prefix in (IP_PREFIX, NODE_PORT_PREFIX):
        for record in store.list(prefix)[0]:
            out[prefix + record["metadata"]["name"]] = record["service"]["name"]
    return out


def test_alloc_cluster_ip_from_the_range_with_its_index_key(registry: Registry, store: Store) -> None:
    """A new Service gets a free IP of the range (not the static lower band), single-stack IPv4 fields,
    and one index key naming it."""
    svc = registry.create(SERVICES, _svc("web"), "default")
    spec = svc["spec"]
    ip = spec["clusterIP"]
    assert spec["clusterIPs"] == [ip] and spec["ipFamilies"] == ["IPv4"] and spec["ipFamilyPolicy"] == "SingleStack"
    assert ip.startswith("10.") and parse_ip_range("10.96.0.0/12").range.offset(
        int.from_bytes(bytes(int(x) for x in ip.split(".")), "big")) >= 256
    assert _index(store) == {ip_key(ip): "web"}
    assert spec["internalTrafficPolicy"] == "Cluster" and "externalTrafficPolicy" not in spec


def test_alloc_requested_ip_taken_is_422_like_kube_apiserver(registry: Registry, store: Store) -> None:
    """Asking for an IP another Service holds is refused with kube-apiserver's message; nothing is written."""
    registry.create(SERVICES, _svc("a", clusterIP="10.96.0.10"), "default")
    revision = store.revision
    with pytest.raises(errors.InvalidError) as info:
        registry.create(SERVICES, _svc("b", clusterIP="10.96.0.10"), "default")
    assert info.value.code == 422
    assert info.value.message == ('Service "b" is invalid: spec.clusterIPs: Invalid value: []string{"10.96.0.10"}: '
                                  "failed to allocate IP 10.96.0.10: provided IP is already allocated")
    assert store.revision == revision


@pytest.mark.parametrize(("ip", "detail"), [
    pytest.param("10.200.0.1", "the provided IP (10.200.0.1) is not in the valid range", id="outside"),
    pytest.param("10.96.0.0", "the provided IP (10.96.0.0) is not in the valid range", id="network-address"),
    pytest.param("10.111.255.255", "the provided IP (10.111.255.255) is not in the valid range", id="broadcast"),
])
def test_alloc_requested_ip_outside_the_range_is_422(registry: Registry, ip: str, detail: str) -> None:
    """An IP outside the range (or its network/broadcast address) cannot be had."""
    with pytest.raises(errors.InvalidError) as info:
        registry.create(SERVICES, _svc("a", clusterIP=ip), "default")
    assert detail in info.value.message and "The range of valid IPs is 10.96.0.0/12" in info.value.message


def test_alloc_headless_gets_no_ip(registry: Registry, store: Store) -> None:
    """`clusterIP: None` allocates nothing; a selectorless headless Service names both families."""
    svc = registry.create(SERVICES, _svc("db", clusterIP="None"), "default")
    assert svc["spec"]["clusterIPs"] == ["None"] and svc["spec"]["ipFamilyPolicy"] == "SingleStack"
    bare = registry.create(SERVICES, {"metadata": {"name": "ext"}, "spec": {"clusterIP": "None"}}, "default")
    assert bare["spec"]["ipFamilyPolicy"] == "RequireDualStack" and bare["spec"]["ipFamilies"] == ["IPv4", "IPv6"]
    assert _index(store) == {}


def test_alloc_node_ports_and_the_taken_one_is_422(registry: Registry, store: Store) -> None:
    """NodePort Services get node ports from the range; a port another holds is refused in kube-apiserver's words."""
    svc = registry.create(SERVICES, _svc("a", type="NodePort", ports=[{"name": "a", "port": 80, "nodePort": 30080},
                                                                      {"name": "b", "port": 81}]), "default")
    ports = [p["nodePort"] for p in svc["spec"]["ports"]]
    assert ports[0] == 30080 and 30000 <= ports[1] <= 32767 and svc["spec"]["externalTrafficPolicy"] == "Cluster"
    with pytest.raises(errors.InvalidError) as info:
        registry.create(SERVICES, _svc("b", type="NodePort", ports=[{"port": 80, "nodePort": 30080}]), "default")
    assert info.value.message == ('Service "b" is invalid: spec.ports[0].nodePort: Invalid value: 30080: '
                                  "provided port is already allocated")
    with pytest.raises(errors.InvalidError, match="The range of valid ports is 30000-32767"):
        registry.create(SERVICES, _svc("c", type="NodePort", ports=[{"port": 80, "nodePort": 8080}]), "default")
    assert sorted(k for k, v in _index(store).items() if k.startswith(NODE_PORT_PREFIX)) == sorted(
        node_port_key(p) for p in ports)


def test_alloc_same_port_number_on_two_protocols_shares_one_node_port(registry: Registry, store: Store) -> None:
    """DNS on TCP and UDP: both ports get the same node port, held once."""
    svc = registry.create(SERVICES, _svc("dns", type="NodePort", ports=[
        {"name": "tcp", "port": 53, "protocol": "TCP"}, {"name": "udp", "port": 53, "protocol": "UDP"}]), "default")
    first, second = (p["nodePort"] for p in svc["spec"]["ports"])
    assert first == second and sum(k.startswith(NODE_PORT_PREFIX) for k in _index(store)) == 1


def test_alloc_load_balancer_is_like_node_port_with_a_health_check_port(registry: Registry, store: Store) -> None:
    """A LoadBalancer gets node ports and, with externalTrafficPolicy Local, a health check node port; status
    stays empty (no cloud)."""
    svc = registry.create(SERVICES, _svc("lb", type="LoadBalancer", externalTrafficPolicy="Local"), "default")
    spec = svc["spec"]
    assert spec["allocateLoadBalancerNodePorts"] is True and spec["ports"][0]["nodePort"]
    assert spec["healthCheckNodePort"] and spec["healthCheckNodePort"] != spec["ports"][0]["nodePort"]
    assert svc["status"] == {"loadBalancer": {}}
    assert len(_index(store)) == 3


def test_alloc_delete_releases_everything(registry: Registry, store: Store) -> None:
    """Deleting a Service frees its IP and node ports in the same write."""
    svc = registry.create(SERVICES, _svc("a", type="NodePort"), "default")
    registry.delete(SERVICES, "a", "default", {})
    assert _index(store) == {}
    again = registry.create(SERVICES, _svc("b", type="NodePort", clusterIP=svc["spec"]["clusterIP"],
                                           ports=[{"port": 80, "nodePort": svc["spec"]["ports"][0]["nodePort"]}]),
                            "default")
    assert again["spec"]["clusterIP"] == svc["spec"]["clusterIP"]


def test_alloc_type_change_releases_and_allocates(registry: Registry, store: Store) -> None:
    """NodePort -> ClusterIP drops and frees the node ports (the client left them as they were); ClusterIP ->
    NodePort allocates; -> ExternalName frees the IP and the families."""
    svc = registry.create(SERVICES, _svc("a", type="NodePort"), "default")
    ip = svc["spec"]["clusterIP"]
    svc["spec"]["type"] = "ClusterIP"
    svc = registry.update(SERVICES, "a", "default", svc)
    assert "nodePort" not in svc["spec"]["ports"][0] and "externalTrafficPolicy" not in svc["spec"]
    assert _index(store) == {ip_key(ip): "a"}
    svc["spec"]["type"] = "NodePort"
    svc = registry.update(SERVICES, "a", "default", svc)
    assert len(_index(store)) == 2 and svc["spec"]["clusterIP"] == ip
    svc["spec"].update(type="ExternalName", externalName="db.example.com")
    svc = registry.update(SERVICES, "a", "default", svc)
    assert _index(store) == {} and "clusterIP" not in svc["spec"] and "ipFamilies" not in svc["spec"]


def test_alloc_update_without_allocations_keeps_them(registry: Registry, store: Store) -> None:
    """Re-applying the original manifest (no clusterIP, no nodePort) keeps what was allocated."""
    svc = registry.create(SERVICES, _svc("a", type="NodePort"), "default")
    again = registry.update(SERVICES, "a", "default", _svc("a", type="NodePort"))
    assert again["spec"]["clusterIP"] == svc["spec"]["clusterIP"]
    assert again["spec"]["ports"][0]["nodePort"] == svc["spec"]["ports"][0]["nodePort"]
    assert again["metadata"]["resourceVersion"] == svc["metadata"]["resourceVersion"]  # nothing changed


def test_alloc_cluster_ip_may_not_change(registry: Registry) -> None:
    """A set cluster IP is immutable."""
    svc = registry.create(SERVICES, _svc("a"), "default")
    svc["spec"]["clusterIP"] = svc["spec"]["clusterIPs"][0] = "10.96.0.77"
    with pytest.raises(errors.InvalidError, match=r"spec.clusterIPs\[0\]: Invalid value: .*may not change once set"):
        registry.update(SERVICES, "a", "default", svc)


def test_alloc_small_range_fills_then_422s_never_twice(store: Store) -> None:
    """A /29 has 6 addresses: six Services get six different ones, the seventh gets a 500 (range full)."""
    registry = allocating_registry(store, cidr="10.0.0.0/29")
    ips = {registry.create(SERVICES, _svc(f"s{i}"), "default")["spec"]["clusterIP"] for i in range(6)}
    assert ips == {f"10.0.0.{i}" for i in range(1, 7)}
    with pytest.raises(errors.InternalError, match="range is full"):
        registry.create(SERVICES, _svc("s7"), "default")


def test_alloc_concurrent_creates_never_share_a_value(tmp_path) -> None:
    """Eight registries (as eight masters) creating at once from one nearly-full range, all with the same random
    choices: every Service gets its own IP and node port; the losers of each race pick again."""
    store = Store(str(tmp_path / "db"))
    store.apply(Create(key=NAMESPACES.store_key("default"), object={"metadata": {"name": "default"}}))
    registries = [allocating_registry(store, cidr="10.0.0.0/27", ports="30000-30029", seed=7) for _ in range(8)]
    made: list[dict] = []
    failures: list[Exception] = []

    def run(i: int) -> None:
        for j in range(3):
            try:
                made.append(registries[i].create(SERVICES, _svc(f"s{i}-{j}", type="NodePort"), "default"))
            except errors.ApiError as exc:
                failures.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not failures and len(made) == 24
    ips = [s["spec"]["clusterIP"] for s in made]
    ports = [s["spec"]["ports"][0]["nodePort"] for s in made]
    assert len(set(ips)) == 24 and len(set(ports)) == 24
    assert len(_index(store)) == 48
    store.close()


def test_alloc_requested_ip_race_one_wins_the_other_422s(tmp_path) -> None:
    """Two masters asked for the same IP at once: exactly one create succeeds, the other is the 422."""
    store = Store(str(tmp_path / "db"))
    store.apply(Create(key=NAMESPACES.store_key("default"), object={"metadata": {"name": "default"}}))
    outcomes: list[object] = []
    barrier = threading.Barrier(6)

    def run(i: int) -> None:
        registry = allocating_registry(store)
        barrier.wait()
        try:
            outcomes.append(registry.create(SERVICES, _svc(f"s{i}", clusterIP="10.96.5.5"), "default"))
        except errors.InvalidError as exc:
            outcomes.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(isinstance(o, dict) for o in outcomes) == 1
    assert all("provided IP is already allocated" in o.message for o in outcomes if isinstance(o, errors.ApiError))
    store.close()
