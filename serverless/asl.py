"""The Amazon States Language interpreter: a deterministic state machine over JSON-only run state.

A workflow run is a `RunState` that holds everything: the status, the step count and a tree of
frames — the root execution and, for every running Parallel branch and Map item, a child frame.
Nothing lives outside it, so the runner (`WorkflowRunController`) can commit it to the store after
every step and a new leader can resume from the last commit without repeating a finished Task.

The runner drives it with three pure functions:

- `start(definition, input, run_id=..., now=...)` makes the first RunState;
- `step(definition, run, now=...)` advances every frame as far as it can without the outside
  world and returns a `Step`: the new RunState, every Task call handed out and not answered yet
  (`calls`), the time to step again for a Wait or a retry back-off (`wait_until`) and the events
  for the run's history. The runner commits `step.run` first, then starts the calls it has not
  started yet (by `Call.id`) — several at once for Parallel branches and Map items;
- `complete_call(run, call_id, result=... | error=..., cause=...)` records a Task's outcome, in any
  order; the next `step` acts on it. An answer for a call the run no longer waits for (a retried
  attempt, a cancelled branch, a repeat after a crash) is ignored.

A call's id is `<run id>/<frame>.<visit>/<state>/<attempt>`: the same when a committed call is
sent again after a crash (the router's result cache answers it), different for every retry and
every loop iteration. Retry delays and FULL jitter come from the definition and a hash of the call
id, so a replay computes the same times. `max_steps` bounds the state transitions of the whole run
(Parallel branches and Map items included): a loop that never ends fails with
`minik8s.StepLimitExceeded`, which, like `States.Runtime`, no Retry or Catch can intercept.
"""

from __future__ import annotations

import copy
import hashlib
import math
from dataclasses import dataclass, field, fields
from datetime import datetime, timezone
from typing import Any, Callable

from minik8s.api.asl import parse_resource, parse_timestamp, validate_definition

from .aslchoice import choose
from .asldata import (RUNTIME, StatesError, apply_template, effective_input, path_value, result_into,
                      state_output)

__all__ = [
    "DEFAULT_MAX_STEPS", "FAILED", "RUNNING", "STEP_LIMIT_EXCEEDED", "SUCCEEDED", "Call", "InvalidDefinitionError",
    "RunState", "Step", "backoff", "complete_call", "error_matches", "is_json", "pending_calls", "start", "step",
]

RUNNING, SUCCEEDED, FAILED = "Running", "Succeeded", "Failed"
STEP_LIMIT_EXCEEDED = "minik8s.StepLimitExceeded"
TIMEOUT = "States.Timeout"
TASK_FAILED = "States.TaskFailed"
DEFAULT_MAX_STEPS = 1000
DEFAULT_TASK_TIMEOUT = 60  # the spec's default TimeoutSeconds for a Task
DATA_LIMIT_EXCEEDED = "States.DataLimitExceeded"
MAX_DELAY = 99999999.0  # no back-off waits longer, whatever the rate
MAX_DATA_DEPTH = 128  # deeper data could exhaust Python's recursion in copies and JSON
UNCATCHABLE = frozenset({RUNTIME, STEP_LIMIT_EXCEEDED})
# Error names a wildcard matcher does not match (AWS: States.ALL never catches these two).
_NOT_ALL = frozenset({RUNTIME, DATA_LIMIT_EXCEEDED, STEP_LIMIT_EXCEEDED})


class InvalidDefinitionError(ValueError):
    """`start` was given a definition that `minik8s.api.asl.validate_definition` rejects."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{path}: {message}" for path, message in problems))
        self.problems = problems


def _camel(name: str) -> str:
    """`start_time` → `startTime`: the run state is stored in Kubernetes' spelling."""
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)


