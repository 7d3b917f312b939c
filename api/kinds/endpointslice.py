"""EndpointSlices (`discovery.k8s.io/v1`): the endpoints of a Service in slices of at most 100.

Written by the EndpointSlice controller from a Service's pods; read by every node's proxy and by
cluster DNS. Each endpoint carries its addresses, the node it is on and its `ready`, `serving` and
`terminating` conditions.
"""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Any

from minik8s.api import schema
from minik8s.api.fields import Causes
from minik8s.api.names import DNS_LABEL, DNS_SUBDOMAIN
from minik8s.api.tables import AGE_COLUMN, NAME_COLUMN, age_cell, column, dig, join_more, name_cell

from .podspec import PROTOCOLS
from .resource import ResourceType
from .strategy import Strategy

Obj = dict[str, Any]

ADDRESS_TYPES = ("IPv4", "IPv6", "FQDN")
MAX_ENDPOINTS = 1000  # per slice (Kubernetes' validation limit; the controller writes at most 100)
MAX_PORTS = 100
MAX_ADDRESSES = 100
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"

schema.define("io.k8s.api.discovery.v1", {
    "EndpointSlice": {"addressType": "str", "endpoints": "[Endpoint]", "ports": "[EndpointPort]"},
    "Endpoint": {"addresses": "[str]", "conditions": "EndpointConditions", "hostname": "str",
                 "targetRef": "ObjectReference", "nodeName": "str", "zone": "str", "hints": "EndpointHints",
                 "deprecatedTopology": "map"},
    "EndpointConditions": {"ready": "bool", "serving": "bool", "terminating": "bool"},
    "EndpointHints": {"forZones": "[ForZone]", "forNodes": "[ForNode]"},
    "ForZone": {"name": "str"},
    "ForNode": {"name": "str"},
    "EndpointPort": {"name": "str", "protocol": "str", "port": "int", "appProtocol": "str"},
})


class EndpointSliceStrategy(Strategy):
    """EndpointSlices (`pkg/registry/discovery/endpointslice/strategy.go`)."""

    generation = True
    columns = (
        NAME_COLUMN,
        column("AddressType", "The IP protocol for this slice"),
        column("Ports", "The ports contained in this slice"),
        column("Endpoints", "The endpoints contained in this slice"),
        AGE_COLUMN,
    )

    def validate(self, c: Causes, obj: Obj, old: Obj | None) -> None:
        kind = c.choice("addressType", obj.get("addressType"), ADDRESS_TYPES, required=True)
        if isinstance(old, dict) and old.get("addressType") != obj.get("addressType"):
            c.immutable("addressType", obj.get("addressType"))
        endpoints = c.array("endpoints", obj.get("endpoints"))
        if len(endpoints) > MAX_ENDPOINTS:
            c.too_many("endpoints", MAX_ENDPOINTS)
        for p, endpoint in c.objects("endpoints", endpoints):
            addresses = c.strings(f"{p}.addresses", endpoint.get("addresses"))
            if not addresses:
                c.required(f"{p}.addresses", "must contain at least 1 address")
            elif len(addresses) > MAX_ADDRESSES:
                c.too_many(f"{p}.addresses", MAX_ADDRESSES)
            for i, address in enumerate(addresses):
                _address(c, f"{p}.addresses[{i}]", address, kind)
            c.name(f"{p}.hostname", endpoint.get("hostname"), DNS_LABEL)
            c.name(f"{p}.nodeName", endpoint.get("nodeName"), DNS_SUBDOMAIN)
        ports = c.array("ports", obj.get("ports"))
        if len(ports) > MAX_PORTS:
            c.too_many("ports", MAX_PORTS)
        names: set[str] = set()
        for p, port in c.objects("ports", ports):
            c.name(f"{p}.name", port.get("name") or None, DNS_LABEL, seen=names)
            c.choice(f"{p}.protocol", port.get("protocol"), PROTOCOLS)
            c.integer(f"{p}.port", port.get("port"), minimum=0, maximum=65535)

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        ports = [str(p.get("port")) if p.get("port") is not None else "<unset>" for p in obj.get("ports") or []]
        addresses = [a for e in obj.get("endpoints") or [] for a in e.get("addresses") or []]
        return [name_cell(obj), obj.get("addressType", ""), join_more(ports, len(ports), 3, ",") or "<unset>",
                join_more(addresses, len(addresses), 3, ",") or "<unset>", age_cell(obj, now)]


RESOURCE = ResourceType("discovery.k8s.io", "v1", "endpointslices", "EndpointSlice", True,
                        strategy=EndpointSliceStrategy())


def _address(c: Causes, path: str, address: str, kind: str | None) -> None:
    if kind == "FQDN":
        c.name(path, address, DNS_SUBDOMAIN)
        return
    try:
        parsed = ipaddress.ip_address(address if "%" not in address else "%")
    except ValueError:
        c.invalid(path, address, "must be a valid IP address")
        return
    if kind is not None and parsed.version != (4 if kind == "IPv4" else 6):
        c.invalid(path, address, f"must be a valid {kind} address")


def service_of(slice_: Obj) -> str | None:
    """The name of the Service a slice belongs to (its `kubernetes.io/service-name` label)."""
    return dig(slice_, "metadata", "labels", SERVICE_NAME_LABEL)
