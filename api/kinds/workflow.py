"""Workflows (`minik8s.io/v1`): an Amazon States Language state machine whose Tasks call Functions.

`spec.definition` is the ASL document, checked by `minik8s.api.asl.validate_definition` (a 422
names the state and the field); `spec.maxSteps` bounds the transitions of one run (loops
included). A Workflow is only a definition: each execution is a `WorkflowRun` (`workflowrun.py`),
which the workflow runner drives.
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
from .strategy import Strategy

Obj = dict[str, Any]

schema.define(schema.package_of("minik8s.io", "v1"), {
    "Workflow": {"spec": "WorkflowSpec"},
    "WorkflowSpec": {"definition": "obj", "maxSteps": "int"},
})

DEFAULT_MAX_STEPS = 1000
MAX_STEPS = 100_000


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
        if spec.get("definition") is None:
            c.required("spec.definition")
            return
        for path, message in validate_definition(spec.get("definition"), field="spec.definition"):
            c.invalid(path, "<definition>", message)

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        states = dig(obj, "spec", "definition", "States", default={})
        return [name_cell(obj), len(states) if isinstance(states, dict) else 0,
                dig(obj, "spec", "definition", "StartAt", default=""), age_cell(obj, now)]


RESOURCE = ResourceType("minik8s.io", "v1", "workflows", "Workflow", True, ("wf",), (), (),
                        strategy=WorkflowStrategy())
