"""Services: the kind's schema, defaults, validation, update rules, table and `describe` section.

What depends only on the object lives here (`pkg/apis/core/v1/defaults.go`, `validation.go`,
`pkg/registry/core/service/strategy.go`): defaults such as `sessionAffinityConfig` and the traffic
policies, validation in Kubernetes' words, and what an update keeps or drops. An update that
leaves out the cluster IP or node ports allocated before keeps them (`kubectl apply` of the
original manifest must not change them), and a change of `type` that no longer needs them drops
them when the client left them as they were (`dropTypeDependentFields`).

What depends on the cluster (the service IP range, the node port range, which addresses and ports
are free, the IP families) is the API server's (`minik8s.api.server.serviceallocation`).
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from minik8s.api import schema
from minik8s.api.describe import Lines
from minik8s.api.fields import Causes
from minik8s.api.names import DNS1035_LABEL, DNS_LABEL, DNS_SUBDOMAIN, PORT_NAME
from minik8s.api.tables import (
    AGE_COLUMN, NAME_COLUMN, age_cell, column, format_labels, lb_ingress, name_cell, wide_column,
)

from .defaulting import child, default, dicts
from .podspec import PROTOCOLS
from .resource import ResourceType
from .strategy import Strategy

Obj = dict[str, Any]

SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
TRAFFIC_POLICIES = ("Cluster", "Local")
IP_FAMILIES = ("IPv4", "IPv6")
IP_FAMILY_POLICIES = ("SingleStack", "PreferDualStack", "RequireDualStack")
CLUSTER_IP_NONE = "None"
DEFAULT_AFFINITY_TIMEOUT = 10800  # seconds (v1.DefaultClientIPServiceAffinitySeconds)
MAX_AFFINITY_TIMEOUT = 86400

schema.define(schema.CORE, {
    "Service": {"spec": "ServiceSpec", "status": "ServiceStatus"},
    "ServiceSpec": {"ports": "[ServicePort/port]", "selector": "map", "clusterIP": "str", "clusterIPs": "[str]",
                    "type": "str", "externalIPs": "[str]", "sessionAffinity": "str", "loadBalancerIP": "str",
                    "loadBalancerSourceRanges": "[str]", "externalName": "str", "externalTrafficPolicy": "str",
                    "internalTrafficPolicy": "str", "publishNotReadyAddresses": "bool",
                    "sessionAffinityConfig": "SessionAffinityConfig", "ipFamilies": "[str]", "ipFamilyPolicy": "str",
                    "healthCheckNodePort": "int", "allocateLoadBalancerNodePorts": "bool", "loadBalancerClass": "str",
                    "trafficDistribution": "str"},
    "ServicePort": {"name": "str", "protocol": "str", "appProtocol": "str", "port": "int", "targetPort": "intstr",
                    "nodePort": "int"},
    "SessionAffinityConfig": {"clientIP": "ClientIPConfig"},
    "ClientIPConfig": {"timeoutSeconds": "int"},
    "ServiceStatus": {"loadBalancer": "LoadBalancerStatus", "conditions": "[Condition/type]"},
    "LoadBalancerStatus": {"ingress": "[LoadBalancerIngress]"},
    "LoadBalancerIngress": {"ip": "str", "hostname": "str", "ipMode": "str", "ports": "[PortStatus]"},
    "PortStatus": {"port": "int", "protocol": "str", "error": "str"},
})


# -- what a Service's type asks for (`pkg/registry/core/service/strategy.go`) ----------------------

def service_type(spec: Any) -> str:
    """The spec's `type` (ClusterIP when unset)."""
    kind = spec.get("type") if isinstance(spec, dict) else None
    return kind if isinstance(kind, str) and kind else "ClusterIP"


def needs_cluster_ip(spec: Any) -> bool:
    """Every type but ExternalName has a cluster IP (`None` for a headless Service counts)."""
    return service_type(spec) != "ExternalName"


