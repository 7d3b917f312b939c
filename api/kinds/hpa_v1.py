"""`autoscaling/v1` HorizontalPodAutoscalers: a second version of the stored `autoscaling/v2` objects.

`kubectl autoscale` (1.32) creates v1 objects, and older manifests use them; like kube-apiserver,
minik8s serves both versions of the one stored resource and converts both ways
(`pkg/apis/autoscaling/v1/conversion.go`):

- v1 → v2: `targetCPUUtilizationPercentage` becomes a CPU `Utilization` metric, and
  `currentCPUUtilizationPercentage` its current value;
- v2 → v1: the first CPU utilization target (and current value) becomes those fields; what v1
  cannot say — the other metrics, `behavior`, all current metrics, the conditions — travels in the
  `autoscaling.alpha.kubernetes.io/{metrics,behavior,current-metrics,conditions}` annotations
  (metrics in v1's own `MetricSpec` shape), which the way back reads and removes. So a v1 client
  that reads, edits and writes back an object loses none of its v2 fields.

Conversion runs on what clients send, before validation: it tolerates any JSON below the top level.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime
from typing import Any

from minik8s.api import schema

from .hpa import RESOURCE as STORED
from .hpa import HorizontalPodAutoscalerStrategy
from .resource import Conversion, ResourceType

Obj = dict[str, Any]

schema.define("io.k8s.api.autoscaling.v1", {
    "HorizontalPodAutoscaler": {"spec": "HorizontalPodAutoscalerSpec", "status": "HorizontalPodAutoscalerStatus"},
    "HorizontalPodAutoscalerSpec": {"scaleTargetRef": "CrossVersionObjectReference", "minReplicas": "int",
                                    "maxReplicas": "int", "targetCPUUtilizationPercentage": "int"},
    "HorizontalPodAutoscalerStatus": {"observedGeneration": "int", "lastScaleTime": "time", "currentReplicas": "int",
                                      "desiredReplicas": "int", "currentCPUUtilizationPercentage": "int"},
    "CrossVersionObjectReference": {"kind": "str", "name": "str", "apiVersion": "str"},
})

METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/metrics"
CURRENT_METRICS_ANNOTATION = "autoscaling.alpha.kubernetes.io/current-metrics"
CONDITIONS_ANNOTATION = "autoscaling.alpha.kubernetes.io/conditions"
BEHAVIOR_ANNOTATION = "autoscaling.alpha.kubernetes.io/behavior"
_ANNOTATIONS = (METRICS_ANNOTATION, CURRENT_METRICS_ANNOTATION, CONDITIONS_ANNOTATION, BEHAVIOR_ANNOTATION)
_SOURCES = {"Resource": "resource", "ContainerResource": "containerResource", "Pods": "pods", "Object": "object",
            "External": "external"}
# v1 field ↔ v2 field path, per metric source: targets (spec) and current values (status)
_SPEC_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "Resource": (("name", "name"), ("targetAverageUtilization", "target.averageUtilization"),
                 ("targetAverageValue", "target.averageValue")),
    "ContainerResource": (("name", "name"), ("container", "container"),
                          ("targetAverageUtilization", "target.averageUtilization"),
                          ("targetAverageValue", "target.averageValue")),
    "Pods": (("metricName", "metric.name"), ("selector", "metric.selector"),
             ("targetAverageValue", "target.averageValue")),
    "Object": (("target", "describedObject"), ("metricName", "metric.name"), ("selector", "metric.selector"),
               ("targetValue", "target.value"), ("averageValue", "target.averageValue")),
    "External": (("metricName", "metric.name"), ("metricSelector", "metric.selector"),
                 ("targetValue", "target.value"), ("targetAverageValue", "target.averageValue")),
}
_STATUS_FIELDS: dict[str, tuple[tuple[str, str], ...]] = {
    "Resource": (("name", "name"), ("currentAverageUtilization", "current.averageUtilization"),
                 ("currentAverageValue", "current.averageValue")),
    "ContainerResource": (("name", "name"), ("container", "container"),
                          ("currentAverageUtilization", "current.averageUtilization"),
                          ("currentAverageValue", "current.averageValue")),
    "Pods": (("metricName", "metric.name"), ("selector", "metric.selector"),
             ("currentAverageValue", "current.averageValue")),
    "Object": (("target", "describedObject"), ("metricName", "metric.name"), ("selector", "metric.selector"),
               ("currentValue", "current.value"), ("averageValue", "current.averageValue")),
    "External": (("metricName", "metric.name"), ("metricSelector", "metric.selector"),
                 ("currentValue", "current.value"), ("currentAverageValue", "current.averageValue")),
}


# ---- small helpers -------------------------------------------------------------------------------

def _dict(value: Any) -> Obj:
    return value if isinstance(value, dict) else {}


def _get(obj: Any, path: str) -> Any:
    for part in path.split("."):
        obj = obj.get(part) if isinstance(obj, dict) else None
    return obj


def _put(obj: Obj, path: str, value: Any) -> None:
    *parents, last = path.split(".")
    for part in parents:
        obj = obj.setdefault(part, {})
    obj[last] = value


def _encode(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def _decode_list(annotations: Obj, key: str) -> list[Obj] | None:
    """The list of objects a round-trip annotation holds; None when absent or not such a list."""
    try:
        value = json.loads(annotations[key]) if isinstance(annotations.get(key), str) else None
    except ValueError:
        return None
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else None


def _is_cpu_utilization(metric: Any, part: str) -> bool:
    resource = _dict(_dict(metric).get("resource"))
    return (_dict(metric).get("type") == "Resource" and resource.get("name") == "cpu"
            and _get(resource, f"{part}.averageUtilization") is not None)


# ---- metrics: v1 shape ↔ v2 shape -------------------------------------------------------------------

def _metric_to_v1(metric: Obj, fields: dict[str, tuple[tuple[str, str], ...]]) -> Obj:
    kind = metric.get("type")
    key = _SOURCES.get(kind) if isinstance(kind, str) else None
    if key is None:
        return {"type": kind}
    source, out = _dict(metric.get(key)), {}
    for v1_field, v2_path in fields[kind]:
        if (value := _get(source, v2_path)) is not None:
            out[v1_field] = value
    return {"type": kind, key: out}


def _metric_from_v1(metric: Obj, fields: dict[str, tuple[tuple[str, str], ...]], *, spec: bool) -> Obj:
    kind = metric.get("type")
    key = _SOURCES.get(kind) if isinstance(kind, str) else None
    if key is None:
        return {"type": kind}
    source, out = _dict(metric.get(key)), {}
    for v1_field, v2_path in fields[kind]:
        if source.get(v1_field) is not None:
            _put(out, v2_path, source[v1_field])
    if spec:
        _put(out, "target.type", _target_type(kind, _dict(out.get("target"))))
    return {"type": kind, key: out}


def _target_type(kind: str, target: Obj) -> str:
    """The v2 target type a v1 metric implies, as upstream's conversion decides it."""
    if kind in ("Resource", "ContainerResource"):
        return "Utilization" if target.get("averageUtilization") is not None else "AverageValue"
    if kind == "Object":
        return "AverageValue" if target.get("averageValue") is not None else "Value"
    if kind == "External":
        return "Value" if target.get("value") is not None else "AverageValue"
    return "AverageValue"


