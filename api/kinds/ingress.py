"""Ingresses (`networking.k8s.io/v1`): host and path rules to a Service's port."""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Any

from minik8s.api import schema
from minik8s.api.fields import Causes
from minik8s.api.names import DNS1035_LABEL, DNS_SUBDOMAIN, PORT_NAME, WILDCARD_DNS_SUBDOMAIN
from minik8s.api.tables import AGE_COLUMN, NAME_COLUMN, age_cell, column, dig, lb_ingress, name_cell

from .resource import ResourceType
from .strategy import Strategy

Obj = dict[str, Any]

PATH_TYPES = ("Exact", "Prefix", "ImplementationSpecific")
INVALID_PATH_SEQUENCES = ("//", "/./", "/../", "%2f", "%2F")
INVALID_PATH_SUFFIXES = ("/..", "/.")
CLASS_ANNOTATION = "kubernetes.io/ingress.class"  # the class before `spec.ingressClassName` (deprecated)

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
        rules = list(c.objects("spec.rules", spec.get("rules")))
        if not rules and spec.get("defaultBackend") is None:
            c.invalid("spec", spec.get("rules"), "either `defaultBackend` or `rules` must be specified")
        class_name = c.name("spec.ingressClassName", spec.get("ingressClassName"), DNS_SUBDOMAIN)
        if spec.get("defaultBackend") is not None:
            _backend(c, "spec.defaultBackend", spec.get("defaultBackend"))
        for p, rule in rules:
            host = c.string(f"{p}.host", rule.get("host"))
            if host:
                _host(c, f"{p}.host", host, rule_host=True)
            if (http := c.object(f"{p}.http", rule.get("http"))) is None:
                continue
            for q, item in c.objects(f"{p}.http.paths", http.get("paths"), required=True):
                _http_path(c, q, item)
        for t, tls in c.objects("spec.tls", spec.get("tls")):
            for i, host in enumerate(c.strings(f"{t}.hosts", tls.get("hosts"))):
                _host(c, f"{t}.hosts[{i}]", host, rule_host=False)
            c.name(f"{t}.secretName", tls.get("secretName"), DNS_SUBDOMAIN)
        annotations = dig(obj, "metadata", "annotations")
        annotated = annotations.get(CLASS_ANNOTATION) if isinstance(annotations, dict) else None
        if old is None and annotated is not None and class_name is not None and annotated != class_name:
            c.invalid(f"metadata.annotations.{CLASS_ANNOTATION}", annotated,
                      "must match `ingressClassName` when both are specified")
        status = obj.get("status")
        balancer = status.get("loadBalancer") if isinstance(status, dict) else None
        for s, point in c.objects("status.loadBalancer.ingress",
                                  balancer.get("ingress") if isinstance(balancer, dict) else None):
            c.ip(f"{s}.ip", point.get("ip"))
            hostname = c.name(f"{s}.hostname", point.get("hostname"), DNS_SUBDOMAIN)
            if hostname and _is_ip(hostname):
                c.invalid(f"{s}.hostname", hostname, "must be a DNS name, not an IP address")

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


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _host(c: Causes, path: str, host: str, *, rule_host: bool) -> None:
    """A rule's (or TLS entry's) host: a DNS name, `*.` and a DNS name for a wildcard, never an IP."""
    if rule_host and _is_ip(host):
        c.invalid(path, host, "must be a DNS name, not an IP address")
    if "*" in host:
        for problem in WILDCARD_DNS_SUBDOMAIN.problems(host):
            c.invalid(path, host, problem)
    else:
        for problem in DNS_SUBDOMAIN.problems(host):
            c.invalid(path, host, problem)


def _http_path(c: Causes, q: str, item: Obj) -> None:
    """One `http.paths` entry (`validateHTTPIngressPath`): pathType required, Exact and Prefix paths
    absolute and free of `//`, `/./`, `/../` and encoded slashes."""
    if item.get("pathType") is None:
        c.required(f"{q}.pathType", "pathType must be specified")
        return
    path_type = c.choice(f"{q}.pathType", item.get("pathType"), PATH_TYPES)
    path = c.string(f"{q}.path", item.get("path")) or ""
    if path_type in ("Exact", "Prefix"):
        if not path.startswith("/"):
            c.invalid(f"{q}.path", path, "must be an absolute path")
        for sequence in INVALID_PATH_SEQUENCES:
            if sequence in path:
                c.invalid(f"{q}.path", path, f"must not contain '{sequence}'")
        for suffix in INVALID_PATH_SUFFIXES:
            if path.endswith(suffix):
                c.invalid(f"{q}.path", path, f"cannot end with '{suffix}'")
    elif path_type == "ImplementationSpecific" and path and not path.startswith("/"):
        c.invalid(f"{q}.path", path, "must be an absolute path")
    _backend(c, f"{q}.backend", item.get("backend"))


def _backend(c: Causes, path: str, value: Any) -> None:
    """`validateIngressBackend`: exactly one of a Service (name and a port name or number) or a
    typed resource reference."""
    backend = c.object(path, value, required=True)
    if backend is None:
        return
    service = c.object(f"{path}.service", backend.get("service"))
    resource = c.object(f"{path}.resource", backend.get("resource"))
    if service is not None and resource is not None:
        c.invalid(path, "", "cannot set both resource and service backends")
        return
    if resource is not None:
        if resource.get("apiGroup") is not None:
            c.name(f"{path}.resource.apiGroup", resource.get("apiGroup"), DNS_SUBDOMAIN)
        for key in ("kind", "name"):
            text = c.string(f"{path}.resource.{key}", resource.get(key), required=True)
            for problem in path_segment_problems(text) if text else ():
                c.invalid(f"{path}.resource.{key}", text, problem)
        return
    if service is None:
        if "service" not in backend and "resource" not in backend:
            c.invalid(path, "", "resource or service backend is required")
        return
    c.name(f"{path}.service.name", service.get("name"), DNS1035_LABEL, required=True)
    port = c.object(f"{path}.service.port", service.get("port")) or {}
    reported = len(c.causes)
    number = c.integer(f"{path}.service.port.number", port.get("number"))
    name = c.string(f"{path}.service.port.name", port.get("name"))
    if len(c.causes) > reported:
        return
    if name and number:
        c.invalid(path, "", "cannot set both port name & port number")
    elif name:
        c.name(f"{path}.service.port.name", name, PORT_NAME)
    elif number:
        c.integer(f"{path}.service.port.number", number, minimum=1, maximum=65535)
    else:
        c.required(path, "port name or number is required")


def path_segment_problems(text: str) -> list[str]:
    """`IsPathSegmentName`: a name that can sit in a URL path."""
    if text in (".", ".."):
        return [f"may not be '{text}'"]
    return [f"may not contain '{bad}'" for bad in ("/", "%") if bad in text]