class _Json:
    """to_json/from_json for the dataclasses below: camelCase keys, deep copies."""

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (a copy)."""
        return {_camel(f.name): copy.deepcopy(getattr(self, f.name))
                for f in fields(self) if f.name != "frames"}  # type: ignore[arg-type]

    @classmethod
    def _kwargs(cls, data: dict[str, Any]) -> dict[str, Any]:
        """Constructor arguments from a to_json dict."""
        return {f.name: copy.deepcopy(data[_camel(f.name)]) for f in fields(cls)  # type: ignore[arg-type]
                if _camel(f.name) in data}


@dataclass
class Frame(_Json):
    """One execution inside a run: the root, a Parallel branch or a Map item.

    `phase` says what it waits for: "enter" (run `state` now), "call" (`call`'s answer in
    `outcome`), "sleep" (until `until`, then `resume` "wait" or "retry"), "children" (its Parallel
    or Map `group`), or it is over: "succeeded" (`output`) / "failed" (`error`, `cause`), which its
    parent collects.
    """

    id: str
    parent: str | None
    scope: list[list[Any]]  # [[state name, branch index (-1 for a Map)], ...] from the root States
    index: int
    state: str
    raw: Any
    phase: str = "enter"
    visit: int = 0
    entered: float = 0.0
    attempt: int = 0
    retries: dict[str, int] = field(default_factory=dict)
    call: dict[str, Any] | None = None
    outcome: dict[str, Any] | None = None
    until: float | None = None
    resume: str | None = None
    group: dict[str, Any] | None = None
    output: Any = None
    error: str | None = None
    cause: str | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Frame:
        """The frame `to_json` wrote."""
        return cls(**cls._kwargs(data))


@dataclass
class RunState(_Json):
    """Everything about one run; JSON-serialisable through `to_json`/`from_json`."""

    run_id: str
    name: str
    state_machine: str
    input: Any
    start_time: float
    max_steps: int
    deadline: float | None = None
    status: str = RUNNING
    steps: int = 0
    next_frame: int = 0
    frames: dict[str, Frame] = field(default_factory=dict)
    output: Any = None
    error: str | None = None
    cause: str | None = None

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (a copy); frames as a list in creation order."""
        data = super().to_json()  # everything but the frames
        data["frames"] = [frame.to_json() for frame in self.frames.values()]
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunState:
        """The run state `to_json` wrote."""
        kwargs = cls._kwargs({k: v for k, v in data.items() if k != "frames"})
        run = cls(**kwargs)
        run.frames = {frame["id"]: Frame.from_json(frame) for frame in data.get("frames", [])}
        return run


@dataclass(frozen=True)
class Call:
    """A Task invocation the runner must make: the Function, its payload, its deadline."""

    id: str
    function: str
    namespace: str | None  # None: the workflow's own namespace
    parameters: Any
    timeout_seconds: int
    state: str
    attempt: int


@dataclass
class Step:
    """What one `step` did and what the runner must do next.

    `run` is the state to commit before anything else. `calls` are *all* the calls handed out and
    not answered yet (not only new ones): the runner starts those it has not in flight, by id — after
    a failover that is all of them, with their old ids. `wait_until` is when to step again if no
    answer arrives first (a Wait, a retry back-off, the run's TimeoutSeconds); None when only answers
    can move the run. `transitions` counts the states entered; `events` are for the run's history.
    """

    run: RunState
    calls: list[Call]
    wait_until: float | None
    transitions: int
    events: list[dict[str, Any]]

    @property
    def done(self) -> bool:
        """True once the run succeeded or failed."""
        return self.run.status != RUNNING


class _Abort(Exception):
    """An error that ends the whole run at once (States.Runtime, the step limit)."""

    def __init__(self, error: str, cause: str | None) -> None:
        super().__init__(error)
        self.error = error
        self.cause = cause


# -- the public functions --------------------------------------------------------------------------

