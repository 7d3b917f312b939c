"""Leases (`coordination.k8s.io/v1`): node heartbeats and the control loops' leader election."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from minik8s.api import schema
from minik8s.api.fields import Causes
from minik8s.api.tables import AGE_COLUMN, NAME_COLUMN, age_cell, column, dig, name_cell

from .resource import ResourceType
from .strategy import Strategy

Obj = dict[str, Any]

schema.define("io.k8s.api.coordination.v1", {
    "Lease": {"spec": "LeaseSpec"},
    "LeaseSpec": {"holderIdentity": "str", "leaseDurationSeconds": "int", "acquireTime": "time", "renewTime": "time",
                  "leaseTransitions": "int", "preferredHolder": "str", "strategy": "str"},
})


class LeaseStrategy(Strategy):
    """Leases (`pkg/registry/coordination/lease/strategy.go`): a PUT may create them."""

    generation = True
    create_on_update = True
    columns = (NAME_COLUMN,
               column("Holder", "holderIdentity contains the identity of the holder of a current lease."), AGE_COLUMN)

    def validate(self, c: Causes, obj: Obj, old: Obj | None) -> None:
        spec = c.object("spec", obj.get("spec")) or {}
        c.string("spec.holderIdentity", spec.get("holderIdentity"))
        c.integer("spec.leaseDurationSeconds", spec.get("leaseDurationSeconds"), minimum=1)

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        return [name_cell(obj), dig(obj, "spec", "holderIdentity", default=""), age_cell(obj, now)]


RESOURCE = ResourceType("coordination.k8s.io", "v1", "leases", "Lease", True, strategy=LeaseStrategy())
