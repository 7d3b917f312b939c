"""Cron triggers of Functions and Workflows: the expression check (422 naming `spec.schedule`), CronJob's
firing rule (the most recent missed time only, a starting deadline), and the schedule controller's
writes against a fake API client and an injected clock: a Workflow's run has the scheduled time in its
name (a second leader gets AlreadyExists and starts nothing), a Function's `lastScheduleTime` is
committed before the one call, which carries the call id."""

from __future__ import annotations

import copy
import threading
from calendar import timegm
from typing import Any

import pytest

from minik8s.api import errors
from minik8s.api.cron import due_time, most_recent_time, next_time, schedule_problem
from minik8s.api.errors import InvalidError
from minik8s.api.kinds import resolve
from minik8s.api.kinds.workflow import scheduled_run_name
from minik8s.api.validation import validate
from minik8s.serverless.schedules import WAKE_MARGIN, ScheduleController, call_id, plan

Obj = dict[str, Any]


def at(text: str) -> float:
    """Unix seconds of a UTC time `YYYY-MM-DD HH:MM[:SS]`."""
    date, clock = text.split()
    parts = [int(p) for p in date.split("-")] + [int(p) for p in clock.split(":")]
    return float(timegm((*parts, *([0] * (6 - len(parts))), 0, 0, 0)[:9]))


# ---- the expression ------------------------------------------------------------------------------

@pytest.mark.parametrize("expression", ["*/5 * * * *", "0 9 * jan-mar mon-fri", "1,2-5/2 * * * *", "0 0 ? * 7",
                                        "@hourly", "@daily", "@MIDNIGHT", " 30 2 1 * * "])
def test_standard_schedules_are_accepted(expression: str) -> None:
    assert schedule_problem(expression) is None


@pytest.mark.parametrize(("expression", "message"), [
    ("", "cron expression"),
    ("* * * * * *", "5 fields"),             # croniter's seconds field: not CronJob's
    ("CRON_TZ=UTC 0 * * * *", "5 fields"),   # no time zones: UTC only
    ("H * * * *", "minute field"),           # croniter's hashed times
    ("0 0 L * *", "day of month field"),
    ("0 0 * * 1#2", "day of week field"),
    ("60 * * * *", "not a valid schedule"),
    ("*/0 * * * *", "not a valid schedule"),
    ("0 0 30 2 *", "not a valid schedule"),  # February 30th never comes
    ("@every 5m", "unknown descriptor"),
])
def test_other_schedules_are_refused_with_a_reason(expression: str, message: str) -> None:
    assert message in (schedule_problem(expression) or "")


# ---- when to fire ---------------------------------------------------------------------------------

def test_next_time_is_strictly_after() -> None:
    assert next_time("*/5 * * * *", at("2024-01-01 12:03:10")) == at("2024-01-01 12:05")
    assert next_time("*/5 * * * *", at("2024-01-01 12:05")) == at("2024-01-01 12:10")
    assert next_time("@hourly", at("2024-01-01 23:59:59")) == at("2024-01-02 00:00")


def test_the_most_recent_time_includes_now_and_excludes_earliest() -> None:
    assert most_recent_time("*/5 * * * *", at("2024-01-01 12:00"), at("2024-01-01 12:05")) == at("2024-01-01 12:05")
    assert most_recent_time("*/5 * * * *", at("2024-01-01 12:05"), at("2024-01-01 12:09:59")) is None
    assert most_recent_time("*/5 * * * *", at("2024-01-01 12:05"), at("2024-01-01 12:05")) is None
    assert most_recent_time("*/5 * * * *", at("2024-01-01 12:06"), at("2024-01-01 12:04")) is None  # clock behind


def test_after_downtime_only_the_most_recent_missed_time_fires() -> None:
    """Three hours of missed minutes fire once, for the latest; then nothing until the next minute."""
    created, now = at("2024-01-01 09:00:30"), at("2024-01-01 12:00:30")
    due = due_time("* * * * *", last=at("2024-01-01 09:01"), created=created, now=now)
    assert due == at("2024-01-01 12:00")
    assert due_time("* * * * *", last=due, created=created, now=now + 29) is None
    assert due_time("* * * * *", last=due, created=created, now=now + 30) == at("2024-01-01 12:01")


