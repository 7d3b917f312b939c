"""WorkflowRuns (`minik8s.io/v1`): one execution of a Workflow, driven by the workflow runner.

`spec.workflowRef.name` names the Workflow (same namespace) and `spec.input` is the run's input as
JSON text (as AWS Step Functions takes it), at most `MAX_INPUT_BYTES`. The spec cannot change
once created. The runner keeps everything else in `status`: the phase (Pending, Running,
Succeeded, Failed), the definition it started with, the interpreter's whole state after every
transition (so a new leader resumes the run where it was, without repeating a finished Task), the
step count, the output (JSON text) or the error and cause, and the latest transitions.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from minik8s.api import schema
from minik8s.api.decoding import loads_finite
from minik8s.api.fields import Causes
from minik8s.api.tables import AGE_COLUMN, NAME_COLUMN, age_cell, column, dig, name_cell

from .defaulting import child, default
from .resource import ResourceType
from .strategy import Strategy

Obj = dict[str, Any]

schema.define(schema.package_of("minik8s.io", "v1"), {
    "WorkflowRun": {"spec": "WorkflowRunSpec", "status": "WorkflowRunStatus"},
    "WorkflowRunSpec": {"workflowRef": "WorkflowReference", "input": "str"},
    "WorkflowReference": {"name": "str"},
    "WorkflowRunStatus": {"phase": "str", "startTime": "time", "completionTime": "time", "steps": "int",
                          "definition": "obj", "state": "obj", "output": "str", "error": "str", "cause": "str",
                          "history": "[WorkflowTransition]"},
    "WorkflowTransition": {"time": "time", "event": "str", "state": "str", "detail": "str"},
})

MAX_INPUT_BYTES = 256 * 1024  # AWS Step Functions' payload limit
PHASES = ("Pending", "Running", "Succeeded", "Failed")


class WorkflowRunStrategy(Strategy):
    """WorkflowRuns: the input checked as JSON, an immutable spec, the `kubectl get wfr` table."""

    columns = (
        NAME_COLUMN,
        column("Workflow", "The Workflow this run executes."),
        column("Phase", "Pending, Running, Succeeded or Failed."),
        column("Steps", "State transitions so far.", type_="integer"),
        AGE_COLUMN,
    )

    def default(self, obj: Obj, now: str) -> None:
        if (spec := child(obj, "spec")) is not None:
            default(spec, "input", "{}")

    def initial_status(self, obj: Obj) -> Obj:
        return {"phase": "Pending"}

    def validate(self, c: Causes, obj: Obj, old: Obj | None) -> None:
        spec = c.object("spec", obj.get("spec"), required=True)
        if spec is None:
            return
        ref = c.object("spec.workflowRef", spec.get("workflowRef"), required=True)
        if ref is not None:
            c.string("spec.workflowRef.name", ref.get("name"), required=True)
        validate_json_text(c, "spec.input", spec.get("input"))
        if old is not None and old.get("spec") != obj.get("spec"):
            c.immutable("spec", "<spec>")
        status = c.object("status", obj.get("status")) or {}
        c.choice("status.phase", status.get("phase"), PHASES)
        c.integer("status.steps", status.get("steps"), minimum=0)

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        return [name_cell(obj), dig(obj, "spec", "workflowRef", "name", default=""),
                dig(obj, "status", "phase", default="Pending"), dig(obj, "status", "steps", default=0),
                age_cell(obj, now)]


RESOURCE = ResourceType("minik8s.io", "v1", "workflowruns", "WorkflowRun", True, ("wfr",), (), ("status",),
                        strategy=WorkflowRunStrategy())


def json_problem(text: str) -> str | None:
    """Why `text` is not a JSON document (NaN and Infinity are not JSON), or None."""
    try:
        loads_finite(text)
    except (ValueError, RecursionError) as exc:
        return f"must be a JSON document: {exc}"
    return None


def validate_json_text(c: Causes, path: str, value: Any) -> None:
    """JSON text (a run's input, a schedule's input): at most MAX_INPUT_BYTES of UTF-8, no NaN."""
    text = c.string(path, value)
    if text is None:
        return
    if len(text.encode("utf-8", "surrogatepass")) > MAX_INPUT_BYTES:
        c.too_long(path, MAX_INPUT_BYTES)
    elif (problem := json_problem(text)) is not None:
        c.invalid(path, "<input>", problem)
