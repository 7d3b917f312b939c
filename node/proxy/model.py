"""What the proxy reads from Services and EndpointSlices, parsed once into small typed values.

The node proxy programs rules from two kinds of objects written by other parties (users, the
EndpointSlice controller), so everything here is defensive: a Service port or an endpoint that
does not parse (an address that is not IPv4, a port out of range, a name that could not be part
of an nftables chain name) is left out instead of reaching the rule text. Pure: no I/O.

Kubernetes' meaning of the fields (`pkg/proxy/servicechangetracker.go`, `endpointslicecache.go`):

- a Service with no `clusterIP`, `clusterIP: None` (headless) or `type: ExternalName` is not
  proxied; `LoadBalancer` Services are proxied like `NodePort` ones (there is no load balancer);
- `externalTrafficPolicy: Local` matters only for a port that is reachable from outside (a
  NodePort); `internalTrafficPolicy: Local` applies to ClusterIP traffic;
- an endpoint's `ready` unset means ready, `serving` unset means the value of `ready`,
  `terminating` unset means false; it is local when its `nodeName` is this node.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from minik8s.api.names import DNS_LABEL

Obj = dict[str, Any]

PROTOCOLS = {"TCP": "tcp", "UDP": "udp", "SCTP": "sctp"}
DEFAULT_AFFINITY_SECONDS = 10800  # Kubernetes' default sessionAffinityConfig.clientIP.timeoutSeconds
MAX_AFFINITY_SECONDS = 86400
SERVICE_NAME_LABEL = "kubernetes.io/service-name"


@dataclass(frozen=True, order=True)
class ServicePortName:
    """One port of one Service: what kube-proxy calls a `ServicePortName` (plus the protocol)."""

    namespace: str
    name: str
    port: str  # the Service port's name ("" for a single unnamed port)
    protocol: str  # tcp, udp or sctp

    @property
    def service(self) -> str:
        """`namespace/name` of the Service."""
        return f"{self.namespace}/{self.name}"

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}/{self.protocol}/{self.port}"


@dataclass(frozen=True)
class ServicePort:
    """A Service port as the proxy uses it."""

    name: ServicePortName
    cluster_ip: str
    port: int
    node_port: int = 0  # 0: none
    affinity_seconds: int = 0  # sessionAffinity ClientIP timeout; 0: no affinity
    external_local: bool = False  # externalTrafficPolicy Local (only set for a port with a NodePort)
    internal_local: bool = False  # internalTrafficPolicy Local

    @property
    def externally_accessible(self) -> bool:
        """Reachable from outside the cluster (kube-proxy's `ExternallyAccessible`): here, a NodePort."""
        return self.node_port != 0

    @property
    def uses_cluster_endpoints(self) -> bool:
        """Cluster-wide endpoints are needed: Cluster internal policy, or any external traffic
        (a Local external policy still short-circuits pods and the node host to every endpoint)."""
        return not self.internal_local or self.externally_accessible

    @property
    def uses_local_endpoints(self) -> bool:
        """This node's own endpoints are needed by a Local policy."""
        return self.internal_local or self.external_local


@dataclass(frozen=True, order=True)
class Endpoint:
    """One address:port of a Service port, with its conditions."""

    ip: str
    port: int
    ready: bool = True
    serving: bool = True
    terminating: bool = False
    local: bool = False  # on this node

    def __str__(self) -> str:
        return f"{self.ip}:{self.port}"


def _label(value: Any) -> str | None:
    return value if isinstance(value, str) and not DNS_LABEL.problems(value) else None


def _port(value: Any, *, low: int = 1) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and low <= value <= 65535 else None


def _ipv4(value: Any) -> str | None:
    """`value` when it is a dotted IPv4 address a packet may be sent to (not loopback, link-local,
    multicast, unspecified or broadcast)."""
    if not isinstance(value, str):
        return None
    try:
        ip = ipaddress.IPv4Address(value)
    except ValueError:
        return None
    if ip.is_loopback or ip.is_link_local or ip.is_multicast or ip.is_unspecified or ip == ipaddress.IPv4Address(
            "255.255.255.255"):
        return None
    return str(ip)


def service_key(obj: Obj) -> str | None:
    """`namespace/name` of a Service object, or None when its metadata is unusable."""
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    if not isinstance(meta, dict):
        return None
    namespace, name = _label(meta.get("namespace")), _label(meta.get("name"))
    return f"{namespace}/{name}" if namespace and name else None


def slice_service_key(obj: Obj) -> str | None:
    """`namespace/service` an EndpointSlice belongs to (its `kubernetes.io/service-name` label)."""
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    if not isinstance(meta, dict) or not isinstance(meta.get("labels"), dict):
        return None
    namespace, name = _label(meta.get("namespace")), _label(meta["labels"].get(SERVICE_NAME_LABEL))
    return f"{namespace}/{name}" if namespace and name else None


def service_ports(service: Obj) -> list[ServicePort]:
    """The proxied ports of a Service; empty for headless, ExternalName and unallocated Services."""
    key = service_key(service)
    spec = service.get("spec") if isinstance(service.get("spec"), dict) else None
    if key is None or spec is None or spec.get("type") == "ExternalName":
        return []
    cluster_ip = _ipv4(spec.get("clusterIP"))
    if cluster_ip is None:  # "", None (headless), IPv6 or garbage
        return []
    namespace, name = key.split("/")
    affinity = 0
    if spec.get("sessionAffinity") == "ClientIP":
        config = spec.get("sessionAffinityConfig")
        client_ip = config.get("clientIP") if isinstance(config, dict) else None
        timeout = client_ip.get("timeoutSeconds") if isinstance(client_ip, dict) else None
        affinity = (timeout if isinstance(timeout, int) and not isinstance(timeout, bool)
                    and 0 < timeout <= MAX_AFFINITY_SECONDS else DEFAULT_AFFINITY_SECONDS)
    node_ports_allowed = spec.get("type") in ("NodePort", "LoadBalancer")
    ports = []
    seen: set[tuple[str, str]] = set()
    raw_ports = spec.get("ports") if isinstance(spec.get("ports"), list) else []
    for raw in raw_ports:
        if not isinstance(raw, dict):
            continue
        port_name = raw.get("name") or ""
        protocol = PROTOCOLS.get(raw.get("protocol") or "TCP")
        port = _port(raw.get("port"))
        if (port_name and _label(port_name) is None) or protocol is None or port is None:
            continue
        if (port_name, protocol) in seen:
            continue
        seen.add((port_name, protocol))
        node_port = _port(raw.get("nodePort")) if node_ports_allowed else None
        node_port = node_port or 0
        ports.append(ServicePort(
            name=ServicePortName(namespace, name, port_name, protocol), cluster_ip=cluster_ip, port=port,
            node_port=node_port, affinity_seconds=affinity,
            external_local=bool(node_port) and spec.get("externalTrafficPolicy") == "Local",
            internal_local=spec.get("internalTrafficPolicy") == "Local"))
    return ports


def _condition(conditions: Any, name: str, default: bool) -> bool:
    value = conditions.get(name) if isinstance(conditions, dict) else None
    return value if isinstance(value, bool) else default


def slice_endpoints(slices: list[Obj], node_name: str) -> dict[tuple[str, str], list[Endpoint]]:
    """The endpoints of one Service's slices by (port name, protocol), sorted, one per address:port.

    An address listed twice (two slices during an update) counts once, ready if either says so.
    """
    found: dict[tuple[str, str], dict[tuple[str, int], Endpoint]] = {}
    for item in slices:
        if not isinstance(item, dict) or item.get("addressType") != "IPv4":
            continue
        ports = []
        for raw in item.get("ports") if isinstance(item.get("ports"), list) else []:
            if not isinstance(raw, dict):
                continue
            protocol = PROTOCOLS.get(raw.get("protocol") or "TCP")
            port = _port(raw.get("port"))
            port_name = raw.get("name") or ""
            if protocol and port and isinstance(port_name, str):
                ports.append((port_name, protocol, port))
        for raw in item.get("endpoints") if isinstance(item.get("endpoints"), list) else []:
            if not isinstance(raw, dict) or not isinstance(raw.get("addresses"), list) or not raw["addresses"]:
                continue
            ip = _ipv4(raw["addresses"][0])  # Kubernetes: consumers use the first address only
            if ip is None:
                continue
            conditions = raw.get("conditions")
            ready = _condition(conditions, "ready", True)
            serving = _condition(conditions, "serving", ready)
            terminating = _condition(conditions, "terminating", False)
            local = raw.get("nodeName") == node_name
            for port_name, protocol, port in ports:
                by_address = found.setdefault((port_name, protocol), {})
                old = by_address.get((ip, port))
                endpoint = Endpoint(ip, port, ready, serving, terminating, local)
                if old is None or (endpoint.ready and not old.ready):
                    by_address[(ip, port)] = endpoint
    return {key: sorted(by_address.values()) for key, by_address in found.items()}
