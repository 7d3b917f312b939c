"""The rules of one Service port (pure): Services + EndpointSlices in, chains and map elements out."""

from __future__ import annotations

from minik8s.node.proxy import names
from minik8s.node.proxy.model import Endpoint, ServicePortName
from minik8s.node.proxy.rules import PortRules

from .proxy_objects import POD_CIDR, endpoint, endpoint_slice, rules_of, ruleset, service

WEB = ServicePortName("default", "web", "http", "tcp")
A, B = Endpoint("10.244.1.5", 8080), Endpoint("10.244.2.5", 8080)


def _only(svc: dict, *slices: dict, **kw: object) -> PortRules:
    [rules] = rules_of(svc, *slices, **kw)  # type: ignore[arg-type]
    return rules


def test_rules_cluster_ip_spreads_over_ready_endpoints_with_numgen() -> None:
    """ClusterIP -> service chain -> numgen random mod N -> one DNAT chain per ready endpoint."""
    rules = _only(service("web", "10.96.0.10"), endpoint_slice(
        "web-1", "web", endpoint("10.244.1.5"), endpoint("10.244.2.5", "node-2"),
        endpoint("10.244.3.5", "node-3", ready=False)))
    chains = dict(rules.chains)
    svc, ep_a, ep_b = names.service_chain(WEB), names.endpoint_chain(WEB, A), names.endpoint_chain(WEB, B)
    assert list(chains) == [svc, ep_a, ep_b]
    assert chains[svc] == (
        f"ip daddr 10.96.0.10 tcp dport 80 ip saddr != {POD_CIDR} jump mark-for-masquerade",
        f"numgen random mod 2 vmap {{ 0 : goto {ep_a}, 1 : goto {ep_b} }}")
    assert chains[ep_a] == ("ip saddr 10.244.1.5 jump mark-for-masquerade",  # hairpin
                            "meta l4proto tcp dnat to 10.244.1.5:8080")
    assert set(rules.elements) == {("cluster-ips", "10.96.0.10", None),
                                   ("service-ips", "10.96.0.10 . tcp . 80", f"goto {svc}")}
    assert svc == "service-SUSTUHLJ-default/web/tcp/http"  # stable names: a restart rebuilds the same table


def test_rules_without_endpoints_reject_and_make_no_chains() -> None:
    """No usable endpoint: no chain, the ClusterIP and NodePort go to the reject chain."""
    rules = _only(service("web", "10.96.0.10", {"name": "http", "port": 80, "nodePort": 30080}, type="NodePort"),
                  endpoint_slice("web-1", "web", endpoint("10.244.1.5", ready=False)))
    assert rules.chains == ()
    assert set(rules.elements) == {("cluster-ips", "10.96.0.10", None),
                                   ("no-endpoint-services", "10.96.0.10 . tcp . 80", "goto reject-chain"),
                                   ("no-endpoint-nodeports", "tcp . 30080", "goto reject-chain")}


def test_rules_node_port_with_cluster_policy_masquerades() -> None:
    """NodePort traffic is masqueraded (the reply must come back through this node)."""
    rules = _only(service("web", "10.96.0.10", {"name": "http", "port": 80, "nodePort": 30080}, type="NodePort"),
                  endpoint_slice("web-1", "web", endpoint("10.244.2.5", "node-2")))
    ext = names.external_chain(WEB)
    assert dict(rules.chains)[ext] == ("jump mark-for-masquerade", f"goto {names.service_chain(WEB)}")
    assert ("service-nodeports", "tcp . 30080", f"goto {ext}") in rules.elements


def test_rules_external_traffic_policy_local_keeps_the_source_and_stays_local() -> None:
    """eTP Local: outside traffic to local endpoints only, unmasqueraded; pods and the host short-circuit."""
    svc = service("web", "10.96.0.10", {"name": "http", "port": 80, "nodePort": 30080}, type="NodePort",
                  externalTrafficPolicy="Local")
    rules = _only(svc, endpoint_slice("web-1", "web", endpoint("10.244.1.5"), endpoint("10.244.2.5", "node-2")))
    chains = dict(rules.chains)
    cluster, local = names.service_chain(WEB), names.local_chain(WEB)
    assert chains[names.external_chain(WEB)] == (
        f"ip saddr {POD_CIDR} goto {cluster}", "fib saddr type local jump mark-for-masquerade",
        f"fib saddr type local goto {cluster}", f"goto {local}")
    assert chains[local] == (f"numgen random mod 1 vmap {{ 0 : goto {names.endpoint_chain(WEB, A)} }}",)
    # no local endpoint: the NodePort drops outside traffic (filter), pods and the host still get through
    remote = _only(svc, endpoint_slice("web-1", "web", endpoint("10.244.2.5", "node-2")))
    assert ("no-endpoint-nodeports", "tcp . 30080", "drop") in remote.elements
    assert dict(remote.chains)[names.external_chain(WEB)][-1] == f"fib saddr type local goto {cluster}"


