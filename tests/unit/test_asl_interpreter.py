"""Conformance tests of the ASL interpreter (`minik8s.serverless.asl`): definitions run to the end by a
small driver with scripted Task outcomes and a fake clock; the run state goes through JSON after every
step, as the workflow runner commits it to the store."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass, field
from typing import Any, Callable

import pytest

from minik8s.serverless.asl import (FAILED, STEP_LIMIT_EXCEEDED, SUCCEEDED, InvalidDefinitionError, RunState,
                                    backoff, complete_call, pending_calls, start, step)
from minik8s.serverless.aslchoice import rule_matches

Obj = dict[str, Any]
T0 = 1767225600.0  # 2026-01-01T00:00:00Z
STRING_JSON = "{\"a\":[1,2]}"


def fail(error: str, cause: str | None = None) -> Obj:
    """A scripted Task outcome: the function raised `error`."""
    return {"__error__": error, "cause": cause}


@dataclass
class Trace:
    """What a run did: its end, every Task call (in the order handed out), every wait, the peak concurrency."""

    status: str = ""
    output: Any = None
    error: str | None = None
    cause: str | None = None
    calls: list[tuple[str, Any]] = field(default_factory=list)
    call_ids: list[str] = field(default_factory=list)
    waits: list[float] = field(default_factory=list)
    most_concurrent: int = 0
    steps: int = 0
    rounds: int = 0
    events: list[str] = field(default_factory=list)


Outcomes = dict[str, list[Any] | Callable[[Any], Any]]


class Driver:
    """A fake workflow runner: steps the run, answers calls from a script, moves a fake clock.

    Answers are cached by call id (as the node router's result cache does), so a call sent again
    after a crash gets the first answer and the scripted function does not run twice.
    """

    def __init__(self, definition: Obj, outcomes: Outcomes | None = None) -> None:
        self.definition = definition
        self.outcomes = outcomes or {}
        self.counts: dict[str, int] = {}
        self.answers: dict[str, Any] = {}
        self.trace = Trace()
        self.clock = T0

    def outcome(self, function: str, parameters: Any) -> Any:
        """The scripted outcome of the next call of `function` (echo the parameters if unscripted)."""
        script = self.outcomes.get(function)
        count = self.counts.get(function, 0)
        self.counts[function] = count + 1
        if script is None:
            return parameters
        if callable(script):
            return script(parameters)
        return script[min(count, len(script) - 1)]

    def invoke(self, call: Any) -> None:
        """Run the call's function, once per call id (a repeat is answered from the cache)."""
        if call.id not in self.answers:
            name = f"{call.namespace}/{call.function}" if call.namespace else call.function
            self.trace.calls.append((name, call.parameters))
            self.trace.call_ids.append(call.id)
            self.answers[call.id] = self.outcome(name, call.parameters)

    def answer(self, run: RunState, call: Any) -> RunState:
        """Feed the call's outcome back."""
        result = self.answers[call.id]
        if isinstance(result, dict) and "__error__" in result:
            return complete_call(run, call.id, error=result["__error__"], cause=result["cause"])
        return complete_call(run, call.id, result=result)

    def run(self, run: RunState, *, crash_after: int | None = None, budget: int = 2000) -> RunState:
        """Drive `run` to its end; with `crash_after`, stop after that many steps (answers not fed)."""
        for count in range(budget):
            s = step(self.definition, run, now=self.clock)
            self.trace.rounds += 1
            run = reload(s.run)
            self.trace.events += [event["type"] for event in s.events]
            if s.done or count == crash_after:
                return run
            if s.calls:
                self.trace.most_concurrent = max(self.trace.most_concurrent, len(s.calls))
                for call in s.calls:
                    self.invoke(call)
                for call in reversed(s.calls):  # answers arrive in any order
                    run = reload(self.answer(run, call))
            elif s.wait_until is not None:
                self.trace.waits.append(round(s.wait_until - self.clock, 6))
                self.clock = s.wait_until
            else:
                raise AssertionError("the run is stuck: no calls, no timer, not done")
        raise AssertionError("the run did not end")

    def finish(self, run: RunState) -> Trace:
        """Record the run's end in the trace."""
        self.trace.status, self.trace.output = run.status, run.output
        self.trace.error, self.trace.cause, self.trace.steps = run.error, run.cause, run.steps
        return self.trace


def reload(run: RunState) -> RunState:
    """The run state as the store gives it back: through JSON text."""
    return RunState.from_json(json.loads(json.dumps(run.to_json(), allow_nan=False)))


def execute(definition: Obj, data: Any = None, outcomes: Outcomes | None = None, *, max_steps: int = 1000) -> Trace:
    """Run `definition` on `data` to its end."""
    driver = Driver(definition, outcomes)
    run = reload(start(definition, {} if data is None else data, run_id="run-1", now=T0, max_steps=max_steps,
                       name="run-1", state_machine="wf"))
    return driver.finish(driver.run(run))


def machine(start_at: str = "A", **states: Obj) -> Obj:
    """A definition whose States are the keyword arguments."""
    return {"StartAt": start_at, "States": states}


def task(resource: str = "f", **fields: Any) -> Obj:
    """A Task calling function `resource` that ends, with `fields` on top (`Next` replaces `End`)."""
    state = {"Type": "Task", "Resource": f"function:{resource}", "End": True, **fields}
    if "Next" in fields:
        del state["End"]
    return state


def pass_(**fields: Any) -> Obj:
    """A Pass state that ends, with `fields` on top (`Next` replaces `End`)."""
    state = {"Type": "Pass", "End": True, **fields}
    if "Next" in fields:
        del state["End"]
    return state


def branch(**states: Obj) -> Obj:
    """A sub-machine starting at its first state."""
    return {"StartAt": next(iter(states)), "States": states}


SUCCEED = {"Type": "Succeed"}
ALL = ["States.ALL"]


# Each case: definition, input, scripted outcomes, expected (any of: output, error, cause, calls, waits,
# most_concurrent, steps). `calls` lists (function, parameters) in the order handed out.
CASES = [
    # -- input and output processing --------------------------------------------------------------
    pytest.param(machine(A=pass_(Result={"x": 1}, ResultPath="$.r")), {"in": 1}, None,
                 {"output": {"in": 1, "r": {"x": 1}}}, id="pass-result-resultpath"),
    pytest.param(machine(A=pass_()), {"in": [1, 2]}, None, {"output": {"in": [1, 2]}}, id="pass-through"),
    pytest.param(machine(A=pass_(Parameters={"fixed": "k", "v.$": "$.a.b", "all.$": "$"})), {"a": {"b": 7}}, None,
                 {"output": {"fixed": "k", "v": 7, "all": {"a": {"b": 7}}}}, id="pass-parameters"),
    pytest.param(machine(A=pass_(InputPath="$.a", Result="r", ResultPath="$.res", OutputPath="$.res")),
                 {"a": {"b": 1}}, None, {"output": "r"}, id="result-into-raw-input-not-effective"),
    pytest.param(machine(A=pass_(InputPath="$.a", ResultPath="$.copy")), {"a": {"b": 1}, "z": 0}, None,
                 {"output": {"a": {"b": 1}, "z": 0, "copy": {"b": 1}}}, id="inputpath-then-resultpath"),
    pytest.param(machine(A=pass_(InputPath=None)), {"a": 1}, None, {"output": {}}, id="inputpath-null"),
    pytest.param(machine(A=pass_(OutputPath=None)), {"a": 1}, None, {"output": {}}, id="outputpath-null"),
    pytest.param(machine(A=task(ResultPath=None)), {"a": 1}, {"f": [{"big": "result"}]},
                 {"output": {"a": 1}, "calls": [("f", {"a": 1})]}, id="resultpath-null-discards"),
    pytest.param(machine(A=task(ResultPath="$.x.y[0].z")), {"x": {"y": [{}]}}, {"f": [3]},
                 {"output": {"x": {"y": [{"z": 3}]}}}, id="resultpath-nested"),
    pytest.param(machine(A=task(ResultPath="$.new.deep")), {"keep": True}, {"f": [3]},
                 {"output": {"keep": True, "new": {"deep": 3}}}, id="resultpath-creates-objects"),
    pytest.param(machine(A=task(ResultPath="$.s.x")), {"s": "text"}, {"f": [3]},
                 {"error": "States.ResultPathMatchFailure"}, id="resultpath-through-string"),
    pytest.param(machine(A=task(ResultSelector={"only.$": "$.x", "n": 1}, ResultPath="$.out", OutputPath="$.out")),
                 {}, {"f": [{"x": "X", "y": "Y"}]}, {"output": {"only": "X", "n": 1}}, id="resultselector"),
    pytest.param(machine(A=task(InputPath="$.missing", Catch=[{"ErrorEquals": ALL, "Next": "B"}]), B=SUCCEED),
                 {}, None, {"error": "States.Runtime", "calls": []}, id="inputpath-missing-is-runtime-uncatchable"),
    pytest.param(machine(A=task(Parameters={"v.$": "$.nope"},
                                Catch=[{"ErrorEquals": ["States.ParameterPathFailure"], "ResultPath": "$.err",
                                        "Next": "B"}]), B=SUCCEED),
                 {"k": 1}, None, {"output": {"k": 1, "err": {"Error": "States.ParameterPathFailure",
                                                             "Cause": "Invalid path '$.nope' for field 'v.$': no such "
                                                                      "value in the input"}}},
                 id="parameter-path-failure-caught"),
    pytest.param(machine(A=task(Parameters={"ids.$": "$.items[*].id", "first.$": "$.items[0]"})),
                 {"items": [{"id": 1}, {"id": 2}]}, None,
                 {"calls": [("f", {"ids": [1, 2], "first": {"id": 1}})]}, id="indefinite-path-selects-list"),
    pytest.param(machine(A=task(Parameters={"id.$": "$$.Execution.Id", "name.$": "$$.Execution.Name",
                                            "input.$": "$$.Execution.Input", "state.$": "$$.State.Name",
                                            "retry.$": "$$.State.RetryCount", "sm.$": "$$.StateMachine.Name",
                                            "start.$": "$$.Execution.StartTime"},
                                Retry=[{"ErrorEquals": ["E"]}])), {"q": 1}, {"f": [fail("E"), "ok"]},
                 {"output": "ok", "calls": [
                     ("f", {"id": "run-1", "name": "run-1", "input": {"q": 1}, "state": "A", "retry": 0, "sm": "wf",
                            "start": "2026-01-01T00:00:00.000Z"}),
                     ("f", {"id": "run-1", "name": "run-1", "input": {"q": 1}, "state": "A", "retry": 1, "sm": "wf",
                            "start": "2026-01-01T00:00:00.000Z"})]}, id="context-object"),
    pytest.param(machine(A=pass_(Parameters={
        "fmt.$": r"States.Format('Hello {} \{literal\} {}', $.name, $.n)",
        "parsed.$": "States.StringToJson($.s)", "text.$": "States.JsonToString($.o)",
        "arr.$": "States.Array(1, 'two', $.n, null)", "sum.$": "States.MathAdd($.n, -1)",
        "len.$": "States.ArrayLength($.list)", "split.$": "States.StringSplit('a,b,,c', ',')",
        "b64.$": "States.Base64Decode(States.Base64Encode($.name))", "has.$": "States.ArrayContains($.list, 2)",
        "range.$": "States.ArrayRange(1, 9, 4)", "parts.$": "States.ArrayPartition($.list, 2)",
        "item.$": "States.ArrayGetItem($.list, 1)", "uniq.$": "States.ArrayUnique(States.Array(1, 1, 2))",
        "merged.$": "States.JsonMerge($.o, States.StringToJson('{\"b\": 2}'), false)",
        "md5.$": "States.Hash('abc', 'MD5')"})),
                 {"name": "Ada", "n": 3, "s": STRING_JSON, "o": {"a": 1}, "list": [1, 2, 3]}, None,
                 {"output": {"fmt": "Hello Ada {literal} 3", "parsed": {"a": [1, 2]}, "text": "{\"a\":1}",
                             "arr": [1, "two", 3, None], "sum": 2, "len": 3, "split": ["a", "b", "c"], "b64": "Ada",
                             "has": True, "range": [1, 5, 9], "parts": [[1, 2], [3]], "item": 2, "uniq": [1, 2],
                             "merged": {"a": 1, "b": 2}, "md5": "900150983cd24fb0d6963f7d28e17f72"}},
                 id="intrinsic-functions"),
    pytest.param(machine(A=pass_(Parameters={"bad.$": "States.StringToJson($.s)"})), {"s": "not json"}, None,
                 {"error": "States.IntrinsicFailure"}, id="intrinsic-failure"),
    pytest.param(machine(A=pass_(Parameters={"bad.$": "States.Format('{} {}', $.s)"})), {"s": "x"}, None,
                 {"error": "States.IntrinsicFailure"}, id="format-argument-count"),
    # -- Task, Retry, Catch --------------------------------------------------------------------------
    pytest.param(machine(A=task("other/resize", Parameters={"w.$": "$.w"})), {"w": 5}, {"other/resize": [{"ok": 1}]},
                 {"output": {"ok": 1}, "calls": [("other/resize", {"w": 5})]}, id="task-namespaced-function"),
    pytest.param(machine(A=task(Retry=[{"ErrorEquals": ["E"]}])), {}, {"f": [fail("E"), fail("E"), fail("E"), "ok"]},
                 {"output": "ok", "waits": [1, 2, 4], "steps": 1}, id="retry-defaults-1-2-4"),
    pytest.param(machine(A=task(Retry=[{"ErrorEquals": ["E"]}])), {}, {"f": [fail("E", "boom")]},
                 {"error": "E", "cause": "boom", "waits": [1, 2, 4], "calls": [("f", {})] * 4},
                 id="retry-exhausted-fails"),
    pytest.param(machine(A=task(Retry=[{"ErrorEquals": ["E"], "MaxAttempts": 0}])), {}, {"f": [fail("E")]},
                 {"error": "E", "waits": [], "calls": [("f", {})]}, id="retry-max-attempts-zero"),
    pytest.param(machine(A=task(Retry=[{"ErrorEquals": ["E"], "IntervalSeconds": 2, "BackoffRate": 1.5,
                                        "MaxAttempts": 4, "MaxDelaySeconds": 4}])), {}, {"f": [fail("E")]},
                 {"error": "E", "waits": [2, 3, 4, 4]}, id="retry-backoff-max-delay"),
    pytest.param(machine(A=task(Retry=[{"ErrorEquals": ["A"], "MaxAttempts": 1},
                                       {"ErrorEquals": ["B"], "MaxAttempts": 1}])),
                 {}, {"f": [fail("A"), fail("B"), fail("A")]}, {"error": "A", "waits": [1, 1]},
                 id="retry-counts-per-retrier"),
    pytest.param(machine(A=task(Retry=[{"ErrorEquals": ["X"], "MaxAttempts": 0},
                                       {"ErrorEquals": ALL, "MaxAttempts": 5}])),
                 {}, {"f": [fail("X")]}, {"error": "X", "waits": []}, id="retry-first-match-only"),
    pytest.param(machine(A=task(Retry=[{"ErrorEquals": ["States.TaskFailed"]}])), {}, {"f": [fail("States.Timeout")]},
                 {"error": "States.Timeout", "waits": []}, id="taskfailed-does-not-match-timeout"),
    pytest.param(machine(A=task(Retry=[{"ErrorEquals": ["States.TaskFailed"], "MaxAttempts": 1}])), {},
                 {"f": [fail("ValueError"), "ok"]}, {"output": "ok", "waits": [1]}, id="taskfailed-matches-user-error"),
    pytest.param(machine(A=task(Catch=[{"ErrorEquals": ALL, "Next": "B"}]), B=SUCCEED), {"in": 1},
                 {"f": [fail("States.Timeout", "took too long")]},
                 {"output": {"Error": "States.Timeout", "Cause": "took too long"}}, id="catch-all-default-resultpath"),
    pytest.param(machine(A=task(Catch=[{"ErrorEquals": ["E"], "ResultPath": "$.error", "Next": "B"}]), B=SUCCEED),
                 {"in": 1}, {"f": [fail("E", "c")]}, {"output": {"in": 1, "error": {"Error": "E", "Cause": "c"}}},
                 id="catch-resultpath"),
    pytest.param(machine(A=task(Catch=[{"ErrorEquals": ["E"], "ResultPath": None, "Next": "B"}]), B=SUCCEED),
                 {"in": 1}, {"f": [fail("E", "c")]}, {"output": {"in": 1}}, id="catch-resultpath-null"),
    pytest.param(machine(A=task(Catch=[{"ErrorEquals": ["X"], "Next": "B"}, {"ErrorEquals": ["E"], "Next": "C"},
                                       {"ErrorEquals": ALL, "Next": "B"}]), B=pass_(Result="B"), C=pass_(Result="C")),
                 {}, {"f": [fail("E")]}, {"output": "C"}, id="catch-first-matching-catcher"),
    pytest.param(machine(A=task(Retry=[{"ErrorEquals": ["E"], "MaxAttempts": 2}],
                                Catch=[{"ErrorEquals": ["E"], "ResultPath": "$.e", "Next": "B"}]), B=SUCCEED),
                 {}, {"f": [fail("E", "x")]}, {"output": {"e": {"Error": "E", "Cause": "x"}}, "waits": [1, 2],
                                                "calls": [("f", {})] * 3}, id="catch-after-retries"),
    pytest.param(machine(A=task(Catch=[{"ErrorEquals": ["Other"], "Next": "B"}]), B=SUCCEED), {},
                 {"f": [fail("KeyError", "'k'\nTraceback ...")]}, {"error": "KeyError", "cause": "'k'\nTraceback ..."},
                 id="uncaught-error-fails-run"),
    pytest.param(machine(A=task(Catch=[{"ErrorEquals": ALL, "ResultPath": "$.s.e", "Next": "B"}]), B=SUCCEED),
                 {"s": "text"}, {"f": [fail("E")]}, {"error": "States.ResultPathMatchFailure"},
                 id="catch-resultpath-mismatch"),
    pytest.param(machine(A=task(Catch=[{"ErrorEquals": ["States.TaskFailed"], "Next": "B"}]), B=SUCCEED), {},
                 {"f": [{"x": float("nan")}]}, {"output": {"Error": "States.TaskFailed", "Cause": "the function's "
                                                          "result is not JSON (NaN, Infinity or a non-JSON type)"}},
                 id="non-json-result-is-task-failure"),
    pytest.param(machine(A=task(TimeoutSecondsPath="$.t", Parameters={})), {"t": "soon"}, None,
                 {"error": "States.Runtime"}, id="timeout-seconds-path-wrong-type"),
    # -- Choice ----------------------------------------------------------------------------------------
    pytest.param(machine(A={"Type": "Choice", "Choices": [
        {"And": [{"Variable": "$.n", "NumericGreaterThanEquals": 10},
                 {"Not": {"Variable": "$.kind", "StringEquals": "skip"}},
                 {"Or": [{"Variable": "$.tag", "StringMatches": "img-*.png"},
                         {"Variable": "$.force", "BooleanEquals": True}]}],
         "Next": "Yes"}], "Default": "No"}, Yes=pass_(Result="yes"), No=pass_(Result="no")),
                 {"n": 10, "kind": "photo", "tag": "img-1.png", "force": False}, None, {"output": "yes"},
                 id="choice-and-or-not"),
    pytest.param(machine(A={"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericEquals": 1, "Next": "B"}],
                            "Default": "C"}, B=pass_(Result="B"), C=pass_(Result="C")), {"n": 2}, None,
                 {"output": "C"}, id="choice-default"),
    pytest.param(machine(A={"Type": "Choice", "Choices": [{"Variable": "$.n", "NumericEquals": 1, "Next": "B"}]},
                         B=SUCCEED), {"n": 2}, None, {"error": "States.NoChoiceMatched"}, id="choice-no-match"),
    pytest.param(machine(A={"Type": "Choice", "Choices": [{"Variable": "$.gone", "NumericEquals": 1, "Next": "B"}]},
                         B=SUCCEED), {"n": 2}, None, {"error": "States.Runtime"}, id="choice-variable-missing"),
    pytest.param(machine(A={"Type": "Choice", "Choices": [{"Variable": "$.gone", "IsPresent": False, "Next": "B"}]},
                         B=pass_(Result="absent")), {}, None, {"output": "absent"}, id="choice-is-present-false"),
    pytest.param(machine(A={"Type": "Choice", "InputPath": "$.in", "OutputPath": "$.keep", "Choices": [
        {"Variable": "$.at", "TimestampEquals": "2026-01-01T00:00:00Z", "Next": "B"}]}, B=SUCCEED),
                 {"in": {"at": "2026-01-01T01:00:00+01:00", "keep": 1}}, None, {"output": 1},
                 id="choice-timestamp-offset-and-io"),
    pytest.param(machine(A={"Type": "Choice",
                            "Choices": [{"Variable": "$.a", "NumericLessThanPath": "$.b", "Next": "B"}],
                            "Default": "C"}, B=pass_(Result="lt"), C=pass_(Result="ge")), {"a": 1, "b": 1.5}, None,
                 {"output": "lt"}, id="choice-path-operator"),
    # -- Wait, Succeed, Fail -------------------------------------------------------------------------------
    pytest.param(machine(A={"Type": "Wait", "Seconds": 5, "Next": "B"}, B=SUCCEED), {"x": 1}, None,
                 {"output": {"x": 1}, "waits": [5]}, id="wait-seconds"),
    pytest.param(machine(A={"Type": "Wait", "SecondsPath": "$.delay", "Next": "B"}, B=SUCCEED), {"delay": 42}, None,
                 {"waits": [42]}, id="wait-seconds-path"),
    pytest.param(machine(A={"Type": "Wait", "TimestampPath": "$.at", "End": True}), {"at": "2026-01-01T00:00:30Z"},
                 None, {"waits": [30]}, id="wait-timestamp-path"),
    pytest.param(machine(A={"Type": "Wait", "Timestamp": "2025-12-31T00:00:00Z", "End": True}), {}, None,
                 {"waits": [], "status": SUCCEEDED}, id="wait-timestamp-in-the-past"),
    pytest.param(machine(A={"Type": "Wait", "SecondsPath": "$.delay", "End": True}), {"delay": "5"}, None,
                 {"error": "States.Runtime"}, id="wait-seconds-path-wrong-type"),
    pytest.param(machine(A={"Type": "Fail", "Error": "Bad", "Cause": "very"}), {}, None,
                 {"error": "Bad", "cause": "very", "output": None}, id="fail"),
    pytest.param(machine(A={"Type": "Fail", "ErrorPath": "$.e", "CausePath": "States.Format('n={}', $.n)"}),
                 {"e": "Dynamic", "n": 4}, None, {"error": "Dynamic", "cause": "n=4"}, id="fail-paths"),
    pytest.param(machine(A={"Type": "Succeed", "InputPath": "$.a", "OutputPath": "$.b"}), {"a": {"b": [1]}}, None,
                 {"output": [1]}, id="succeed-io"),
    # -- Parallel ----------------------------------------------------------------------------------------
    pytest.param(machine(A={"Type": "Parallel", "End": True, "Branches": [
        branch(B1=task("one")), branch(B2={"Type": "Wait", "Seconds": 3, "Next": "B3"}, B3=task("two")),
        branch(B4=pass_(Result="p"))]}), {"v": 1}, {"one": [1], "two": [2]},
                 {"output": [1, 2, "p"], "waits": [3], "calls": [("one", {"v": 1}), ("two", {"v": 1})]},
                 id="parallel-output-in-branch-order"),
    pytest.param(machine(A={"Type": "Parallel", "Next": "B", "Parameters": {"x.$": "$.v"}, "ResultPath": "$.par",
                            "ResultSelector": {"sum.$": "States.MathAdd($[0].x, $[1].x)"},
                            "Branches": [branch(P1=pass_()), branch(P2=pass_())]}, B=SUCCEED), {"v": 2}, None,
                 {"output": {"v": 2, "par": {"sum": 4}}}, id="parallel-parameters-resultselector"),
    pytest.param(machine(A={"Type": "Parallel", "End": True, "Branches": [
        branch(B1=task("slow")), branch(B2={"Type": "Fail", "Error": "BranchBroke", "Cause": "b2"})],
                            "Catch": [{"ErrorEquals": ["BranchBroke"], "Next": "C"}]}, C=SUCCEED), {}, None,
                 {"output": {"Error": "BranchBroke", "Cause": "b2"}, "calls": []}, id="parallel-branch-failure-caught"),
    pytest.param(machine(A={"Type": "Parallel", "End": True, "Retry": [{"ErrorEquals": ["E"], "MaxAttempts": 1}],
                            "Branches": [branch(B1=task("flaky")), branch(B2=task("steady"))]}), {},
                 {"flaky": [fail("E"), "ok"], "steady": ["s"]},
                 {"output": ["ok", "s"], "waits": [1], "calls": [("flaky", {}), ("steady", {}), ("flaky", {}),
                                                                 ("steady", {})]}, id="parallel-retry-reruns-all"),
    # -- Map ---------------------------------------------------------------------------------------------
    pytest.param(machine(A={"Type": "Map", "End": True, "ItemsPath": "$.items",
                            "ItemSelector": {"i.$": "$$.Map.Item.Index", "v.$": "$$.Map.Item.Value", "k.$": "$.k"},
                            "ItemProcessor": branch(M=task("each"))}), {"items": ["a", "b", "c"], "k": 0},
                 {"each": lambda p: f"{p['i']}{p['v']}"},
                 {"output": ["0a", "1b", "2c"], "most_concurrent": 3}, id="map-itemselector-order"),
    pytest.param(machine(A={"Type": "Map", "End": True, "MaxConcurrency": 2, "ItemProcessor": branch(M=task("each"))}),
                 [1, 2, 3, 4, 5], {"each": lambda p: p * 10},
                 {"output": [10, 20, 30, 40, 50], "most_concurrent": 2}, id="map-max-concurrency"),
    pytest.param(machine(A={"Type": "Map", "End": True, "MaxConcurrencyPath": "$.n", "ItemsPath": "$.xs",
                            "ItemProcessor": branch(M=task("each"))}), {"n": 1, "xs": [1, 2, 3]}, None,
                 {"output": [1, 2, 3], "most_concurrent": 1}, id="map-max-concurrency-path"),
    pytest.param(machine(A={"Type": "Map", "End": True, "MaxConcurrency": 0, "ItemProcessor": branch(M=task("each"))}),
                 list(range(6)), None, {"output": list(range(6)), "most_concurrent": 6}, id="map-unlimited"),
    pytest.param(machine(A={"Type": "Map", "ResultPath": "$.out", "ItemsPath": "$.xs", "End": True,
                            "ItemProcessor": branch(M=task("each"))}),
                 {"xs": []}, None, {"output": {"xs": [], "out": []}}, id="map-empty"),
    pytest.param(machine(A={"Type": "Map", "ItemsPath": "$.xs", "End": True, "ItemProcessor": branch(M=task("each"))}),
                 {"xs": {"not": "array"}}, None, {"error": "States.Runtime"}, id="map-items-not-array"),
    pytest.param(machine(A={"Type": "Map", "End": True, "MaxConcurrency": 1, "ItemProcessor": branch(M=task("each")),
                            "Catch": [{"ErrorEquals": ["Bad"], "ResultPath": "$[0]", "Next": "B"}]},
                         B=pass_(Result="caught", ResultPath="$[1]")),
                 [1, 2, 3], {"each": [1, fail("Bad", "item 2")]},
                 {"output": [{"Error": "Bad", "Cause": "item 2"}, "caught", 3], "calls": [("each", 1), ("each", 2)]},
                 id="map-item-failure-stops-map"),
    pytest.param(machine(A={"Type": "Map", "End": True, "Parameters": {"v.$": "$$.Map.Item.Value"},
                            "Iterator": branch(I=pass_(OutputPath="$.v"))}), ["x", "y"], None,
                 {"output": ["x", "y"]}, id="map-legacy-iterator-parameters"),
    pytest.param(machine(A={"Type": "Map", "End": True, "ItemProcessor": branch(P={
        "Type": "Parallel", "End": True, "Branches": [branch(X=task("x")), branch(Y=pass_(Result="y"))]})}),
                 [1, 2], {"x": lambda p: p + 100}, {"output": [[101, "y"], [102, "y"]]}, id="parallel-inside-map"),
    # -- loops and limits --------------------------------------------------------------------------------
    pytest.param(machine("Init", Init=pass_(Result={"i": 0}, Next="Check"), Check={
        "Type": "Choice", "Choices": [{"Variable": "$.i", "NumericLessThan": 3, "Next": "Work"}], "Default": "Done"},
        Work=task("inc", Next="Check"), Done=SUCCEED), {}, {"inc": lambda p: {"i": p["i"] + 1}},
                 {"output": {"i": 3}, "calls": [("inc", {"i": 0}), ("inc", {"i": 1}), ("inc", {"i": 2})], "steps": 9},
                 id="loop-with-exit"),
    pytest.param(machine("Loop", Loop=pass_(Next="Check"), Check={
        "Type": "Choice", "Choices": [{"Variable": "$.stop", "IsPresent": True, "Next": "Done"}], "Default": "Loop"},
        Done=SUCCEED), {}, None, {"error": STEP_LIMIT_EXCEEDED, "max_steps": 20, "steps": 21},
                 id="endless-loop-step-limit"),
    pytest.param(machine(A={"Type": "Map", "End": True, "Catch": [{"ErrorEquals": ALL, "Next": "B"}],
                            "ItemProcessor": {"StartAt": "L", "States": {
                                "L": pass_(Next="C"), "D": SUCCEED,
                                "C": {"Type": "Choice", "Choices": [{"Variable": "$", "IsNull": True, "Next": "D"}],
                                      "Default": "L"}}}}, B=SUCCEED),
                 [1, 2], None, {"error": STEP_LIMIT_EXCEEDED, "max_steps": 50}, id="step-limit-in-map-uncatchable"),
    pytest.param(machine("Nest", Nest=pass_(Parameters={"inner.$": "$"}, Next="Check"), Check={
        "Type": "Choice", "Choices": [{"Variable": "$.stop", "IsPresent": True, "Next": "Done"}], "Default": "Nest"},
        Done=SUCCEED), {}, None, {"error": "States.DataLimitExceeded"}, id="ever-deeper-data-is-stopped"),
    pytest.param({**machine(A={"Type": "Wait", "Seconds": 60, "End": True}), "TimeoutSeconds": 10}, {}, None,
                 {"error": "States.Timeout", "waits": [10]}, id="workflow-timeout"),
]