def needs_node_ports(spec: Any) -> bool:
    """NodePort and LoadBalancer Services hold node ports."""
    return service_type(spec) in ("NodePort", "LoadBalancer")


def allocates_node_ports(spec: Any) -> bool:
    """Whether the ports without a `nodePort` get one (a LoadBalancer may opt out)."""
    if service_type(spec) == "LoadBalancer":
        return spec.get("allocateLoadBalancerNodePorts") is not False
    return service_type(spec) == "NodePort"


def needs_health_check_node_port(spec: Any) -> bool:
    """A LoadBalancer with `externalTrafficPolicy: Local` has a health check node port."""
    return service_type(spec) == "LoadBalancer" and spec.get("externalTrafficPolicy") == "Local"


def externally_accessible(spec: Any) -> bool:
    """NodePort and LoadBalancer Services, and ClusterIP ones with external IPs (`ExternallyAccessible`)."""
    kind = service_type(spec)
    return kind in ("NodePort", "LoadBalancer") or (kind == "ClusterIP" and bool(spec.get("externalIPs")))


def is_headless(spec: Any) -> bool:
    """`clusterIP: None`."""
    return isinstance(spec, dict) and spec.get("clusterIP") == CLUSTER_IP_NONE


def has_cluster_ip(spec: Any) -> bool:
    """A cluster IP is set and is not `None` (`IsServiceIPSet`): the Service has a virtual address."""
    ip = spec.get("clusterIP") if isinstance(spec, dict) else None
    return isinstance(ip, str) and ip not in ("", CLUSTER_IP_NONE)


# -- the strategy ------------------------------------------------------------------------------------

