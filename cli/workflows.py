"""`minik8s workflow create|run|get|describe`: Amazon States Language workflows over Functions.

`create` reads a state machine (the ASL document, JSON or YAML) from a file into a Workflow; `run`
starts a WorkflowRun with a JSON input (through `workflows/NAME/invoke`) and, unless `--no-wait`, follows it to its end and prints its
output (exit 1 with the error and cause when it fails); `get` lists Workflows; `describe` prints a
run's phase, output or error, and its transitions.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer

from minik8s.api import decoding
from minik8s.cli.client_verbs import (
    CliError, KubeconfigOpt, NamespaceOpt, ServerOpt, TokenOpt, connect, get, one_line_errors,
)
from minik8s.cli.rollout import parse_duration

Obj = dict[str, Any]
DONE = ("Succeeded", "Failed")

workflow_app = typer.Typer(help="State machines (Amazon States Language) whose Tasks call functions.",
                           no_args_is_help=True)
NameArg = Annotated[str, typer.Argument(help="The workflow's name.")]


def read_definition(path: Path) -> Obj:
    """The ASL document in `path` (JSON for *.json, else YAML, decoded like the API server decodes)."""
    try:
        text = sys.stdin.read() if str(path) == "-" else path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        raise CliError(f"cannot read {path}: {err}") from err
    try:
        docs = [decoding.decode_json(text)] if path.suffix == ".json" else decoding.decode_yaml_documents(text)
    except decoding.DecodeError as err:
        raise CliError(f"{path}: {err}") from err
    if len(docs) != 1 or not isinstance(docs[0], dict):
        raise CliError(f"{path}: expected one state machine (a mapping with StartAt and States)")
    return docs[0]


@workflow_app.command("create")
@one_line_errors
def create(name: NameArg,
           file: Annotated[Path, typer.Option("--file", "-f", help="The state machine, JSON or YAML (- : stdin).")],
           max_steps: Annotated[int | None, typer.Option("--max-steps", help="Transitions a run may make.")] = None,
           namespace: NamespaceOpt = "default", server: ServerOpt = None, token: TokenOpt = None,
           kubeconfig: KubeconfigOpt = None) -> None:
    """Create a workflow from an ASL document."""
    spec: Obj = {"definition": read_definition(file)}
    if max_steps is not None:
        spec["maxSteps"] = max_steps
    with connect(server, token, kubeconfig) as client:
        client.create({"apiVersion": "minik8s.io/v1", "kind": "Workflow",
                       "metadata": {"name": name, "namespace": namespace}, "spec": spec}, namespace=namespace)
    typer.echo(f"workflow.minik8s.io/{name} created")


@workflow_app.command("run")
@one_line_errors
def run(name: NameArg,
        input: Annotated[str, typer.Option("--input", "-i", help="The run's JSON input (- reads stdin).")] = "{}",
        wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Follow the run to its end.")] = True,
        timeout: Annotated[str, typer.Option("--timeout", help="Give up waiting after this long (0: never).")] = "0",
        namespace: NamespaceOpt = "default", server: ServerOpt = None, token: TokenOpt = None,
        kubeconfig: KubeconfigOpt = None) -> None:
    """Start a run of a workflow; with --wait (the default) print its output when it ends."""
    text = sys.stdin.read() if input == "-" else input
    try:
        decoding.decode_json(text)
    except decoding.DecodeError as err:
        raise CliError(f"--input is not JSON: {err}") from err
    limit = parse_duration(timeout)
    with connect(server, token, kubeconfig) as client:
        # the invoke subresource creates the run `NAME-xxxxx` (a 404 for an unknown workflow)
        created = client.invoke("workflows", name, text.encode(), namespace=namespace, timeout=client.timeout)
        run_name = created["metadata"]["name"]
        typer.echo(f"workflowrun.minik8s.io/{run_name} created", err=True)
        if not wait:
            return
        deadline = time.monotonic() + limit if limit > 0 else None
        while (created.get("status") or {}).get("phase") not in DONE:
            if deadline is not None and time.monotonic() > deadline:
                raise CliError(f"timed out waiting for workflowrun {run_name}")
            time.sleep(0.2)
            created = client.get("workflowruns", run_name, namespace=namespace)
    status = created["status"]
    if status["phase"] == "Failed":
        raise CliError(f"workflowrun {run_name} failed: {status.get('error')}: {status.get('cause', '')}".rstrip(": "))
    typer.echo(json.dumps(json.loads(status.get("output") or "null"), indent=2))


@workflow_app.command("get")
def get_workflows(names: Annotated[list[str] | None, typer.Argument(help="Names (default: all).")] = None,
                  runs: Annotated[bool, typer.Option("--runs", help="List the runs instead.")] = False,
                  namespace: NamespaceOpt = "default", server: ServerOpt = None, token: TokenOpt = None,
                  kubeconfig: KubeconfigOpt = None) -> None:
    """List workflows (or, with --runs, workflow runs)."""
    get(["workflowruns" if runs else "workflows", *(names or [])], namespace=namespace, server=server, token=token,
        kubeconfig=kubeconfig)


@workflow_app.command("describe")
@one_line_errors
def describe(run_name: Annotated[str, typer.Argument(help="The workflow run's name.")],
             namespace: NamespaceOpt = "default", server: ServerOpt = None, token: TokenOpt = None,
             kubeconfig: KubeconfigOpt = None) -> None:
    """Show a workflow run: phase, steps, output or error, and its latest transitions."""
    with connect(server, token, kubeconfig) as client:
        obj = client.get("workflowruns", run_name, namespace=namespace)
    status = obj.get("status") or {}
    lines = [f"Name:       {run_name}", f"Workflow:   {obj['spec']['workflowRef']['name']}",
             f"Phase:      {status.get('phase', 'Pending')}", f"Steps:      {status.get('steps', 0)}"]
    if "output" in status:
        lines.append(f"Output:     {status['output']}")
    if "error" in status:
        lines.append(f"Error:      {status['error']}: {status.get('cause', '')}")
    lines.append("Transitions:")
    for entry in status.get("history") or []:
        lines.append(f"  {entry.get('time', '')}  {entry.get('event', ''):<16} {entry.get('state', ''):<20} "
                     f"{entry.get('detail', '')}".rstrip())
    typer.echo("\n".join(lines))


def register(main: typer.Typer) -> None:
    """Add the `workflow` group to the main `minik8s` app."""
    main.add_typer(workflow_app, name="workflow")