@pytest.mark.parametrize(("definition", "data", "outcomes", "expected"), CASES)
def test_asl_conformance(definition: Obj, data: Any, outcomes: Outcomes | None, expected: Obj) -> None:
    """The run ends with the expected output or error, after the expected calls, waits and concurrency."""
    expected = dict(expected)
    max_steps = expected.pop("max_steps", 1000)
    expected.setdefault("status", FAILED if "error" in expected else SUCCEEDED)
    trace = execute(copy.deepcopy(definition), data, outcomes, max_steps=max_steps)
    assert {key: getattr(trace, key) for key in expected} == expected, trace


def test_asl_conformance_table_is_large_enough() -> None:
    """Acceptance 2 of issue 12 asks for at least 40 table-driven conformance cases."""
    assert len(CASES) >= 40


RULES = [
    pytest.param({"StringEquals": "abc"}, "abc", True, id="string-equals"),
    pytest.param({"StringEquals": "abc"}, 1, False, id="string-equals-type-mismatch"),
    pytest.param({"StringLessThan": "b"}, "a", True, id="string-lt"),
    pytest.param({"StringGreaterThan": "b"}, "a", False, id="string-gt"),
    pytest.param({"StringLessThanEquals": "a"}, "a", True, id="string-le"),
    pytest.param({"StringGreaterThanEquals": "a"}, "B", False, id="string-ge-code-points"),
    pytest.param({"StringMatches": "log-*.txt"}, "log-2026.txt", True, id="matches-star"),
    pytest.param({"StringMatches": "*"}, "", True, id="matches-empty"),
    pytest.param({"StringMatches": "a*b*c"}, "abbbxc", True, id="matches-two-stars"),
    pytest.param({"StringMatches": "a*b"}, "abc", False, id="matches-anchored"),
    pytest.param({"StringMatches": r"a\*b"}, "a*b", True, id="matches-escaped-star"),
    pytest.param({"StringMatches": r"a\*b"}, "axb", False, id="matches-escaped-star-literal"),
    pytest.param({"StringMatches": "a.c"}, "abc", False, id="matches-no-regex"),
    pytest.param({"NumericEquals": 1}, 1.0, True, id="numeric-int-float"),
    pytest.param({"NumericEquals": 1}, True, False, id="numeric-not-boolean"),
    pytest.param({"NumericEquals": 1}, "1", False, id="numeric-not-string"),
    pytest.param({"NumericLessThan": 2}, 1.5, True, id="numeric-lt"),
    pytest.param({"NumericGreaterThan": 2}, 2, False, id="numeric-gt"),
    pytest.param({"NumericLessThanEquals": 2}, 2, True, id="numeric-le"),
    pytest.param({"NumericGreaterThanEquals": -1}, -1.5, False, id="numeric-ge"),
    pytest.param({"BooleanEquals": False}, False, True, id="boolean"),
    pytest.param({"BooleanEquals": False}, 0, False, id="boolean-not-number"),
    pytest.param({"TimestampEquals": "2026-01-01T00:00:00Z"}, "2026-01-01T00:00:00.000Z", True, id="ts-equals"),
    pytest.param({"TimestampLessThan": "2026-01-01T00:00:00Z"}, "2025-12-31T23:59:59.999+00:00", True, id="ts-lt"),
    pytest.param({"TimestampGreaterThan": "2026-01-01T00:00:00Z"}, "2026-01-01T00:30:00+01:00", False,
                 id="ts-gt-offset"),
    pytest.param({"TimestampLessThanEquals": "2026-01-01T00:00:00Z"}, "not a time", False, id="ts-not-a-time"),
    pytest.param({"TimestampGreaterThanEquals": "2026-01-01T00:00:00Z"}, "2026-01-01t00:00:00z", False,
                 id="ts-lowercase"),
    pytest.param({"IsNull": True}, None, True, id="is-null"),
    pytest.param({"IsNull": False}, None, False, id="is-null-negated"),
    pytest.param({"IsPresent": True}, None, True, id="is-present-null"),
    pytest.param({"IsNumeric": True}, 3.5, True, id="is-numeric"),
    pytest.param({"IsNumeric": True}, False, False, id="is-numeric-boolean"),
    pytest.param({"IsString": True}, "", True, id="is-string"),
    pytest.param({"IsBoolean": False}, "true", True, id="is-boolean-negated"),
    pytest.param({"IsTimestamp": True}, "2026-01-01T00:00:00Z", True, id="is-timestamp"),
    pytest.param({"IsTimestamp": True}, "2026-01-01", False, id="is-timestamp-date"),
    pytest.param({"StringEqualsPath": "$.other"}, "o", True, id="string-equals-path"),
    pytest.param({"NumericGreaterThanPath": "$.three"}, 4, True, id="numeric-gt-path"),
    pytest.param({"BooleanEqualsPath": "$.yes"}, True, True, id="boolean-equals-path"),
    pytest.param({"TimestampLessThanPath": "$.when"}, "2025-01-01T00:00:00Z", True, id="ts-lt-path"),
    pytest.param({"StringEqualsPath": "$.three"}, "3", False, id="path-type-mismatch"),
]


