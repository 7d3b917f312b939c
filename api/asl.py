"""Static validation of Amazon States Language definitions (the `Workflow` kind's `spec.definition`).

A workflow's definition is checked before it reaches the store, so a mistake is a 422 that names the
state and the field (`spec.definition.States.Choose.Choices[0].Next: state "Missing" does not
exist`) rather than a run that fails half-way. The rules are the spec's (states-language.net) as
machine-checked by awslabs/statelint (`StateMachine.j2119`, `state_node.rb`), plus ours:

- the structure: `StartAt` names a state, every `Next`/`Default`/catcher `Next` names a state in
  the same `States` object (a Parallel branch and a Map item processor are scopes of their own),
  state names are unique across the whole document, every state is reachable and every scope has
  a terminal state;
- which fields each of the eight types may have (unknown fields are named), `Next` xor `End`,
  Retry/Catch shapes (`States.ALL` alone and last), Choice rules and their operand types, Wait's
  one-of, Fail's pairs, Map and Parallel sub-machines;
- paths parse (`minik8s.api.aslpath`): Paths where a Path goes, reference paths for `ResultPath`
  and the `...Path` fields, intrinsic calls in `.$` values;
- our only Task resource is a Function: `function:<name>` or `function:<namespace>/<name>`;
- only JSON (finite numbers, string keys), nested at most `MAX_DEPTH` deep; at most
  `MAX_PROBLEMS` problems are reported.

The interpreter (`minik8s.serverless.asl`) trusts a definition that passed, and reuses this
module's tables (`STATE_TYPES`, `COMPARISONS`, ...) and `parse_resource`/`parse_timestamp`.
Pure: no I/O.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from minik8s.api.aslpath import (Intrinsic, JsonPath, PathSyntaxError, parse_intrinsic, parse_path,
                                 parse_reference_path)
from minik8s.api.names import DNS_LABEL

__all__ = [
    "COMPARISONS", "INTRINSICS", "KNOWN_ERRORS", "MAX_DEPTH", "MAX_PROBLEMS", "STATE_TYPES", "parse_resource",
    "parse_timestamp", "validate_definition",
]

Problem = tuple[str, str]
MAX_PROBLEMS = 50
MAX_DEPTH = 64
MAX_INT = 99999999  # the spec's bound on seconds and attempts
MAX_DELAY_SECONDS = 31622400  # a year and a day (localstack's bound on MaxDelaySeconds)

STATE_TYPES = ("Pass", "Task", "Choice", "Wait", "Succeed", "Fail", "Parallel", "Map")
KNOWN_ERRORS = frozenset({
    "States.ALL", "States.HeartbeatTimeout", "States.Timeout", "States.TaskFailed", "States.Permissions",
    "States.ResultPathMatchFailure", "States.ParameterPathFailure", "States.BranchFailed",
    "States.NoChoiceMatched", "States.IntrinsicFailure", "States.ExceedToleratedFailureThreshold",
    "States.ItemReaderFailed", "States.ResultWriterFailed", "States.DataLimitExceeded", "States.Runtime",
})
INTRINSICS = frozenset({
    "States.Format", "States.StringToJson", "States.JsonToString", "States.Array", "States.ArrayPartition",
    "States.ArrayContains", "States.ArrayRange", "States.ArrayGetItem", "States.ArrayLength",
    "States.ArrayUnique", "States.Base64Encode", "States.Base64Decode", "States.Hash", "States.JsonMerge",
    "States.MathRandom", "States.MathAdd", "States.StringSplit", "States.UUID",
})

# Choice comparison operators → the kind of operand each takes.
COMPARISONS: dict[str, str] = {
    **{f"String{op}": "string" for op in ("Equals", "LessThan", "GreaterThan", "LessThanEquals", "GreaterThanEquals")},
    **{f"Numeric{op}": "number" for op in ("Equals", "LessThan", "GreaterThan", "LessThanEquals", "GreaterThanEquals")},
    **{f"Timestamp{op}": "timestamp"
       for op in ("Equals", "LessThan", "GreaterThan", "LessThanEquals", "GreaterThanEquals")},
    "BooleanEquals": "boolean",
    "StringMatches": "string",
    **{f"Is{kind}": "flag" for kind in ("Null", "Present", "Numeric", "String", "Boolean", "Timestamp")},
}
COMPARISONS.update({f"{op}Path": "path" for op, kind in list(COMPARISONS.items())
                    if kind in ("string", "number", "timestamp", "boolean") and op != "StringMatches"})

_COMMON = frozenset({"Type", "Comment", "QueryLanguage"})
_IO = frozenset({"InputPath", "OutputPath"})
_FLOW = frozenset({"Next", "End"})
_DATA = frozenset({"ResultPath", "Parameters"})
_ERRORS = frozenset({"ResultSelector", "Retry", "Catch"})
FIELDS: dict[str, frozenset[str]] = {
    "Pass": _COMMON | _IO | _FLOW | _DATA | {"Result"},
    "Task": _COMMON | _IO | _FLOW | _DATA | _ERRORS | {
        "Resource", "TimeoutSeconds", "TimeoutSecondsPath", "HeartbeatSeconds", "HeartbeatSecondsPath"},
    "Choice": _COMMON | _IO | {"Choices", "Default"},
    "Wait": _COMMON | _IO | _FLOW | {"Seconds", "SecondsPath", "Timestamp", "TimestampPath"},
    "Succeed": _COMMON | _IO,
    "Fail": _COMMON | {"Error", "ErrorPath", "Cause", "CausePath"},
    "Parallel": _COMMON | _IO | _FLOW | _DATA | _ERRORS | {"Branches"},
    "Map": _COMMON | _IO | _FLOW | _DATA | _ERRORS | {
        "ItemProcessor", "Iterator", "ItemsPath", "ItemSelector", "MaxConcurrency", "MaxConcurrencyPath"},
}
_ALL_FIELDS = frozenset().union(*FIELDS.values())
_UNSUPPORTED = {
    **dict.fromkeys(("ItemReader", "ResultWriter", "ItemBatcher", "Label", "ToleratedFailurePercentage",
                     "ToleratedFailureCount", "ToleratedFailurePercentagePath", "ToleratedFailureCountPath"),
                    "distributed Map is not supported"),
    **dict.fromkeys(("Arguments", "Output", "Assign"), "only the JSONPath query language is supported"),
    "Credentials": "Tasks run with the workflow's own identity",
}
_TOP_FIELDS = frozenset({"StartAt", "States", "Comment", "Version", "TimeoutSeconds", "QueryLanguage"})
_BRANCH_FIELDS = frozenset({"StartAt", "States", "Comment"})
_PROCESSOR_FIELDS = frozenset({"StartAt", "States", "Comment", "ProcessorConfig"})
_RETRIER_FIELDS = frozenset({"ErrorEquals", "IntervalSeconds", "MaxAttempts", "BackoffRate", "MaxDelaySeconds",
                             "JitterStrategy", "Comment"})
_CATCHER_FIELDS = frozenset({"ErrorEquals", "Next", "ResultPath", "Comment"})
_WAIT_FIELDS = ("Seconds", "SecondsPath", "Timestamp", "TimestampPath")
_RESOURCE = re.compile(r"function:(?:([^/]+)/)?([^/]+)")
_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})")
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_-]+")


class _Full(Exception):
    """Raised when MAX_PROBLEMS problems were found: the rest is not worth reading."""


class _Checker:
    """Collects problems and the state names seen so far (names are unique per document)."""

    def __init__(self) -> None:
        self.problems: list[Problem] = []
        self.names: dict[str, str] = {}

    def add(self, path: str, message: str) -> None:
        """Record one problem; stop the walk once there are MAX_PROBLEMS."""
        self.problems.append((path, message))
        if len(self.problems) >= MAX_PROBLEMS:
            raise _Full


def validate_definition(definition: object, *, field: str = "spec.definition") -> list[Problem]:
    """Every problem with an ASL `definition`, as (field path, message); empty when it is valid."""
    c = _Checker()
    try:
        if not isinstance(definition, dict):
            c.add(field, "must be an object")
        elif _json_only(c, definition, field, 0):
            _machine(c, definition, field, _TOP_FIELDS, "a state machine")
            _top_level(c, definition, field)
    except _Full:
        c.problems.append((field, f"too many problems: only the first {MAX_PROBLEMS} are shown"))
    return c.problems


def parse_resource(resource: str) -> tuple[str | None, str] | None:
    """`function:<name>` → (None, name); `function:<ns>/<name>` → (ns, name); None if malformed."""
    match = _RESOURCE.fullmatch(resource) if isinstance(resource, str) else None
    if not match:
        return None
    namespace, name = match.groups()
    if any(part is not None and not DNS_LABEL.pattern.fullmatch(part) for part in (namespace, name)):
        return None
    return namespace, name


def parse_timestamp(text: Any) -> datetime | None:
    """An RFC 3339 timestamp with uppercase `T` and a zone (`Z` or `±hh:mm`); None if it is not one."""
    match = _TIMESTAMP.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        return None
    head, fraction, zone = text[:19], match.group(1) or "", match.group(2)
    micros = (fraction[1:] + "000000")[:6]
    try:
        return datetime.fromisoformat(f"{head}.{micros}{'+00:00' if zone == 'Z' else zone}")
    except ValueError:
        return None


# -- shape of the document -------------------------------------------------------------------------

def _key(path: str, name: str) -> str:
    """The field path of member `name` under `path`."""
    return f"{path}.{name}" if _PLAIN_NAME.fullmatch(name) else f"{path}[{name!r}]"


def _json_only(c: _Checker, value: Any, path: str, depth: int) -> bool:
    """Report non-JSON values and non-finite numbers; False (and stop) when nested too deep."""
    if depth > MAX_DEPTH:
        c.add(path, f"nested more than {MAX_DEPTH} levels deep")
        return False
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                c.add(path, f"has a key that is not a string: {key!r}")
            elif not _json_only(c, item, _key(path, key), depth + 1):
                return False
    elif isinstance(value, list):
        for index, item in enumerate(value):
            if not _json_only(c, item, f"{path}[{index}]", depth + 1):
                return False
    elif isinstance(value, float) and not math.isfinite(value):
        c.add(path, "must be a finite number")
    elif value is not None and not isinstance(value, (str, int, float, bool)):
        c.add(path, f"must be JSON, not a {type(value).__name__}")
    return True


def _top_level(c: _Checker, definition: dict[str, Any], path: str) -> None:
    """The fields only the root has: Version, TimeoutSeconds, QueryLanguage."""
    if "Version" in definition and not isinstance(definition["Version"], str):
        c.add(f"{path}.Version", "must be a string")
    if "TimeoutSeconds" in definition:
        _integer(c, definition["TimeoutSeconds"], f"{path}.TimeoutSeconds", 1, MAX_INT)
    _query_language(c, definition, path)


def _query_language(c: _Checker, obj: dict[str, Any], path: str) -> None:
    """Only JSONPath is implemented."""
    if "QueryLanguage" in obj and obj["QueryLanguage"] != "JSONPath":
        c.add(f"{path}.QueryLanguage", 'only "JSONPath" is supported')


def _fields(c: _Checker, obj: dict[str, Any], path: str, allowed: Iterable[str], what: str) -> None:
    """Name every field of `obj` that `allowed` does not hold."""
    allowed = frozenset(allowed)
    for name in obj:
        if name in allowed:
            continue
        if name in _UNSUPPORTED:
            c.add(_key(path, name), f'field "{name}" is not supported ({_UNSUPPORTED[name]})')
        elif name in _ALL_FIELDS and what.endswith(" state"):
            c.add(_key(path, name), f'field "{name}" is not allowed in {what}')
        else:
            c.add(_key(path, name), f'unknown field "{name}" in {what}')


def _machine(c: _Checker, machine: dict[str, Any], path: str, allowed: frozenset[str], what: str) -> None:
    """A `StartAt` + `States` scope: the root, a Parallel branch or a Map item processor."""
    _fields(c, machine, path, allowed, what)
    states = machine.get("States")
    if not isinstance(states, dict) or not states:
        c.add(f"{path}.States", "required: an object with at least one state")
        states = {}
    start = machine.get("StartAt")
    if not isinstance(start, str):
        c.add(f"{path}.StartAt", "required: the name of the first state")
    elif states and start not in states:
        c.add(f"{path}.StartAt", f'state "{start}" does not exist')
    edges: dict[str, list[tuple[str, str]]] = {}
    for name, state in states.items():
        edges[name] = _state(c, name, state, _key(f"{path}.States", name))
    _graph(c, states, edges, start if isinstance(start, str) else None, f"{path}.States")


def _graph(c: _Checker, states: dict[str, Any], edges: dict[str, list[tuple[str, str]]], start: str | None,
           path: str) -> None:
    """Transitions name states of this scope; every state is reachable; some state ends the scope."""
    for targets in edges.values():
        for target, field in targets:
            if target not in states:
                c.add(field, f'state "{target}" does not exist')
    if start in states:
        seen, todo = {start}, [start]
        while todo:
            for target, _ in edges.get(todo.pop(), []):
                if target in states and target not in seen:
                    seen.add(target)
                    todo.append(target)
        for name in states:
            if name not in seen:
                c.add(_key(path, name), f'state "{name}" is not reachable from StartAt "{start}"')
    if states and not any(_terminal(state) for state in states.values()):
        c.add(path, 'no terminal state: needs a Succeed or Fail state, or one with "End": true')


def _terminal(state: Any) -> bool:
    """A state that ends its scope."""
    return isinstance(state, dict) and (state.get("Type") in ("Succeed", "Fail") or state.get("End") is True)


# -- states ----------------------------------------------------------------------------------------

def _state(c: _Checker, name: str, state: Any, path: str) -> list[tuple[str, str]]:
    """Check one state; the transitions it makes, as (target, field path)."""
    if name in c.names:
        c.add(path, f'state name "{name}" is already used at {c.names[name]}')
    else:
        c.names[name] = path
    if not name:
        c.add(path, "a state name must not be empty")
    if not isinstance(state, dict):
        c.add(path, "must be an object")
        return []
    kind = state.get("Type")
    if kind not in STATE_TYPES:
        c.add(f"{path}.Type", f"required: one of {', '.join(STATE_TYPES)}")
        return []
    _fields(c, state, path, FIELDS[kind], f"a {kind} state")
    _query_language(c, state, path)
    if "Comment" in state and not isinstance(state["Comment"], str):
        c.add(f"{path}.Comment", "must be a string")
    _paths(c, state, path)
    edges = _flow(c, state, path) if "Next" in FIELDS[kind] else []
    edges += _KIND_CHECKS[kind](c, state, path)
    if "Catch" in state:
        edges += _catchers(c, state["Catch"], f"{path}.Catch")
    if "Retry" in state:
        _retriers(c, state["Retry"], f"{path}.Retry")
    return edges


def _flow(c: _Checker, state: dict[str, Any], path: str) -> list[tuple[str, str]]:
    """`Next` xor `"End": true`."""
    end = state.get("End", False)
    if not isinstance(end, bool):
        c.add(f"{path}.End", "must be a boolean")
    if "Next" in state:
        if end is True:
            c.add(path, 'has both "Next" and "End": true')
        return _target(c, state["Next"], f"{path}.Next")
    if end is not True:
        c.add(path, 'needs "Next" or "End": true')
    return []


def _target(c: _Checker, value: Any, path: str) -> list[tuple[str, str]]:
    """A transition field: a state name (existence is checked per scope)."""
    if not isinstance(value, str):
        c.add(path, "must be the name of a state")
        return []
    return [(value, path)]


def _paths(c: _Checker, state: dict[str, Any], path: str) -> None:
    """InputPath/OutputPath (Path or null), ResultPath (reference path or null), templates."""
    for name in ("InputPath", "OutputPath"):
        if name in state and state[name] is not None:
            _data_path(c, state[name], f"{path}.{name}")
    if "ResultPath" in state and state["ResultPath"] is not None:
        _path(c, state["ResultPath"], f"{path}.ResultPath", reference=True)
    for name in ("Parameters", "ResultSelector", "ItemSelector"):
        if name in state:
            if not isinstance(state[name], dict):
                c.add(f"{path}.{name}", "must be an object")
            else:
                _template(c, state[name], f"{path}.{name}")


def _path(c: _Checker, value: Any, path: str, *, reference: bool = False) -> JsonPath | None:
    """A Path (or reference path) field; None (and a problem) when it does not parse."""
    try:
        return (parse_reference_path if reference else parse_path)(value)
    except PathSyntaxError as err:
        c.add(path, f"{err}: {value!r}" if isinstance(value, str) else str(err))
        return None


def _data_path(c: _Checker, value: Any, path: str) -> None:
    """A Path into the state's data: InputPath, OutputPath and ItemsPath cannot read the context object."""
    parsed = _path(c, value, path)
    if parsed is not None and parsed.context:
        c.add(path, "the context object ($$) can only be read by template values, choice rules and Fail paths")