def start(definition: dict[str, Any], input: Any, *, run_id: str, now: float, max_steps: int = DEFAULT_MAX_STEPS,
          name: str = "", state_machine: str = "") -> RunState:
    """A new run of a valid `definition` on `input`, entering its StartAt state at `now`."""
    problems = validate_definition(definition)
    if problems:
        raise InvalidDefinitionError(problems)
    if max_steps < 1:
        raise ValueError("max_steps must be at least 1")
    if not is_json(input):
        raise ValueError("the input must be plain JSON (finite numbers, string keys)")
    timeout = definition.get("TimeoutSeconds")
    run = RunState(run_id=run_id, name=name or run_id, state_machine=state_machine, input=copy.deepcopy(input),
                   start_time=now, max_steps=max_steps, deadline=now + timeout if timeout else None)
    engine = _Engine(definition, run, now)
    engine.guarded(lambda: engine.enter(engine.new_frame(None, [], 0), definition["StartAt"], run.input))
    return run


def step(definition: dict[str, Any], run: RunState, *, now: float) -> Step:
    """Advance `run` (a copy of it) as far as it goes at time `now` without new call outcomes."""
    run = copy.deepcopy(run)
    engine = _Engine(definition, run, now)
    if run.status == RUNNING:
        engine.guarded(engine.advance_all)
    return Step(run, pending_calls(run), engine.wait_until(), engine.transitions, engine.events)


def complete_call(run: RunState, call_id: str, *, result: Any = None, error: str | None = None,
                  cause: str | None = None) -> RunState:
    """`run` (a copy) with the outcome of call `call_id`: `result`, or `error` and `cause`.

    Ignored when the run does not wait for that call (any more).
    """
    run = copy.deepcopy(run)
    if error is None and not is_json(result):
        error, cause = TASK_FAILED, "the function's result is not JSON (NaN, Infinity or a non-JSON type)"
    for frame in run.frames.values():
        if frame.phase == "call" and frame.call and frame.call["id"] == call_id and frame.outcome is None:
            frame.outcome = ({"error": error, "cause": None if cause is None else str(cause)} if error is not None
                             else {"result": copy.deepcopy(result)})
            break
    return run


def is_json(value: Any, *, max_depth: int = MAX_DATA_DEPTH) -> bool:
    """Whether `value` is plain JSON: dicts with string keys, lists, strings, finite numbers, booleans, null."""
    todo = [(value, 0)]
    while todo:
        current, depth = todo.pop()
        if depth > max_depth:
            return False
        if isinstance(current, dict):
            if not all(isinstance(key, str) for key in current):
                return False
            todo.extend((item, depth + 1) for item in current.values())
        elif isinstance(current, list):
            todo.extend((item, depth + 1) for item in current)
        elif isinstance(current, float):
            if not math.isfinite(current):
                return False
        elif current is not None and not isinstance(current, (str, int, bool)):
            return False
    return True


def pending_calls(run: RunState) -> list[Call]:
    """Every call handed out and not answered yet, in frame order."""
    return [Call(id=f.call["id"], function=f.call["function"], namespace=f.call["namespace"],
                 parameters=copy.deepcopy(f.call["parameters"]), timeout_seconds=f.call["timeoutSeconds"],
                 state=f.state, attempt=f.attempt)
            for f in run.frames.values() if f.phase == "call" and f.call and f.outcome is None]


# -- the engine ------------------------------------------------------------------------------------

def _iso(seconds: float) -> str:
    """A context-object timestamp: RFC 3339 with milliseconds, as AWS writes them."""
    text = datetime.fromtimestamp(max(seconds, 0.0), timezone.utc).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def error_matches(names: list[str], error: str | None) -> bool:
    """Whether an ErrorEquals list matches `error` (States.ALL; States.TaskFailed is all but Timeout)."""
    if error in names:
        return True
    if error in _NOT_ALL:
        return False
    return "States.ALL" in names or ("States.TaskFailed" in names and error != TIMEOUT)