@pytest.mark.parametrize(("operator", "value", "expected"), RULES)
def test_asl_choice_operator(operator: Obj, value: Any, expected: bool) -> None:
    """Each comparison operator, its type rules and its Path variant, on `$.v`."""
    data = {"v": value, "other": "o", "three": 3, "yes": True, "when": "2026-01-01T00:00:00Z"}
    assert rule_matches({"Variable": "$.v", **operator, "Next": "X"}, data) is expected


def test_asl_choice_missing_path_operand_is_runtime() -> None:
    """A ...Path operator whose path names nothing fails the run with States.Runtime."""
    definition = machine(A={"Type": "Choice", "Choices": [{"Variable": "$.a", "NumericEqualsPath": "$.b", "Next": "B"}],
                            "Default": "B"}, B=SUCCEED)
    assert execute(definition, {"a": 1}).error == "States.Runtime"


RESUMABLE = machine("Prep", Prep=pass_(Result=[1, 2, 3], ResultPath="$.xs", Next="Fan"), Fan={
    "Type": "Parallel", "ResultPath": "$.fan", "Next": "Items", "Branches": [
        branch(W={"Type": "Wait", "Seconds": 2, "Next": "T"}, T=task("flaky", Retry=[{"ErrorEquals": ["E"]}])),
        branch(U=task("steady"))]},
    Items={"Type": "Map", "ItemsPath": "$.xs", "MaxConcurrency": 2, "ResultPath": "$.items", "Next": "Done",
           "ItemProcessor": branch(M=task("each"))},
    Done={"Type": "Succeed"})
