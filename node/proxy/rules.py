"""The nftables rules of one Service port, as data (kube-proxy's nftables mode, per port).

For each Service port the proxy owns a few chains, maybe affinity sets, and elements of the
table's shared maps (see `table` for those):

- `service-…` spreads traffic with `numgen random mod N` over the endpoints Cluster policy uses;
  `local-…` over this node's (Local policy). With `sessionAffinity: ClientIP` a client address
  found in an endpoint's affinity set goes to that endpoint first.
- `external-…` is where NodePort traffic enters: it is masqueraded (Cluster policy: the reply
  must come back through this node), or with `externalTrafficPolicy: Local` keeps its source and
  goes to local endpoints only — except traffic from this node's pods and from the node host,
  which is short-circuited to every endpoint as kube-proxy does.
- `endpoint-…` masquerades a pod that reaches itself through the Service (hairpin), records the
  client in the affinity set, and DNATs.
- The ClusterIP's rule masquerades traffic that does not come from this node's pods (the node
  host, other hosts), so replies from other nodes come back here to be un-DNATed.
- Map elements route `clusterIP . proto . port` and `proto . nodePort` to those chains, or, when
  the port has no usable endpoint, to a reject (none anywhere) or a drop (none here for a Local
  policy) in the filter hooks.

Pure: a `ServicePort`, its endpoints and the node's pod CIDR in, a frozen `PortRules` out.
"""

from __future__ import annotations

from dataclasses import dataclass

from . import names
from .categorize import categorize
from .model import Endpoint, ServicePort

MARK_FOR_MASQUERADE = "mark-for-masquerade"
REJECT_CHAIN = "reject-chain"
SERVICE_IPS = "service-ips"  # map: clusterIP . proto . port -> goto chain
SERVICE_NODEPORTS = "service-nodeports"  # map: proto . nodePort -> goto chain
NO_ENDPOINT_SERVICES = "no-endpoint-services"  # map: clusterIP . proto . port -> reject/drop
NO_ENDPOINT_NODEPORTS = "no-endpoint-nodeports"  # map: proto . nodePort -> reject/drop
CLUSTER_IPS = "cluster-ips"  # set: every ClusterIP (traffic to one of its undefined ports is rejected)

# (map or set, key, value); value is None for a set element
Element = tuple[str, str, str | None]


@dataclass(frozen=True)
class PortRules:
    """Everything one Service port puts in the table."""

    port: ServicePort
    chains: tuple[tuple[str, tuple[str, ...]], ...]  # (chain, its rules), in a fixed order
    sets: tuple[tuple[str, int], ...]  # (affinity set, timeout in seconds)
    elements: tuple[Element, ...]
    endpoints: tuple[Endpoint, ...]  # every endpoint a chain DNATs to (conntrack clean-up reads it)


def _balance(port: ServicePort, endpoints: tuple[Endpoint, ...]) -> tuple[str, ...]:
    """Rules of a chain spreading new connections evenly over `endpoints` (affinity first)."""
    rules = []
    if port.affinity_seconds:
        rules += [f"ip saddr @{names.affinity_set(port.name, e)} goto {names.endpoint_chain(port.name, e)}"
                  for e in endpoints]
    choices = ", ".join(f"{i} : goto {names.endpoint_chain(port.name, e)}" for i, e in enumerate(endpoints))
    rules.append(f"numgen random mod {len(endpoints)} vmap {{ {choices} }}")
    return tuple(rules)


def _endpoint(port: ServicePort, endpoint: Endpoint) -> tuple[str, ...]:
    rules = [f"ip saddr {endpoint.ip} jump {MARK_FOR_MASQUERADE}"]  # hairpin: a pod reaching itself
    if port.affinity_seconds:
        rules.append(f"update @{names.affinity_set(port.name, endpoint)} {{ ip saddr }}")
    rules.append(f"meta l4proto {port.name.protocol} dnat to {endpoint.ip}:{endpoint.port}")
    return tuple(rules)


def port_rules(port: ServicePort, endpoints: list[Endpoint], pod_cidr: str | None) -> PortRules:
    """The chains, sets and map elements of `port` given its endpoints.

    `pod_cidr` is this node's pod network (traffic from it needs no masquerading); None when the
    node has none, and then only hairpin and NodePort traffic is masqueraded.
    """
    found = categorize(port, endpoints)
    name, proto = port.name, port.name.protocol
    cluster_chain, local_chain, ext_chain = (names.service_chain(name), names.local_chain(name),
                                             names.external_chain(name))
    uses_cluster = bool(found.cluster) and port.uses_cluster_endpoints
    uses_local = bool(found.local) and port.uses_local_endpoints
    internal_chain = local_chain if port.internal_local else cluster_chain
    has_internal = found.has_any and (not port.internal_local or bool(found.local))
    has_external = found.has_any and (not port.external_local or bool(found.local))
    uses_external = found.has_any and port.externally_accessible

    ip_key = f"{port.cluster_ip} . {proto} . {port.port}"
    node_port_key = f"{proto} . {port.node_port}"
    missing = f"goto {REJECT_CHAIN}" if not found.has_any else "drop"
    elements: list[Element] = [(CLUSTER_IPS, port.cluster_ip, None)]
    if has_internal:
        elements.append((SERVICE_IPS, ip_key, f"goto {internal_chain}"))
    else:
        elements.append((NO_ENDPOINT_SERVICES, ip_key, missing))
    if port.node_port:
        if found.has_any:
            elements.append((SERVICE_NODEPORTS, node_port_key, f"goto {ext_chain}"))
        if not has_external:
            elements.append((NO_ENDPOINT_NODEPORTS, node_port_key, missing))

    masquerade_internal = ((f"ip daddr {port.cluster_ip} {proto} dport {port.port} ip saddr != {pod_cidr} "
                            f"jump {MARK_FOR_MASQUERADE}",) if pod_cidr and has_internal else ())
    chains: list[tuple[str, tuple[str, ...]]] = []
    if uses_cluster:
        chains.append((cluster_chain, (masquerade_internal if internal_chain == cluster_chain else ())
                       + _balance(port, found.cluster)))
    if uses_local:
        chains.append((local_chain, (masquerade_internal if internal_chain == local_chain else ())
                       + _balance(port, found.local)))
    if uses_external:
        rules: list[str] = []
        if not port.external_local:
            rules.append(f"jump {MARK_FOR_MASQUERADE}")  # the reply must come back through this node
        else:
            if pod_cidr:
                rules.append(f"ip saddr {pod_cidr} goto {cluster_chain}")  # short-circuit pod traffic
            rules.append(f"fib saddr type local jump {MARK_FOR_MASQUERADE}")  # the node host itself
            rules.append(f"fib saddr type local goto {cluster_chain}")
        if has_external:
            rules.append(f"goto {local_chain if port.external_local else cluster_chain}")
        chains.append((ext_chain, tuple(rules)))
    chains += [(names.endpoint_chain(name, e), _endpoint(port, e)) for e in found.reachable]
    sets = tuple((names.affinity_set(name, e), port.affinity_seconds) for e in found.reachable
                 ) if port.affinity_seconds else ()
    return PortRules(port, tuple(chains), sets, tuple(elements), found.reachable)
