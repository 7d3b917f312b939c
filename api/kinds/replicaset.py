"""ReplicaSets: the kind's schema, defaults, validation, table and `describe` section."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from minik8s.api import schema
from minik8s.api.describe import Lines
from minik8s.api.fields import Causes
from minik8s.api.tables import AGE_COLUMN, NAME_COLUMN, age_cell, column, dig, format_label_selector, name_cell

from .resource import ResourceType
from .strategy import Strategy
from .workload import TEMPLATE_COLUMNS, default_workload, describe_template, template_cells, validate_workload

Obj = dict[str, Any]

schema.define("io.k8s.api.apps.v1", {
    "ReplicaSet": {"spec": "ReplicaSetSpec", "status": "ReplicaSetStatus"},
    "ReplicaSetSpec": {"replicas": "int", "minReadySeconds": "int", "selector": "LabelSelector",
                       "template": "PodTemplateSpec"},
    "ReplicaSetStatus": {"replicas": "int", "fullyLabeledReplicas": "int", "readyReplicas": "int",
                         "availableReplicas": "int", "observedGeneration": "int", "conditions": "[Condition/type]",
                         "terminatingReplicas": "int"},
})


class ReplicaSetStrategy(Strategy):
    """ReplicaSets (`pkg/registry/apps/replicaset/strategy.go`)."""

    generation = True
    columns = (
        NAME_COLUMN,
        column("Desired", "Replicas is the number of desired pods.", type_="integer"),
        column("Current", "Replicas is the most recently observed number of non-terminating pods.",
               type_="integer"),
        column("Ready", "The number of non-terminating pods targeted by this ReplicaSet with a Ready Condition.",
               type_="integer"),
        AGE_COLUMN,
        *TEMPLATE_COLUMNS,
    )
    selectable_fields = {"status.replicas": ("status", "replicas")}

    def default(self, obj: Obj, now: str) -> None:
        default_workload(obj)

    def validate(self, c: Causes, obj: Obj, old: Obj | None) -> None:
        validate_workload(c, obj, old, kind="replicaset")

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        spec = obj.get("spec") or {}
        return [name_cell(obj), spec.get("replicas", 1), dig(obj, "status", "replicas", default=0),
                dig(obj, "status", "readyReplicas", default=0), age_cell(obj, now), *template_cells(obj)]

    def describe(self, out: Lines, obj: Obj) -> None:
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        out.add(0, "Selector:", format_label_selector(spec.get("selector")))
        out.add(0, "Replicas:", f"{status.get('replicas', 0)} current / {spec.get('replicas', 1)} desired")
        describe_template(out, obj)


RESOURCE = ResourceType("apps", "v1", "replicasets", "ReplicaSet", True, ("rs",), ("all",), ("status", "scale"),
                        strategy=ReplicaSetStrategy())