# ---- whole objects ------------------------------------------------------------------------------

def to_v2(obj: Obj) -> Obj:
    """An `autoscaling/v1` object as the stored `autoscaling/v2` object."""
    out = {k: copy.deepcopy(v) for k, v in obj.items() if k not in ("spec", "status")}
    out["apiVersion"] = STORED.api_version
    meta = out.get("metadata") if isinstance(out.get("metadata"), dict) else {}
    annotations = _dict(meta.get("annotations"))
    spec_in = obj.get("spec")
    if isinstance(spec_in, dict):
        spec = {k: copy.deepcopy(spec_in[k]) for k in ("scaleTargetRef", "minReplicas", "maxReplicas") if k in spec_in}
        metrics = [_metric_from_v1(m, _SPEC_FIELDS, spec=True) for m in _decode_list(annotations, METRICS_ANNOTATION)
                   or []]
        if spec_in.get("targetCPUUtilizationPercentage") is not None:
            metrics.append({"type": "Resource", "resource": {"name": "cpu", "target": {
                "type": "Utilization", "averageUtilization": spec_in["targetCPUUtilizationPercentage"]}}})
        if metrics:
            spec["metrics"] = metrics
        try:
            behavior = json.loads(annotations.get(BEHAVIOR_ANNOTATION) or "null")
        except (TypeError, ValueError):
            behavior = None
        if isinstance(behavior, dict):
            spec["behavior"] = behavior
        out["spec"] = spec
    elif "spec" in obj:
        out["spec"] = copy.deepcopy(spec_in)
    status_in = obj.get("status")
    if isinstance(status_in, dict):
        status = {k: copy.deepcopy(status_in[k]) for k in ("observedGeneration", "lastScaleTime", "currentReplicas",
                                                           "desiredReplicas") if k in status_in}
        current = _decode_list(annotations, CURRENT_METRICS_ANNOTATION)
        if current is not None:
            status["currentMetrics"] = [_metric_from_v1(m, _STATUS_FIELDS, spec=False) for m in current]
        elif status_in.get("currentCPUUtilizationPercentage") is not None:
            status["currentMetrics"] = [{"type": "Resource", "resource": {"name": "cpu", "current": {
                "averageUtilization": status_in["currentCPUUtilizationPercentage"]}}}]
        conditions = _decode_list(annotations, CONDITIONS_ANNOTATION)
        if conditions is not None:
            status["conditions"] = conditions
        out["status"] = status
    elif "status" in obj:
        out["status"] = copy.deepcopy(status_in)
    if any(key in annotations for key in _ANNOTATIONS):
        kept = {k: v for k, v in annotations.items() if k not in _ANNOTATIONS}
        if kept:
            meta["annotations"] = kept
        else:
            meta.pop("annotations", None)
    return out