RESUMABLE_OUTCOMES: Outcomes = {"flaky": [fail("E"), fail("E"), "flaky-ok"], "steady": ["steady-ok"],
                                "each": lambda p: p * 2}


def test_asl_resume_from_json_after_a_crash_at_every_step() -> None:
    """Restarting from the committed JSON after any step gives the same output, and no call id is run twice."""
    reference = execute(RESUMABLE, {}, RESUMABLE_OUTCOMES)
    assert reference.status == SUCCEEDED
    assert reference.output["items"] == [2, 4, 6] and reference.waits == [2, 1, 2]
    assert reference.rounds > 8
    for crash_after in range(reference.rounds):
        driver = Driver(RESUMABLE, RESUMABLE_OUTCOMES)
        committed = driver.run(reload(start(RESUMABLE, {}, run_id="run-1", now=T0, name="run-1", state_machine="wf")),
                               crash_after=crash_after)
        resumed = Driver(RESUMABLE, RESUMABLE_OUTCOMES)  # a new leader; the routers' answer cache survives
        resumed.answers, resumed.counts, resumed.trace, resumed.clock = (driver.answers, driver.counts, driver.trace,
                                                                         driver.clock)
        trace = resumed.finish(resumed.run(RunState.from_json(json.loads(json.dumps(committed.to_json())))))
        assert (trace.output, trace.call_ids, trace.waits) == (reference.output, reference.call_ids, reference.waits)
        assert len(set(trace.call_ids)) == len(trace.call_ids)


