"""HorizontalPodAutoscalers (`autoscaling/v2`, the stored version): schema, defaults, validation, table.

Defaults and validation follow `pkg/apis/autoscaling/v2/defaults.go` and
`pkg/apis/autoscaling/validation`: `minReplicas` 1; no metrics means CPU at 80 % of requests; a
`behavior` that is given gets every rule it leaves out (scale up: no stabilization, the larger of
+4 pods and +100 % per 15 s; scale down: +100 % per 15 s, the stabilization window left to the
controller's default of 300 s). `autoscaling/v1` objects are converted to this version (`hpa_v1`).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from minik8s.api import schema
from minik8s.api.fields import Causes
from minik8s.api.quantity import parse_quantity
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
DEFAULT_CPU_UTILIZATION = 80
DEFAULT_RULES: dict[str, Obj] = {
    "scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15},
                             {"type": "Percent", "value": 100, "periodSeconds": 15}]},
    "scaleDown": {"selectPolicy": "Max", "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]},
}
MAX_STABILIZATION_SECONDS = 3600
MAX_PERIOD_SECONDS = 1800


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
        if (spec := child(obj, "spec")) is None:
            return
        default(spec, "minReplicas", 1)
        if spec.get("metrics") in (None, []):
            spec["metrics"] = [{"type": "Resource", "resource": {"name": "cpu", "target": {
                "type": "Utilization", "averageUtilization": DEFAULT_CPU_UTILIZATION}}}]
        if isinstance(behavior := spec.get("behavior"), dict):
            for direction, rules in DEFAULT_RULES.items():
                if (given := child(behavior, direction)) is not None:
                    for key, value in rules.items():
                        default(given, key, value)

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
            c.invalid("spec.maxReplicas", maximum, "must be greater than or equal to `minReplicas`")
        for path, metric in c.objects("spec.metrics", spec.get("metrics")):
            _validate_metric(c, path, metric)
        behavior = c.object("spec.behavior", spec.get("behavior"))
        for direction in ("scaleUp", "scaleDown"):
            rules = c.object(f"spec.behavior.{direction}", (behavior or {}).get(direction))
            if rules is not None:
                _validate_rules(c, f"spec.behavior.{direction}", rules)

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


def _validate_metric(c: Causes, path: str, metric: Obj) -> None:
    """One `MetricSpec`: a known type whose own source (and no other) is set, with a sane target."""
    kind = c.choice(f"{path}.type", metric.get("type"), _METRIC_KEYS, required=True)
    if kind is None:
        return
    key = _METRIC_KEYS[kind]
    for other in _METRIC_KEYS.values():
        if other != key and metric.get(other) is not None:
            c.forbidden(f"{path}.{other}", "must populate the given metric source only")
    source = c.object(f"{path}.{key}", metric.get(key))
    if source is None:
        c.required(f"{path}.{key}", "must populate information for the given metric source")
        return
    if key in ("resource", "containerResource"):
        c.string(f"{path}.{key}.name", source.get("name"), required=True)
        if key == "containerResource":
            c.string(f"{path}.{key}.container", source.get("container"), required=True)
    else:
        identifier = c.object(f"{path}.{key}.metric", source.get("metric"), required=True)
        if identifier is not None:
            c.string(f"{path}.{key}.metric.name", identifier.get("name"), required=True)
    if key == "object":
        described = c.object(f"{path}.object.describedObject", source.get("describedObject"), required=True)
        if described is not None:
            c.string(f"{path}.object.describedObject.kind", described.get("kind"), required=True)
            c.string(f"{path}.object.describedObject.name", described.get("name"), required=True)
    target = c.object(f"{path}.{key}.target", source.get("target"), required=True)
    if target is not None:
        _validate_target(c, f"{path}.{key}.target", target, resource=key in ("resource", "containerResource"))


def _validate_target(c: Causes, path: str, target: Obj, *, resource: bool) -> None:
    kinds = ("Utilization", "AverageValue") if resource else ("Utilization", "Value", "AverageValue")
    kind = c.choice(f"{path}.type", target.get("type"), kinds, required=True)
    utilization = c.integer(f"{path}.averageUtilization", target.get("averageUtilization"))
    if utilization is not None and utilization <= 0:
        c.invalid(f"{path}.averageUtilization", utilization, "must be greater than 0")
    for field in ("value", "averageValue"):
        if target.get(field) is not None and not _positive(target[field]):
            c.invalid(f"{path}.{field}", target[field], "must be positive")
    wanted = {"Utilization": "averageUtilization", "Value": "value", "AverageValue": "averageValue"}.get(kind or "")
    if wanted and target.get(wanted) is None:
        c.required(f"{path}.{wanted}", f"must be set for a target of type {kind}")


def _positive(quantity: Any) -> bool:
    try:
        return parse_quantity(quantity) > 0
    except ValueError:
        return True  # not a quantity at all: the typed pass reports that


def _validate_rules(c: Causes, path: str, rules: Obj) -> None:
    """One direction of `behavior` (`HPAScalingRules`)."""
    c.integer(f"{path}.stabilizationWindowSeconds", rules.get("stabilizationWindowSeconds"), minimum=0,
              maximum=MAX_STABILIZATION_SECONDS)
    c.choice(f"{path}.selectPolicy", rules.get("selectPolicy"), ("Max", "Min", "Disabled"))
    policies = list(c.objects(f"{path}.policies", rules.get("policies")))
    if not policies:
        c.required(f"{path}.policies", "must specify at least one Policy")
    for policy_path, policy in policies:
        c.choice(f"{policy_path}.type", policy.get("type"), ("Pods", "Percent"), required=True)
        value = c.integer(f"{policy_path}.value", policy.get("value"), required=True)
        if value is not None and value <= 0:
            c.invalid(f"{policy_path}.value", value, "must be greater than zero")
        c.integer(f"{policy_path}.periodSeconds", policy.get("periodSeconds"), minimum=1,
                  maximum=MAX_PERIOD_SECONDS, required=True)


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