def backoff(retrier: dict[str, Any], used: int, *, seed: str) -> float:
    """The delay before retry number `used` + 1: interval × rate^used, capped, with FULL jitter."""
    interval = retrier.get("IntervalSeconds", 1)
    rate = float(retrier.get("BackoffRate", 2.0))
    try:
        delay = interval * rate ** used
    except OverflowError:
        delay = MAX_DELAY
    delay = min(delay, float(retrier.get("MaxDelaySeconds", MAX_DELAY)), MAX_DELAY)
    if retrier.get("JitterStrategy") == "FULL":
        delay *= int.from_bytes(hashlib.sha256(seed.encode()).digest()[:8], "big") / 2 ** 64
    return delay


class _Engine:
    """Applies the definition to one RunState at one moment; records events and transitions."""

    def __init__(self, definition: dict[str, Any], run: RunState, now: float) -> None:
        self.definition = definition
        self.run = run
        self.now = now
        self.events: list[dict[str, Any]] = []
        self.transitions = 0

    def guarded(self, action: Callable[[], None]) -> None:
        """Run `action`; an uncatchable error or a timed-out run ends the run."""
        try:
            if self.run.deadline is not None and self.now >= self.run.deadline:
                raise _Abort(TIMEOUT, "the workflow ran longer than its TimeoutSeconds")
            action()
        except _Abort as abort:
            self.end_run(FAILED, error=abort.error, cause=abort.cause)

    def advance_all(self) -> None:
        """Advance frames, in creation order, until none can move."""
        moved = True
        while moved and self.run.status == RUNNING:
            moved = False
            for frame_id in list(self.run.frames):
                frame = self.run.frames.get(frame_id)
                if frame is not None and self.run.status == RUNNING and self.advance(frame):
                    moved = True

    def advance(self, frame: Frame) -> bool:
        """One move of one frame; False when it waits."""
        if frame.phase == "enter":
            self.execute(frame)
            return True
        if frame.phase == "call" and frame.outcome is not None:
            self.answered(frame)
            return True
        if frame.phase == "sleep" and self.now >= (frame.until or 0.0):
            self.wake(frame)
            return True
        if frame.phase == "children":
            return self.collect(frame)
        return False

    def wait_until(self) -> float | None:
        """The earliest time a sleeping frame (or the run's deadline) needs a step."""
        times = [f.until for f in self.run.frames.values() if f.phase == "sleep" and f.until is not None]
        if self.run.status == RUNNING and self.run.deadline is not None:
            times.append(self.run.deadline)
        return min(times) if times else None

    # -- bookkeeping -------------------------------------------------------------------------------

    def event(self, kind: str, frame: Frame | None = None, **details: Any) -> None:
        """Record one history event."""
        entry: dict[str, Any] = {"type": kind, "time": self.now}
        if frame is not None:
            entry.update(frame=frame.id, state=frame.state)
        entry.update(details)
        self.events.append(entry)

    def new_frame(self, parent: str | None, scope: list[list[Any]], index: int) -> Frame:
        """A fresh frame, registered in the run."""
        frame = Frame(id=str(self.run.next_frame), parent=parent, scope=scope, index=index, state="", raw=None)
        self.run.next_frame += 1
        self.run.frames[frame.id] = frame
        return frame

    def states(self, scope: list[list[Any]]) -> dict[str, Any]:
        """The States object a frame's scope names."""
        try:
            states = self.definition["States"]
            for name, branch in scope:
                owner = states[name]
                machine = owner["Branches"][branch] if owner["Type"] == "Parallel" else (
                    owner.get("ItemProcessor") or owner["Iterator"])
                states = machine["States"]
            return states
        except (KeyError, IndexError, TypeError):
            raise _Abort(RUNTIME, "the run's definition no longer has the states it was running") from None

    def state_of(self, frame: Frame) -> dict[str, Any]:
        """The definition of the state a frame is in."""
        states = self.states(frame.scope)
        if frame.state not in states:
            raise _Abort(RUNTIME, f'the run\'s definition no longer has state "{frame.state}"')
        return states[frame.state]

    def context(self, frame: Frame, item: dict[str, Any] | None = None) -> dict[str, Any]:
        """The context object `$$` as seen from a frame (with `Map.Item` inside an ItemSelector)."""
        context: dict[str, Any] = {
            "Execution": {"Id": self.run.run_id, "Input": self.run.input, "Name": self.run.name,
                          "StartTime": _iso(self.run.start_time)},
            "State": {"Name": frame.state, "EnteredTime": _iso(frame.entered), "RetryCount": frame.attempt},
            "StateMachine": {"Id": self.run.state_machine, "Name": self.run.state_machine},
        }
        if item is not None:
            context["Map"] = {"Item": item}
        return context

    def template(self, frame: Frame, template: Any, data: Any, item: dict[str, Any] | None = None) -> Any:
        """A template filled for this frame (random intrinsics seeded by the state visit)."""
        seed = f"{self.run.run_id}/{frame.id}.{frame.visit}/{frame.attempt}"
        if item is not None:
            seed += f"/{item['Index']}"
        return apply_template(template, data, self.context(frame, item), seed=seed)

    # -- transitions -------------------------------------------------------------------------------

    def enter(self, frame: Frame, name: str, raw: Any) -> None:
        """Move `frame` into state `name` with raw input `raw`; counts against the step limit."""
        self.run.steps += 1
        if self.run.steps > self.run.max_steps:
            raise _Abort(STEP_LIMIT_EXCEEDED, f"the run made more than {self.run.max_steps} state transitions")
        if not is_json(raw):
            raise _Abort(DATA_LIMIT_EXCEEDED, f'the input of state "{name}" is nested more than {MAX_DATA_DEPTH} '
                                              "levels deep")
        frame.state, frame.raw, frame.phase = name, raw, "enter"
        frame.visit += 1
        frame.attempt, frame.retries, frame.entered = 0, {}, self.now
        frame.call = frame.outcome = frame.until = frame.resume = frame.group = frame.output = None
        self.transitions += 1
        self.event("StateEntered", frame)

    def transition(self, frame: Frame, state: dict[str, Any], output: Any) -> None:
        """Leave a state with `output`: to its Next, or end the frame."""
        if state.get("End"):
            self.finish(frame, output=output)
        else:
            self.enter(frame, state["Next"], output)

    def finish(self, frame: Frame, *, output: Any = None, error: str | None = None, cause: str | None = None,
               failed: bool = False) -> None:
        """The frame is over; the root's end is the run's end, a child's is collected by its parent."""
        frame.phase = "failed" if failed else "succeeded"
        frame.output, frame.error, frame.cause = output, error, cause
        frame.call = frame.outcome = frame.group = None
        if frame.parent is None:
            self.end_run(FAILED if failed else SUCCEEDED, output=output, error=error, cause=cause)

    def end_run(self, status: str, *, output: Any = None, error: str | None = None, cause: str | None = None) -> None:
        """The run is over: record the outcome, drop every frame (no call is awaited any more)."""
        run = self.run
        run.status, run.output, run.error, run.cause = status, output, error, cause
        run.frames = {}
        if status == SUCCEEDED:
            self.event("RunSucceeded")
        else:
            self.event("RunFailed", error=error, cause=cause)

    def drop_children(self, frame: Frame) -> None:
        """Forget a group's running children and all below them (their calls' answers are ignored)."""
        todo = list(frame.group["active"]) if frame.group else []
        while todo:
            child = self.run.frames.pop(todo.pop(), None)
            if child is not None and child.group:
                todo.extend(child.group["active"])
        frame.group = None

    # -- running states ----------------------------------------------------------------------------

    def execute(self, frame: Frame) -> None:
        """Run the frame's current state from its raw input."""
        state = self.state_of(frame)
        try:
            _EXECUTORS[state["Type"]](self, frame, state)
        except StatesError as err:
            self.failed(frame, state, err.error, err.cause)

    def failed(self, frame: Frame, state: dict[str, Any], error: str | None, cause: str | None) -> None:
        """A state reported an error: the first matching retrier, else the first matching catcher, else fail."""
        if error in UNCATCHABLE:
            raise _Abort(error or RUNTIME, cause)
        if self.retry(frame, state, error):
            return
        for index, catcher in enumerate(state.get("Catch", [])):
            if error_matches(catcher["ErrorEquals"], error):
                info = {key: value for key, value in (("Error", error), ("Cause", cause)) if value is not None}
                try:
                    output = result_into(catcher.get("ResultPath", "$"), frame.raw, info)
                except StatesError as err:
                    self.finish(frame, error=err.error, cause=err.cause, failed=True)
                    return
                self.event("Caught", frame, error=error, catcher=index)
                self.enter(frame, catcher["Next"], output)
                return
        self.finish(frame, error=error, cause=cause, failed=True)

    def retry(self, frame: Frame, state: dict[str, Any], error: str | None) -> bool:
        """Schedule a retry if the first retrier matching `error` has attempts left."""
        for index, retrier in enumerate(state.get("Retry", [])):
            if not error_matches(retrier["ErrorEquals"], error):
                continue
            used = frame.retries.get(str(index), 0)
            if used >= retrier.get("MaxAttempts", 3):
                return False
            delay = backoff(retrier, used, seed=f"{self.run.run_id}/{frame.id}.{frame.visit}/{frame.attempt}")
            frame.retries[str(index)] = used + 1
            frame.attempt += 1
            frame.phase, frame.until, frame.resume = "sleep", self.now + delay, "retry"
            frame.call = frame.outcome = frame.group = None
            self.event("RetryScheduled", frame, error=error, retrier=index, attempt=frame.attempt, at=frame.until)
            return True
        return False

    def wake(self, frame: Frame) -> None:
        """A Wait is over (go on) or a back-off is over (run the state again)."""
        resume, frame.until, frame.resume = frame.resume, None, None
        if resume == "retry":
            frame.phase = "enter"
            self.execute(frame)
            return
        output, frame.output = frame.output, None
        self.transition(frame, self.state_of(frame), output)

    def answered(self, frame: Frame) -> None:
        """A Task's outcome arrived: process the result, or handle the error."""
        state, outcome, call = self.state_of(frame), frame.outcome or {}, frame.call or {}
        frame.call = frame.outcome = None
        if "error" in outcome:
            self.event("TaskFailed", frame, call=call.get("id"), error=outcome["error"], cause=outcome.get("cause"))
            self.failed(frame, state, outcome["error"], outcome.get("cause"))
            return
        self.event("TaskSucceeded", frame, call=call.get("id"))
        self.worked(frame, state, outcome.get("result"))

    def worked(self, frame: Frame, state: dict[str, Any], result: Any) -> None:
        """Task/Parallel/Map result → ResultSelector → ResultPath (into the raw input) → OutputPath."""
        try:
            if "ResultSelector" in state:
                result = self.template(frame, state["ResultSelector"], result)
            output = state_output(state, result_into(state.get("ResultPath", "$"), frame.raw, result))
        except StatesError as err:
            self.failed(frame, state, err.error, err.cause)
            return
        self.transition(frame, state, output)

    # -- Parallel and Map children -----------------------------------------------------------------

    def spawn(self, frame: Frame, state: dict[str, Any], inputs: list[Any], limit: int) -> None:
        """Start a group of children (branches or items), at most `limit` at once (0: no limit)."""
        if not inputs:
            self.worked(frame, state, [])
            return
        frame.phase = "children"
        frame.group = {"inputs": inputs, "next": 0, "active": [], "results": [None] * len(inputs),
                       "left": len(inputs), "limit": limit}
        self.start_children(frame, state)

    def start_children(self, frame: Frame, state: dict[str, Any]) -> None:
        """Start waiting children while the concurrency limit allows."""
        group = frame.group or {}
        parallel = state["Type"] == "Parallel"
        while group["next"] < len(group["inputs"]) and (not group["limit"] or len(group["active"]) < group["limit"]):
            index = group["next"]
            machine = state["Branches"][index] if parallel else (state.get("ItemProcessor") or state["Iterator"])
            child = self.new_frame(frame.id, [*frame.scope, [frame.state, index if parallel else -1]], index)
            group["active"].append(child.id)
            child_input, group["inputs"][index] = group["inputs"][index], None
            group["next"] = index + 1
            self.enter(child, machine["StartAt"], child_input)

    def collect(self, frame: Frame) -> bool:
        """Gather finished children; the first failure fails the state, the last success completes it."""
        group, state, moved = frame.group or {}, self.state_of(frame), False
        for child_id in list(group.get("active", [])):
            child = self.run.frames[child_id]
            if child.phase == "failed":
                self.drop_children(frame)
                self.failed(frame, state, child.error, child.cause)
                return True
            if child.phase == "succeeded":
                group["results"][child.index] = child.output
                group["left"] -= 1
                group["active"].remove(child_id)
                del self.run.frames[child_id]
                moved = True
        if group["left"] == 0:
            results, frame.group = group["results"], None
            self.worked(frame, state, results)
        elif moved:
            self.start_children(frame, state)
        return moved


