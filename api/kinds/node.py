"""Nodes: the kind's schema, validation of what others dial, table and `describe` section.

A Node's status is written by its agent; the addresses and kubelet port in it are what the
masters connect to (`pods/log`), so they must be IPs (or host names) and a port.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from minik8s.api import schema
from minik8s.api.describe import Lines, format_time
from minik8s.api.fields import Causes
from minik8s.api.names import HOST_NAME
from minik8s.api.tables import AGE_COLUMN, NAME_COLUMN, age_cell, column, dig, name_cell, wide_column

from .resource import ResourceType
from .strategy import Strategy

Obj = dict[str, Any]

schema.define(schema.CORE, {
    "Node": {"spec": "NodeSpec", "status": "NodeStatus"},
    "NodeSpec": {"podCIDR": "str", "podCIDRs": "[str/]", "providerID": "str", "unschedulable": "bool",
                 "taints": "[Taint]", "externalID": "str", "configSource": "obj", "podPreemptionPolicy": "obj"},
    "Taint": {"key": "str", "value": "str", "effect": "str", "timeAdded": "time"},
    "NodeStatus": {"capacity": "map:quantity", "allocatable": "map:quantity", "phase": "str",
                   "conditions": "[Condition/type]", "addresses": "[NodeAddress/type]",
                   "daemonEndpoints": "NodeDaemonEndpoints", "nodeInfo": "NodeSystemInfo",
                   "images": "[ContainerImage]", "volumesInUse": "[str]", "volumesAttached": "[AttachedVolume]",
                   "config": "obj", "runtimeHandlers": "[obj]", "features": "obj", "declaredFeatures": "[str]"},
    "ContainerImage": {"names": "[str]", "sizeBytes": "int"},
    "AttachedVolume": {"name": "str", "devicePath": "str"},
    "NodeAddress": {"type": "str", "address": "str"},
    "NodeDaemonEndpoints": {"kubeletEndpoint": "DaemonEndpoint"},
    "DaemonEndpoint": {"Port": "int"},
    "NodeSystemInfo": {"machineID": "str", "systemUUID": "str", "bootID": "str", "kernelVersion": "str",
                       "osImage": "str", "containerRuntimeVersion": "str", "kubeletVersion": "str",
                       "kubeProxyVersion": "str", "operatingSystem": "str", "architecture": "str",
                       "runningInUserNamespace": "bool", "swap": "obj"},
})


class NodeStrategy(Strategy):
    """Nodes (`pkg/registry/core/node/strategy.go`): the agent's status is kept from create on."""

    generation = True
    columns = (
        NAME_COLUMN,
        column("Status", "The status of the node"),
        column("Roles", "The roles of the node"),
        AGE_COLUMN,
        column("Version", "Kubelet Version reported by the node."),
        wide_column("Internal-IP", "List of addresses reachable to the node."),
        wide_column("External-IP", "List of addresses reachable to the node."),
        wide_column("OS-Image",
                    "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy))."),
        wide_column("Kernel-Version", "Kernel Version reported by the node from 'uname -r'."),
        wide_column("Container-Runtime", "ContainerRuntime Version reported by the node through runtime remote API."),
    )
    selectable_fields = {"spec.unschedulable": ("spec", "unschedulable")}

    def initial_status(self, obj: Obj) -> Obj:
        status = obj.get("status")
        return status if isinstance(status, dict) else {}

    def validate(self, c: Causes, obj: Obj, old: Obj | None) -> None:
        spec = c.object("spec", obj.get("spec")) or {}
        c.cidr("spec.podCIDR", spec.get("podCIDR"))
        for i, cidr in enumerate(c.strings("spec.podCIDRs", spec.get("podCIDRs"))):
            c.cidr(f"spec.podCIDRs[{i}]", cidr)
        status = c.object("status", obj.get("status")) or {}
        for p, address in c.objects("status.addresses", status.get("addresses")):
            kind = c.string(f"{p}.type", address.get("type"), required=True)
            if kind in ("InternalIP", "ExternalIP"):
                c.ip(f"{p}.address", address.get("address"), required=True)
            elif kind in ("Hostname", "InternalDNS", "ExternalDNS"):
                c.name(f"{p}.address", address.get("address"), HOST_NAME, required=True)
            else:
                c.string(f"{p}.address", address.get("address"), required=True)
        endpoints = c.object("status.daemonEndpoints", status.get("daemonEndpoints")) or {}
        kubelet = c.object("status.daemonEndpoints.kubeletEndpoint", endpoints.get("kubeletEndpoint")) or {}
        c.integer("status.daemonEndpoints.kubeletEndpoint.Port", kubelet.get("Port"), minimum=1, maximum=65535)

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        ready = next((c for c in dig(obj, "status", "conditions", default=[]) if c.get("type") == "Ready"), None)
        status = ["Unknown" if ready is None else "Ready" if ready.get("status") == "True" else "NotReady"]
        if dig(obj, "spec", "unschedulable"):
            status.append("SchedulingDisabled")
        roles: set[str] = set()
        for key, value in dig(obj, "metadata", "labels", default={}).items():
            if key.startswith("node-role.kubernetes.io/") and key.removeprefix("node-role.kubernetes.io/"):
                roles.add(key.removeprefix("node-role.kubernetes.io/"))
            elif key == "kubernetes.io/role" and value:
                roles.add(value)
        info = dig(obj, "status", "nodeInfo", default={})
        addresses = dig(obj, "status", "addresses", default=[])

        def address(kind: str) -> str:
            return next((a.get("address", "") for a in addresses if a.get("type") == kind), "<none>")

        return [
            name_cell(obj), ",".join(status), ",".join(sorted(roles)) or "<none>",
            age_cell(obj, now), info.get("kubeletVersion", ""),
            address("InternalIP"), address("ExternalIP"), info.get("osImage") or "<unknown>",
            info.get("kernelVersion") or "<unknown>", info.get("containerRuntimeVersion") or "<unknown>",
        ]

    def describe(self, out: Lines, obj: Obj) -> None:
        status = obj.get("status") or {}
        out.add(0, "Unschedulable:", bool(dig(obj, "spec", "unschedulable")))
        out.add(0, "Conditions:")
        out.add(1, "Type", "Status", "LastHeartbeatTime", "Reason", "Message")
        out.add(1, "----", "------", "-----------------", "------", "-------")
        for cond in status.get("conditions") or []:
            out.add(1, cond.get("type", ""), cond.get("status", ""), format_time(cond.get("lastHeartbeatTime")),
                    cond.get("reason", ""), cond.get("message", ""))
        out.add(0, "Addresses:")
        for address in status.get("addresses") or []:
            out.add(1, f"{address.get('type')}:", address.get("address", ""))
        for title, key in (("Capacity", "capacity"), ("Allocatable", "allocatable")):
            out.add(0, f"{title}:")
            for name, value in sorted((status.get(key) or {}).items()):
                out.add(1, f"{name}:", value)
        out.add(0, "PodCIDR:", dig(obj, "spec", "podCIDR", default=""))


RESOURCE = ResourceType("", "v1", "nodes", "Node", False, ("no",), subresources=("status",), strategy=NodeStrategy())
