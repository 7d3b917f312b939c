"""Services: the kind's schema, defaults, validation, table and `describe` section.

An update that leaves out the cluster IP or a node port allocated at create keeps them, as in
Kubernetes (`kubectl apply` of the original manifest must not change them).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from minik8s.api import schema
from minik8s.api.describe import Lines
from minik8s.api.fields import Causes
from minik8s.api.names import DNS1035_LABEL, DNS_LABEL, PORT_NAME
from minik8s.api.tables import (
    AGE_COLUMN, NAME_COLUMN, age_cell, column, format_labels, lb_ingress, name_cell, wide_column,
)

from .defaulting import child, default, dicts
from .podspec import PROTOCOLS
from .resource import ResourceType
from .strategy import Strategy

Obj = dict[str, Any]

SERVICE_TYPES = ("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")

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


class ServiceStrategy(Strategy):
    """Services (`pkg/registry/core/service/strategy.go`)."""

    name_rule = DNS1035_LABEL
    generation = True
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
        for port in dicts(spec.get("ports")):
            default(port, "protocol", "TCP")
            default(port, "targetPort", port.get("port"))

    def prepare_update(self, new: Obj, old: Obj) -> None:
        _keep_allocations(new.get("spec"), old.get("spec"))

    def validate(self, c: Causes, obj: Obj, old: Obj | None) -> None:
        spec = c.object("spec", obj.get("spec"), required=True)
        if spec is None:
            return
        kind = c.choice("spec.type", spec.get("type", "ClusterIP"), SERVICE_TYPES)
        cluster_ip = c.string("spec.clusterIP", spec.get("clusterIP"))
        if cluster_ip != "None":
            c.ip("spec.clusterIP", cluster_ip)
        for i, ip in enumerate(c.strings("spec.clusterIPs", spec.get("clusterIPs"))):
            if ip != "None":
                c.ip(f"spec.clusterIPs[{i}]", ip)
        for i, ip in enumerate(c.strings("spec.externalIPs", spec.get("externalIPs"))):
            c.ip(f"spec.externalIPs[{i}]", ip, required=True)
        ports = spec.get("ports")
        several = isinstance(ports, list) and len(ports) > 1
        names: set[str] = set()
        headless = kind == "ExternalName" or cluster_ip == "None"
        for p, port in c.objects("spec.ports", ports, required=not headless):
            c.name(f"{p}.name", port.get("name"), DNS_LABEL, required=several, seen=names)
            c.integer(f"{p}.port", port.get("port"), minimum=1, maximum=65535, required=True)
            c.choice(f"{p}.protocol", port.get("protocol"), PROTOCOLS)
            target = port.get("targetPort")
            if isinstance(target, str):
                c.name(f"{p}.targetPort", target, PORT_NAME)
            else:
                c.integer(f"{p}.targetPort", target, minimum=1, maximum=65535)
            node_port = c.integer(f"{p}.nodePort", port.get("nodePort"), minimum=30000, maximum=32767)
            if node_port is not None and kind in ("ClusterIP", "ExternalName"):
                c.forbidden(f"{p}.nodePort", f"may not be used when `type` is '{kind}'")
        c.labels("spec.selector", spec.get("selector"))
        c.choice("spec.sessionAffinity", spec.get("sessionAffinity"), ("ClientIP", "None"))
        c.string("spec.externalName", spec.get("externalName"), required=kind == "ExternalName")

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        spec = obj.get("spec") or {}
        cluster_ip = (spec.get("clusterIPs") or [spec.get("clusterIP")])[0] or "<none>"
        ports = []
        for port in spec.get("ports") or []:
            node_port = f":{port['nodePort']}" if port.get("nodePort") else ""
            ports.append(f"{port.get('port')}{node_port}/{port.get('protocol', 'TCP')}")
        return [
            name_cell(obj), spec.get("type", "ClusterIP"), cluster_ip, _external_ip(obj),
            ",".join(ports) or "<none>", age_cell(obj, now), format_labels(spec.get("selector")),
        ]

    def describe(self, out: Lines, obj: Obj) -> None:
        spec = obj.get("spec") or {}
        out.add(0, "Selector:", format_labels(spec.get("selector")))
        out.add(0, "Type:", spec.get("type", "ClusterIP"))
        out.add(0, "IP:", spec.get("clusterIP") or "<none>")
        for port in spec.get("ports") or []:
            name, protocol = port.get("name") or "<unset>", port.get("protocol", "TCP")
            out.add(0, "Port:", name, f"{port.get('port')}/{protocol}")
            out.add(0, "TargetPort:", f"{port.get('targetPort', port.get('port'))}/{protocol}")
            if port.get("nodePort"):
                out.add(0, "NodePort:", name, f"{port['nodePort']}/{protocol}")


RESOURCE = ResourceType("", "v1", "services", "Service", True, ("svc",), ("all",), ("status",),
                        strategy=ServiceStrategy())


def _keep_allocations(spec: Any, old_spec: Any) -> None:
    """Keep the cluster IP and node ports allocated at create when an update leaves them out."""
    if not isinstance(spec, dict) or not isinstance(old_spec, dict):
        return
    if spec.get("type") != "ExternalName" and not spec.get("clusterIP") and old_spec.get("clusterIP"):
        spec["clusterIP"] = old_spec["clusterIP"]
        default(spec, "clusterIPs", old_spec.get("clusterIPs"))
    if spec.get("type") not in ("NodePort", "LoadBalancer"):
        return
    for port in dicts(spec.get("ports")):
        for old_port in dicts(old_spec.get("ports")):
            if (old_port.get("port"), old_port.get("protocol")) == (port.get("port"), port.get("protocol")):
                default(port, "nodePort", old_port.get("nodePort"))


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
