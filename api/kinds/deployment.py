"""Deployments: the kind's schema, defaults, validation, table and `describe` section."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from minik8s.api import schema
from minik8s.api.describe import Lines
from minik8s.api.fields import Causes
from minik8s.api.tables import AGE_COLUMN, NAME_COLUMN, age_cell, column, dig, format_label_selector, name_cell

from .defaulting import child, default
from .resource import ResourceType
from .strategy import Strategy
from .workload import TEMPLATE_COLUMNS, default_workload, describe_template, template_cells, validate_workload

Obj = dict[str, Any]

schema.define("io.k8s.api.apps.v1", {
    "Deployment": {"spec": "DeploymentSpec", "status": "DeploymentStatus"},
    "DeploymentSpec": {"replicas": "int", "selector": "LabelSelector", "template": "PodTemplateSpec",
                       "strategy": "DeploymentStrategy", "minReadySeconds": "int", "revisionHistoryLimit": "int",
                       "paused": "bool", "progressDeadlineSeconds": "int"},
    "DeploymentStrategy": {"type": "str", "rollingUpdate": "RollingUpdateDeployment"},
    "RollingUpdateDeployment": {"maxUnavailable": "intstr", "maxSurge": "intstr"},
    "DeploymentStatus": {"observedGeneration": "int", "replicas": "int", "updatedReplicas": "int",
                         "readyReplicas": "int", "availableReplicas": "int", "unavailableReplicas": "int",
                         "conditions": "[Condition/type]", "collisionCount": "int", "terminatingReplicas": "int"},
})


class DeploymentStrategy(Strategy):
    """Deployments (`pkg/registry/apps/deployment/strategy.go`)."""

    generation = True
    columns = (
        NAME_COLUMN,
        column("Ready", "Number of the pod with ready state"),
        column("Up-to-date", "Total number of non-terminating pods targeted by this deployment that have the "
                             "desired template spec."),
        column("Available", "Total number of available non-terminating pods targeted by this deployment."),
        AGE_COLUMN,
        *TEMPLATE_COLUMNS,
    )

    def default(self, obj: Obj, now: str) -> None:
        default_workload(obj)
        if (spec := child(obj, "spec")) is None:
            return
        default(spec, "revisionHistoryLimit", 10)
        default(spec, "progressDeadlineSeconds", 600)
        if (strategy := child(spec, "strategy")) is None:
            return
        default(strategy, "type", "RollingUpdate")
        if strategy["type"] == "RollingUpdate" and (rolling := child(strategy, "rollingUpdate")) is not None:
            default(rolling, "maxSurge", "25%")
            default(rolling, "maxUnavailable", "25%")

    def validate(self, c: Causes, obj: Obj, old: Obj | None) -> None:
        spec = validate_workload(c, obj, old, kind="deployment")
        if spec is None:
            return
        strategy = c.object("spec.strategy", spec.get("strategy")) or {}
        kind = c.choice("spec.strategy.type", strategy.get("type"), ("Recreate", "RollingUpdate"))
        rolling = c.object("spec.strategy.rollingUpdate", strategy.get("rollingUpdate"))
        if rolling is not None and kind == "Recreate":
            c.forbidden("spec.strategy.rollingUpdate", "may not be specified when strategy `type` is 'Recreate'")
        elif rolling is not None:
            surge = c.int_or_percent("spec.strategy.rollingUpdate.maxSurge", rolling.get("maxSurge"))
            unavailable = c.int_or_percent("spec.strategy.rollingUpdate.maxUnavailable", rolling.get("maxUnavailable"))
            if surge == 0 and unavailable == 0:
                c.invalid("spec.strategy.rollingUpdate.maxUnavailable", rolling.get("maxUnavailable"),
                          "may not be 0 when `maxSurge` is 0")
        c.integer("spec.revisionHistoryLimit", spec.get("revisionHistoryLimit"), minimum=0)
        c.integer("spec.progressDeadlineSeconds", spec.get("progressDeadlineSeconds"), minimum=1)
        c.boolean("spec.paused", spec.get("paused"))

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        return [name_cell(obj), f"{status.get('readyReplicas', 0)}/{spec.get('replicas', 1)}",
                status.get("updatedReplicas", 0), status.get("availableReplicas", 0), age_cell(obj, now),
                *template_cells(obj)]

    def describe(self, out: Lines, obj: Obj) -> None:
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        out.add(0, "Selector:", format_label_selector(spec.get("selector")))
        out.add(0, "Replicas:", f"{spec.get('replicas', 1)} desired | {status.get('updatedReplicas', 0)} updated | "
                f"{status.get('replicas', 0)} total | {status.get('availableReplicas', 0)} available | "
                f"{status.get('unavailableReplicas', 0)} unavailable")
        out.add(0, "StrategyType:", dig(spec, "strategy", "type", default="RollingUpdate"))
        describe_template(out, obj)


RESOURCE = ResourceType("apps", "v1", "deployments", "Deployment", True, ("deploy",), ("all",), ("status", "scale"),
                        strategy=DeploymentStrategy())
