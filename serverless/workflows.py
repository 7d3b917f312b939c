"""The workflow runner: drives each WorkflowRun with the ASL interpreter, committing after every step.

Runs under the controller-manager Lease. For a new WorkflowRun it reads the Workflow, starts the
interpreter (`serverless/asl.py`) on the run's input and commits the definition it started with and
the interpreter's state into the run's `status`. From then on each reconcile:

1. feeds the interpreter the outcomes of the Task calls that came back since the last commit;
2. steps it as far as it goes (`asl.step`): Pass, Choice, Wait, Succeed, Fail, Retry back-offs;
3. commits the new state, the step count, the latest transitions and, at the end, the output (JSON
   text) or the error and cause, with the object's resourceVersion (a deposed leader's write fails);
4. only then starts the calls the interpreter handed out that are not running yet (by call id), each
   on a thread of its own that calls the Function through the masters (`functions/NAME/invoke`) and
   queues the run again with the outcome.

Nothing a committed state says is done is done again: a new leader resumes from the last commit.
A call that was in flight when a leader died is sent again by the next one with the same call id
(`X-Minik8s-Call-Id`): the node router that took it keeps its answer, so it does not run twice.

Errors of calls, as ASL sees them: a function that raised -> its exception type (`ValueError`); a call
past its `TimeoutSeconds` -> `States.Timeout`; any other failure -> `States.TaskFailed`.
"""

from __future__ import annotations

import copy
import hashlib
import json
import logging
import re
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from minik8s.api import errors
from minik8s.api.client import ApiClient
from minik8s.api.informer import Informer
from minik8s.api.reconcile import Controller, Result
from minik8s.api.timefmt import format_time

from . import asl

log = logging.getLogger(__name__)

Obj = dict[str, Any]
HISTORY = 100  # transitions kept in a run's status
CALL_MARGIN = 10.0  # seconds a call's client waits beyond the Task's TimeoutSeconds
_RAISED = re.compile(r"^the function raised ([A-Za-z_][A-Za-z0-9_.]*):")


def call_error(exc: errors.ApiError) -> tuple[str, str]:
    """The ASL error name and cause of a failed call."""
    if isinstance(exc, errors.TimeoutError_):
        return asl.TIMEOUT, exc.message
    raised = _RAISED.match(exc.message)
    return (raised.group(1) if raised else asl.TASK_FAILED), exc.message


def wire_call_id(call: asl.Call) -> str:
    """The id a Task call is sent with: the same for every leader that sends it (state names may hold
    any character, a header may not, hence the hash)."""
    return "workflow:" + hashlib.sha256(call.id.encode("utf-8", "surrogatepass")).hexdigest()[:40]


def history_entries(events: list[Obj]) -> list[Obj]:
    """The interpreter's events as a run's `status.history` entries."""
    out = []
    for event in events:
        detail = {k: v for k, v in event.items() if k not in ("type", "time", "state", "frame")}
        out.append({"time": format_time(event.get("time") or time.time()), "event": str(event.get("type")),
                    "state": str(event.get("state") or ""),
                    "detail": json.dumps(detail, sort_keys=True, default=str)[:1024] if detail else ""})
    return out


