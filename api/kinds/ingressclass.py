"""IngressClasses (`networking.k8s.io/v1`, cluster-scoped): which controller serves an Ingress.

minik8s' ingress proxy (nginx on every node host) serves the class whose `spec.controller` is
`minik8s.io/ingress-nginx`, and Ingresses naming no class when that class is the default
(`ingressclass.kubernetes.io/is-default-class: "true"`).
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from minik8s.api import schema
from minik8s.api.fields import Causes
from minik8s.api.names import DNS_LABEL, DNS_SUBDOMAIN
from minik8s.api.tables import AGE_COLUMN, NAME_COLUMN, age_cell, column, dig, name_cell

from .ingress import CLASS_ANNOTATION, path_segment_problems
from .resource import ResourceType
from .strategy import Strategy

Obj = dict[str, Any]

DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"
INGRESS_NGINX_CONTROLLER = "minik8s.io/ingress-nginx"  # the `spec.controller` minik8s' node proxies serve
DEFAULT_CLASS_NAME = "nginx"  # the default class the masters create (minikube's ingress addon's name)
DOCS_CLASS_NAME = "nginx-example"  # the class the Kubernetes docs' examples name (minimal-ingress.yaml)

schema.define("io.k8s.api.networking.v1", {
    "IngressClass": {"spec": "IngressClassSpec"},
    "IngressClassSpec": {"controller": "str", "parameters": "IngressClassParametersReference"},
    "IngressClassParametersReference": {"apiGroup": "str", "kind": "str", "name": "str", "namespace": "str",
                                        "scope": "str"},
})


class IngressClassStrategy(Strategy):
    """IngressClasses (`pkg/registry/networking/ingressclass/strategy.go`)."""

    generation = True
    columns = (
        NAME_COLUMN,
        column("Controller", "Controller that is responsible for handling this class"),
        column("Parameters", "A reference to a resource with additional parameters"),
        AGE_COLUMN,
    )

    def default(self, obj: Obj, now: str) -> None:
        spec = obj.get("spec")
        params = spec.get("parameters") if isinstance(spec, dict) else None
        if isinstance(params, dict) and params.get("scope") is None:
            params["scope"] = "Cluster"  # networking/v1 SetDefaults_IngressClass

    def validate(self, c: Causes, obj: Obj, old: Obj | None) -> None:
        spec = c.object("spec", obj.get("spec")) or {}
        controller = c.string("spec.controller", spec.get("controller"), required=True)
        if controller and len(controller) > 250:
            c.too_long("spec.controller", 250)
        if controller:
            _domain_prefixed_path(c, "spec.controller", controller)
        if isinstance(old, dict) and dig(old, "spec", "controller") != controller:
            c.immutable("spec.controller", controller)
        params = c.object("spec.parameters", spec.get("parameters"))
        if params is not None:
            if params.get("apiGroup") is not None:
                c.name("spec.parameters.apiGroup", params.get("apiGroup"), DNS_SUBDOMAIN)
            for key in ("kind", "name"):
                text = c.string(f"spec.parameters.{key}", params.get(key), required=True)
                for problem in path_segment_problems(text) if text else ():
                    c.invalid(f"spec.parameters.{key}", text, problem)
            scope = c.choice("spec.parameters.scope", params.get("scope"), ("Cluster", "Namespace"), required=True)
            if scope == "Namespace":
                if params.get("namespace") is None:
                    c.required("spec.parameters.namespace", "`parameters.scope` is set to 'Namespace'")
                else:
                    c.name("spec.parameters.namespace", params.get("namespace"), DNS_LABEL)
            elif scope == "Cluster" and params.get("namespace") is not None:
                c.forbidden("spec.parameters.namespace", "`parameters.scope` is set to 'Cluster'")

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        params = dig(obj, "spec", "parameters")
        shown = f"{params.get('kind', '')}/{params.get('name', '')}" if isinstance(params, dict) else "<none>"
        return [name_cell(obj), dig(obj, "spec", "controller", default=""), shown, age_cell(obj, now)]


RESOURCE = ResourceType("networking.k8s.io", "v1", "ingressclasses", "IngressClass", False,
                        strategy=IngressClassStrategy())


_HTTP_PATH = re.compile(r"[A-Za-z0-9/\-._~%!$&'()*+,;=:]+")


def _domain_prefixed_path(c: Causes, path: str, value: str) -> None:
    """`IsDomainPrefixedPath`: a DNS subdomain, `/`, then an HTTP path (`example.com/ingress`)."""
    domain, slash, rest = value.partition("/")
    if not slash or not domain or not rest:
        c.invalid(path, value, 'must be a domain-prefixed path (such as "acme.io/foo")')
        return
    for problem in DNS_SUBDOMAIN.problems(domain):
        c.invalid(path, domain, problem)
    if not _HTTP_PATH.fullmatch(rest):
        c.invalid(path, rest, "Invalid path: must be a valid HTTP path")


def class_of(ingress: Obj, classes: list[Obj]) -> Obj | None:
    """The IngressClass that governs `ingress`, None when none does.

    `spec.ingressClassName`, else the deprecated `kubernetes.io/ingress.class` annotation, names the
    class. An Ingress naming none gets the default class (annotation
    `ingressclass.kubernetes.io/is-default-class: "true"`) when exactly one exists: kube-apiserver's
    DefaultIngressClass admission plugin writes that name into new Ingresses; minik8s has no admission
    plugins, so the controllers apply the same rule when they read the Ingress.
    """
    by_name = {name: c for c in classes if isinstance(c, dict) and isinstance(name := dig(c, "metadata", "name"), str)}
    name = dig(ingress, "spec", "ingressClassName")
    if not isinstance(name, str):
        annotations = dig(ingress, "metadata", "annotations")
        name = annotations.get(CLASS_ANNOTATION) if isinstance(annotations, dict) else None
    if isinstance(name, str):
        return by_name.get(name)
    defaults = [c for c in by_name.values() if dig(c, "metadata", "annotations", DEFAULT_CLASS_ANNOTATION) == "true"]
    return defaults[0] if len(defaults) == 1 else None


def served_by(controller: str, ingress: Obj, classes: list[Obj]) -> bool:
    """Whether the ingress controller named `controller` (an IngressClass `spec.controller`) serves `ingress`."""
    chosen = class_of(ingress, classes)
    return chosen is not None and dig(chosen, "spec", "controller") == controller