class ServiceStrategy(Strategy):
    """Services (`pkg/registry/core/service/strategy.go`)."""

    name_rule = DNS1035_LABEL
    generation = True
    create_on_update = True
    columns = (
        NAME_COLUMN,
        column("Type", "type determines how the Service is exposed."),
        column("Cluster-IP", "clusterIP is the IP address of the service."),
        column("External-IP", "externalIPs is a list of IP addresses for which nodes in the cluster will also "
                              "accept traffic for this service."),
        column("Port(s)", "The list of ports that are exposed by this service."),
        AGE_COLUMN,
        wide_column("Selector", "Route service traffic to pods with label keys and values matching this selector."),
    )
    selectable_fields = {"spec.clusterIP": ("spec", "clusterIP"), "spec.type": ("spec", "type")}

    def default(self, obj: Obj, now: str) -> None:
        if (spec := child(obj, "spec")) is None:
            return
        default(spec, "type", "ClusterIP")
        default(spec, "sessionAffinity", "None")
        if spec.get("sessionAffinity") == "None":
            spec.pop("sessionAffinityConfig", None)
        elif spec.get("sessionAffinity") == "ClientIP":
            config = spec.get("sessionAffinityConfig")
            client_ip = config.get("clientIP") if isinstance(config, dict) else None
            if not isinstance(client_ip, dict) or client_ip.get("timeoutSeconds") is None:
                spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": DEFAULT_AFFINITY_TIMEOUT}}
        for port in dicts(spec.get("ports")):
            default(port, "protocol", "TCP")
            if port.get("targetPort") in (None, 0, ""):
                port["targetPort"] = port.get("port")
        if externally_accessible(spec):
            default(spec, "externalTrafficPolicy", "Cluster")
        if service_type(spec) in ("ClusterIP", "NodePort", "LoadBalancer"):
            default(spec, "internalTrafficPolicy", "Cluster")
        if service_type(spec) == "LoadBalancer":
            default(spec, "allocateLoadBalancerNodePorts", True)

    def prepare_create(self, obj: Obj) -> None:
        spec = obj.get("spec")
        if isinstance(spec, dict) and spec.get("clusterIP") and not spec.get("clusterIPs"):
            spec["clusterIPs"] = [spec["clusterIP"]]  # an old client: singular only

    def prepare_update(self, new: Obj, old: Obj) -> None:
        spec, old_spec = new.get("spec"), old.get("spec")
        if isinstance(spec, dict) and isinstance(old_spec, dict):
            _normalize_cluster_ips(spec, old_spec)
            _keep_allocations(spec, old_spec)
            _drop_type_dependent_fields(spec, old_spec)

    def initial_status(self, obj: Obj) -> Obj:
        return {"loadBalancer": {}}  # no cloud here: a LoadBalancer's ingress stays empty

    def validate(self, c: Causes, obj: Obj, old: Obj | None) -> None:
        spec = c.object("spec", obj.get("spec"), required=True)
        if spec is None:
            return
        kind = c.choice("spec.type", spec.get("type", "ClusterIP"), SERVICE_TYPES)  # None: reported
        _validate_cluster_ips(c, spec, kind)
        for i, ip in enumerate(c.strings("spec.externalIPs", spec.get("externalIPs"))):
            c.ip(f"spec.externalIPs[{i}]", ip, required=True)
        _validate_ports(c, spec, kind)
        c.labels("spec.selector", spec.get("selector"))
        _validate_affinity(c, spec)
        _validate_traffic_policies(c, spec, kind)
        c.boolean("spec.publishNotReadyAddresses", spec.get("publishNotReadyAddresses"))
        if kind == "ExternalName":
            name = c.string("spec.externalName", spec.get("externalName"))
            cname = (name or "").removesuffix(".")
            if cname:
                c.name("spec.externalName", cname, DNS_SUBDOMAIN)
            else:
                c.required("spec.externalName")
        old_spec = old.get("spec") if isinstance(old, dict) else None
        if isinstance(old_spec, dict):
            _validate_update(c, spec, old_spec)

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        spec = obj.get("spec") or {}
        cluster_ip = (spec.get("clusterIPs") or [spec.get("clusterIP")])[0] or "<none>"
        return [
            name_cell(obj), spec.get("type", "ClusterIP"), cluster_ip, _external_ip(obj),
            format_ports(spec), age_cell(obj, now), format_labels(spec.get("selector")),
        ]

    def describe(self, out: Lines, obj: Obj) -> None:
        spec = obj.get("spec") or {}
        out.add(0, "Selector:", format_labels(spec.get("selector")))
        out.add(0, "Type:", spec.get("type", "ClusterIP"))
        if spec.get("ipFamilyPolicy"):
            out.add(0, "IP Family Policy:", spec["ipFamilyPolicy"])
        if spec.get("ipFamilies"):
            out.add(0, "IP Families:", ",".join(spec["ipFamilies"]))
        out.add(0, "IP:", spec.get("clusterIP") or "<none>")
        if spec.get("clusterIPs"):
            out.add(0, "IPs:", ",".join(spec["clusterIPs"]))
        if spec.get("externalIPs"):
            out.add(0, "External IPs:", ",".join(spec["externalIPs"]))
        if spec.get("externalName"):
            out.add(0, "External Name:", spec["externalName"])
        for port in spec.get("ports") or []:
            name, protocol = port.get("name") or "<unset>", port.get("protocol", "TCP")
            out.add(0, "Port:", name, f"{port.get('port')}/{protocol}")
            out.add(0, "TargetPort:", f"{port.get('targetPort', port.get('port'))}/{protocol}")
            if port.get("nodePort"):
                out.add(0, "NodePort:", name, f"{port['nodePort']}/{protocol}")
        out.add(0, "Session Affinity:", spec.get("sessionAffinity", "None"))
        if spec.get("externalTrafficPolicy"):
            out.add(0, "External Traffic Policy:", spec["externalTrafficPolicy"])
        if spec.get("internalTrafficPolicy"):
            out.add(0, "Internal Traffic Policy:", spec["internalTrafficPolicy"])
        if spec.get("healthCheckNodePort"):
            out.add(0, "HealthCheck NodePort:", spec["healthCheckNodePort"])