def _template(c: _Checker, value: Any, path: str) -> None:
    """A payload template: every `key.$` holds a Path, a context path or an intrinsic call."""
    if isinstance(value, list):
        for index, item in enumerate(value):
            _template(c, item, f"{path}[{index}]")
    if not isinstance(value, dict):
        return
    for key, item in value.items():
        field = _key(path, key)
        if not key.endswith(".$"):
            _template(c, item, field)
        elif key == ".$":
            c.add(field, 'a key ending in ".$" needs a name before it')
        elif isinstance(item, str) and item.startswith("States."):
            _intrinsic(c, item, field)
        elif not isinstance(item, str) or not item.startswith("$"):
            c.add(field, 'must be a path ("$...") or an intrinsic function call ("States.Format(...)")')
        else:
            _path(c, item, field)


def _intrinsic(c: _Checker, text: str, path: str) -> None:
    """An intrinsic call parses and names functions that exist."""
    try:
        call = parse_intrinsic(text)
    except PathSyntaxError as err:
        c.add(path, f"{err}: {text!r}")
        return
    todo: list[Intrinsic] = [call]
    while todo:
        current = todo.pop()
        if current.name not in INTRINSICS:
            c.add(path, f'unknown intrinsic function "{current.name}"')
        todo.extend(arg for arg in current.args if isinstance(arg, Intrinsic))


