"""Ingresses (`networking.k8s.io/v1`): host and path rules to a Service's port."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from minik8s.api import schema
from minik8s.api.fields import Causes
from minik8s.api.names import DNS1035_LABEL, PORT_NAME
from minik8s.api.tables import AGE_COLUMN, NAME_COLUMN, age_cell, column, lb_ingress, name_cell

from .resource import ResourceType
from .strategy import Strategy

Obj = dict[str, Any]

PATH_TYPES = ("Exact", "Prefix", "ImplementationSpecific")

schema.define("io.k8s.api.networking.v1", {
    "Ingress": {"spec": "IngressSpec", "status": "IngressStatus"},
    "IngressSpec": {"ingressClassName": "str", "defaultBackend": "IngressBackend", "tls": "[IngressTLS]",
                    "rules": "[IngressRule]"},
    "IngressBackend": {"service": "IngressServiceBackend", "resource": "TypedLocalObjectReference"},
    "TypedLocalObjectReference": {"apiGroup": "str", "kind": "str", "name": "str"},
    "IngressServiceBackend": {"name": "str", "port": "ServiceBackendPort"},
    "ServiceBackendPort": {"name": "str", "number": "int"},
    "IngressTLS": {"hosts": "[str]", "secretName": "str"},
    "IngressRule": {"host": "str", "http": "HTTPIngressRuleValue"},
    "HTTPIngressRuleValue": {"paths": "[HTTPIngressPath]"},
    "HTTPIngressPath": {"path": "str", "pathType": "str", "backend": "IngressBackend"},
    "IngressStatus": {"loadBalancer": "IngressLoadBalancerStatus"},
    "IngressLoadBalancerStatus": {"ingress": "[IngressLoadBalancerIngress]"},
    "IngressLoadBalancerIngress": {"ip": "str", "hostname": "str", "ports": "[IngressPortStatus]"},
    "IngressPortStatus": {"port": "int", "protocol": "str", "error": "str"},
})


class IngressStrategy(Strategy):
    """Ingresses (`pkg/registry/networking/ingress/strategy.go`)."""

    generation = True
    columns = (
        NAME_COLUMN,
        column("Class", "The name of the IngressClass resource that should be used for additional configuration"),
        column("Hosts", "Hosts that incoming requests are matched against before the ingress rule"),
        column("Address", "Address is a list containing ingress points for the load-balancer"),
        column("Ports", "Ports of TLS configurations that open"),
        AGE_COLUMN,
    )

    def validate(self, c: Causes, obj: Obj, old: Obj | None) -> None:
        spec = c.object("spec", obj.get("spec"), required=True)
        if spec is None:
            return
        c.string("spec.ingressClassName", spec.get("ingressClassName"))
        if spec.get("defaultBackend") is not None:
            _backend(c, "spec.defaultBackend", spec.get("defaultBackend"))
        for p, rule in c.objects("spec.rules", spec.get("rules")):
            c.string(f"{p}.host", rule.get("host"))
            if (http := c.object(f"{p}.http", rule.get("http"))) is None:
                continue
            for q, item in c.objects(f"{p}.http.paths", http.get("paths"), required=True):
                path_type = c.choice(f"{q}.pathType", item.get("pathType"), PATH_TYPES, required=True)
                path = c.string(f"{q}.path", item.get("path"))
                if path is not None and path_type in ("Exact", "Prefix") and not path.startswith("/"):
                    c.invalid(f"{q}.path", path, "must be an absolute path")
                _backend(c, f"{q}.backend", item.get("backend"))

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        spec = obj.get("spec") or {}
        rules = spec.get("rules") or []
        hosts: list[str] = []
        more = False
        for rule in rules:  # kubectl's formatHosts: the first three hosts, then "+ N more..."
            more = more or len(hosts) == 3
            if not more and rule.get("host"):
                hosts.append(rule["host"])
        hosts_text = ",".join(hosts) or "*"
        if more:
            hosts_text += f" + {len(rules) - 3} more..."
        return [
            name_cell(obj), spec.get("ingressClassName") or "<none>", hosts_text, lb_ingress(obj.get("status")),
            "80, 443" if spec.get("tls") else "80", age_cell(obj, now),
        ]


RESOURCE = ResourceType("networking.k8s.io", "v1", "ingresses", "Ingress", True, ("ing",), subresources=("status",),
                        strategy=IngressStrategy())


def _backend(c: Causes, path: str, value: Any) -> None:
    backend = c.object(path, value, required=True)
    service = c.object(f"{path}.service", backend.get("service"), required=True) if backend is not None else None
    if service is None:
        return
    c.name(f"{path}.service.name", service.get("name"), DNS1035_LABEL, required=True)
    port = c.object(f"{path}.service.port", service.get("port"), required=True)
    if port is None:
        return
    number, name = port.get("number"), port.get("name")
    if number is None and not name:
        c.required(f"{path}.service.port", "port name or number is required")
    elif number is not None and name:
        c.invalid(f"{path}.service.port.name", name, "cannot set both port name & port number")
    else:
        c.integer(f"{path}.service.port.number", number, minimum=1, maximum=65535)
        c.name(f"{path}.service.port.name", name, PORT_NAME)