RESOURCE = ResourceType("", "v1", "services", "Service", True, ("svc",), ("all",), ("status",),
                        strategy=ServiceStrategy())


def format_ports(spec: Obj) -> str:
    """kubectl's PORT(S) cell: `80/TCP`, `80:30080/TCP`, comma-separated; `<none>` without ports."""
    ports = []
    for port in spec.get("ports") or []:
        node_port = f":{port['nodePort']}" if port.get("nodePort") else ""
        ports.append(f"{port.get('port')}{node_port}/{port.get('protocol', 'TCP')}")
    return ",".join(ports) or "<none>"


# -- update rules -----------------------------------------------------------------------------------

def _normalize_cluster_ips(spec: Obj, old_spec: Obj) -> None:
    """`NormalizeClusterIPs` on update: keep `clusterIPs` in step with a client that only knows `clusterIP`."""
    old_ip, old_ips = old_spec.get("clusterIP") or "", old_spec.get("clusterIPs") or []
    ip, ips = spec.get("clusterIP") or "", spec.get("clusterIPs") or []
    if old_ips and not ips and old_ip == ip:
        spec["clusterIPs"] = ips = list(old_ips)
    if old_ip != ip and ips == old_ips:
        if old_ip and not ip:
            spec.pop("clusterIPs", None)  # clearing both: the type change below may want that
        else:
            spec["clusterIPs"] = [ip]


def _keep_allocations(spec: Obj, old_spec: Obj) -> None:
    """`patchAllocatedValues`: what an update leaves out of what was allocated is kept."""
    if needs_cluster_ip(old_spec) and needs_cluster_ip(spec):
        for field in ("clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"):
            if not spec.get(field) and old_spec.get(field):
                spec[field] = copy.deepcopy(old_spec[field])
    if needs_node_ports(old_spec) and needs_node_ports(spec):
        used = _node_ports(old_spec) & _node_ports(spec)
        by_name = {port.get("name") or "": port.get("nodePort") for port in dicts(old_spec.get("ports"))}
        for port in dicts(spec.get("ports")):
            previous = by_name.get(port.get("name") or "")
            if not port.get("nodePort") and previous and previous not in used:
                port["nodePort"] = previous
    if needs_health_check_node_port(old_spec) and needs_health_check_node_port(spec):
        if not spec.get("healthCheckNodePort") and old_spec.get("healthCheckNodePort"):
            spec["healthCheckNodePort"] = old_spec["healthCheckNodePort"]


def _drop_type_dependent_fields(spec: Obj, old_spec: Obj) -> None:
    """`dropTypeDependentFields`: a type that no longer needs an allocated field loses it, when the
    client left it as it was (a changed value is the client's, and validation judges it)."""
    if needs_cluster_ip(old_spec) and not needs_cluster_ip(spec):
        if (spec.get("clusterIP") or "", spec.get("clusterIPs") or []) == (
                old_spec.get("clusterIP") or "", old_spec.get("clusterIPs") or []):
            spec.pop("clusterIP", None)
            spec.pop("clusterIPs", None)
        if spec.get("ipFamilies") == old_spec.get("ipFamilies"):
            spec.pop("ipFamilies", None)
        if spec.get("ipFamilyPolicy") == old_spec.get("ipFamilyPolicy"):
            spec.pop("ipFamilyPolicy", None)
    if needs_node_ports(old_spec) and not needs_node_ports(spec) and _node_ports(spec) <= _node_ports(old_spec):
        for port in dicts(spec.get("ports")):
            port.pop("nodePort", None)
    if needs_health_check_node_port(old_spec) and not needs_health_check_node_port(spec) and \
            spec.get("healthCheckNodePort") == old_spec.get("healthCheckNodePort"):
        spec.pop("healthCheckNodePort", None)
    if service_type(old_spec) == "LoadBalancer" and service_type(spec) != "LoadBalancer":
        for field in ("allocateLoadBalancerNodePorts", "loadBalancerClass"):
            if spec.get(field) == old_spec.get(field):
                spec.pop(field, None)
    if externally_accessible(old_spec) and not externally_accessible(spec) and \
            spec.get("externalTrafficPolicy") == old_spec.get("externalTrafficPolicy"):
        spec.pop("externalTrafficPolicy", None)