# -- one function per state type -------------------------------------------------------------------

def _pass(engine: _Engine, frame: Frame, state: dict[str, Any]) -> None:
    """Pass: Result (or the effective input) through ResultPath and OutputPath."""
    data = effective_input(state, frame.raw)
    if "Parameters" in state:
        data = engine.template(frame, state["Parameters"], data)
    result = copy.deepcopy(state["Result"]) if "Result" in state else data
    engine.transition(frame, state, state_output(state, result_into(state.get("ResultPath", "$"), frame.raw, result)))


def _task(engine: _Engine, frame: Frame, state: dict[str, Any]) -> None:
    """Task: hand out a call to the Function with the effective parameters."""
    data = effective_input(state, frame.raw)
    parameters = engine.template(frame, state["Parameters"], data) if "Parameters" in state else data
    timeout = state.get("TimeoutSeconds", DEFAULT_TASK_TIMEOUT)
    if "TimeoutSecondsPath" in state:
        timeout = path_value(state["TimeoutSecondsPath"], data, None, error=RUNTIME, what="TimeoutSecondsPath")
        if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1:
            raise StatesError(RUNTIME, f"TimeoutSecondsPath must name a positive integer, not {timeout!r}")
    namespace, function = parse_resource(state["Resource"]) or (None, "")
    call_id = f"{engine.run.run_id}/{frame.id}.{frame.visit}/{frame.state}/{frame.attempt}"
    frame.call = {"id": call_id, "function": function, "namespace": namespace, "parameters": parameters,
                  "timeoutSeconds": timeout}
    frame.phase, frame.outcome = "call", None
    engine.event("TaskScheduled", frame, call=call_id, function=state["Resource"])