def test_asl_step_hands_out_the_same_calls_until_answered() -> None:
    """A committed call is handed out again, with the same id and payload, until its answer arrives."""
    definition = machine(A=task(Parameters={"x.$": "$.x"}))
    first = step(definition, start(definition, {"x": 1}, run_id="r", now=T0), now=T0)
    again = step(definition, reload(first.run), now=T0 + 5)
    assert again.calls == first.calls and again.transitions == 0
    assert [(c.id, c.function, c.parameters, c.timeout_seconds) for c in first.calls] == [
        ("r/0.1/A/0", "f", {"x": 1}, 60)]
    assert pending_calls(again.run) == first.calls


def test_asl_step_and_complete_call_do_not_change_their_input() -> None:
    """step and complete_call are pure: the run state given to them is left as it was."""
    definition = machine(A=task())
    run = start(definition, {}, run_id="r", now=T0)
    before = run.to_json()
    stepped = step(definition, run, now=T0)
    assert run.to_json() == before
    answered_json = stepped.run.to_json()
    complete_call(stepped.run, stepped.calls[0].id, result=1)
    assert stepped.run.to_json() == answered_json


def test_asl_stale_answers_are_ignored() -> None:
    """An answer to an attempt the run no longer waits for (retried, or unknown) changes nothing."""
    definition = machine(A=task(Retry=[{"ErrorEquals": ["E"]}]))
    s = step(definition, start(definition, {}, run_id="r", now=T0), now=T0)
    first_id = s.calls[0].id
    s = step(definition, complete_call(s.run, first_id, error="E"), now=T0)
    s = step(definition, s.run, now=T0 + 1)
    assert s.calls[0].id == "r/0.1/A/1" and s.calls[0].attempt == 1
    assert complete_call(s.run, first_id, result="late").to_json() == s.run.to_json()
    assert complete_call(s.run, "nope", result="x").to_json() == s.run.to_json()
    done = step(definition, complete_call(s.run, s.calls[0].id, result="ok"), now=T0 + 1)
    assert done.done and done.run.output == "ok" and done.run.frames == {}