def _node_ports(spec: Obj) -> set[int]:
    return {port["nodePort"] for port in dicts(spec.get("ports")) if isinstance(port.get("nodePort"), int)
            and port["nodePort"]}


# -- validation (`ValidateService`, `ValidateServiceUpdate`) -----------------------------------------

def _validate_cluster_ips(c: Causes, spec: Obj, kind: str | None) -> None:
    cluster_ip = c.string("spec.clusterIP", spec.get("clusterIP")) or ""
    ips = c.strings("spec.clusterIPs", spec.get("clusterIPs"))
    policy = c.choice("spec.ipFamilyPolicy", spec.get("ipFamilyPolicy"), IP_FAMILY_POLICIES)
    families = c.strings("spec.ipFamilies", spec.get("ipFamilies"))
    if kind == "ExternalName":
        for field, value in (("clusterIPs", ips), ("ipFamilies", families), ("ipFamilyPolicy", policy)):
            if value:
                c.forbidden(f"spec.{field}", "may not be set for ExternalName services")
        return
    if cluster_ip and ips and ips[0] != cluster_ip:
        c.invalid("spec.clusterIPs", ips, "first value must match `clusterIP`")
    if len(ips) > 2:
        c.invalid("spec.clusterIPs", ips, "may only hold up to 2 values")
    for i, ip in enumerate(ips):
        if ip == CLUSTER_IP_NONE:
            if i > 0 or len(ips) > 1:
                c.invalid(f"spec.clusterIPs[{i}]", ip, "'None' must be the first and only value")
            elif kind in ("NodePort", "LoadBalancer"):
                c.invalid(f"spec.clusterIPs[{i}]", ip, f"may not be set to 'None' for {kind} services")
        else:
            c.ip(f"spec.clusterIPs[{i}]", ip)
    if cluster_ip and cluster_ip != CLUSTER_IP_NONE and not ips:
        c.ip("spec.clusterIP", cluster_ip)
    if len(families) > 2:
        c.invalid("spec.ipFamilies", families, "may only hold up to 2 values")
    seen: set[str] = set()
    for i, family in enumerate(families):
        c.choice(f"spec.ipFamilies[{i}]", family, IP_FAMILIES)
        if family in seen:
            c.duplicate(f"spec.ipFamilies[{i}]", family)
        seen.add(family)
    if policy == "SingleStack" and len(families) > 1:
        c.invalid("spec.ipFamilies", families, "when `ipFamilyPolicy` is 'SingleStack' only one family is allowed")


def _validate_ports(c: Causes, spec: Obj, kind: str | None) -> None:
    ports = spec.get("ports")
    several = isinstance(ports, list) and len(ports) > 1
    names: set[str] = set()
    headless = kind == "ExternalName" or spec.get("clusterIP") == CLUSTER_IP_NONE
    seen_ports: set[tuple[Any, Any]] = set()
    seen_node_ports: set[tuple[Any, Any]] = set()
    for p, port in c.objects("spec.ports", ports, required=not headless):
        c.name(f"{p}.name", port.get("name") or None, DNS_LABEL, required=several, seen=names)
        number = c.integer(f"{p}.port", port.get("port"), minimum=1, maximum=65535, required=True)
        protocol = c.choice(f"{p}.protocol", port.get("protocol"), PROTOCOLS)
        if (number, protocol) in seen_ports:
            c.duplicate(p, {"port": number, "protocol": protocol})
        seen_ports.add((number, protocol))
        target = port.get("targetPort")
        if isinstance(target, str):
            c.name(f"{p}.targetPort", target, PORT_NAME)
        else:
            c.integer(f"{p}.targetPort", target, minimum=1, maximum=65535)
        node_port = c.integer(f"{p}.nodePort", port.get("nodePort"), minimum=1, maximum=65535)
        if node_port is not None:
            if kind in ("ClusterIP", "ExternalName"):
                c.forbidden(f"{p}.nodePort", f"may not be used when `type` is '{kind}'")
            if (node_port, protocol) in seen_node_ports:
                c.duplicate(f"{p}.nodePort", node_port)
            seen_node_ports.add((node_port, protocol))