def _choice(engine: _Engine, frame: Frame, state: dict[str, Any]) -> None:
    """Choice: the first matching rule's Next (or Default) with the effective input."""
    data = effective_input(state, frame.raw)
    target = choose(state, data, engine.context(frame))
    engine.enter(frame, target, state_output(state, data))


def _wait(engine: _Engine, frame: Frame, state: dict[str, Any]) -> None:
    """Wait: sleep until a time (a time already past does not wait)."""
    data = effective_input(state, frame.raw)
    until = _wait_time(state, data, engine.now)
    output = state_output(state, data)
    if until <= engine.now:
        engine.transition(frame, state, output)
        return
    frame.phase, frame.until, frame.resume, frame.output = "sleep", until, "wait", output
    engine.event("WaitStarted", frame, until=until)


def _wait_time(state: dict[str, Any], data: Any, now: float) -> float:
    """When a Wait state ends."""
    if "Seconds" in state:
        return now + state["Seconds"]
    if "Timestamp" in state:
        return parse_timestamp(state["Timestamp"]).timestamp()  # type: ignore[union-attr]
    if "SecondsPath" in state:
        seconds = path_value(state["SecondsPath"], data, None, error=RUNTIME, what="SecondsPath")
        if isinstance(seconds, bool) or not isinstance(seconds, int) or seconds < 0:
            raise StatesError(RUNTIME, f"SecondsPath must name a non-negative integer, not {seconds!r}")
        return now + seconds
    stamp = path_value(state["TimestampPath"], data, None, error=RUNTIME, what="TimestampPath")
    parsed = parse_timestamp(stamp)
    if parsed is None:
        raise StatesError(RUNTIME, f"TimestampPath must name an RFC 3339 timestamp, not {stamp!r}")
    return parsed.timestamp()