class WorkflowRunner(Controller):
    """Runs WorkflowRuns (see the module docstring)."""

    _runs: Informer
    _workflows: Informer

    def __init__(self, client: ApiClient, *, call_threads: int = 32, clock: Callable[[], float] = time.time) -> None:
        super().__init__(client, name="workflow-runner", workers=2)
        self.clock = clock
        self._pool = ThreadPoolExecutor(call_threads, thread_name_prefix="workflow-call")
        self._lock = threading.Lock()
        # run key -> every call id started in this term: never started twice by one leader, even when
        # a reconcile works from a cached status that is older than its own last commit
        self._started: dict[str, set[str]] = {}
        self._answers: dict[str, dict[str, Obj]] = {}  # run key -> call id -> outcome

    def setup(self) -> None:
        self._runs = self.watch("workflowruns")
        self._workflows = self.watch("workflows", key=lambda _obj: None)
        with self._lock:  # a new term knows nothing in flight: it sends the handed-out calls again
            self._started, self._answers = {}, {}

    def reconcile(self, key: str) -> Result | None:
        run_obj = self._runs.get(key)
        if run_obj is None or (run_obj.get("status") or {}).get("phase") in (asl.SUCCEEDED, asl.FAILED):
            with self._lock:
                self._answers.pop(key, None)
                self._started.pop(key, None)
            return None
        status = run_obj.get("status") or {}
        if not status.get("state"):
            self._start(run_obj)
            return None  # the committed status comes back through the informer
        run = asl.RunState.from_json(status["state"])
        waiting = {call.id for call in asl.pending_calls(run)}
        with self._lock:  # only answers this state waits for: a cached status older than our last commit
            answers = {i: o for i, o in self._answers.get(key, {}).items() if i in waiting}  # keeps the rest
        for call_id, outcome in answers.items():
            run = asl.complete_call(run, call_id, **outcome)
        step = asl.step(status.get("definition") or {}, run, now=self.clock())
        self._commit(run_obj, step)
        with self._lock:  # committed: these answers are in the stored state now
            for call_id in answers:
                self._answers.get(key, {}).pop(call_id, None)
        if step.done:
            log.info("workflow run %s: %s after %d steps", key, step.run.status, step.run.steps)
            return None
        namespace = run_obj["metadata"].get("namespace", "default")
        for call in step.calls:
            with self._lock:
                started = self._started.setdefault(key, set())
                if call.id in started:
                    continue
                started.add(call.id)
            self._pool.submit(self._call, key, call, namespace)
        if step.wait_until is not None:
            return Result(requeue_after=max(0.0, step.wait_until - self.clock()))
        return None

    def _start(self, run_obj: Obj) -> None:
        meta, spec = run_obj["metadata"], run_obj.get("spec") or {}
        namespace = meta.get("namespace", "default")
        name = (spec.get("workflowRef") or {}).get("name", "")
        workflow = self._workflows.get(f"{namespace}/{name}")
        if workflow is None:
            try:
                workflow = self.client.get("workflows", name, namespace=namespace)
            except errors.NotFoundError:
                self._fail(run_obj, "minik8s.WorkflowNotFound", f'workflow "{name}" not found in {namespace}')
                return
        definition = copy.deepcopy((workflow.get("spec") or {}).get("definition") or {})
        now = self.clock()
        try:
            state = asl.start(definition, json.loads(spec.get("input") or "{}"), run_id=meta.get("uid", meta["name"]),
                              now=now, max_steps=int((workflow.get("spec") or {}).get("maxSteps") or 1000),
                              name=meta["name"], state_machine=name)
        except (ValueError, asl.InvalidDefinitionError) as exc:
            self._fail(run_obj, "States.Runtime", f"the run cannot start: {exc}")
            return
        updated = copy.deepcopy(run_obj)
        updated["status"] = {"phase": asl.RUNNING, "startTime": format_time(now), "steps": state.steps,
                             "definition": definition, "state": state.to_json(),
                             "history": [{"time": format_time(now), "event": "RunStarted", "state": "",
                                          "detail": ""}]}
        self.client.update_status(updated)
        log.info("workflow run %s/%s of %s: started", namespace, meta["name"], name)

    def _commit(self, run_obj: Obj, step: asl.Step) -> None:
        status = copy.deepcopy(run_obj.get("status") or {})
        status["state"] = step.run.to_json()
        status["steps"] = step.run.steps
        status["history"] = (list(status.get("history") or []) + history_entries(step.events))[-HISTORY:]
        if step.done:
            status["phase"] = step.run.status
            status["completionTime"] = format_time(self.clock())
            if step.run.status == asl.SUCCEEDED:
                status["output"] = json.dumps(step.run.output)
            else:
                status["error"] = str(step.run.error or "States.Runtime")
                if step.run.cause is not None:
                    status["cause"] = str(step.run.cause)[:4096]
        if status == run_obj.get("status"):
            return
        updated = copy.deepcopy(run_obj)
        updated["status"] = status
        self.client.update_status(updated)  # with the cached resourceVersion: a 409 is retried from the cache

    def _fail(self, run_obj: Obj, error: str, cause: str) -> None:
        updated = copy.deepcopy(run_obj)
        now = format_time(self.clock())
        updated["status"] = {"phase": asl.FAILED, "startTime": now, "completionTime": now, "steps": 0,
                             "error": error, "cause": cause}
        self.client.update_status(updated)

    def _call(self, key: str, call: asl.Call, namespace: str) -> None:
        try:
            result = self.client.invoke("functions", call.function, call.parameters,
                                        namespace=call.namespace or namespace,
                                        timeout=call.timeout_seconds + CALL_MARGIN, call_id=wire_call_id(call))
            outcome: Obj = {"result": result}
        except errors.ApiError as exc:
            error, cause = call_error(exc)
            outcome = {"error": error, "cause": cause[:4096]}
        except Exception as exc:  # a bad answer (not JSON...): the Task failed, the runner goes on
            outcome = {"error": asl.TASK_FAILED, "cause": f"{type(exc).__name__}: {exc}"[:4096]}
        with self._lock:
            self._answers.setdefault(key, {})[call.id] = outcome
        self.enqueue(key)
