"""Workflows (`minik8s.io/v1`): an Amazon States Language state machine whose Tasks call Functions.

`spec.definition` is the ASL document, checked by `minik8s.api.asl.validate_definition` (a 422
names the state and the field); `spec.maxSteps` bounds the transitions of one run (loops
included). A Workflow is only a definition: each execution is a `WorkflowRun` (`workflowrun.py`),
which the workflow runner drives. `POST .../workflows/NAME/invoke` starts one (`new_run`; served by
`api/server/workflowinvoke.py`), and so does an optional cron trigger (`spec.schedule`,
`spec.scheduleInput`: see `schedule.py`), whose runs have deterministic names (`scheduled_run_name`) and
of which the newest ended ones are kept (`spec.successfulRunsHistoryLimit`, 3, and
`spec.failedRunsHistoryLimit`, 1, as on a CronJob).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from minik8s.api import schema
from minik8s.api.asl import validate_definition
from minik8s.api.fields import Causes
from minik8s.api.tables import AGE_COLUMN, NAME_COLUMN, age_cell, column, dig, name_cell

from .defaulting import child, default
from .resource import ResourceType
from .schedule import SPEC_FIELDS as SCHEDULE_SPEC_FIELDS, STATUS_FIELDS as SCHEDULE_STATUS_FIELDS, validate_schedule
from .strategy import Strategy

Obj = dict[str, Any]

schema.define(schema.package_of("minik8s.io", "v1"), {
    "Workflow": {"spec": "WorkflowSpec", "status": "WorkflowStatus"},
    "WorkflowSpec": {"definition": "obj", "maxSteps": "int", **SCHEDULE_SPEC_FIELDS,
                     "successfulRunsHistoryLimit": "int", "failedRunsHistoryLimit": "int"},
    "WorkflowStatus": {**SCHEDULE_STATUS_FIELDS},
})

DEFAULT_MAX_STEPS = 1000
MAX_STEPS = 100_000
# a scheduled run is named `<workflow>-<minutes since the epoch>` (as CronJob names its Jobs): room for
# 10 digits in a WorkflowRun name
MAX_SCHEDULED_NAME_LENGTH = 253 - 11
# ended scheduled runs kept (CronJob's successfulJobsHistoryLimit and failedJobsHistoryLimit defaults)
DEFAULT_HISTORY_LIMITS = {"Succeeded": 3, "Failed": 1}
HISTORY_LIMIT_FIELDS = {"Succeeded": "successfulRunsHistoryLimit", "Failed": "failedRunsHistoryLimit"}
MAX_HISTORY_LIMIT = 1000


def scheduled_run_name(workflow: str, scheduled: float) -> str:
    """The name of the run a schedule starts for the time `scheduled` (Unix seconds): the same for
    every leader, so a second create of it is an AlreadyExists, never a second run."""
    return f"{workflow}-{int(scheduled) // 60}"


def history_limit(workflow: Obj, phase: str) -> int:
    """How many ended scheduled runs in `phase` (Succeeded or Failed) are kept."""
    value = dig(workflow, "spec", HISTORY_LIMIT_FIELDS[phase])
    return value if isinstance(value, int) else DEFAULT_HISTORY_LIMITS[phase]


def new_run(workflow: str, namespace: str | None, input_text: str, *, name: str | None = None) -> Obj:
    """A WorkflowRun of `workflow` with `input_text` (JSON text); generated name `<workflow>-xxxxx`
    unless `name` is given."""
    meta: Obj = {"name": name} if name else {"generateName": f"{workflow}-"}
    if namespace:
        meta["namespace"] = namespace
    return {"apiVersion": "minik8s.io/v1", "kind": "WorkflowRun", "metadata": meta,
            "spec": {"workflowRef": {"name": workflow}, "input": input_text}}


class WorkflowStrategy(Strategy):
    """Workflows: the definition checked as ASL, a step limit, the `kubectl get wf` table."""

    generation = True
    columns = (
        NAME_COLUMN,
        column("States", "The number of top-level states of the definition.", type_="integer"),
        column("Start", "StartAt: the state a run begins with."),
        AGE_COLUMN,
    )

    def default(self, obj: Obj, now: str) -> None:
        if (spec := child(obj, "spec")) is not None:
            default(spec, "maxSteps", DEFAULT_MAX_STEPS)

    def validate(self, c: Causes, obj: Obj, old: Obj | None) -> None:
        spec = c.object("spec", obj.get("spec"), required=True)
        if spec is None:
            return
        c.integer("spec.maxSteps", spec.get("maxSteps"), minimum=1, maximum=MAX_STEPS)
        validate_schedule(c, spec)
        for field in HISTORY_LIMIT_FIELDS.values():
            c.integer(f"spec.{field}", spec.get(field), minimum=0, maximum=MAX_HISTORY_LIMIT)
        name = dig(obj, "metadata", "name")
        if spec.get("schedule") is not None and isinstance(name, str) and len(name) > MAX_SCHEDULED_NAME_LENGTH:
            c.invalid("metadata.name", name, f"must be no more than {MAX_SCHEDULED_NAME_LENGTH} characters with a "
                                             "`spec.schedule` (its runs are named `<name>-<minutes since 1970>`)")
        if spec.get("definition") is None:
            c.required("spec.definition")
            return
        for path, message in validate_definition(spec.get("definition"), field="spec.definition"):
            c.invalid(path, "<definition>", message)

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        states = dig(obj, "spec", "definition", "States", default={})
        return [name_cell(obj), len(states) if isinstance(states, dict) else 0,
                dig(obj, "spec", "definition", "StartAt", default=""), age_cell(obj, now)]


RESOURCE = ResourceType("minik8s.io", "v1", "workflows", "Workflow", True, ("wf",), (), ("status", "invoke"),
                        strategy=WorkflowStrategy())
