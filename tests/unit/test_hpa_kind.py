"""Unit tests of the autoscaling/v2 HorizontalPodAutoscaler's defaults and validation (upstream's rules)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from minik8s.api.errors import InvalidError
from minik8s.api.kinds import resolve
from minik8s.api.validation import validate

Obj = dict[str, Any]
HPA = resolve("horizontalpodautoscalers")
BASE: Obj = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
             "metadata": {"name": "web", "namespace": "default"},
             "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                      "maxReplicas": 5}}


def defaulted(**spec: Any) -> Obj:
    obj = copy.deepcopy(BASE)
    obj["spec"].update(spec)
    HPA.strategy.default(obj, "2024-01-01T00:00:00Z")
    return obj


def test_hpa_defaults_min_replicas_and_cpu_80() -> None:
    """minReplicas 1 and, without metrics, CPU at 80% of requests."""
    spec = defaulted()["spec"]
    assert spec["minReplicas"] == 1
    assert spec["metrics"] == [{"type": "Resource", "resource": {"name": "cpu", "target": {
        "type": "Utilization", "averageUtilization": 80}}}]
    assert "behavior" not in spec


def test_hpa_defaults_fill_a_given_behavior() -> None:
    """A behavior gets upstream's default rules where it leaves them out; scale down's window stays unset."""
    spec = defaulted(behavior={"scaleUp": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 15}]}})["spec"]
    assert spec["behavior"] == {
        "scaleUp": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 15}],
                    "stabilizationWindowSeconds": 0, "selectPolicy": "Max"},
        "scaleDown": {"selectPolicy": "Max", "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}}


def problems(obj: Obj) -> list[tuple[str, str]]:
    try:
        validate(HPA, obj)
    except InvalidError as err:
        return [(c["field"], c["message"]) for c in err.causes]
    return []


def test_hpa_defaulted_object_is_valid() -> None:
    assert problems(defaulted(behavior={})) == []


@pytest.mark.parametrize(("spec", "field"), [
    pytest.param({"metrics": [{"type": "Bogus"}]}, "spec.metrics[0].type", id="type"),
    pytest.param({"metrics": [{"type": "Resource"}]}, "spec.metrics[0].resource", id="source-missing"),
    pytest.param({"metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization",
                                                                                          "averageUtilization": 50}},
                               "pods": {}}]}, "spec.metrics[0].pods", id="two-sources"),
    pytest.param({"metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Value",
                                                                                          "value": "1"}}}]},
                 "spec.metrics[0].resource.target.type", id="resource-value-target"),
    pytest.param({"metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {
        "type": "Utilization", "averageUtilization": 0}}}]}, "spec.metrics[0].resource.target.averageUtilization",
        id="zero-utilization"),
    pytest.param({"metrics": [{"type": "Resource", "resource": {"name": "memory", "target": {
        "type": "AverageValue"}}}]}, "spec.metrics[0].resource.target.averageValue", id="no-average-value"),
    pytest.param({"behavior": {"scaleUp": {"selectPolicy": "Fastest"}}}, "spec.behavior.scaleUp.selectPolicy",
                 id="select-policy"),
    pytest.param({"behavior": {"scaleDown": {"stabilizationWindowSeconds": 3601}}},
                 "spec.behavior.scaleDown.stabilizationWindowSeconds", id="window"),
    pytest.param({"behavior": {"scaleUp": {"policies": []}}}, "spec.behavior.scaleUp.policies", id="no-policies"),
    pytest.param({"behavior": {"scaleUp": {"policies": [{"type": "Pods", "value": 0, "periodSeconds": 15}]}}},
                 "spec.behavior.scaleUp.policies[0].value", id="policy-value"),
    pytest.param({"behavior": {"scaleUp": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 1801}]}}},
                 "spec.behavior.scaleUp.policies[0].periodSeconds", id="policy-period"),
])
def test_hpa_validation_rejects(spec: Obj, field: str) -> None:
    """Invalid metrics and behaviors are refused with the field named."""
    obj = copy.deepcopy(BASE)
    obj["spec"].update(spec)
    if "behavior" in spec:  # what reaches validation is defaulted, except where the case says otherwise
        for direction, rules in spec["behavior"].items():
            rules.setdefault("policies", [{"type": "Pods", "value": 1, "periodSeconds": 15}])
    assert field in [f for f, _ in problems(obj)]
