"""The schedule controller: fires the cron triggers of Functions and Workflows (`spec.schedule`).

Runs under the controller-manager Lease, with Kubernetes' CronJob controller as the model:

- the time to fire is the most recent scheduled time after `status.lastScheduleTime` (the creation
  time before the first) that is not in the future (`minik8s.api.cron.due_time`): after downtime one
  missed time fires, never a storm of them; `spec.startingDeadlineSeconds` skips a time that is
  later than that. Each reconcile asks to be looked at again at the next scheduled time.
- a Workflow's run is named `<workflow>-<minutes since 1970 of the scheduled time>` (CronJob's Job
  names), owned by the Workflow: a new leader that fires the same time again gets AlreadyExists and
  starts nothing, so each scheduled time starts exactly one run. `lastScheduleTime` is written after.
- a Function is called at most once per scheduled time: `lastScheduleTime` is committed first, with
  the Function's resourceVersion (a deposed leader's write, or one from a stale cache, is a 409 and
  calls nothing), and only then is the function called through the masters
  (`functions/NAME/invoke`) with `X-Minik8s-Call-Id: schedule/<ns>/<name>/<unix time>`, on a
  thread of its own. A leader that dies between the commit and the call loses that call.

The outcome is an Event on the Function or Workflow: `SuccessfulCreate`/`FailedCreate` for runs,
`ScheduledCall`/`FailedScheduledCall` for calls. As a CronJob keeps its Jobs, a Workflow keeps its
newest ended scheduled runs (`spec.successfulRunsHistoryLimit`, 3; `spec.failedRunsHistoryLimit`, 1)
and the controller deletes older ones (`SuccessfulDelete`). Schedules are UTC.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from minik8s.api import errors
from minik8s.api.client import ApiClient
from minik8s.api.cron import due_time, next_time, schedule_problem
from minik8s.api.events import EventRecorder
from minik8s.api.informer import Informer, object_key
from minik8s.api.kinds.workflow import history_limit, new_run, scheduled_run_name
from minik8s.api.reconcile import Controller, Result
from minik8s.api.timefmt import format_time, parse_time
from minik8s.api.workloads import controller_ref, is_controlled_by, new_controller_ref

log = logging.getLogger(__name__)

Obj = dict[str, Any]
COMPONENT = "schedule-controller"
KINDS = {"functions": "Function", "workflows": "Workflow"}
CALL_MARGIN = 10.0  # seconds a call's client waits beyond the function's timeoutSeconds
WAKE_MARGIN = 0.05  # seconds after a scheduled time the controller looks again (timers may fire early)
MAX_REQUEUE = 3600.0  # look again at least hourly (a clock that jumped, a missed event)


@dataclass(frozen=True)
class Plan:
    """What a schedule asks for at `now`: the scheduled time to fire (None: none) and the next one."""

    due: float | None
    next: float


def plan(obj: Obj, now: float) -> Plan | None:
    """The plan of `obj`'s `spec.schedule` at `now` (None: no schedule, or one that cannot run)."""
    spec = obj.get("spec") or {}
    schedule = spec.get("schedule")
    if not isinstance(schedule, str) or schedule_problem(schedule) is not None:
        return None
    meta, status = obj.get("metadata") or {}, obj.get("status") or {}
    last = parse_time(status.get("lastScheduleTime"))
    created = parse_time(meta.get("creationTimestamp"))
    deadline = spec.get("startingDeadlineSeconds")
    due = due_time(schedule, last=last.timestamp() if last else None,
                   created=created.timestamp() if created else now, now=now,
                   starting_deadline=deadline if isinstance(deadline, int) else None)
    return Plan(due, next_time(schedule, now))


def _owning_workflow(run: Obj) -> str | None:
    """The queue key of the Workflow that controls `run` (a scheduled run), or None."""
    ref = controller_ref(run)
    if ref is None or ref.get("kind") != "Workflow":
        return None
    return f"workflows/{(run.get('metadata') or {}).get('namespace', 'default')}/{ref.get('name')}"


def call_id(obj: Obj, scheduled: float) -> str:
    """The call id of a scheduled call: the same for every leader that makes it."""
    meta = obj.get("metadata") or {}
    return f"schedule/{meta.get('namespace', 'default')}/{meta.get('name')}/{int(scheduled)}"