def test_the_first_time_counts_from_creation() -> None:
    created = at("2024-01-01 12:00:30")
    assert due_time("* * * * *", last=None, created=created, now=at("2024-01-01 12:00:59")) is None
    assert due_time("* * * * *", last=None, created=created, now=at("2024-01-01 12:01")) == at("2024-01-01 12:01")


def test_a_starting_deadline_skips_a_time_that_is_too_late() -> None:
    last, now = at("2024-01-01 00:00"), at("2024-01-01 12:00:30")
    assert due_time("@hourly", last=last, created=last, now=now, starting_deadline=60) == at("2024-01-01 12:00")
    assert due_time("@hourly", last=last, created=last, now=now, starting_deadline=10) is None
    assert due_time("@hourly", last=last, created=last, now=now, starting_deadline=0) is None


def test_run_names_and_call_ids_come_from_the_scheduled_time() -> None:
    assert scheduled_run_name("nightly", at("2024-01-01 00:00:00")) == "nightly-28401120"
    fn = {"metadata": {"name": "f", "namespace": "ns"}}
    assert call_id(fn, at("2024-01-01 00:00")) == "schedule/ns/f/1704067200"


def test_plan_reads_the_object() -> None:
    obj = {"metadata": {"name": "w", "creationTimestamp": "2024-01-01T11:00:30Z"},
           "spec": {"schedule": "@hourly"}, "status": {"lastScheduleTime": "2024-01-01T12:00:00Z"}}
    assert plan(obj, at("2024-01-01 12:59")).due is None  # type: ignore[union-attr]
    p = plan(obj, at("2024-01-01 14:10"))
    assert p is not None and (p.due, p.next) == (at("2024-01-01 14:00"), at("2024-01-01 15:00"))
    del obj["status"]
    assert plan(obj, at("2024-01-01 11:30")).due is None  # type: ignore[union-attr]  # before the first time
    assert plan({"spec": {}}, 0.0) is None and plan({"spec": {"schedule": "bad"}}, 0.0) is None


# ---- validation ------------------------------------------------------------------------------------

def causes(kind: str, obj: Obj) -> list[tuple[str, str]]:
    try:
        validate(resolve(kind), obj)
    except InvalidError as err:
        assert err.code == 422
        return [(c["field"], c["message"]) for c in err.causes]
    return []


FUNCTION = {"apiVersion": "minik8s.io/v1", "kind": "Function", "metadata": {"name": "f", "namespace": "default"},
            "spec": {"source": {"inline": "def handle(p):\n    return p\n"}}}
WORKFLOW = {"apiVersion": "minik8s.io/v1", "kind": "Workflow", "metadata": {"name": "w", "namespace": "default"},
            "spec": {"definition": {"StartAt": "A", "States": {"A": {"Type": "Pass", "End": True}}}}}


@pytest.mark.parametrize("base", [FUNCTION, WORKFLOW], ids=["Function", "Workflow"])
def test_schedule_fields_are_validated_on_both_kinds(base: Obj) -> None:
    good = copy.deepcopy(base)
    good["spec"].update(schedule="*/10 * * * *", scheduleInput='{"n": 1}', startingDeadlineSeconds=30)
    assert causes(base["kind"], good) == []
    bad = copy.deepcopy(base)
    bad["spec"].update(schedule="* * * * * *", scheduleInput='{"n": NaN}', startingDeadlineSeconds=-1)
    found = dict(causes(base["kind"], bad))
    assert set(found) == {"spec.schedule", "spec.scheduleInput", "spec.startingDeadlineSeconds"}
    assert "5 fields" in found["spec.schedule"] and "NaN" in found["spec.scheduleInput"]


def test_history_limits_are_bounded() -> None:
    obj = copy.deepcopy(WORKFLOW)
    obj["spec"].update(successfulRunsHistoryLimit=-1, failedRunsHistoryLimit=1001)
    assert {f for f, _ in causes("Workflow", obj)} == {"spec.successfulRunsHistoryLimit",
                                                       "spec.failedRunsHistoryLimit"}