def _integer(c: _Checker, value: Any, path: str, low: int, high: int) -> None:
    """An integer within [low, high]."""
    if isinstance(value, bool) or not isinstance(value, int):
        c.add(path, "must be an integer")
    elif not low <= value <= high:
        c.add(path, f"must be between {low} and {high}")


def _one_of(c: _Checker, state: dict[str, Any], path: str, names: tuple[str, ...], *, required: bool) -> None:
    """At most one (exactly one when `required`) of `names`."""
    present = [name for name in names if name in state]
    if len(present) > 1:
        c.add(path, f"has more than one of {', '.join(present)}")
    elif required and not present:
        c.add(path, f"needs one of {', '.join(names)}")


def _none(c: _Checker, state: dict[str, Any], path: str) -> list[tuple[str, str]]:
    """Types with nothing of their own to check (Pass, Succeed)."""
    return []


def _task(c: _Checker, state: dict[str, Any], path: str) -> list[tuple[str, str]]:
    """Resource is a Function; timeouts are positive and the heartbeat shorter than the timeout."""
    if "Resource" not in state:
        c.add(f"{path}.Resource", 'required: "function:<name>" or "function:<namespace>/<name>"')
    elif parse_resource(state["Resource"]) is None:
        c.add(f"{path}.Resource", f'must be "function:<name>" or "function:<namespace>/<name>" '
              f'(lowercase RFC 1123 labels), not {state["Resource"]!r}')
    for name in ("TimeoutSeconds", "HeartbeatSeconds"):
        _one_of(c, state, path, (name, f"{name}Path"), required=False)
        if name in state:
            _integer(c, state[name], f"{path}.{name}", 1, MAX_INT)
        if f"{name}Path" in state:
            _path(c, state[f"{name}Path"], f"{path}.{name}Path", reference=True)
    timeout, heartbeat = state.get("TimeoutSeconds"), state.get("HeartbeatSeconds")
    if isinstance(timeout, int) and isinstance(heartbeat, int) and heartbeat >= timeout:
        c.add(f"{path}.HeartbeatSeconds", "must be smaller than TimeoutSeconds")
    return []