def test_rules_internal_traffic_policy_local_drops_without_local_endpoints() -> None:
    """iTP Local: the ClusterIP reaches this node's endpoints only, and is dropped when there is none."""
    svc = service("web", "10.96.0.10", internalTrafficPolicy="Local")
    here = _only(svc, endpoint_slice("web-1", "web", endpoint("10.244.1.5"), endpoint("10.244.2.5", "node-2")))
    assert ("service-ips", "10.96.0.10 . tcp . 80", f"goto {names.local_chain(WEB)}") in here.elements
    assert [e.ip for e in here.endpoints] == ["10.244.1.5"]
    elsewhere = _only(svc, endpoint_slice("web-1", "web", endpoint("10.244.2.5", "node-2")))
    assert elsewhere.chains == ()
    assert ("no-endpoint-services", "10.96.0.10 . tcp . 80", "drop") in elsewhere.elements


def test_rules_session_affinity_uses_one_timed_set_per_endpoint() -> None:
    """ClientIP affinity: known clients go back to their endpoint; the endpoint chain records them."""
    svc = service("web", "10.96.0.10", sessionAffinity="ClientIP",
                  sessionAffinityConfig={"clientIP": {"timeoutSeconds": 30}})
    rules = _only(svc, endpoint_slice("web-1", "web", endpoint("10.244.1.5"), endpoint("10.244.2.5", "node-2")))
    set_a, set_b = names.affinity_set(WEB, A), names.affinity_set(WEB, B)
    assert rules.sets == ((set_a, 30), (set_b, 30))
    chains = dict(rules.chains)
    assert chains[names.service_chain(WEB)][1:3] == (f"ip saddr @{set_a} goto {names.endpoint_chain(WEB, A)}",
                                                     f"ip saddr @{set_b} goto {names.endpoint_chain(WEB, B)}")
    assert f"update @{set_a} {{ ip saddr }}" in chains[names.endpoint_chain(WEB, A)]


def test_rules_terminating_endpoints_only_when_none_is_ready() -> None:
    """A deleted pod (serving, terminating) gets no new connection while another endpoint is ready."""
    going = endpoint("10.244.1.5", ready=False, serving=True, terminating=True)
    with_ready = _only(service("web", "10.96.0.10"), endpoint_slice("w", "web", going, endpoint("10.244.2.5", "n2")))
    assert [e.ip for e in with_ready.endpoints] == ["10.244.2.5"]
    alone = _only(service("web", "10.96.0.10"), endpoint_slice("w", "web", going))
    assert [e.ip for e in alone.endpoints] == ["10.244.1.5"]


def test_rules_without_pod_cidr_only_hairpin_and_node_ports_masquerade() -> None:
    """A node without a pod network of its own does not masquerade ClusterIP traffic by source."""
    rules = _only(service("web", "10.96.0.10"), endpoint_slice("w", "web", endpoint("10.244.1.5")), pod_cidr=None)
    assert not any("saddr !=" in r for _, chain in rules.chains for r in chain)


def test_ruleset_conflicting_services_keep_the_first_and_report_the_other() -> None:
    """Two Services on one ClusterIP:port or NodePort: the first by name keeps it, the other is reported."""
    one = service("a", "10.96.0.10", {"name": "http", "port": 80, "nodePort": 30080}, type="NodePort")
    two = service("b", "10.96.0.10", {"name": "http", "port": 80, "nodePort": 30080}, type="NodePort")
    merged = ruleset((two, [endpoint_slice("b", "b", endpoint("10.244.1.6"))]),
                     (one, [endpoint_slice("a", "a", endpoint("10.244.1.5"))]))
    a = ServicePortName("default", "a", "http", "tcp")
    assert merged.elements[("service-ips", "10.96.0.10 . tcp . 80")] == f"goto {names.service_chain(a)}"
    assert merged.elements[("service-nodeports", "tcp . 30080")] == f"goto {names.external_chain(a)}"
    assert set(merged.conflicts) == {"default/b"}
