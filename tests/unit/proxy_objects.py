"""Services and EndpointSlices as the API serves them, for the proxy's tests (and its rulesets)."""

from __future__ import annotations

from typing import Any

from minik8s.node.proxy.model import service_ports, slice_endpoints
from minik8s.node.proxy.rules import PortRules, port_rules
from minik8s.node.proxy.ruleset import Ruleset

Obj = dict[str, Any]
NODE = "node-1"
POD_CIDR = "10.244.1.0/24"


def service(name: str, cluster_ip: str, *ports: Obj, namespace: str = "default", **spec: Any) -> Obj:
    """A Service; `ports` default to one TCP port 80 named http."""
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"namespace": namespace, "name": name},
            "spec": {"clusterIP": cluster_ip, "ports": list(ports) or [{"name": "http", "port": 80}], **spec}}


def endpoint(ip: str, node: str = NODE, **conditions: bool) -> Obj:
    """An endpoint of a slice (conditions unset unless given)."""
    return {"addresses": [ip], "nodeName": node, **({"conditions": conditions} if conditions else {})}


def endpoint_slice(name: str, service_name: str, *endpoints: Obj, ports: list[Obj] | None = None,
                   namespace: str = "default", address_type: str = "IPv4") -> Obj:
    """An EndpointSlice of `service_name`; `ports` default to http 8080/TCP."""
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"namespace": namespace, "name": name, "labels": {"kubernetes.io/service-name": service_name}},
            "addressType": address_type, "endpoints": list(endpoints),
            "ports": ports if ports is not None else [{"name": "http", "port": 8080, "protocol": "TCP"}]}


def rules_of(svc: Obj, *slices: Obj, node: str = NODE, pod_cidr: str | None = POD_CIDR) -> list[PortRules]:
    """Every port's rules of `svc` given its slices."""
    endpoints = slice_endpoints(list(slices), node)
    return [port_rules(p, endpoints.get((p.name.port, p.name.protocol), []), pod_cidr) for p in service_ports(svc)]


def ruleset(*pairs: tuple[Obj, list[Obj]], pod_cidr: str | None = POD_CIDR) -> Ruleset:
    """A ruleset of (Service, its slices) pairs."""
    return Ruleset({rules.port.name: rules for svc, slices in pairs for rules in rules_of(svc, *slices,
                                                                                        pod_cidr=pod_cidr)})