def _wait(c: _Checker, state: dict[str, Any], path: str) -> list[tuple[str, str]]:
    """Exactly one of Seconds, SecondsPath, Timestamp, TimestampPath."""
    _one_of(c, state, path, _WAIT_FIELDS, required=True)
    if "Seconds" in state:
        _integer(c, state["Seconds"], f"{path}.Seconds", 0, MAX_INT)
    if "Timestamp" in state and parse_timestamp(state["Timestamp"]) is None:
        c.add(f"{path}.Timestamp", "must be an RFC 3339 timestamp like 2026-01-31T12:00:00Z")
    for name in ("SecondsPath", "TimestampPath"):
        if name in state:
            _path(c, state[name], f"{path}.{name}", reference=True)
    return []


def _fail(c: _Checker, state: dict[str, Any], path: str) -> list[tuple[str, str]]:
    """At most one of Error/ErrorPath and of Cause/CausePath."""
    for name in ("Error", "Cause"):
        _one_of(c, state, path, (name, f"{name}Path"), required=False)
        if name in state and not isinstance(state[name], str):
            c.add(f"{path}.{name}", "must be a string")
        if f"{name}Path" in state:
            value = state[f"{name}Path"]
            if isinstance(value, str) and value.startswith("States."):
                _intrinsic(c, value, f"{path}.{name}Path")
            else:
                _path(c, value, f"{path}.{name}Path")
    return []


