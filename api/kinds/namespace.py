"""Namespaces: the kind's schema, defaults (the `kubernetes` finalizer), table and deletion rules.

The built-in namespaces (`default`, `kube-system`, `kube-node-lease`) can never be deleted.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from minik8s.api import schema
from minik8s.api.names import DNS_LABEL
from minik8s.api.tables import AGE_COLUMN, NAME_COLUMN, age_cell, column, dig, name_cell

from .defaulting import child, default
from .resource import ResourceType
from .strategy import Strategy

Obj = dict[str, Any]

BUILTIN_NAMESPACES = ("default", "kube-system", "kube-node-lease")

schema.define(schema.CORE, {
    "Namespace": {"spec": "NamespaceSpec", "status": "NamespaceStatus"},
    "NamespaceSpec": {"finalizers": "[str]"},
    "NamespaceStatus": {"phase": "str", "conditions": "[Condition/type]"},
})


class NamespaceStrategy(Strategy):
    """Namespaces (`pkg/registry/core/namespace/strategy.go`)."""

    name_rule = DNS_LABEL
    generation = True
    columns = (NAME_COLUMN, column("Status", "The status of the namespace"), AGE_COLUMN)
    selectable_fields = {"status.phase": ("status", "phase")}

    def default(self, obj: Obj, now: str) -> None:
        if (spec := child(obj, "spec")) is not None:
            default(spec, "finalizers", ["kubernetes"])

    def initial_status(self, obj: Obj) -> Obj:
        return {"phase": "Active"}

    def delete_forbidden(self, obj: Obj) -> str | None:
        if dig(obj, "metadata", "name") in BUILTIN_NAMESPACES:
            return "this namespace may not be deleted"
        return None

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        return [name_cell(obj), dig(obj, "status", "phase", default=""), age_cell(obj, now)]


RESOURCE = ResourceType("", "v1", "namespaces", "Namespace", False, ("ns",), subresources=("status",),
                        verbs=("create", "delete", "get", "list", "patch", "update", "watch"),  # no deletecollection
                        strategy=NamespaceStrategy())
