"""Endpoints: the addresses and ports behind a Service."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from minik8s.api import schema
from minik8s.api.fields import Causes
from minik8s.api.tables import AGE_COLUMN, NAME_COLUMN, age_cell, column, join_more, name_cell

from .resource import ResourceType
from .strategy import Strategy

Obj = dict[str, Any]

schema.define(schema.CORE, {
    "Endpoints": {"subsets": "[EndpointSubset]"},
    "EndpointSubset": {"addresses": "[EndpointAddress]", "notReadyAddresses": "[EndpointAddress]",
                       "ports": "[EndpointPort]"},
    "EndpointAddress": {"ip": "str", "hostname": "str", "nodeName": "str", "targetRef": "ObjectReference"},
    "EndpointPort": {"name": "str", "port": "int", "protocol": "str", "appProtocol": "str"},
})


class EndpointsStrategy(Strategy):
    """Endpoints (`pkg/registry/core/endpoint/strategy.go`): a PUT may create them."""

    create_on_update = True
    columns = (NAME_COLUMN, column("Endpoints", "The set of all endpoints is the union of all subsets."), AGE_COLUMN)

    def validate(self, c: Causes, obj: Obj, old: Obj | None) -> None:
        for p, subset in c.objects("subsets", obj.get("subsets")):
            for field in ("addresses", "notReadyAddresses"):
                for q, address in c.objects(f"{p}.{field}", subset.get(field)):
                    c.ip(f"{q}.ip", address.get("ip"), required=True)
            for q, port in c.objects(f"{p}.ports", subset.get("ports")):
                c.integer(f"{q}.port", port.get("port"), minimum=1, maximum=65535, required=True)

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        return [name_cell(obj), format_endpoints(obj), age_cell(obj, now)]


RESOURCE = ResourceType("", "v1", "endpoints", "Endpoints", True, ("ep",), strategy=EndpointsStrategy())


def format_endpoints(ep: Obj) -> str:
    """`formatEndpoints`: up to three `ip:port` pairs, then `+ N more...`; `<none>` when empty."""
    subsets = ep.get("subsets") or []
    if not subsets:
        return "<none>"
    pairs: list[str] = []
    for subset in subsets:
        ips = [a.get("ip", "") for a in subset.get("addresses") or []]
        ports = subset.get("ports") or []
        if not ports:
            pairs.extend(ips)
        for port in ports:
            pairs.extend(f"[{ip}]:{port.get('port')}" if ":" in ip else f"{ip}:{port.get('port')}" for ip in ips)
    return join_more(pairs, len(pairs), 3, ",")