def _parallel(c: _Checker, state: dict[str, Any], path: str) -> list[tuple[str, str]]:
    """Branches: a non-empty array of sub-machines."""
    branches = state.get("Branches")
    if not isinstance(branches, list) or not branches:
        c.add(f"{path}.Branches", "required: an array of at least one branch")
        return []
    for index, branch in enumerate(branches):
        if isinstance(branch, dict):
            _machine(c, branch, f"{path}.Branches[{index}]", _BRANCH_FIELDS, "a branch")
        else:
            c.add(f"{path}.Branches[{index}]", "must be an object with StartAt and States")
    return []


def _map(c: _Checker, state: dict[str, Any], path: str) -> list[tuple[str, str]]:
    """One item processor, an items path, one item selector, a concurrency bound."""
    _one_of(c, state, path, ("ItemProcessor", "Iterator"), required=True)
    _one_of(c, state, path, ("ItemSelector", "Parameters"), required=False)
    _one_of(c, state, path, ("MaxConcurrency", "MaxConcurrencyPath"), required=False)
    for name in ("ItemProcessor", "Iterator"):
        if name not in state:
            continue
        if not isinstance(state[name], dict):
            c.add(f"{path}.{name}", "must be an object with StartAt and States")
            continue
        _machine(c, state[name], f"{path}.{name}", _PROCESSOR_FIELDS, "an item processor")
        _processor_config(c, state[name].get("ProcessorConfig"), f"{path}.{name}.ProcessorConfig")
    if "ItemsPath" in state:
        _data_path(c, state["ItemsPath"], f"{path}.ItemsPath")
    if "MaxConcurrency" in state:
        _integer(c, state["MaxConcurrency"], f"{path}.MaxConcurrency", 0, MAX_INT)
    if "MaxConcurrencyPath" in state:
        _path(c, state["MaxConcurrencyPath"], f"{path}.MaxConcurrencyPath", reference=True)
    return []