def test_a_scheduled_workflow_leaves_room_for_its_run_names() -> None:
    obj = copy.deepcopy(WORKFLOW)
    obj["metadata"]["name"] = "w" * 250
    assert causes("Workflow", obj) == []
    obj["spec"]["schedule"] = "@daily"
    assert [f for f, _ in causes("Workflow", obj)] == ["metadata.name"]


# ---- the controller, against a fake client ---------------------------------------------------------

class FakeClient:
    """Records creates, status writes and calls; a status write with a stale resourceVersion is a 409."""

    def __init__(self) -> None:
        self.stored: dict[str, Obj] = {}
        self.runs: dict[str, Obj] = {}
        self.log: list[tuple[str, Any]] = []
        self.called = threading.Event()
        self.fail: errors.ApiError | None = None

    def create(self, obj: Obj, *, namespace: str | None = None) -> Obj:
        if obj["kind"] == "Event":
            return obj
        name = obj["metadata"]["name"]
        if name in self.runs:
            raise errors.AlreadyExistsError(f'workflowruns "{name}" already exists')
        self.runs[name] = obj
        self.log.append(("create", name))
        return obj

    def update_status(self, obj: Obj) -> Obj:
        key = obj["metadata"]["name"]
        if obj["metadata"]["resourceVersion"] != self.stored[key]["metadata"]["resourceVersion"]:
            raise errors.ConflictError("the object has been modified")
        stored = copy.deepcopy(obj)
        stored["metadata"]["resourceVersion"] = str(int(obj["metadata"]["resourceVersion"]) + 1)
        self.stored[key] = stored
        self.log.append(("status", obj["status"]["lastScheduleTime"]))
        return stored

    def delete(self, resource: str, name: str, **kw: Any) -> Obj:
        self.log.append(("delete", name))
        return self.runs.pop(name)

    def invoke(self, resource: str, name: str, body: Any, **kw: Any) -> Any:
        self.log.append(("invoke", (name, body, kw["call_id"])))
        self.called.set()
        if self.fail is not None:
            raise self.fail
        return {}


class FakeInformer:
    """What a controller's cache holds: the client's stored objects, or a fixed (stale) copy."""

    def __init__(self, client: FakeClient, view: Obj | None) -> None:
        self.client, self.view = client, view

    def get(self, key: str) -> Obj | None:
        return self.view if self.view is not None else self.client.stored.get(key.partition("/")[2])


def controller(client: FakeClient, now: float, view: Obj | None = None) -> ScheduleController:
    c = ScheduleController(client, now=lambda: now)  # type: ignore[arg-type]
    c._events.record = lambda *a, **kw: client.log.append(("event", kw["reason"]))  # type: ignore[method-assign]
    c._informers_by_kind = {"functions": FakeInformer(client, view), "workflows": FakeInformer(client, view)}  # type: ignore
    c._runs = type("Runs", (), {"list": lambda self: list(client.runs.values())})()  # type: ignore[assignment]
    return c


def stored(client: FakeClient, base: Obj, **spec: Any) -> Obj:
    obj = copy.deepcopy(base)
    obj["metadata"].update(resourceVersion="7", uid="u-1", creationTimestamp="2024-01-01T11:00:30Z")
    obj["spec"].update(spec)
    client.stored[obj["metadata"]["name"]] = obj
    return copy.deepcopy(obj)


