"""IngressClasses (`networking.k8s.io/v1`, cluster-scoped): which controller serves an Ingress.

minik8s' ingress proxy (nginx on every node host) serves the class whose `spec.controller` is
`minik8s.io/ingress-nginx`, and Ingresses naming no class when that class is the default
(`ingressclass.kubernetes.io/is-default-class: "true"`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from minik8s.api import schema
from minik8s.api.fields import Causes
from minik8s.api.names import DNS_SUBDOMAIN
from minik8s.api.tables import AGE_COLUMN, NAME_COLUMN, age_cell, column, dig, name_cell

from .resource import ResourceType
from .strategy import Strategy

Obj = dict[str, Any]

DEFAULT_CLASS_ANNOTATION = "ingressclass.kubernetes.io/is-default-class"

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

    def validate(self, c: Causes, obj: Obj, old: Obj | None) -> None:
        spec = c.object("spec", obj.get("spec")) or {}
        controller = c.string("spec.controller", spec.get("controller"), required=True)
        if controller and (len(controller) > 250 or "/" not in controller):
            c.invalid("spec.controller", controller, 'must be a domain-prefixed path (such as "acme.io/foo")')
        if isinstance(old, dict) and dig(old, "spec", "controller") != controller:
            c.immutable("spec.controller", controller)
        params = c.object("spec.parameters", spec.get("parameters"))
        if params is not None:
            c.string("spec.parameters.kind", params.get("kind"), required=True)
            c.name("spec.parameters.name", params.get("name"), DNS_SUBDOMAIN, required=True)
            scope = c.choice("spec.parameters.scope", params.get("scope"), ("Cluster", "Namespace"))
            if scope == "Namespace" and not params.get("namespace"):
                c.required("spec.parameters.namespace", "`parameters.scope` is set to 'Namespace'")

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        params = dig(obj, "spec", "parameters")
        shown = f"{params.get('kind', '')}/{params.get('name', '')}" if isinstance(params, dict) else "<none>"
        return [name_cell(obj), dig(obj, "spec", "controller", default=""), shown, age_cell(obj, now)]


RESOURCE = ResourceType("networking.k8s.io", "v1", "ingressclasses", "IngressClass", False,
                        strategy=IngressClassStrategy())