def _processor_config(c: _Checker, config: Any, path: str) -> None:
    """Only the inline mode runs here."""
    if config is None:
        return
    if not isinstance(config, dict):
        c.add(path, "must be an object")
        return
    _fields(c, config, path, ("Mode",), "ProcessorConfig")
    if config.get("Mode", "INLINE") != "INLINE":
        c.add(f"{path}.Mode", 'only "INLINE" is supported (distributed Map is not)')


# -- Retry and Catch -------------------------------------------------------------------------------

def _error_equals(c: _Checker, holder: dict[str, Any], path: str, *, last: bool, what: str) -> None:
    """ErrorEquals: a non-empty array of error names; `States.ALL` alone, in the last retrier/catcher."""
    names = holder.get("ErrorEquals")
    field = f"{path}.ErrorEquals"
    if not isinstance(names, list) or not names:
        c.add(field, "required: a non-empty array of error names")
        return
    for index, name in enumerate(names):
        if not isinstance(name, str) or not name:
            c.add(f"{field}[{index}]", "must be a non-empty string")
        elif name.startswith("States.") and name not in KNOWN_ERRORS:
            c.add(f"{field}[{index}]", f'unknown error name "{name}"')
    if "States.ALL" in names:
        if len(names) > 1:
            c.add(field, '"States.ALL" must be the only error name in its ErrorEquals')
        if not last:
            c.add(field, f'a {what} with "States.ALL" must be the last one')