def _validate_affinity(c: Causes, spec: Obj) -> None:
    affinity = c.choice("spec.sessionAffinity", spec.get("sessionAffinity"), ("ClientIP", "None"))
    config = c.object("spec.sessionAffinityConfig", spec.get("sessionAffinityConfig"))
    if config is None:
        return
    if affinity != "ClientIP":
        c.forbidden("spec.sessionAffinityConfig", "must not be set when `sessionAffinity` is None")
        return
    client_ip = c.object("spec.sessionAffinityConfig.clientIP", config.get("clientIP")) or {}
    path = "spec.sessionAffinityConfig.clientIP.timeoutSeconds"
    timeout = c.integer(path, client_ip.get("timeoutSeconds"))
    if timeout is not None and not 0 < timeout <= MAX_AFFINITY_TIMEOUT:
        c.invalid(path, timeout, f"must be greater than 0 and less than {MAX_AFFINITY_TIMEOUT}")


def _validate_traffic_policies(c: Causes, spec: Obj, kind: str | None) -> None:
    """Both policies are defaulted (to Cluster) where they apply, so only their values are judged here."""
    external = spec.get("externalTrafficPolicy")
    if external and not externally_accessible(spec):
        c.invalid("spec.externalTrafficPolicy", external, "may only be set for externally-accessible services")
    else:
        c.choice("spec.externalTrafficPolicy", external, TRAFFIC_POLICIES)
    c.choice("spec.internalTrafficPolicy", spec.get("internalTrafficPolicy"), TRAFFIC_POLICIES)
    check_port = c.integer("spec.healthCheckNodePort", spec.get("healthCheckNodePort"))
    if check_port and not needs_health_check_node_port(spec):
        c.invalid("spec.healthCheckNodePort", check_port,
                  "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'")
    elif check_port is not None and not 0 <= check_port <= 65535:
        c.invalid("spec.healthCheckNodePort", check_port, "must be between 1 and 65535, inclusive")
    if spec.get("allocateLoadBalancerNodePorts") is not None:
        if kind != "LoadBalancer":
            c.forbidden("spec.allocateLoadBalancerNodePorts", "may only be used when `type` is 'LoadBalancer'")
        c.boolean("spec.allocateLoadBalancerNodePorts", spec.get("allocateLoadBalancerNodePorts"))


def _validate_update(c: Causes, spec: Obj, old_spec: Obj) -> None:
    """The cluster IPs and IP families may not change once set, unless the type goes to or from ExternalName."""
    if not (needs_cluster_ip(old_spec) and needs_cluster_ip(spec)):
        return
    for field in ("clusterIPs", "ipFamilies"):
        old_values, values = old_spec.get(field) or [], spec.get(field) or []
        for i, value in enumerate(old_values):
            if i < len(values) and values[i] != value or (i == 0 and not values):
                c.invalid(f"spec.{field}[{i}]", values, "may not change once set")
                break


def _external_ip(svc: Obj) -> str:
    spec = svc.get("spec") or {}
    kind, external = spec.get("type", "ClusterIP"), spec.get("externalIPs") or []
    if kind in ("ClusterIP", "NodePort"):
        return ",".join(external) or "<none>"
    if kind == "LoadBalancer":
        lb = lb_ingress(svc.get("status"))
        return ",".join([*(lb.split(",") if lb else []), *external]) or "<pending>"
    if kind == "ExternalName":
        return spec.get("externalName", "")
    return "<unknown>"

