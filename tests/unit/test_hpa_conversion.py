"""Unit tests of autoscaling/v1 <-> autoscaling/v2 HorizontalPodAutoscaler conversion (upstream's rules)."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from minik8s.api.kinds import by_kind
from minik8s.api.kinds.hpa_v1 import (BEHAVIOR_ANNOTATION, CONDITIONS_ANNOTATION, CURRENT_METRICS_ANNOTATION,
                                      METRICS_ANNOTATION, to_v1, to_v2)

Obj = dict[str, Any]
REF = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}
META = {"name": "web", "namespace": "default", "uid": "u1", "resourceVersion": "7", "annotations": {"team": "a"}}

V2_FULL: Obj = {
    "apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": META,
    "spec": {"scaleTargetRef": REF, "minReplicas": 2, "maxReplicas": 10, "metrics": [
        {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue",
                                                                      "averageValue": "100Mi"}}},
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}},
        {"type": "Pods", "pods": {"metric": {"name": "qps", "selector": {"matchLabels": {"a": "b"}}},
                                  "target": {"type": "AverageValue", "averageValue": "10"}}},
        {"type": "Object", "object": {"describedObject": {"kind": "Ingress", "name": "main", "apiVersion": "v1"},
                                      "metric": {"name": "hits"}, "target": {"type": "Value", "value": "2k"}}},
        {"type": "External", "external": {"metric": {"name": "queue"},
                                          "target": {"type": "AverageValue", "averageValue": "30"}}},
        {"type": "ContainerResource", "containerResource": {"name": "cpu", "container": "app", "target": {
            "type": "AverageValue", "averageValue": "500m"}}},
    ], "behavior": {"scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                                "policies": [{"type": "Pods", "value": 1, "periodSeconds": 15}]},
                    "scaleDown": {"selectPolicy": "Min", "stabilizationWindowSeconds": 60,
                                  "policies": [{"type": "Percent", "value": 50, "periodSeconds": 30}]}}},
    "status": {"observedGeneration": 3, "lastScaleTime": "2024-01-01T00:00:00Z", "currentReplicas": 4,
               "desiredReplicas": 5, "currentMetrics": [
                   {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 75,
                                                                                "averageValue": "150m"}}},
                   {"type": "Resource", "resource": {"name": "memory", "current": {"averageValue": "90Mi"}}}],
               "conditions": [{"type": "AbleToScale", "status": "True", "reason": "SucceededRescale",
                               "message": "ok", "lastTransitionTime": "2024-01-01T00:00:00Z"}]},
}


def test_hpa_conversion_v1_cpu_target_becomes_a_utilization_metric() -> None:
    """targetCPUUtilizationPercentage <-> a cpu Utilization metric; currentCPU... <-> its current value."""
    v1 = {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
          "spec": {"scaleTargetRef": REF, "maxReplicas": 5, "targetCPUUtilizationPercentage": 50},
          "status": {"currentReplicas": 1, "desiredReplicas": 2, "currentCPUUtilizationPercentage": 80}}
    v2 = to_v2(v1)
    assert v2["apiVersion"] == "autoscaling/v2"
    assert v2["spec"] == {"scaleTargetRef": REF, "maxReplicas": 5, "metrics": [
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}]}
    assert v2["status"] == {"currentReplicas": 1, "desiredReplicas": 2, "currentMetrics": [
        {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 80}}}]}
    assert to_v1(v2) == {**v1, "metadata": {"name": "web", "annotations": {
        CURRENT_METRICS_ANNOTATION: '[{"type":"Resource","resource":{"name":"cpu","currentAverageUtilization":80}}]'}}}


def test_hpa_conversion_v1_without_target_has_no_metrics() -> None:
    """A v1 object without a CPU target converts without metrics (the v2 defaults then add cpu 80%)."""
    v2 = to_v2({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "w"},
                "spec": {"scaleTargetRef": REF, "maxReplicas": 3}})
    assert "metrics" not in v2["spec"] and "status" not in v2
    assert by_kind("autoscaling/v2", "HorizontalPodAutoscaler") is not None


def test_hpa_conversion_v2_to_v1_keeps_the_rest_in_annotations() -> None:
    """What v1 cannot hold travels in upstream's annotations, metrics in v1's MetricSpec shape."""
    v1 = to_v1(V2_FULL)
    assert v1["apiVersion"] == "autoscaling/v1"
    assert v1["spec"] == {"scaleTargetRef": REF, "minReplicas": 2, "maxReplicas": 10,
                          "targetCPUUtilizationPercentage": 60}
    assert v1["status"] == {"observedGeneration": 3, "lastScaleTime": "2024-01-01T00:00:00Z", "currentReplicas": 4,
                            "desiredReplicas": 5, "currentCPUUtilizationPercentage": 75}
    annotations = v1["metadata"]["annotations"]
    assert annotations["team"] == "a"
    assert json.loads(annotations[METRICS_ANNOTATION]) == [
        {"type": "Resource", "resource": {"name": "memory", "targetAverageValue": "100Mi"}},
        {"type": "Pods", "pods": {"metricName": "qps", "selector": {"matchLabels": {"a": "b"}},
                                  "targetAverageValue": "10"}},
        {"type": "Object", "object": {"target": {"kind": "Ingress", "name": "main", "apiVersion": "v1"},
                                      "metricName": "hits", "targetValue": "2k"}},
        {"type": "External", "external": {"metricName": "queue", "targetAverageValue": "30"}},
        {"type": "ContainerResource", "containerResource": {"name": "cpu", "container": "app",
                                                            "targetAverageValue": "500m"}}]
    assert json.loads(annotations[BEHAVIOR_ANNOTATION]) == V2_FULL["spec"]["behavior"]
    assert json.loads(annotations[CONDITIONS_ANNOTATION]) == V2_FULL["status"]["conditions"]
    assert json.loads(annotations[CURRENT_METRICS_ANNOTATION])[0] == {
        "type": "Resource", "resource": {"name": "cpu", "currentAverageUtilization": 75, "currentAverageValue": "150m"}}
    assert V2_FULL["metadata"]["annotations"] == {"team": "a"}  # the input is not modified


def test_hpa_conversion_round_trip_v2_v1_v2() -> None:
    """v2 -> v1 -> v2 loses nothing (the CPU utilization target moves after the other metrics, as upstream)."""
    back = to_v2(to_v1(V2_FULL))
    expected = copy.deepcopy(V2_FULL)
    metrics = expected["spec"]["metrics"]
    expected["spec"]["metrics"] = [metrics[0], *metrics[2:], metrics[1]]
    assert back == expected


def test_hpa_conversion_round_trip_v1_v2_v1() -> None:
    """A v1 object read, changed and written back by a v1 client keeps its v2-only parts."""
    v1 = to_v1(V2_FULL)
    v1["spec"]["maxReplicas"] = 20
    stored = to_v2(v1)
    assert stored["spec"]["maxReplicas"] == 20 and stored["spec"]["behavior"] == V2_FULL["spec"]["behavior"]
    assert len(stored["spec"]["metrics"]) == 6 and stored["metadata"]["annotations"] == {"team": "a"}
    assert to_v1(stored) == v1


@pytest.mark.parametrize("junk", [
    {"spec": "x", "status": 3, "metadata": {"annotations": {METRICS_ANNOTATION: "{not json"}}},
    {"spec": {"metrics": "x"}, "metadata": {"annotations": {METRICS_ANNOTATION: "[1, null, {}]",
                                                            BEHAVIOR_ANNOTATION: "[]"}}},
    {"spec": {"targetCPUUtilizationPercentage": "high"}, "metadata": "m"},
    {},
])
def test_hpa_conversion_tolerates_any_json(junk: Obj) -> None:
    """Conversion runs before validation: malformed bodies convert without raising (validation reports them)."""
    to_v2({"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", **junk})
    to_v1({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", **junk})