def test_asl_call_ids_differ_per_loop_iteration_and_attempt() -> None:
    """Every loop iteration and every retry attempt gets its own call id."""
    definition = machine("Init", Init=pass_(Result={"i": 0}, Next="Work"),
                         Work=task("inc", Next="Check", Retry=[{"ErrorEquals": ["E"], "MaxAttempts": 1}]),
                         Check={"Type": "Choice",
                                "Choices": [{"Variable": "$.i", "NumericLessThan": 2, "Next": "Work"}],
                                "Default": "Done"}, Done=SUCCEED)
    script = iter([fail("E"), {"i": 1}, {"i": 2}])
    trace = execute(definition, {}, {"inc": lambda p: next(script)})
    assert trace.call_ids == ["run-1/0.2/Work/0", "run-1/0.2/Work/1", "run-1/0.4/Work/0"]


def test_asl_full_jitter_is_bounded_and_deterministic() -> None:
    """FULL jitter waits a replayable fraction of the back-off: the same call id gives the same delay."""
    retrier = {"ErrorEquals": ["E"], "IntervalSeconds": 4, "BackoffRate": 2.0, "JitterStrategy": "FULL"}
    delays = [backoff(retrier, used, seed=f"seed-{used}") for used in range(4)]
    assert all(0 <= d <= 4 * 2 ** used for used, d in enumerate(delays))
    assert delays == [backoff(retrier, used, seed=f"seed-{used}") for used in range(4)]
    assert len(set(delays)) == 4
    definition = machine(A=task(Retry=[retrier]))
    first, second = (execute(definition, {}, {"f": [fail("E")]}) for _ in range(2))
    assert first.waits == second.waits and len(first.waits) == 3
    assert all(w <= 4 * 2 ** i for i, w in enumerate(first.waits))


