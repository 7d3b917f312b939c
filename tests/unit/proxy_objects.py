"""Services and EndpointSlices as the API serves them, for the proxy's tests (and its rulesets), and an
informer the tests feed by hand."""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from minik8s.api.informer import object_key
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


class FakeInformer:
    """An informer fed by the test: `put` and `remove` call the handlers like the real one."""

    def __init__(self) -> None:
        self.cache: dict[str, Obj] = {}
        self.handlers: list[tuple[Callable, Callable, Callable]] = []

    def add_handler(self, on_add: Callable, on_update: Callable, on_delete: Callable) -> None:
        self.handlers.append((on_add, on_update, on_delete))

    def put(self, obj: Obj) -> None:
        old = self.cache.get(object_key(obj))
        self.cache[object_key(obj)] = obj
        for on_add, on_update, _ in self.handlers:
            on_add(obj) if old is None else on_update(old, obj)

    def remove(self, obj: Obj) -> None:
        del self.cache[object_key(obj)]
        for _, _, on_delete in self.handlers:
            on_delete(obj)

    def get(self, key: str) -> Obj | None:
        return self.cache.get(key)

    def list(self) -> list[Obj]:
        return list(self.cache.values())

    def has_synced(self) -> bool:
        return True

    def start(self) -> None:
        pass

    def stop(self, timeout: float | None = None) -> None:
        pass


def random_state(rng: random.Random, *, services: int = 5) -> Ruleset:
    """Up to `services` Services with every feature the rules have (NodePorts, policies, affinity, endpoint
    conditions), ClusterIPs and NodePorts colliding on purpose."""
    ips = [f"10.244.{n}.{h}" for n in (1, 2) for h in (5, 6, 7)]
    pairs = []
    for i in range(rng.randint(0, services)):
        name = f"s{i}"
        ports = [{"name": "p", "port": 80, "protocol": rng.choice(["TCP", "UDP"])}]
        spec: dict[str, Any] = {}
        if rng.random() < 0.5:
            spec["type"] = "NodePort"
            ports[0]["nodePort"] = 30000 + rng.randint(0, 4)
            spec["externalTrafficPolicy"] = rng.choice(["Cluster", "Local"])
        if rng.random() < 0.3:
            spec["internalTrafficPolicy"] = "Local"
        if rng.random() < 0.4:
            spec["sessionAffinity"] = "ClientIP"
            spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": rng.choice([60, 120])}}
        svc = service(name, f"10.96.0.{rng.randint(1, 4)}", *ports, **spec)
        eps = [endpoint(ip, rng.choice(["node-1", "node-2"]), ready=rng.random() < 0.7,
                        serving=rng.random() < 0.8, terminating=rng.random() < 0.3)
               for ip in rng.sample(ips, rng.randint(0, 4))]
        slice_ports = [{"name": "p", "port": 8080, "protocol": ports[0]["protocol"]}]
        pairs.append((svc, [endpoint_slice(f"{name}-1", name, *eps, ports=slice_ports)]))
    return ruleset(*pairs)
