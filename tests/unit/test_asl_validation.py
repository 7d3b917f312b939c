"""Unit tests of Amazon States Language static validation (`minik8s.api.asl`) and its path grammar
(`minik8s.api.aslpath`): every invalid definition names the field and says what is wrong."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from minik8s.api.asl import MAX_PROBLEMS, parse_resource, parse_timestamp, validate_definition
from minik8s.api.aslpath import (Intrinsic, Literal, PathMissingError, PathSyntaxError, parse_intrinsic,
                                 parse_path, parse_reference_path, put, select)

Obj = dict[str, Any]
F = "spec.definition"


def machine(start: str = "A", **states: Obj) -> Obj:
    """A definition whose States are the keyword arguments."""
    return {"StartAt": start, "States": states}


def task(**fields: Any) -> Obj:
    """A Task state on function `f` that ends, with `fields` on top."""
    return {"Type": "Task", "Resource": "function:f", "End": True, **fields}


def choice(*rules: Obj, **fields: Any) -> Obj:
    """A Choice state with `rules`."""
    return {"Type": "Choice", "Choices": list(rules), **fields}


END = {"Type": "Succeed"}

FULL: Obj = {
    "Comment": "every state type", "Version": "1.0", "TimeoutSeconds": 300, "StartAt": "Prepare",
    "States": {
        "Prepare": {"Type": "Pass", "Result": {"n": 3}, "ResultPath": "$.config", "Next": "Work"},
        "Work": {"Type": "Task", "Resource": "function:other-ns/resize", "TimeoutSeconds": 30,
                 "HeartbeatSeconds": 10, "InputPath": "$.image", "ResultSelector": {"size.$": "$.size"},
                 "ResultPath": "$.result", "OutputPath": "$",
                 "Parameters": {"url.$": "$.url", "label.$": "States.Format('img-{}', $.id)",
                                "run.$": "$$.Execution.Id"},
                 "Retry": [{"ErrorEquals": ["States.Timeout"], "IntervalSeconds": 2, "MaxAttempts": 5,
                            "BackoffRate": 1.5, "MaxDelaySeconds": 10, "JitterStrategy": "FULL"},
                           {"ErrorEquals": ["States.ALL"]}],
                 "Catch": [{"ErrorEquals": ["ValueError"], "ResultPath": "$.error", "Next": "Broken"},
                           {"ErrorEquals": ["States.ALL"], "ResultPath": None, "Next": "Broken"}],
                 "Next": "Route"},
        "Route": {"Type": "Choice", "Choices": [
            {"And": [{"Variable": "$.result.size", "NumericGreaterThan": 10},
                     {"Not": {"Variable": "$.kind", "StringMatches": "*.png"}}], "Next": "Fan"},
            {"Or": [{"Variable": "$.when", "TimestampLessThan": "2026-01-01T00:00:00Z"},
                    {"Variable": "$.when", "IsPresent": False}], "Next": "Sleep"},
            {"Variable": "$.a", "NumericEqualsPath": "$.b", "Next": "Items"}],
            "Default": "Done"},
        "Sleep": {"Type": "Wait", "SecondsPath": "$.delay", "Next": "Done"},
        "Fan": {"Type": "Parallel", "Branches": [
            {"StartAt": "B1", "States": {"B1": {"Type": "Pass", "End": True}}},
            {"StartAt": "B2", "States": {"B2": {"Type": "Wait", "Seconds": 1, "End": True}}}],
            "ResultSelector": {"first.$": "$[0]"}, "Next": "Done"},
        "Items": {"Type": "Map", "ItemsPath": "$.items", "MaxConcurrency": 2,
                  "ItemSelector": {"value.$": "$$.Map.Item.Value", "index.$": "$$.Map.Item.Index"},
                  "ItemProcessor": {"ProcessorConfig": {"Mode": "INLINE"}, "StartAt": "Each",
                                    "States": {"Each": {"Type": "Task", "Resource": "function:each", "End": True}}},
                  "Next": "Done"},
        "Broken": {"Type": "Fail", "ErrorPath": "$.error.Error", "Cause": "resize failed"},
        "Done": {"Type": "Succeed", "OutputPath": "$.result"},
    },
}


@pytest.mark.parametrize("definition", [
    pytest.param(FULL, id="every-state-type"),
    pytest.param(machine(A=task()), id="one-task"),
    pytest.param(machine(A={"Type": "Pass", "Next": "B"}, B={"Type": "Choice", "Choices": [
        {"Variable": "$.n", "NumericLessThan": 3, "Next": "A"}], "Default": "C"}, C=END), id="loop"),
    pytest.param(machine(A={"Type": "Map", "Iterator": {"StartAt": "X", "States": {"X": {"Type": "Pass", "End": True}}},
                            "Parameters": {"v.$": "$$.Map.Item.Value"}, "End": True}), id="legacy-map"),
    pytest.param(machine(A={"Type": "Wait", "Timestamp": "2026-03-01T12:00:00.250+02:00", "End": True}),
                 id="wait-timestamp-offset"),
    pytest.param(machine(A={"Type": "Pass", "InputPath": None, "OutputPath": None, "ResultPath": None, "End": True}),
                 id="null-paths"),
    pytest.param(machine(A={"Type": "Fail", "ErrorPath": "States.Format('E{}', $.n)", "CausePath": "$.c"}),
                 id="fail-paths"),
    pytest.param(machine(A=task(Parameters={"a.$": "States.Array(1, 'two', $.x, States.StringToJson('{}'))",
                                            "b": [{"c.$": "$..d"}], "e.$": "$.list[1:3]", "f.$": "$['odd key'][-1]"})),
                 id="templates"),
])
def test_asl_valid_definitions_have_no_problems(definition: Obj) -> None:
    """Valid definitions (every state type, loops, legacy Map, null paths, intrinsics) pass."""
    assert validate_definition(copy.deepcopy(definition)) == []


INVALID = [
    pytest.param([1], F, "must be an object", id="not-an-object"),
    pytest.param({"States": {"A": END}}, f"{F}.StartAt", "required", id="no-start-at"),
    pytest.param({"StartAt": "A"}, f"{F}.States", "required", id="no-states"),
    pytest.param(machine("B", A=END), f"{F}.StartAt", 'state "B" does not exist', id="start-at-missing"),
    pytest.param({**machine(A=END), "Foo": 1}, f"{F}.Foo", 'unknown field "Foo" in a state machine', id="top-unknown"),
    pytest.param({**machine(A=END), "TimeoutSeconds": 0}, f"{F}.TimeoutSeconds", "between 1", id="top-timeout"),
    pytest.param({**machine(A=END), "QueryLanguage": "JSONata"}, f"{F}.QueryLanguage", "JSONPath", id="jsonata"),
    pytest.param(machine(A={"Type": "Sleep"}), f"{F}.States.A.Type", "one of Pass, Task", id="unknown-type"),
    pytest.param(machine(A={"Type": "Pass", "End": True, "Foo": 1}), f"{F}.States.A.Foo",
                 'unknown field "Foo" in a Pass state', id="unknown-field"),
    pytest.param(machine(A={"Type": "Succeed", "Next": "A"}), f"{F}.States.A.Next",
                 'field "Next" is not allowed in a Succeed state', id="succeed-next"),
    pytest.param(machine(A={"Type": "Fail", "InputPath": "$"}), f"{F}.States.A.InputPath",
                 "not allowed in a Fail state", id="fail-input-path"),
    pytest.param(machine(A={"Type": "Pass", "ResultSelector": {}, "End": True}), f"{F}.States.A.ResultSelector",
                 "not allowed in a Pass state", id="pass-result-selector"),
    pytest.param(machine(A={"Type": "Pass", "Retry": [], "End": True}), f"{F}.States.A.Retry",
                 "not allowed in a Pass state", id="pass-retry"),
    pytest.param(machine(A={"Type": "Pass"}), f"{F}.States.A", 'needs "Next" or "End": true', id="no-next"),
    pytest.param(machine(A={"Type": "Pass", "Next": "B", "End": True}, B=END), f"{F}.States.A",
                 'both "Next" and "End"', id="next-and-end"),
    pytest.param(machine(A={"Type": "Pass", "End": "yes"}), f"{F}.States.A.End", "boolean", id="end-not-bool"),
    pytest.param(machine(A={"Type": "Pass", "Next": "Nope"}, B=END), f"{F}.States.A.Next",
                 'state "Nope" does not exist', id="next-missing"),
    pytest.param(machine("Choose", Choose=choice({"Variable": "$.x", "StringEquals": "a", "Next": "Missing"},
                                                 Default="Done"), Done=END),
                 f"{F}.States.Choose.Choices[0].Next", 'state "Missing" does not exist', id="choice-next-missing"),
    pytest.param(machine(A=choice({"Variable": "$.x", "IsNull": True, "Next": "B"}, Default="Z"), B=END),
                 f"{F}.States.A.Default", 'state "Z" does not exist', id="default-missing"),
    pytest.param(machine(A=choice({"Variable": "$.x", "IsNull": True, "Next": "B"}, Next="B"), B=END),
                 f"{F}.States.A.Next", "not allowed in a Choice state", id="choice-next"),
    pytest.param(machine(A=choice(), B=END), f"{F}.States.A.Choices", "at least one choice rule", id="no-choices"),
    pytest.param(machine(A=choice({"Variable": "$.x", "IsNull": True}, Default="B"), B=END),
                 f"{F}.States.A.Choices[0].Next", "required", id="rule-without-next"),
    pytest.param(machine(A=choice({"Variable": "$.x", "Next": "B"}), B=END), f"{F}.States.A.Choices[0]",
                 "needs a comparison operator", id="rule-without-operator"),
    pytest.param(machine(A=choice({"Variable": "$.x", "IsNull": True, "IsString": True, "Next": "B"}), B=END),
                 f"{F}.States.A.Choices[0]", "more than one comparison operator: IsNull, IsString", id="two-operators"),
    pytest.param(machine(A=choice({"StringEquals": "a", "Next": "B"}), B=END), f"{F}.States.A.Choices[0].Variable",
                 "required", id="rule-without-variable"),
    pytest.param(machine(A=choice({"Variable": "$.x", "NumericEquals": "1", "Next": "B"}), B=END),
                 f"{F}.States.A.Choices[0].NumericEquals", "must be a number", id="numeric-operand"),
    pytest.param(machine(A=choice({"Variable": "$.x", "BooleanEquals": 1, "Next": "B"}), B=END),
                 f"{F}.States.A.Choices[0].BooleanEquals", "true or false", id="boolean-operand"),
    pytest.param(machine(A=choice({"Variable": "$.x", "TimestampEquals": "2026-01-01t00:00:00z", "Next": "B"}), B=END),
                 f"{F}.States.A.Choices[0].TimestampEquals", "RFC 3339", id="timestamp-operand"),
    pytest.param(machine(A=choice({"Variable": "$.x", "StringEqualsPath": "x", "Next": "B"}), B=END),
                 f"{F}.States.A.Choices[0].StringEqualsPath", 'starting with "$"', id="path-operand"),
    pytest.param(machine(A=choice({"Variable": "$.x", "StringMatchesPath": "$.y", "Next": "B"}), B=END),
                 f"{F}.States.A.Choices[0].StringMatchesPath", "unknown field", id="no-string-matches-path"),
    pytest.param(machine(A=choice({"Not": {"Variable": "$.x", "IsNull": True, "Next": "B"}, "Next": "B"}), B=END),
                 f"{F}.States.A.Choices[0].Not.Next", "only a top-level choice rule", id="nested-next"),
    pytest.param(machine(A=choice({"And": [], "Next": "B"}), B=END), f"{F}.States.A.Choices[0].And",
                 "non-empty array", id="empty-and"),
    pytest.param(machine(A=choice({"And": [{"Variable": "$.x", "IsNull": True}], "Or": [], "Next": "B"}), B=END),
                 f"{F}.States.A.Choices[0]", "more than one of And, Or", id="and-or"),
    pytest.param(machine(A=choice({"Or": [{"And": [{"Variable": "$.x"}]}], "Next": "B"}), B=END),
                 f"{F}.States.A.Choices[0].Or[0].And[0]", "needs a comparison operator", id="deep-rule"),
    pytest.param(machine(A={"Type": "Pass", "End": True}, B=END), f"{F}.States.B", "not reachable", id="unreachable"),
    pytest.param(machine(A={"Type": "Pass", "Next": "B"}, B={"Type": "Pass", "Next": "A"}), f"{F}.States",
                 "no terminal state", id="no-terminal"),
    pytest.param(machine(A={"Type": "Parallel", "End": True, "Branches": [
        {"StartAt": "A", "States": {"A": END}}]}), f"{F}.States.A.Branches[0].States.A",
                 'state name "A" is already used at spec.definition.States.A', id="duplicate-name"),
    pytest.param(machine(A={"Type": "Parallel", "Next": "C", "Branches": [
        {"StartAt": "B", "States": {"B": {"Type": "Pass", "Next": "C"}}}]}, C=END),
                 f"{F}.States.A.Branches[0].States.B.Next", 'state "C" does not exist', id="branch-scope"),
    pytest.param(machine(A={"Type": "Parallel", "End": True, "Branches": []}), f"{F}.States.A.Branches",
                 "at least one branch", id="no-branches"),
    pytest.param(machine(A={"Type": "Parallel", "End": True, "Branches": [
        {"StartAt": "B", "States": {"B": END}, "Version": "1"}]}), f"{F}.States.A.Branches[0].Version",
                 "unknown field", id="branch-field"),
    pytest.param(machine(A=task(Retry=[{"ErrorEquals": []}])), f"{F}.States.A.Retry[0].ErrorEquals",
                 "non-empty array", id="retry-empty-errors"),
    pytest.param(machine(A=task(Retry=[{"IntervalSeconds": 1}])), f"{F}.States.A.Retry[0].ErrorEquals",
                 "required", id="retry-no-errors"),
    pytest.param(machine(A=task(Retry=[{"ErrorEquals": ["States.ALL", "X"]}])), f"{F}.States.A.Retry[0].ErrorEquals",
                 '"States.ALL" must be the only', id="all-not-alone"),
    pytest.param(machine(A=task(Retry=[{"ErrorEquals": ["States.ALL"]}, {"ErrorEquals": ["X"]}])),
                 f"{F}.States.A.Retry[0].ErrorEquals", 'retrier with "States.ALL" must be the last', id="all-not-last"),
    pytest.param(machine(A=task(Catch=[{"ErrorEquals": ["States.ALL"], "Next": "B"},
                                       {"ErrorEquals": ["X"], "Next": "B"}]), B=END),
                 f"{F}.States.A.Catch[0].ErrorEquals", 'catcher with "States.ALL" must be the last',
                 id="catch-all-last"),
    pytest.param(machine(A=task(Retry=[{"ErrorEquals": ["States.Oops"]}])), f"{F}.States.A.Retry[0].ErrorEquals[0]",
                 'unknown error name "States.Oops"', id="unknown-states-error"),
    pytest.param(machine(A=task(Retry=[{"ErrorEquals": ["X"], "IntervalSeconds": 0}])),
                 f"{F}.States.A.Retry[0].IntervalSeconds", "between 1", id="interval-zero"),
    pytest.param(machine(A=task(Retry=[{"ErrorEquals": ["X"], "IntervalSeconds": 1.5}])),
                 f"{F}.States.A.Retry[0].IntervalSeconds", "must be an integer", id="interval-float"),
    pytest.param(machine(A=task(Retry=[{"ErrorEquals": ["X"], "MaxAttempts": -1}])),
                 f"{F}.States.A.Retry[0].MaxAttempts", "between 0", id="attempts-negative"),
    pytest.param(machine(A=task(Retry=[{"ErrorEquals": ["X"], "BackoffRate": 0.5}])),
                 f"{F}.States.A.Retry[0].BackoffRate", "at least 1.0", id="backoff-small"),
    pytest.param(machine(A=task(Retry=[{"ErrorEquals": ["X"], "BackoffRate": True}])),
                 f"{F}.States.A.Retry[0].BackoffRate", "at least 1.0", id="backoff-bool"),
    pytest.param(machine(A=task(Retry=[{"ErrorEquals": ["X"], "MaxDelaySeconds": 0}])),
                 f"{F}.States.A.Retry[0].MaxDelaySeconds", "between 1", id="max-delay-zero"),
    pytest.param(machine(A=task(Retry=[{"ErrorEquals": ["X"], "JitterStrategy": "HALF"}])),
                 f"{F}.States.A.Retry[0].JitterStrategy", '"FULL" or "NONE"', id="jitter"),
    pytest.param(machine(A=task(Retry=[{"ErrorEquals": ["X"], "Backoff": 2}])), f"{F}.States.A.Retry[0].Backoff",
                 'unknown field "Backoff" in a retrier', id="retrier-field"),
    pytest.param(machine(A=task(Retry={"ErrorEquals": ["X"]})), f"{F}.States.A.Retry", "array of retriers",
                 id="retry-not-array"),
    pytest.param(machine(A=task(Catch=[{"ErrorEquals": ["X"]}])), f"{F}.States.A.Catch[0].Next", "required",
                 id="catch-no-next"),
    pytest.param(machine(A=task(Catch=[{"ErrorEquals": ["X"], "Next": "Gone"}])), f"{F}.States.A.Catch[0].Next",
                 'state "Gone" does not exist', id="catch-next-missing"),
    pytest.param(machine(A=task(Catch=[{"ErrorEquals": ["X"], "Next": "B", "ResultPath": "$.a[*]"}]), B=END),
                 f"{F}.States.A.Catch[0].ResultPath", "reference path", id="catch-result-path"),
    pytest.param(machine(A={"Type": "Wait", "End": True}), f"{F}.States.A", "needs one of Seconds, SecondsPath",
                 id="wait-none"),
    pytest.param(machine(A={"Type": "Wait", "Seconds": 1, "SecondsPath": "$.s", "End": True}), f"{F}.States.A",
                 "more than one of Seconds, SecondsPath", id="wait-two"),
    pytest.param(machine(A={"Type": "Wait", "Seconds": -1, "End": True}), f"{F}.States.A.Seconds", "between 0",
                 id="wait-negative"),
    pytest.param(machine(A={"Type": "Wait", "Timestamp": "2026-01-01 00:00:00Z", "End": True}),
                 f"{F}.States.A.Timestamp", "RFC 3339", id="wait-timestamp"),
    pytest.param(machine(A={"Type": "Wait", "SecondsPath": "$.a..b", "End": True}), f"{F}.States.A.SecondsPath",
                 "reference path", id="wait-seconds-path"),
    pytest.param(machine(A={"Type": "Fail", "Error": "E", "ErrorPath": "$.e"}), f"{F}.States.A",
                 "more than one of Error, ErrorPath", id="fail-error-twice"),
    pytest.param(machine(A={"Type": "Fail", "Cause": 3}), f"{F}.States.A.Cause", "must be a string", id="fail-cause"),
    pytest.param(machine(A={"Type": "Task", "End": True}), f"{F}.States.A.Resource", "required", id="no-resource"),
    pytest.param(machine(A=task(Resource="arn:aws:lambda:us-east-1:1:function:f")), f"{F}.States.A.Resource",
                 'must be "function:<name>"', id="arn-resource"),
    pytest.param(machine(A=task(Resource="function:Resize")), f"{F}.States.A.Resource", "lowercase",
                 id="resource-case"),
    pytest.param(machine(A=task(Resource="function:a/b/c")), f"{F}.States.A.Resource", 'must be "function:',
                 id="resource-slashes"),
    pytest.param(machine(A=task(TimeoutSeconds=0)), f"{F}.States.A.TimeoutSeconds", "between 1", id="timeout-zero"),
    pytest.param(machine(A=task(TimeoutSeconds=5, HeartbeatSeconds=5)), f"{F}.States.A.HeartbeatSeconds",
                 "smaller than TimeoutSeconds", id="heartbeat"),
    pytest.param(machine(A=task(TimeoutSeconds=5, TimeoutSecondsPath="$.t")), f"{F}.States.A",
                 "more than one of TimeoutSeconds, TimeoutSecondsPath", id="timeout-twice"),
    pytest.param(machine(A=task(Credentials={})), f"{F}.States.A.Credentials", "not supported", id="credentials"),
    pytest.param(machine(A=task(InputPath="input")), f"{F}.States.A.InputPath", 'starting with "$"',
                 id="input-path-dollar"),
    pytest.param(machine(A=task(OutputPath="$.a[?(@.b)]")), f"{F}.States.A.OutputPath", "filter",
                 id="output-path-filter"),
    pytest.param(machine(A=task(InputPath="$.a[0,1]")), f"{F}.States.A.InputPath", "unions are not supported",
                 id="union"),
    pytest.param(machine(A=task(InputPath="$$.Execution.Input")), f"{F}.States.A.InputPath", "context object",
                 id="input-path-context"),
    pytest.param(machine(A=task(ResultPath="$.items[*]")), f"{F}.States.A.ResultPath", "reference path",
                 id="result-path-wildcard"),
    pytest.param(machine(A=task(ResultPath="$$.Execution")), f"{F}.States.A.ResultPath", "reference path",
                 id="result-path-context"),
    pytest.param(machine(A=task(Parameters={"a.$": "x"})), f"{F}.States.A.Parameters['a.$']",
                 "must be a path", id="template-not-path"),
    pytest.param(machine(A=task(Parameters={"a.$": 3})), f"{F}.States.A.Parameters['a.$']", "must be a path",
                 id="template-number"),
    pytest.param(machine(A=task(Parameters={"b": {"a.$": "States.Nope($.x)"}})), "Parameters.b['a.$']",
                 'unknown intrinsic function "States.Nope"', id="unknown-intrinsic"),
    pytest.param(machine(A=task(Parameters={"a.$": "States.Format('x', $.y"})), "Parameters['a.$']",
                 "expected", id="intrinsic-syntax"),
    pytest.param(machine(A=task(Parameters=[1])), f"{F}.States.A.Parameters", "must be an object", id="params-array"),
    pytest.param(machine(A={"Type": "Map", "End": True}), f"{F}.States.A", "needs one of ItemProcessor, Iterator",
                 id="map-no-processor"),
    pytest.param(machine(A={"Type": "Map", "End": True, "ItemProcessor": {"StartAt": "X", "States": {"X": END}},
                            "Iterator": {"StartAt": "Y", "States": {"Y": END}}}), f"{F}.States.A",
                 "more than one of ItemProcessor, Iterator", id="map-two-processors"),
    pytest.param(machine(A={"Type": "Map", "End": True, "MaxConcurrency": -1,
                            "ItemProcessor": {"StartAt": "X", "States": {"X": END}}}),
                 f"{F}.States.A.MaxConcurrency", "between 0", id="map-concurrency"),
    pytest.param(machine(A={"Type": "Map", "End": True, "ItemReader": {},
                            "ItemProcessor": {"StartAt": "X", "States": {"X": END}}}),
                 f"{F}.States.A.ItemReader", "distributed Map is not supported", id="item-reader"),
    pytest.param(machine(A={"Type": "Map", "End": True, "ItemProcessor": {
        "StartAt": "X", "States": {"X": END}, "ProcessorConfig": {"Mode": "DISTRIBUTED"}}}),
                 f"{F}.States.A.ItemProcessor.ProcessorConfig.Mode", '"INLINE"', id="distributed"),
    pytest.param(machine(A={"Type": "Map", "End": True, "ItemProcessor": {
        "StartAt": "X", "States": {"X": {"Type": "Pass", "Next": "Y"}}}}),
                 f"{F}.States.A.ItemProcessor.States.X.Next", 'state "Y" does not exist', id="item-scope"),
    pytest.param(machine(A={"Type": "Map", "End": True, "ItemSelector": {}, "Parameters": {},
                            "ItemProcessor": {"StartAt": "X", "States": {"X": END}}}),
                 f"{F}.States.A", "more than one of ItemSelector, Parameters", id="map-two-selectors"),
    pytest.param(machine(A={"Type": "Pass", "Result": {"x": float("nan")}, "End": True}), f"{F}.States.A.Result.x",
                 "finite", id="nan"),
    pytest.param(machine(A=choice({"Variable": "$.x", "NumericLessThan": float("inf"), "Next": "B"}), B=END),
                 f"{F}.States.A.Choices[0].NumericLessThan", "finite", id="infinity"),
    pytest.param(machine(A={"Type": "Pass", "Result": {1: "x"}, "End": True}), f"{F}.States.A.Result",
                 "key that is not a string", id="non-string-key"),
    pytest.param(machine(A={"Type": "Pass", "Result": {"x": {1, 2}}, "End": True}), f"{F}.States.A.Result.x",
                 "must be JSON", id="not-json"),
    pytest.param(machine(**{"A": {"Type": "Pass", "Next": "my state"}, "my state": {"Type": "Pass", "End": 1}}),
                 f"{F}.States['my state'].End", "boolean", id="quoted-state-name"),
]


@pytest.mark.parametrize(("definition", "field", "message"), INVALID)
def test_asl_invalid_definition_names_field_and_problem(definition: Any, field: str, message: str) -> None:
    """Each invalid definition yields a problem at the named field (path fragment) with the message fragment."""
    problems = validate_definition(definition)
    assert any(field in path and message in text for path, text in problems), problems


def test_asl_validation_bounds_depth() -> None:
    """A hostile definition nested thousands deep is refused with one problem, without recursing into it."""
    deep: Any = "leaf"
    for _ in range(5000):
        deep = {"x": deep}
    problems = validate_definition(machine(A={"Type": "Pass", "Result": deep, "End": True}))
    assert len(problems) == 1 and "nested more than 64 levels deep" in problems[0][1]


def test_asl_validation_bounds_problem_count() -> None:
    """A definition with hundreds of mistakes reports MAX_PROBLEMS of them and says it stopped."""
    states = {f"S{i}": {"Type": "Pass", "Foo": i} for i in range(300)}
    problems = validate_definition({"StartAt": "S0", "States": states})
    assert len(problems) == MAX_PROBLEMS + 1
    assert "only the first 50" in problems[-1][1]


def test_asl_validation_every_problem_is_reported() -> None:
    """Several independent mistakes are all reported, each at its own field."""
    problems = validate_definition(machine(A=task(TimeoutSeconds=0, Retry=[{"ErrorEquals": ["X"], "MaxAttempts": -1}],
                                                  InputPath="bad")))
    assert {path for path, _ in problems} == {
        f"{F}.States.A.TimeoutSeconds", f"{F}.States.A.Retry[0].MaxAttempts", f"{F}.States.A.InputPath"}


def test_asl_validation_custom_field_prefix() -> None:
    """The field prefix is the caller's (e.g. a WorkflowRun's inline definition)."""
    assert validate_definition(machine("X", A=END), field="spec.workflow") == [
        ("spec.workflow.StartAt", 'state "X" does not exist')]


@pytest.mark.parametrize(("resource", "expected"), [
    pytest.param("function:resize", (None, "resize"), id="name"),
    pytest.param("function:media/resize", ("media", "resize"), id="namespace"),
    pytest.param("function:", None, id="empty"),
    pytest.param("lambda:resize", None, id="other-kind"),
    pytest.param("function:-bad", None, id="bad-label"),
])
def test_asl_parse_resource(resource: str, expected: Any) -> None:
    """Task resources are Functions, optionally in another namespace."""
    assert parse_resource(resource) == expected


@pytest.mark.parametrize(("text", "valid"), [
    ("2026-01-31T12:00:00Z", True), ("2026-01-31T12:00:00.123456789Z", True), ("2026-01-31T12:00:00+05:30", True),
    ("2026-01-31t12:00:00z", False), ("2026-01-31T12:00:00", False), ("2026-02-30T12:00:00Z", False), (20260131, False),
])
def test_asl_parse_timestamp(text: Any, valid: bool) -> None:
    """RFC 3339 with uppercase T and a zone; impossible dates and missing zones are not timestamps."""
    assert (parse_timestamp(text) is not None) is valid


def test_asl_paths_select_definite_and_indefinite() -> None:
    """Definite paths select one value; wildcards, slices and `..` select a list of matches."""
    data = {"a": [{"b": 1}, {"b": 2}, {"c": {"b": 3}}], "odd key": {"x.y": True}}
    assert select(parse_path("$.a[1].b"), data) == 2
    assert select(parse_path("$.a[-1].c.b"), data) == 3
    assert select(parse_path("$['odd key']['x.y']"), data) is True
    assert select(parse_path("$.a[*].b"), data) == [1, 2]
    assert select(parse_path("$..b"), data) == [1, 2, 3]
    assert select(parse_path("$.a[0:2]"), data) == [{"b": 1}, {"b": 2}]
    assert select(parse_path("$$.Execution.Id"), data, {"Execution": {"Id": "r"}}) == "r"
    with pytest.raises(PathMissingError):
        select(parse_path("$.a[5]"), data)


def test_asl_paths_put_is_copy_on_write() -> None:
    """A reference path writes into a copy, creating missing objects, and refuses to go through a non-object."""
    data = {"a": {"keep": 1}, "list": [0, {}]}
    assert put(parse_reference_path("$.a.b.c"), data, 5) == {"a": {"keep": 1, "b": {"c": 5}}, "list": [0, {}]}
    assert put(parse_reference_path("$.list[1].x"), data, 1)["list"] == [0, {"x": 1}]
    assert data == {"a": {"keep": 1}, "list": [0, {}]}
    with pytest.raises(PathMissingError):
        put(parse_reference_path("$.a.keep.x"), data, 1)
    with pytest.raises(PathSyntaxError):
        parse_reference_path("$.list[-1]")


def test_asl_intrinsic_grammar() -> None:
    """Intrinsic calls nest and take string, number, boolean, null and path arguments; escapes are kept raw."""
    call = parse_intrinsic(r"States.Format('a \{} {}', $.x['y,z'], States.Array(1, -2.5, true, null))")
    assert call.name == "States.Format"
    assert call.args[0] == Literal("a {} {}", r"a \{} {}")
    assert call.args[1] == parse_path("$.x['y,z']")
    assert call.args[2] == Intrinsic("States.Array", (Literal(1), Literal(-2.5), Literal(True), Literal(None)))
    with pytest.raises(PathSyntaxError):
        parse_intrinsic("States.Format('x') extra")