def _retriers(c: _Checker, value: Any, path: str) -> None:
    """Retry: an array of retriers with the spec's bounds."""
    if not isinstance(value, list):
        c.add(path, "must be an array of retriers")
        return
    for index, retrier in enumerate(value):
        field = f"{path}[{index}]"
        if not isinstance(retrier, dict):
            c.add(field, "must be an object")
            continue
        _fields(c, retrier, field, _RETRIER_FIELDS, "a retrier")
        _error_equals(c, retrier, field, last=index == len(value) - 1, what="retrier")
        for name, low, high in (("IntervalSeconds", 1, MAX_INT), ("MaxAttempts", 0, MAX_INT),
                                ("MaxDelaySeconds", 1, MAX_DELAY_SECONDS)):
            if name in retrier:
                _integer(c, retrier[name], f"{field}.{name}", low, high)
        rate = retrier.get("BackoffRate", 2.0)
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or rate < 1.0:
            c.add(f"{field}.BackoffRate", "must be a number of at least 1.0")
        if retrier.get("JitterStrategy", "NONE") not in ("FULL", "NONE"):
            c.add(f"{field}.JitterStrategy", 'must be "FULL" or "NONE"')


def _catchers(c: _Checker, value: Any, path: str) -> list[tuple[str, str]]:
    """Catch: an array of catchers, each with a Next; their transitions."""
    if not isinstance(value, list):
        c.add(path, "must be an array of catchers")
        return []
    edges: list[tuple[str, str]] = []
    for index, catcher in enumerate(value):
        field = f"{path}[{index}]"
        if not isinstance(catcher, dict):
            c.add(field, "must be an object")
            continue
        _fields(c, catcher, field, _CATCHER_FIELDS, "a catcher")
        _error_equals(c, catcher, field, last=index == len(value) - 1, what="catcher")
        if "Next" not in catcher:
            c.add(f"{field}.Next", "required: the state to go to")
        else:
            edges += _target(c, catcher["Next"], f"{field}.Next")
        if catcher.get("ResultPath") is not None:
            _path(c, catcher["ResultPath"], f"{field}.ResultPath", reference=True)
    return edges


