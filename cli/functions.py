"""`minik8s function create|update|get|delete|invoke|logs`: Functions from a `.py` file, and calls.

`create` and `update` read the function's code from `--file`: a `.py` module (its text becomes
`spec.source.inline`), a `.zip` archive, or a directory that is zipped here (without `__pycache__`
and dotfiles); an archive goes as base64 into `spec.source.zip`, where the API server checks it
(`minik8s.api.funczip`). `invoke` calls the function through the masters (`functions/NAME/invoke`)
and prints its JSON answer, with the time the call took on stderr; `logs` prints the logs of the
function's instances (`pods/log` of each pod labelled `minik8s.io/function=NAME`); `get` and
`delete` are the generic verbs for `functions`.
"""

from __future__ import annotations

import base64
import io
import json
import os
import sys
import time
import zipfile
from pathlib import Path
from typing import Annotated, Any

import typer

from minik8s.api.decoding import loads_finite
from minik8s.api.funczip import MAX_UNPACKED_BYTES
from minik8s.api.kinds.function import FUNCTION_LABEL, MAX_SOURCE_BYTES
from minik8s.cli.client_verbs import (
    CliError, KubeconfigOpt, NamespaceOpt, ServerOpt, TokenOpt, connect, delete, get, one_line_errors,
)

Obj = dict[str, Any]

function_app = typer.Typer(help="Python functions called over HTTP, scaled from and to zero.", no_args_is_help=True)

NameArg = Annotated[str, typer.Argument(help="The function's name.")]
FileOpt = Annotated[Path, typer.Option("--file", "-f", help="The function's code: a .py module, a .zip archive or a "
                                                             "directory (zipped without __pycache__ and dotfiles).")]
HandlerOpt = Annotated[str | None, typer.Option("--handler", help="MODULE:FUNCTION to call (default main:handle).")]
MinOpt = Annotated[int | None, typer.Option("--min-scale", help="Instances kept when idle (default 0).")]
MaxOpt = Annotated[int | None, typer.Option("--max-scale", help="Instances at most (default 10).")]
ConcurrencyOpt = Annotated[int | None, typer.Option("--concurrency", help="Calls at once per instance (0: no limit).")]
TimeoutOpt = Annotated[int | None, typer.Option("--timeout", help="Seconds a call may take (default 60).")]
EnvOpt = Annotated[list[str] | None, typer.Option("--env", "-e", help="NAME=VALUE for the function (repeatable).")]


def read_source(path: Path) -> Obj:
    """`spec.source` from `--file`: a .py module's text as `inline`; a .zip archive, or a directory zipped
    here, as `zip` (base64). One line of error for anything else, or for an archive over the limit."""
    if path.is_dir():
        return {"zip": _encoded(path, zip_directory(path))}
    if path.suffix == ".zip":
        try:
            with path.open("rb") as f:
                return {"zip": _encoded(path, f.read(MAX_SOURCE_BYTES + 1))}
        except OSError as err:
            raise CliError(f"cannot read {path}: {err}") from err
    if path.suffix != ".py":
        raise CliError(f"{path}: give the function's code as a .py file, a .zip archive or a directory")
    try:
        return {"inline": path.read_text(encoding="utf-8")}
    except (OSError, UnicodeDecodeError) as err:
        raise CliError(f"cannot read {path}: {err}") from err


def zip_directory(root: Path) -> bytes:
    """The files under `root` as a zip archive rooted there, without `__pycache__` and dotfiles (or dot
    directories); the same files give the same bytes (sorted, fixed times and modes), so an update with
    unchanged code does not roll the instances."""
    buffer = io.BytesIO()
    total = 0
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for directory, subdirectories, files in os.walk(root):
            subdirectories[:] = sorted(d for d in subdirectories if not d.startswith(".") and d != "__pycache__")
            for name in sorted(files):
                file = Path(directory, name)
                if name.startswith(".") or not file.is_file():
                    continue
                try:
                    data = file.read_bytes()
                except OSError as err:
                    raise CliError(f"cannot read {file}: {err}") from err
                total += len(data)
                if total > MAX_UNPACKED_BYTES:
                    raise CliError(f"{root}: the files add up to more than {MAX_UNPACKED_BYTES} bytes, the limit "
                                   "for a function's code")
                info = zipfile.ZipInfo(file.relative_to(root).as_posix(), date_time=(1980, 1, 1, 0, 0, 0))
                info.external_attr = 0o644 << 16
                archive.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
        if not archive.namelist():
            raise CliError(f"{root}: no files to upload (dotfiles and __pycache__ are left out)")
    return buffer.getvalue()


def _encoded(path: Path, archive: bytes) -> str:
    text = base64.b64encode(archive).decode()
    if len(text) > MAX_SOURCE_BYTES:
        raise CliError(f"{path}: the archive is {len(text)} bytes as base64 (or more); the limit is "
                       f"{MAX_SOURCE_BYTES} bytes (512 KiB)")
    return text


def build_spec(source: Obj | None, handler: str | None, min_scale: int | None, max_scale: int | None,
               concurrency: int | None, timeout: int | None, env: list[str] | None) -> Obj:
    """The `spec` fields given on the command line (absent ones are left to the server's defaults)."""
    spec: Obj = {}
    if source is not None:
        spec["source"] = source
    if handler is not None:
        spec["handler"] = handler
    scale = {k: v for k, v in (("minScale", min_scale), ("maxScale", max_scale)) if v is not None}
    if scale:
        spec["scale"] = scale
    if concurrency is not None:
        spec["containerConcurrency"] = concurrency
    if timeout is not None:
        spec["timeoutSeconds"] = timeout
    if env:
        pairs = []
        for item in env:
            name, sep, value = item.partition("=")
            if not sep or not name:
                raise CliError(f"--env {item!r}: expected NAME=VALUE")
            pairs.append({"name": name, "value": value})
        spec["env"] = pairs
    return spec


