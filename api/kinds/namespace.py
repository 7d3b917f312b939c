"""Namespaces: the kind's schema, defaults (the `kubernetes` finalizer), table and deletion rules.

The built-in namespaces (`default`, `kube-system`, `kube-node-lease`) can never be deleted. Deleting
another one only marks it (`deletionTimestamp`, `status.phase: Terminating`); the namespace
controller empties it and then takes `kubernetes` out of `spec.finalizers` through the `finalize`
subresource, the only write that changes that list. A marked namespace goes once both
`spec.finalizers` and `metadata.finalizers` are empty.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

from minik8s.api import schema
from minik8s.api.names import DNS_LABEL
from minik8s.api.ownership import NAMESPACE_FINALIZER
from minik8s.api.tables import AGE_COLUMN, NAME_COLUMN, age_cell, column, dig, name_cell
from minik8s.api.timefmt import format_time

from .defaulting import child, default
from .resource import ResourceType
from .strategy import StatusStrategy, Strategy, copy_path

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
            default(spec, "finalizers", [NAMESPACE_FINALIZER])

    def initial_status(self, obj: Obj) -> Obj:
        return {"phase": "Active"}

    def prepare_update(self, new: Obj, old: Obj) -> None:
        copy_path(new, old, ("spec", "finalizers"))  # only `finalize` changes them

    def delete_forbidden(self, obj: Obj) -> str | None:
        if dig(obj, "metadata", "name") in BUILTIN_NAMESPACES:
            return "this namespace may not be deleted"
        return None

    def pending_finalization(self, obj: Obj) -> bool:
        return bool(dig(obj, "spec", "finalizers", default=None))

    def mark_deleting(self, obj: Obj, *, now: float) -> None:
        """`deletionTimestamp` (once) and `status.phase: Terminating`, as kube-apiserver's namespace
        storage does; no grace period and no generation change."""
        obj["metadata"].setdefault("deletionTimestamp", format_time(now))
        if not isinstance(obj.get("status"), dict):
            obj["status"] = {}
        obj["status"]["phase"] = "Terminating"

    def subresource_writes(self) -> dict[str, StatusStrategy]:
        return {**super().subresource_writes(), "finalize": FinalizeStrategy(self)}

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        return [name_cell(obj), dig(obj, "status", "phase", default=""), age_cell(obj, now)]


class FinalizeStrategy(StatusStrategy):
    """Writes to `namespaces/<name>/finalize`: `spec.finalizers` from the request, the rest as stored."""

    def prepare_update(self, new: Obj, old: Obj) -> Obj:
        out = copy.deepcopy(old)
        copy_path(out, new, ("spec", "finalizers"))
        copy_path(out, new, ("metadata", "resourceVersion"))
        return out


RESOURCE = ResourceType("", "v1", "namespaces", "Namespace", False, ("ns",), subresources=("status", "finalize"),
                        verbs=("create", "delete", "get", "list", "patch", "update", "watch"),  # no deletecollection
                        strategy=NamespaceStrategy())