# -- Choice ----------------------------------------------------------------------------------------

def _choice(c: _Checker, state: dict[str, Any], path: str) -> list[tuple[str, str]]:
    """Choices: a non-empty array of rules, each with Next; an optional Default."""
    choices = state.get("Choices")
    edges: list[tuple[str, str]] = []
    if not isinstance(choices, list) or not choices:
        c.add(f"{path}.Choices", "required: an array of at least one choice rule")
        choices = []
    for index, rule in enumerate(choices):
        field = f"{path}.Choices[{index}]"
        if isinstance(rule, dict):
            if "Next" not in rule:
                c.add(f"{field}.Next", "required: the state to go to when the rule matches")
            else:
                edges += _target(c, rule["Next"], f"{field}.Next")
        _rule(c, rule, field, top=True)
    if "Default" in state:
        edges += _target(c, state["Default"], f"{path}.Default")
    return edges


def _rule(c: _Checker, rule: Any, path: str, *, top: bool) -> None:
    """A choice rule: a boolean combination (And/Or/Not) or one comparison on a Variable."""
    if not isinstance(rule, dict):
        c.add(path, "must be an object (a choice rule)")
        return
    if not top and "Next" in rule:
        c.add(f"{path}.Next", 'only a top-level choice rule may have "Next"')
    combinators = [name for name in ("And", "Or", "Not") if name in rule]
    if combinators:
        _combination(c, rule, path, combinators)
    else:
        _comparison(c, rule, path)


def _combination(c: _Checker, rule: dict[str, Any], path: str, combinators: list[str]) -> None:
    """And/Or (non-empty arrays of rules) or Not (one rule)."""
    _fields(c, rule, path, {"And", "Or", "Not", "Comment", "Next"}, "a boolean choice rule")
    if len(combinators) > 1:
        c.add(path, f"has more than one of {', '.join(combinators)}")
    for name in combinators:
        value = rule[name]
        if name == "Not":
            _rule(c, value, f"{path}.Not", top=False)
        elif not isinstance(value, list) or not value:
            c.add(f"{path}.{name}", "must be a non-empty array of choice rules")
        else:
            for index, inner in enumerate(value):
                _rule(c, inner, f"{path}.{name}[{index}]", top=False)


def _comparison(c: _Checker, rule: dict[str, Any], path: str) -> None:
    """Variable plus exactly one operator, with an operand of the operator's type."""
    _fields(c, rule, path, {"Variable", "Comment", "Next", *COMPARISONS}, "a choice rule")
    if "Variable" not in rule:
        c.add(f"{path}.Variable", "required: the path of the value to compare")
    else:
        _path(c, rule["Variable"], f"{path}.Variable")
    operators = [name for name in rule if name in COMPARISONS]
    if not operators:
        c.add(path, 'needs a comparison operator such as "StringEquals", or And/Or/Not')
    elif len(operators) > 1:
        c.add(path, f"has more than one comparison operator: {', '.join(operators)}")
    for name in operators:
        _operand(c, name, rule[name], f"{path}.{name}")


def _operand(c: _Checker, operator: str, value: Any, path: str) -> None:
    """The right-hand side of one comparison has the operator's type."""
    kind = COMPARISONS[operator]
    if kind == "path":
        _path(c, value, path)
    elif kind == "timestamp":
        if parse_timestamp(value) is None:
            c.add(path, "must be an RFC 3339 timestamp like 2026-01-31T12:00:00Z")
    elif kind in ("boolean", "flag"):
        if not isinstance(value, bool):
            c.add(path, "must be true or false")
    elif kind == "number":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            c.add(path, "must be a number")
    elif not isinstance(value, str):
        c.add(path, "must be a string")


_KIND_CHECKS = {
    "Pass": _none, "Succeed": _none, "Task": _task, "Choice": _choice, "Wait": _wait, "Fail": _fail,
    "Parallel": _parallel, "Map": _map,
}