class ScheduleController(Controller):
    """Fires the schedules of Functions and Workflows (see the module docstring)."""

    _informers_by_kind: dict[str, Informer]
    _runs: Informer

    def __init__(self, client: ApiClient, *, call_threads: int = 8, now: Callable[[], float] = time.time) -> None:
        """`now` is the wall clock schedules are read against (injected by tests)."""
        super().__init__(client, name="schedule", workers=1)
        self.now = now
        self._events = EventRecorder(client, component=COMPONENT)  # sends at once, from the caller's thread
        self._pool = ThreadPoolExecutor(call_threads, thread_name_prefix="scheduled-call")

    def setup(self) -> None:
        self._informers_by_kind = {
            plural: self.watch(plural, key=lambda obj, plural=plural: f"{plural}/{object_key(obj)}")
            for plural in KINDS}
        self._runs = self.watch("workflowruns", key=_owning_workflow)  # an ended run: clean up its history

    def reconcile(self, key: str) -> Result | None:
        plural, _, name_key = key.partition("/")
        informer = self._informers_by_kind.get(plural)
        obj = informer.get(name_key) if informer is not None else None
        if obj is None or (obj.get("metadata") or {}).get("deletionTimestamp"):
            return None
        obj = {**obj, "apiVersion": "minik8s.io/v1", "kind": KINDS[plural]}
        if plural == "workflows":
            self._clean_up(obj)
        p = plan(obj, self.now())
        if p is None:
            return None
        if p.due is not None:
            if plural == "workflows":
                self._start_run(obj, p.due)
            else:
                self._call_function(obj, p.due)
        return Result(requeue_after=min(MAX_REQUEUE, max(0.0, p.next - self.now()) + WAKE_MARGIN))

    # -- workflows: one run per scheduled time, by its name ------------------------------------------

    def _start_run(self, workflow: Obj, scheduled: float) -> None:
        meta, spec = workflow["metadata"], workflow.get("spec") or {}
        namespace = meta.get("namespace", "default")
        run = new_run(meta["name"], namespace, spec.get("scheduleInput") or "{}",
                      name=scheduled_run_name(meta["name"], scheduled))
        run["metadata"]["ownerReferences"] = [new_controller_ref(workflow)]
        run["metadata"]["annotations"] = {"minik8s.io/scheduled-at": format_time(scheduled)}
        try:
            self.client.create(run, namespace=namespace)
        except errors.AlreadyExistsError:
            log.debug("workflow run %s/%s already exists", namespace, run["metadata"]["name"])
        except errors.ApiError as exc:
            self._events.record(workflow, reason="FailedCreate", event_type="Warning",
                                message=f"Error creating workflow run for {format_time(scheduled)}: {exc.message}")
            raise
        else:
            self._events.record(workflow, reason="SuccessfulCreate",
                                message=f"Created workflow run {run['metadata']['name']} for "
                                        f"{format_time(scheduled)}")
        self._record_schedule(workflow, scheduled)

    def _clean_up(self, workflow: Obj) -> None:
        """Delete the oldest ended scheduled runs beyond the workflow's history limits (CronJob's)."""
        owned = [run for run in self._runs.list() if is_controlled_by(run, workflow)]
        for phase in ("Succeeded", "Failed"):
            ended = sorted((run for run in owned if (run.get("status") or {}).get("phase") == phase),
                           key=lambda run: ((run.get("status") or {}).get("completionTime") or "",
                                            run["metadata"]["name"]))
            for run in ended[:max(0, len(ended) - history_limit(workflow, phase))]:
                name = run["metadata"]["name"]
                try:
                    self.client.delete("workflowruns", name, namespace=run["metadata"].get("namespace"),
                                       uid=run["metadata"].get("uid"))
                except errors.NotFoundError:
                    continue
                except errors.ConflictError:  # the uid precondition: another run of that name now
                    continue
                self._events.record(workflow, reason="SuccessfulDelete", message=f"Deleted workflow run {name}")

    # -- functions: the schedule committed first, then one call --------------------------------------

    def _call_function(self, function: Obj, scheduled: float) -> None:
        self._record_schedule(function, scheduled)  # a 409 raises: nothing is called from a stale view
        self._pool.submit(self._call, function, scheduled)

    def _call(self, function: Obj, scheduled: float) -> None:
        meta, spec = function["metadata"], function.get("spec") or {}
        started = time.monotonic()
        try:
            self.client.invoke("functions", meta["name"], (spec.get("scheduleInput") or "{}").encode(),
                               namespace=meta.get("namespace", "default"),
                               timeout=float(spec.get("timeoutSeconds") or 60) + CALL_MARGIN,
                               call_id=call_id(function, scheduled))
        except Exception as exc:  # an error answer, a transport failure, an answer that is not JSON
            message = exc.message if isinstance(exc, errors.ApiError) else f"{type(exc).__name__}: {exc}"
            log.info("scheduled call of function %s/%s failed: %s", meta.get("namespace"), meta["name"], message)
            self._events.record(function, reason="FailedScheduledCall", event_type="Warning",
                                message=f"The call for {format_time(scheduled)} failed: {message}")
            return
        took = (time.monotonic() - started) * 1000
        self._events.record(function, reason="ScheduledCall",
                            message=f"Called for {format_time(scheduled)}: answered in {took:.0f} ms")

    def _record_schedule(self, obj: Obj, scheduled: float) -> None:
        """Commit `status.lastScheduleTime` with the cached resourceVersion (409 when stale)."""
        updated = copy.deepcopy(obj)
        updated.setdefault("status", {})["lastScheduleTime"] = format_time(scheduled)
        self.client.update_status(updated)
