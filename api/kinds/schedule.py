"""Cron triggers shared by Functions and Workflows: `spec.schedule`, `spec.scheduleInput`,
`spec.startingDeadlineSeconds` and `status.lastScheduleTime`.

`schedule` is a standard five-field cron expression (or `@hourly`...), in UTC (`minik8s.api.cron`);
`scheduleInput` is the JSON text each triggered call or run gets (`{}` when left out);
`startingDeadlineSeconds` skips a scheduled time that could not fire within that many seconds (as on
a CronJob). The schedule controller (`serverless/schedules.py`) fires them and records the time it
last fired in `status.lastScheduleTime`.
"""

from __future__ import annotations

from typing import Any

from minik8s.api.cron import schedule_problem
from minik8s.api.fields import Causes

from .workflowrun import validate_json_text

Obj = dict[str, Any]

SPEC_FIELDS = {"schedule": "str", "scheduleInput": "str", "startingDeadlineSeconds": "int"}
STATUS_FIELDS = {"lastScheduleTime": "time"}
MAX_SCHEDULE_LENGTH = 256
MAX_STARTING_DEADLINE = 30 * 24 * 3600


def validate_schedule(c: Causes, spec: Obj) -> None:
    """The cron trigger fields of a Function's or Workflow's spec."""
    schedule = c.string("spec.schedule", spec.get("schedule"))
    if schedule is not None:
        if len(schedule) > MAX_SCHEDULE_LENGTH:
            c.too_long("spec.schedule", MAX_SCHEDULE_LENGTH)
        elif (problem := schedule_problem(schedule)) is not None:
            c.invalid("spec.schedule", schedule, problem)
    validate_json_text(c, "spec.scheduleInput", spec.get("scheduleInput"))
    c.integer("spec.startingDeadlineSeconds", spec.get("startingDeadlineSeconds"), minimum=0,
              maximum=MAX_STARTING_DEADLINE)