def _succeed(engine: _Engine, frame: Frame, state: dict[str, Any]) -> None:
    """Succeed: end the frame with the effective input through OutputPath."""
    engine.finish(frame, output=state_output(state, effective_input(state, frame.raw)))


def _fail(engine: _Engine, frame: Frame, state: dict[str, Any]) -> None:
    """Fail: end the frame with Error/Cause (or the strings ErrorPath/CausePath name)."""
    values: dict[str, str | None] = {}
    for name in ("Error", "Cause"):
        values[name] = state.get(name)
        if f"{name}Path" in state:
            text = state[f"{name}Path"]
            value = (engine.template(frame, {"v.$": text}, frame.raw)["v"] if text.startswith("States.")
                     else path_value(text, frame.raw, engine.context(frame), error=RUNTIME, what=f"{name}Path"))
            if not isinstance(value, str):
                raise StatesError(RUNTIME, f"{name}Path must name a string, not {value!r}")
            values[name] = value
    engine.finish(frame, error=values["Error"], cause=values["Cause"], failed=True)


def _parallel(engine: _Engine, frame: Frame, state: dict[str, Any]) -> None:
    """Parallel: every branch gets the effective input; the output is their outputs in order."""
    data = effective_input(state, frame.raw)
    if "Parameters" in state:
        data = engine.template(frame, state["Parameters"], data)
    engine.spawn(frame, state, [copy.deepcopy(data) for _ in state["Branches"]], 0)