def test_a_workflow_fires_once_per_scheduled_time_even_from_two_leaders() -> None:
    client = FakeClient()
    stale = stored(client, WORKFLOW, schedule="@hourly", scheduleInput='{"n": 2}')
    result = controller(client, at("2024-01-01 14:10")).reconcile("workflows/default/w")
    assert result is not None and result.requeue_after == pytest.approx(50 * 60 + WAKE_MARGIN)
    name = scheduled_run_name("w", at("2024-01-01 14:00"))
    assert client.log == [("create", name), ("event", "SuccessfulCreate"), ("status", "2024-01-01T14:00:00Z")]
    run = client.runs[name]
    assert run["spec"] == {"workflowRef": {"name": "w"}, "input": '{"n": 2}'}
    assert run["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    # a deposed leader, from its stale cache: AlreadyExists (no second run), then its status write is a 409
    client.log.clear()
    with pytest.raises(errors.ConflictError):
        controller(client, at("2024-01-01 14:11"), view=stale).reconcile("workflows/default/w")
    assert client.log == [] and list(client.runs) == [name]
    # the committed view: nothing is due until 15:00, then the 15:00 run
    controller(client, at("2024-01-01 14:59:59")).reconcile("workflows/default/w")
    assert client.log == []
    controller(client, at("2024-01-01 15:00:01")).reconcile("workflows/default/w")
    assert list(client.runs) == [name, scheduled_run_name("w", at("2024-01-01 15:00"))]


def test_a_function_commits_its_schedule_before_the_one_call() -> None:
    client = FakeClient()
    stale = stored(client, FUNCTION, schedule="*/15 * * * *", scheduleInput='{"x": 1}')
    first = controller(client, at("2024-01-01 12:20"))
    first.reconcile("functions/default/f")
    first._pool.shutdown(wait=True)  # the call runs on a thread of its own
    assert client.log == [("status", "2024-01-01T12:15:00Z"),
                          ("invoke", ("f", b'{"x": 1}', "schedule/default/f/1704111300")),
                          ("event", "ScheduledCall")]
    # a leader with the stale copy cannot commit (409), so it calls nothing
    client.log.clear()
    client.called.clear()
    with pytest.raises(errors.ConflictError):
        controller(client, at("2024-01-01 12:21"), view=stale).reconcile("functions/default/f")
    assert not client.called.wait(0.2) and client.log == []
    controller(client, at("2024-01-01 12:29")).reconcile("functions/default/f")  # nothing due until 12:30
    assert client.log == []


def test_a_failed_scheduled_call_is_a_warning_event() -> None:
    client = FakeClient()
    client.fail = errors.InternalError("the function raised ValueError: no")
    stored(client, FUNCTION, schedule="@hourly")
    c = controller(client, at("2024-01-01 13:00"))
    c.reconcile("functions/default/f")
    c._pool.shutdown(wait=True)
    assert [entry[0] for entry in client.log] == ["status", "invoke", "event"]
    assert client.log[-1] == ("event", "FailedScheduledCall")


def test_only_the_newest_ended_scheduled_runs_are_kept() -> None:
    """CronJob's history limits: 3 Succeeded and 1 Failed by default; running runs, runs of other owners
    (started by invoke) are never deleted."""
    client = FakeClient()
    wf = stored(client, WORKFLOW, schedule="@hourly", successfulRunsHistoryLimit=2)
    owner = [{"apiVersion": "minik8s.io/v1", "kind": "Workflow", "name": "w", "uid": "u-1", "controller": True}]
    for i, phase in enumerate(["Succeeded", "Failed", "Succeeded", "Failed", "Succeeded", "Running", "Failed"]):
        client.runs[f"w-{i}"] = {"metadata": {"name": f"w-{i}", "namespace": "default", "ownerReferences": owner},
                                 "status": {"phase": phase, "completionTime": f"2024-01-01T0{i}:00:00Z"}}
    client.runs["w-other"] = {"metadata": {"name": "w-other", "namespace": "default"}, "status": {"phase": "Failed"}}
    controller(client, at("2024-01-01 00:30")).reconcile("workflows/default/w")
    assert sorted(client.runs) == ["w-2", "w-4", "w-5", "w-6", "w-other"]
    assert ("delete", "w-0") in client.log and ("event", "SuccessfulDelete") in client.log
    assert wf["spec"]["successfulRunsHistoryLimit"] == 2


def test_a_deleted_or_unscheduled_object_is_left_alone() -> None:
    client = FakeClient()
    stored(client, WORKFLOW)
    assert controller(client, at("2024-01-01 14:10")).reconcile("workflows/default/w") is None
    assert controller(client, at("2024-01-01 14:10")).reconcile("workflows/default/gone") is None
    client.stored["w"]["spec"]["schedule"] = "@hourly"
    client.stored["w"]["metadata"]["deletionTimestamp"] = "2024-01-01T13:00:00Z"
    assert controller(client, at("2024-01-01 14:10")).reconcile("workflows/default/w") is None
    assert client.log == []
