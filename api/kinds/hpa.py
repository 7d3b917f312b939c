"""HorizontalPodAutoscalers (`autoscaling/v2`): the kind's schema, defaults, validation and table."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from minik8s.api import schema
from minik8s.api.fields import Causes
from minik8s.api.tables import AGE_COLUMN, NAME_COLUMN, age_cell, column, dig, join_more, name_cell

from .defaulting import child, default
from .resource import ResourceType
from .strategy import Strategy

Obj = dict[str, Any]

schema.define("io.k8s.api.autoscaling.v2", {
    "HorizontalPodAutoscaler": {"spec": "HorizontalPodAutoscalerSpec", "status": "HorizontalPodAutoscalerStatus"},
    "HorizontalPodAutoscalerSpec": {"scaleTargetRef": "CrossVersionObjectReference", "minReplicas": "int",
                                    "maxReplicas": "int", "metrics": "[MetricSpec]",
                                    "behavior": "HorizontalPodAutoscalerBehavior"},
    "HorizontalPodAutoscalerBehavior": {"scaleUp": "HPAScalingRules", "scaleDown": "HPAScalingRules"},
    "HPAScalingRules": {"stabilizationWindowSeconds": "int", "selectPolicy": "str", "policies": "[HPAScalingPolicy]",
                        "tolerance": "quantity"},
    "HPAScalingPolicy": {"type": "str", "value": "int", "periodSeconds": "int"},
    "CrossVersionObjectReference": {"kind": "str", "name": "str", "apiVersion": "str"},
    "MetricSpec": {"type": "str", "resource": "ResourceMetricSource", "pods": "PodsMetricSource",
                   "object": "ObjectMetricSource", "external": "ExternalMetricSource",
                   "containerResource": "ContainerResourceMetricSource"},
    "ResourceMetricSource": {"name": "str", "target": "MetricTarget"},
    "ContainerResourceMetricSource": {"name": "str", "container": "str", "target": "MetricTarget"},
    "PodsMetricSource": {"metric": "MetricIdentifier", "target": "MetricTarget"},
    "ExternalMetricSource": {"metric": "MetricIdentifier", "target": "MetricTarget"},
    "ObjectMetricSource": {"describedObject": "CrossVersionObjectReference", "metric": "MetricIdentifier",
                           "target": "MetricTarget"},
    "MetricIdentifier": {"name": "str", "selector": "LabelSelector"},
    "MetricTarget": {"type": "str", "value": "quantity", "averageValue": "quantity", "averageUtilization": "int"},
    "HorizontalPodAutoscalerStatus": {"observedGeneration": "int", "lastScaleTime": "time", "currentReplicas": "int",
                                      "desiredReplicas": "int", "currentMetrics": "[MetricStatus]",
                                      "conditions": "[Condition/type]"},
    "MetricStatus": {"type": "str", "resource": "ResourceMetricStatus", "pods": "PodsMetricStatus",
                     "object": "ObjectMetricStatus", "external": "ExternalMetricStatus",
                     "containerResource": "ContainerResourceMetricStatus"},
    "ResourceMetricStatus": {"name": "str", "current": "MetricValueStatus"},
    "ContainerResourceMetricStatus": {"name": "str", "container": "str", "current": "MetricValueStatus"},
    "PodsMetricStatus": {"metric": "MetricIdentifier", "current": "MetricValueStatus"},
    "ExternalMetricStatus": {"metric": "MetricIdentifier", "current": "MetricValueStatus"},
    "ObjectMetricStatus": {"describedObject": "CrossVersionObjectReference", "metric": "MetricIdentifier",
                           "current": "MetricValueStatus"},
    "MetricValueStatus": {"value": "quantity", "averageValue": "quantity", "averageUtilization": "int"},
})

_METRIC_KEYS = {"Resource": "resource", "ContainerResource": "containerResource", "Pods": "pods",
                "Object": "object", "External": "external"}


class HorizontalPodAutoscalerStrategy(Strategy):
    """HorizontalPodAutoscalers (`pkg/registry/autoscaling/horizontalpodautoscaler/strategy.go`)."""

    generation = True
    columns = (
        NAME_COLUMN,
        column("Reference", "scaleTargetRef points to the target resource to scale."),
        column("Targets", "metrics contains the specifications for which to use to calculate the desired "
                          "replica count."),
        column("MinPods", "minReplicas is the lower limit for the number of replicas."),
        column("MaxPods", "maxReplicas is the upper limit for the number of replicas."),
        column("Replicas", "currentReplicas is current number of replicas of pods managed by this autoscaler."),
        AGE_COLUMN,
    )

    def default(self, obj: Obj, now: str) -> None:
        if (spec := child(obj, "spec")) is not None:
            default(spec, "minReplicas", 1)

    def validate(self, c: Causes, obj: Obj, old: Obj | None) -> None:
        spec = c.object("spec", obj.get("spec"), required=True)
        if spec is None:
            return
        target = c.object("spec.scaleTargetRef", spec.get("scaleTargetRef"), required=True)
        if target is not None:
            c.string("spec.scaleTargetRef.kind", target.get("kind"), required=True)
            c.string("spec.scaleTargetRef.name", target.get("name"), required=True)
        maximum = c.integer("spec.maxReplicas", spec.get("maxReplicas"), minimum=1, required=True)
        minimum = c.integer("spec.minReplicas", spec.get("minReplicas"), minimum=1)
        if minimum is not None and maximum is not None and minimum > maximum:
            c.invalid("spec.minReplicas", minimum, "must be less than or equal to maxReplicas")
        c.array("spec.metrics", spec.get("metrics"))

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        spec = obj.get("spec") or {}
        metrics, statuses = spec.get("metrics") or [], dig(obj, "status", "currentMetrics", default=[])
        targets = [_metric(m, statuses[i] if i < len(statuses) else None) for i, m in enumerate(metrics)]
        ref = spec.get("scaleTargetRef") or {}
        min_pods = spec.get("minReplicas")
        return [
            name_cell(obj), f"{ref.get('kind', '')}/{ref.get('name', '')}",
            join_more(targets, len(targets), 2, ", ") or "<none>",
            "<unset>" if min_pods is None else str(min_pods), spec.get("maxReplicas", 0),
            dig(obj, "status", "currentReplicas", default=0), age_cell(obj, now),
        ]


RESOURCE = ResourceType("autoscaling", "v2", "horizontalpodautoscalers", "HorizontalPodAutoscaler", True, ("hpa",),
                        ("all",), ("status",), strategy=HorizontalPodAutoscalerStrategy())


def _metric(spec: Obj, status: Obj | None) -> str:
    """One TARGETS entry of `formatHPAMetrics`, e.g. `cpu: 42%/80%` or `<unknown>/100 (avg)`."""
    key = _METRIC_KEYS.get(spec.get("type", ""))
    if key is None:
        return "<unknown type>"
    source, target = spec.get(key) or {}, dig(spec, key, "target", default={})
    current = dig(status, key, "current", default={})
    if key in ("resource", "containerResource"):
        name = source.get("name", "")
        if target.get("averageValue") is not None:
            return f"{name}: {current.get('averageValue', '<unknown>')}/{target['averageValue']}"
        used = current.get("averageUtilization")
        wanted = target.get("averageUtilization")
        return (f"{name}: {'<unknown>' if used is None else f'{used}%'}/"
                f"{'<auto>' if wanted is None else f'{wanted}%'}")
    if key == "pods":
        return f"{current.get('averageValue', '<unknown>')}/{target.get('averageValue')}"
    if target.get("averageValue") is not None:
        return f"{current.get('averageValue', '<unknown>')}/{target['averageValue']} (avg)"
    return f"{current.get('value', '<unknown>')}/{target.get('value')}"