def test_asl_backoff_never_overflows() -> None:
    """A huge attempt count or rate caps the delay instead of overflowing."""
    assert backoff({"BackoffRate": 10.0}, 100000, seed="s") == 99999999.0
    assert backoff({"BackoffRate": 10.0, "MaxDelaySeconds": 30}, 100000, seed="s") == 30.0


def test_asl_random_intrinsics_replay_identically() -> None:
    """States.UUID and States.MathRandom are fixed by the run and the state visit, so replays agree."""
    definition = machine(A=pass_(Parameters={"u.$": "States.UUID()", "v.$": "States.UUID()",
                                             "r.$": "States.MathRandom(10, 20)"}))
    first, second = execute(definition).output, execute(definition).output
    assert first == second and first["u"] != first["v"] and 10 <= first["r"] < 20
    assert first["u"][14] == "4" and len(first["u"]) == 36


def test_asl_history_events() -> None:
    """Each step reports what happened after `start` entered the first state, in order, for the run's history."""
    trace = execute(machine(A=task(Retry=[{"ErrorEquals": ["E"]}], Next="B"), B=SUCCEED), {}, {"f": [fail("E"), 1]})
    assert trace.events == ["TaskScheduled", "TaskFailed", "RetryScheduled", "TaskScheduled",
                            "TaskSucceeded", "StateEntered", "RunSucceeded"]