def _map(engine: _Engine, frame: Frame, state: dict[str, Any]) -> None:
    """Map: one child per item of ItemsPath (through ItemSelector), at most MaxConcurrency at once."""
    data = effective_input(state, frame.raw)
    items = path_value(state.get("ItemsPath", "$"), data, None, error=RUNTIME, what="ItemsPath")
    if not isinstance(items, list):
        raise StatesError(RUNTIME, f"ItemsPath must name an array, not a {type(items).__name__}")
    limit = state.get("MaxConcurrency", 0)
    if "MaxConcurrencyPath" in state:
        limit = path_value(state["MaxConcurrencyPath"], data, None, error=RUNTIME, what="MaxConcurrencyPath")
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
            raise StatesError(RUNTIME, f"MaxConcurrencyPath must name a non-negative integer, not {limit!r}")
    selector = state.get("ItemSelector", state.get("Parameters"))
    inputs = [engine.template(frame, selector, data, {"Index": index, "Value": item}) if selector is not None
              else item for index, item in enumerate(items)]
    engine.spawn(frame, state, inputs, limit)


_EXECUTORS: dict[str, Callable[[_Engine, Frame, dict[str, Any]], None]] = {
    "Pass": _pass, "Task": _task, "Choice": _choice, "Wait": _wait, "Succeed": _succeed, "Fail": _fail,
    "Parallel": _parallel, "Map": _map,
}
