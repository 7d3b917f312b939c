"""Workflow and WorkflowRun (`minik8s.io/v1`): the ASL definition checked (422 naming state and field),
defaults, the run's JSON input, an immutable run spec."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from minik8s.api import objects
from minik8s.api.errors import InvalidError
from minik8s.api.kinds import resolve
from minik8s.api.validation import validate

WORKFLOW = {"apiVersion": "minik8s.io/v1", "kind": "Workflow", "metadata": {"name": "w", "namespace": "default"},
            "spec": {"definition": {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}}}
STAMP = {"now": "2024-03-01T11:55:00Z", "uid": "u1", "name_suffix": "abcde"}
RUN = {"apiVersion": "minik8s.io/v1", "kind": "WorkflowRun", "metadata": {"name": "w-1", "namespace": "default"},
       "spec": {"workflowRef": {"name": "w"}, "input": '{"n": 1}'}}


def causes(kind: str, obj: Any, old: Any = None) -> list[tuple[str, str]]:
    try:
        validate(resolve(kind), obj, old=old)
    except InvalidError as err:
        return [(c["field"], c["message"]) for c in err.causes]
    return []


def test_a_workflow_gets_its_step_limit_and_passes() -> None:
    made = objects.prepare_create(resolve("workflows"), copy.deepcopy(WORKFLOW), namespace="default", **STAMP)
    assert made["spec"]["maxSteps"] == 1000
    assert causes("Workflow", made) == []


@pytest.mark.parametrize(("definition", "field", "message"), [
    ({"StartAt": "A", "States": {"A": {"Type": "Pass", "Next": "B"}}}, "spec.definition.States.A.Next",
     'state "B" does not exist'),
    ({"StartAt": "A", "States": {"A": {"Type": "Dance", "End": True}}}, "spec.definition.States.A.Type", ""),
    ({"States": {"A": {"Type": "Pass", "End": True}}}, "spec.definition.StartAt", ""),
    ({"StartAt": "A", "States": {"A": {"Type": "Task", "Resource": "arn:aws:lambda:x", "End": True}}},
     "spec.definition.States.A.Resource", ""),
])
def test_a_bad_definition_is_422_naming_the_state_and_field(definition: dict[str, Any], field: str,
                                                            message: str) -> None:
    obj = copy.deepcopy(WORKFLOW)
    obj["spec"]["definition"] = definition
    found = causes("Workflow", obj)
    assert any(f == field and message in m for f, m in found), found


def test_a_missing_definition_and_a_bad_step_limit() -> None:
    obj = copy.deepcopy(WORKFLOW)
    del obj["spec"]["definition"]
    obj["spec"]["maxSteps"] = 0
    assert {f for f, _ in causes("Workflow", obj)} == {"spec.definition", "spec.maxSteps"}


def test_a_run_defaults_its_input_and_starts_pending() -> None:
    obj = copy.deepcopy(RUN)
    del obj["spec"]["input"]
    made = objects.prepare_create(resolve("workflowruns"), obj, namespace="default", **STAMP)
    assert made["spec"]["input"] == "{}" and made["status"] == {"phase": "Pending"}
    assert causes("WorkflowRun", made) == []


@pytest.mark.parametrize(("text", "message"), [
    ("{not json", "must be a JSON document"),
    ('{"x": NaN}', "NaN is not valid JSON"),
])
def test_a_run_input_must_be_json(text: str, message: str) -> None:
    obj = copy.deepcopy(RUN)
    obj["spec"]["input"] = text
    [(field, found)] = causes("WorkflowRun", obj)
    assert field == "spec.input" and message in found


def test_a_run_input_is_bounded_and_its_spec_immutable() -> None:
    big = copy.deepcopy(RUN)
    big["spec"]["input"] = '"' + "x" * (256 * 1024) + '"'
    assert [f for f, _ in causes("WorkflowRun", big)] == ["spec.input"]
    changed = copy.deepcopy(RUN)
    changed["spec"]["workflowRef"]["name"] = "other"
    assert [f for f, _ in causes("WorkflowRun", changed, old=RUN)] == ["spec"]
