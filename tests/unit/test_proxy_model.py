"""The proxy's reading of Services and EndpointSlices (pure): what is proxied, with which endpoints."""

from __future__ import annotations

from typing import Any

import pytest

from minik8s.node.proxy.categorize import categorize
from minik8s.node.proxy.model import Endpoint, ServicePort, ServicePortName, service_ports, slice_endpoints

from .proxy_objects import endpoint, endpoint_slice, service


@pytest.mark.parametrize("spec", [
    pytest.param({"clusterIP": "None"}, id="headless"),
    pytest.param({"clusterIP": ""}, id="not-allocated"),
    pytest.param({"clusterIP": "fd00::1"}, id="ipv6"),
    pytest.param({"clusterIP": "127.0.0.1"}, id="loopback"),
    pytest.param({"type": "ExternalName", "externalName": "example.com"}, id="external-name"),
    pytest.param({"clusterIP": ["10.96.0.1"]}, id="garbage"),
])
def test_model_unproxied_services_have_no_ports(spec: dict[str, Any]) -> None:
    """Headless, unallocated, ExternalName and malformed Services are not proxied."""
    assert service_ports(service("s", "10.96.0.1", **spec)) == []


def test_model_service_ports_read_like_kube_proxy() -> None:
    """Protocols, NodePorts only for NodePort Services, affinity defaults, policies per port."""
    svc = service("web", "10.96.0.10", {"name": "http", "port": 80, "nodePort": 30080},
                  {"name": "dns", "port": 53, "protocol": "UDP", "nodePort": 30053},
                  type="NodePort", sessionAffinity="ClientIP", externalTrafficPolicy="Local",
                  internalTrafficPolicy="Local")
    http, dns = service_ports(svc)
    assert http == ServicePort(ServicePortName("default", "web", "http", "tcp"), "10.96.0.10", 80, 30080,
                               affinity_seconds=10800, external_local=True, internal_local=True)
    assert dns.name.protocol == "udp" and dns.node_port == 30053
    cluster = service_ports(service("web", "10.96.0.10", {"port": 80, "nodePort": 30080},
                                    externalTrafficPolicy="Local",
                                    sessionAffinityConfig={"clientIP": {"timeoutSeconds": 60}},
                                    sessionAffinity="ClientIP"))
    assert cluster[0].node_port == 0 and not cluster[0].external_local  # a ClusterIP Service has no NodePort
    assert cluster[0].affinity_seconds == 60 and cluster[0].name.port == ""


@pytest.mark.parametrize("port", [
    pytest.param({"port": 0}, id="port-zero"),
    pytest.param({"port": 70000}, id="port-too-big"),
    pytest.param({"port": True}, id="port-bool"),
    pytest.param({"port": 80, "protocol": "ICMP"}, id="protocol"),
    pytest.param({"port": 80, "name": "Bad_Name"}, id="name"),
    pytest.param({"port": 80, "name": "a/b"}, id="name-slash"),
    pytest.param("80", id="not-an-object"),
])
def test_model_bad_service_ports_are_left_out(port: Any) -> None:
    """A port that could not be programmed safely is skipped; the others still are."""
    ports = service_ports(service("s", "10.96.0.1", port, {"name": "ok", "port": 81}))
    assert [p.name.port for p in ports] == ["ok"]


def test_model_slices_conditions_default_as_kubernetes_says() -> None:
    """ready unset = true, serving unset = ready, terminating unset = false; local by nodeName."""
    found = slice_endpoints([endpoint_slice(
        "s-1", "s", endpoint("10.244.1.2"), endpoint("10.244.2.2", "node-2", ready=False),
        endpoint("10.244.2.3", "node-2", ready=False, serving=True, terminating=True))], "node-1")
    assert found[("http", "tcp")] == [
        Endpoint("10.244.1.2", 8080, True, True, False, local=True),
        Endpoint("10.244.2.2", 8080, False, False, False, local=False),
        Endpoint("10.244.2.3", 8080, False, True, True, local=False),
    ]


def test_model_slices_merge_duplicates_and_skip_what_cannot_be_a_destination() -> None:
    """An address in two slices counts once (ready wins); IPv6, FQDN, loopback and junk are skipped."""
    slices = [
        endpoint_slice("a", "s", endpoint("10.244.1.2", ready=False), endpoint("127.0.0.1"), endpoint("169.254.1.1"),
                       {"addresses": []}, {"addresses": ["nope"]}, "junk"),
        endpoint_slice("b", "s", endpoint("10.244.1.2")),
        endpoint_slice("c", "s", endpoint("fd00::2"), address_type="IPv6"),
        endpoint_slice("d", "s", endpoint("10.244.1.9"), ports=[{"name": "http", "port": 0}]),
    ]
    assert slice_endpoints(slices, "node-1") == {("http", "tcp"): [Endpoint("10.244.1.2", 8080, local=True)]}


def _ep(ip: str, *, ready: bool = True, serving: bool | None = None, terminating: bool = False,
        local: bool = False) -> Endpoint:
    return Endpoint(ip, 80, ready, ready if serving is None else serving, terminating, local)


PORT = ServicePort(ServicePortName("ns", "s", "", "tcp"), "10.96.0.1", 80)
READY_REMOTE, READY_LOCAL = _ep("10.0.0.1"), _ep("10.0.0.2", local=True)
GOING_REMOTE = _ep("10.0.0.3", ready=False, serving=True, terminating=True)
GOING_LOCAL = _ep("10.0.0.4", ready=False, serving=True, terminating=True, local=True)
NOT_READY = _ep("10.0.0.5", ready=False)


@pytest.mark.parametrize(("port", "endpoints", "cluster", "local", "has_any"), [
    pytest.param(PORT, [READY_REMOTE, GOING_REMOTE, NOT_READY], [READY_REMOTE], [], True, id="ready-only"),
    pytest.param(PORT, [GOING_REMOTE, NOT_READY], [GOING_REMOTE], [], True, id="terminating-fallback"),
    pytest.param(PORT, [NOT_READY], [], [], False, id="none"),
    pytest.param(PORT.__class__(PORT.name, PORT.cluster_ip, 80, internal_local=True),
                 [READY_REMOTE, GOING_LOCAL], [], [GOING_LOCAL], True, id="internal-local-terminating"),
    pytest.param(PORT.__class__(PORT.name, PORT.cluster_ip, 80, internal_local=True),
                 [READY_REMOTE], [], [], True, id="internal-local-none-here"),
    pytest.param(PORT.__class__(PORT.name, PORT.cluster_ip, 80, 30080, external_local=True),
                 [READY_REMOTE, READY_LOCAL], [READY_REMOTE, READY_LOCAL], [READY_LOCAL], True, id="external-local"),
])
def test_categorize_endpoints_per_policy(port: ServicePort, endpoints: list[Endpoint], cluster: list[Endpoint],
                                         local: list[Endpoint], has_any: bool) -> None:
    """Ready endpoints first, serving-terminating ones only when none is ready; Local policies use this node's."""
    found = categorize(port, endpoints)
    assert (list(found.cluster), list(found.local), found.has_any) == (cluster, local, has_any)
    assert set(found.reachable) == set(cluster) | set(local)