def test_asl_start_refuses_an_invalid_definition() -> None:
    """The interpreter only runs definitions the validator accepts."""
    with pytest.raises(InvalidDefinitionError, match="does not exist"):
        start(machine("Nope", A=SUCCEED), {}, run_id="r", now=T0)
    with pytest.raises(ValueError):
        start(machine(A=SUCCEED), {}, run_id="r", now=T0, max_steps=0)


def test_asl_failed_branch_cancels_the_others() -> None:
    """When one branch fails, the calls of the others are withdrawn and their late answers ignored."""
    definition = machine(A={"Type": "Parallel", "End": True, "Catch": [{"ErrorEquals": ALL, "Next": "B"}], "Branches": [
        branch(S=task("slow")),
        branch(W={"Type": "Wait", "Seconds": 1, "Next": "F"}, F={"Type": "Fail", "Error": "X"})]},
                         B=SUCCEED)
    first = step(definition, start(definition, {}, run_id="r", now=T0), now=T0)
    assert [c.function for c in first.calls] == ["slow"] and first.wait_until == T0 + 1
    later = step(definition, first.run, now=T0 + 1)
    assert later.done and later.run.output == {"Error": "X"} and later.calls == []
    assert complete_call(later.run, first.calls[0].id, result=1).to_json() == later.run.to_json()


def test_asl_changed_definition_fails_the_run() -> None:
    """A run whose current state vanished from the definition fails with States.Runtime instead of crashing."""
    definition = machine(A={"Type": "Wait", "Seconds": 1, "End": True})
    run = step(definition, start(definition, {}, run_id="r", now=T0), now=T0).run
    changed = step(machine(B=SUCCEED, start_at="B"), run, now=T0 + 1)
    assert (changed.run.status, changed.run.error) == (FAILED, "States.Runtime")


def test_asl_start_refuses_input_that_is_not_json() -> None:
    """NaN, Infinity and non-JSON types cannot enter a run (its state must serialise)."""
    with pytest.raises(ValueError, match="plain JSON"):
        start(machine(A=SUCCEED), {"x": float("inf")}, run_id="r", now=T0)


def test_asl_finished_run_has_no_work_left() -> None:
    """A finished run hands out nothing, sets no timer and stays finished."""
    definition = machine(A=SUCCEED)
    done = step(definition, start(definition, 5, run_id="r", now=T0), now=T0)
    assert done.done and done.run.output == 5
    again = step(definition, done.run, now=T0 + 1)
    assert (again.calls, again.wait_until, again.transitions, again.run.status) == ([], None, 0, SUCCEEDED)