@function_app.command("create")
@one_line_errors
def create(name: NameArg, file: FileOpt, handler: HandlerOpt = None, min_scale: MinOpt = None,
           max_scale: MaxOpt = None, concurrency: ConcurrencyOpt = None, timeout: TimeoutOpt = None,
           env: EnvOpt = None, namespace: NamespaceOpt = "default", server: ServerOpt = None,
           token: TokenOpt = None, kubeconfig: KubeconfigOpt = None) -> None:
    """Create a function from a Python module, a zip archive or a directory."""
    spec = build_spec(read_source(file), handler, min_scale, max_scale, concurrency, timeout, env)
    with connect(server, token, kubeconfig) as client:
        client.create({"apiVersion": "minik8s.io/v1", "kind": "Function",
                       "metadata": {"name": name, "namespace": namespace}, "spec": spec}, namespace=namespace)
    typer.echo(f"function.minik8s.io/{name} created")


@function_app.command("update")
@one_line_errors
def update(name: NameArg,
           file: Annotated[Path | None, typer.Option("--file", "-f", help="New code: a .py module, a .zip or a "
                                                                          "directory.")] = None,
           handler: HandlerOpt = None, min_scale: MinOpt = None, max_scale: MaxOpt = None,
           concurrency: ConcurrencyOpt = None, timeout: TimeoutOpt = None, env: EnvOpt = None,
           namespace: NamespaceOpt = "default", server: ServerOpt = None, token: TokenOpt = None,
           kubeconfig: KubeconfigOpt = None) -> None:
    """Change a function's code or settings (its instances roll over without failing a call)."""
    # the other kind of source is removed (a merge patch's null), or the function would have both
    source = {"inline": None, "zip": None, **read_source(file)} if file else None
    spec = build_spec(source, handler, min_scale, max_scale, concurrency, timeout, env)
    if not spec:
        raise CliError("nothing to update: give --file or a setting")
    with connect(server, token, kubeconfig) as client:
        client.patch("functions", name, {"spec": spec}, namespace=namespace)
    typer.echo(f"function.minik8s.io/{name} updated")


@function_app.command("get")
def get_functions(names: Annotated[list[str] | None, typer.Argument(help="Names (default: all).")] = None,
                  output: Annotated[str, typer.Option("--output", "-o", help="wide, yaml, json or name.")] = "",
                  namespace: NamespaceOpt = "default", server: ServerOpt = None, token: TokenOpt = None,
                  kubeconfig: KubeconfigOpt = None) -> None:
    """List functions (like `minik8s get functions`)."""
    get(["functions", *(names or [])], output=output, namespace=namespace, server=server, token=token,
        kubeconfig=kubeconfig)


@function_app.command("delete")
def delete_functions(names: Annotated[list[str], typer.Argument(help="Names.")], namespace: NamespaceOpt = "default",
                     server: ServerOpt = None, token: TokenOpt = None, kubeconfig: KubeconfigOpt = None) -> None:
    """Delete functions and their instances."""
    delete(["functions", *names], namespace=namespace, server=server, token=token, kubeconfig=kubeconfig)


@function_app.command("invoke")
@one_line_errors
def invoke(name: NameArg,
           data: Annotated[str, typer.Option("--data", "-d", help="The call's JSON input (- reads stdin).")] = "null",
           namespace: NamespaceOpt = "default", server: ServerOpt = None, token: TokenOpt = None,
           kubeconfig: KubeconfigOpt = None) -> None:
    """Call a function with a JSON input; print its JSON answer (and the time taken, on stderr)."""
    text = sys.stdin.read() if data == "-" else data
    try:
        loads_finite(text)
    except ValueError as err:
        raise CliError(f"--data is not JSON: {err}") from err
    with connect(server, token, kubeconfig) as client:
        started = time.monotonic()
        # the text as given (checked above): a JSON string or number must not be sent as bare text
        answer = client.invoke("functions", name, text.encode(), namespace=namespace, timeout=960)
        took = time.monotonic() - started
    typer.echo(json.dumps(answer, indent=2))
    typer.echo(f"({took * 1000:.1f} ms)", err=True)


@function_app.command("logs")
@one_line_errors
def logs(name: NameArg, tail: Annotated[int | None, typer.Option("--tail", help="Last N lines of each.")] = None,
         namespace: NamespaceOpt = "default", server: ServerOpt = None, token: TokenOpt = None,
         kubeconfig: KubeconfigOpt = None) -> None:
    """Print the logs of the function's instances, each under a line naming the instance."""
    with connect(server, token, kubeconfig) as client:
        pods = client.list("pods", namespace=namespace, label_selector=f"{FUNCTION_LABEL}={name}")["items"]
        if not pods:
            typer.echo(f"function {name} has no instances", err=True)
        for pod in sorted(pods, key=lambda p: p["metadata"]["name"]):
            typer.echo(f"==> {pod['metadata']['name']} <==")
            sys.stdout.write(client.log(pod["metadata"]["name"], namespace=namespace, tail_lines=tail))
            sys.stdout.flush()



def register(main: typer.Typer) -> None:
    """Add the `function` group to the main `minik8s` app."""
    main.add_typer(function_app, name="function")