def to_v1(obj: Obj) -> Obj:
    """A stored `autoscaling/v2` object as `autoscaling/v1`."""
    out = {k: copy.deepcopy(v) for k, v in obj.items() if k not in ("spec", "status")}
    out["apiVersion"] = RESOURCE.api_version
    meta = out.setdefault("metadata", {}) if isinstance(out.get("metadata", {}), dict) else {}
    annotations = {k: v for k, v in _dict(meta.get("annotations")).items() if k not in _ANNOTATIONS}
    spec_in, status_in = _dict(obj.get("spec")), _dict(obj.get("status"))
    spec = {k: copy.deepcopy(spec_in[k]) for k in ("scaleTargetRef", "minReplicas", "maxReplicas") if k in spec_in}
    metrics = [m for m in spec_in.get("metrics") or [] if isinstance(m, dict)] if isinstance(
        spec_in.get("metrics"), list) else []
    cpu = next((m for m in metrics if _is_cpu_utilization(m, "target")), None)
    if cpu is not None:
        spec["targetCPUUtilizationPercentage"] = cpu["resource"]["target"]["averageUtilization"]
    others = [_metric_to_v1(m, _SPEC_FIELDS) for m in metrics if not _is_cpu_utilization(m, "target")]
    if others:
        annotations[METRICS_ANNOTATION] = _encode(others)
    if isinstance(spec_in.get("behavior"), dict):
        annotations[BEHAVIOR_ANNOTATION] = _encode(spec_in["behavior"])
    status: Obj = {"currentReplicas": 0, "desiredReplicas": 0}
    status.update({k: copy.deepcopy(status_in[k]) for k in ("observedGeneration", "lastScaleTime",
                                                            "currentReplicas", "desiredReplicas") if k in status_in})
    current = [m for m in status_in.get("currentMetrics") or [] if isinstance(m, dict)] if isinstance(
        status_in.get("currentMetrics"), list) else []
    for metric in current:
        if _is_cpu_utilization(metric, "current"):
            status["currentCPUUtilizationPercentage"] = metric["resource"]["current"]["averageUtilization"]
    if current:
        annotations[CURRENT_METRICS_ANNOTATION] = _encode([_metric_to_v1(m, _STATUS_FIELDS) for m in current])
    if isinstance(status_in.get("conditions"), list) and status_in["conditions"]:
        annotations[CONDITIONS_ANNOTATION] = _encode(status_in["conditions"])
    if annotations:
        meta["annotations"] = annotations
    else:
        meta.pop("annotations", None)
    out["spec"], out["status"] = spec, status
    return out


class HorizontalPodAutoscalerV1Strategy(HorizontalPodAutoscalerStrategy):
    """v1 objects print like the stored ones (writes are validated after conversion, as v2)."""

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        return super().cells(to_v2(obj), now)


RESOURCE = ResourceType("autoscaling", "v1", "horizontalpodautoscalers", "HorizontalPodAutoscaler", True, ("hpa",),
                        ("all",), ("status",), strategy=HorizontalPodAutoscalerV1Strategy(),
                        conversion=Conversion(STORED, to_v2, to_v1))
