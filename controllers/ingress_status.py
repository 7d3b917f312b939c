"""Ingress status: `status.loadBalancer.ingress` lists the addresses the Ingress is served on.

Every node runs the ingress proxy on port 80 of its host (`minik8s.node.ingress`), so an Ingress
of our class (IngressClass `spec.controller: minik8s.io/ingress-nginx`, see
`minik8s.api.kinds.ingressclass.class_of`) is reachable on the InternalIP of every Ready node:
those addresses, sorted, are its status (as ingress-nginx reports the addresses of the nodes its
pods run on). Ingresses of other classes are left alone. A change of a Node or an IngressClass
requeues every Ingress.

At the start of each leadership term the controller also makes sure two IngressClasses of our
controller (`minik8s.io/ingress-nginx`) exist: `nginx`, marked as the default class (as minikube's
ingress addon installs it), so Ingresses naming `nginx` or no class are served, and
`nginx-example`, the class the Kubernetes documentation's examples name (`minimal-ingress.yaml`),
so they work as written. Each is created when missing and never changed: an administrator may edit
them (drop the default annotation, say); one deleted comes back at the next leader change, like an
addon-manager `EnsureExists` object.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

from minik8s.api import errors
from minik8s.api.client import ApiClient
from minik8s.api.informer import Informer, object_key
from minik8s.api.kinds.ingressclass import (
    DEFAULT_CLASS_ANNOTATION, DEFAULT_CLASS_NAME, DOCS_CLASS_NAME, INGRESS_NGINX_CONTROLLER, served_by,
)
from minik8s.api.nodeendpoint import node_ready
from minik8s.api.reconcile import Controller, Result
from minik8s.api.tables import dig

log = logging.getLogger(__name__)

Obj = dict[str, Any]

ALL = "*"  # the key that requeues every Ingress
ENSURE_CLASS = "@ingressclass"  # the key that creates the default IngressClass


def builtin_ingress_classes() -> list[Obj]:
    """The IngressClasses the masters create: `nginx` (the default) and `nginx-example`, both ours."""
    return [{"apiVersion": "networking.k8s.io/v1", "kind": "IngressClass",
             "metadata": {"name": name, "annotations": {DEFAULT_CLASS_ANNOTATION: "true"} if default else {},
                          "labels": {"app.kubernetes.io/managed-by": "minik8s"}},
             "spec": {"controller": INGRESS_NGINX_CONTROLLER}}
            for name, default in ((DEFAULT_CLASS_NAME, True), (DOCS_CLASS_NAME, False))]


def node_addresses(nodes: list[Obj]) -> list[str]:
    """The InternalIPs of the Ready nodes, sorted and without repeats."""
    found = set()
    for node in nodes:
        addresses = dig(node, "status", "addresses", default=[])
        for address in addresses if node_ready(node) and isinstance(addresses, list) else []:
            if isinstance(address, dict) and address.get("type") == "InternalIP" and address.get("address"):
                found.add(str(address["address"]))
    return sorted(found, key=lambda ip: tuple(int(p) if p.isdigit() else 0 for p in ip.split(".")))


def wanted_status(ingress: Obj, classes: list[Obj], nodes: list[Obj], *,
                  controller: str = INGRESS_NGINX_CONTROLLER) -> list[Obj] | None:
    """The `status.loadBalancer.ingress` `ingress` should have, None when it is not ours."""
    if not served_by(controller, ingress, classes):
        return None
    return [{"ip": ip} for ip in node_addresses(nodes)]


class IngressStatusController(Controller):
    """Writes the node addresses into the status of every Ingress our proxies serve."""

    _ingresses: Informer
    _classes: Informer
    _nodes: Informer

    def __init__(self, client: ApiClient, *, ensure_default_class: bool = True) -> None:
        super().__init__(client, name="ingress-status", workers=1)
        self._ensure_default_class = ensure_default_class

    def setup(self) -> None:
        self._ingresses = self.watch("ingresses")
        self._classes = self.watch("ingressclasses", key=lambda _obj: ALL)
        # nodes change their heartbeat often; a longer batch costs nothing here
        self._nodes = self.watch("nodes", key=lambda _obj: ALL, batch_window=0.5)
        if self._ensure_default_class:
            self.enqueue(ENSURE_CLASS)

    def reconcile(self, key: str) -> Result | None:
        if key == ENSURE_CLASS:
            return self._ensure_class()
        if key == ALL:
            for ingress in self._ingresses.list():
                self.enqueue(object_key(ingress))
            return None
        ingress = self._ingresses.get(key)
        if ingress is None:
            return None
        wanted = wanted_status(ingress, self._classes.list(), self._nodes.list())
        if wanted is None or dig(ingress, "status", "loadBalancer", "ingress", default=[]) == wanted:
            return None
        updated = copy.deepcopy(ingress)
        status = updated["status"] if isinstance(updated.get("status"), dict) else {}
        status["loadBalancer"] = {"ingress": wanted} if wanted else {}
        updated["status"] = status
        self.client.update_status(updated)  # the cached resourceVersion: 409 (retried) if it changed
        log.info("ingress %s: load balancer %s", key, ", ".join(w["ip"] for w in wanted) or "none")
        return None

    def _ensure_class(self) -> Result | None:
        for wanted in builtin_ingress_classes():
            name = wanted["metadata"]["name"]
            if self._classes.get(name) is not None:
                continue
            try:
                self.client.create(wanted)
                log.info("created the IngressClass %s", name)
            except errors.AlreadyExistsError:
                pass
        return None
