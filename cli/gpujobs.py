"""`minik8s gpujob submit|get|describe|logs|delete|download`: programs run as Slurm batch jobs (GpuJobs).

`submit` reads one GpuJob manifest (`-f`, read like `apply -f` reads manifests) and, with `--dir`,
puts the text files of a directory into `spec.sources.inline` (relative paths with `/`; dotfiles,
dot directories and `--exclude` patterns left out; symbolic links, special files and files that are
not UTF-8 refused; the same size limit as the API server's, checked here first), then creates it.
`logs` prints the job's stdout (or `--stderr`) as the GPU job controller brought it back (the
`gpujobs/NAME/log` subresource); `download` writes the job's stdout, stderr and result files from
its output ConfigMap into a directory: `DIR/stdout`, `DIR/stderr` and each artifact under
`DIR/files/`, so no artifact name can clash with the two logs. `get`, `describe` and `delete` are
the generic verbs for `gpujobs`.
"""

from __future__ import annotations

import base64
import binascii
import fnmatch
import os
import posixpath
import stat
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

from minik8s.api import errors
from minik8s.api.kinds import gpujob as gpujob_kind
from minik8s.api.kinds.gpujob import MAX_FILES, MAX_SOURCE_BYTES, output_configmap_name, source_bytes
from minik8s.cli import client_verbs
from minik8s.cli.client_verbs import (
    CliError, KubeconfigOpt, NamespaceOpt, ServerOpt, TokenOpt, connect, gpujob_log, one_line_errors,
)
from minik8s.cli.manifests import STDIN, load_manifests, resource_of

Obj = dict[str, Any]

FILES_DIR = "files"  # artifacts go under DIR/files/, next to DIR/stdout and DIR/stderr
_RESOURCE = gpujob_kind.RESOURCE

gpujob_app = typer.Typer(help="Programs built and run as Slurm batch jobs on an HPC cluster over SSH (GpuJobs).",
                         no_args_is_help=True)
NameArg = Annotated[str, typer.Argument(help="The GpuJob's name.")]


# -- sources ---------------------------------------------------------------------------------


def _excluded(relative: str, patterns: list[str]) -> bool:
    name = relative.rpartition("/")[2]
    return any(fnmatch.fnmatchcase(relative, p) or fnmatch.fnmatchcase(name, p) for p in patterns)


def read_source_dir(root: Path, *, exclude: list[str] | None = None, skip: Path | None = None) -> dict[str, str]:
    """The text files under `root` as {relative path with `/`: text}, for `spec.sources.inline`.

    Dotfiles and dot directories are left out, as are paths matching an `exclude` glob (on the
    relative path or the file name) and `skip` (the manifest, when it lies in the directory). A
    symbolic link, a special file, a file that is not UTF-8 text, a name the API server would refuse,
    more than MAX_FILES files or more than MAX_SOURCE_BYTES (names and texts, as the server counts)
    is one line of error.
    """
    patterns = list(exclude or [])
    try:
        if not stat.S_ISDIR(os.stat(root).st_mode):
            raise CliError(f"--dir {root}: not a directory")
    except OSError as err:
        raise CliError(f"--dir {root}: {err.strerror or err}") from err
    skipped = os.path.realpath(skip) if skip is not None else None
    files: dict[str, str] = {}
    total = 0

    def walk_error(err: OSError) -> None:
        raise CliError(f"cannot read {err.filename}: {err.strerror or err}")

    for directory, subdirectories, names in os.walk(root, onerror=walk_error):
        base = Path(directory)
        kept = []
        for sub in sorted(subdirectories):
            relative = (base / sub).relative_to(root).as_posix()
            if sub.startswith(".") or _excluded(relative, patterns):
                continue
            if (base / sub).is_symlink():
                raise CliError(f"{base / sub}: is a symbolic link; sources must be regular files (copy what it "
                               "points to, or leave it out with --exclude)")
            kept.append(sub)
        subdirectories[:] = kept
        for name in sorted(names):
            path = base / name
            relative = path.relative_to(root).as_posix()
            if name.startswith(".") or _excluded(relative, patterns):
                continue
            try:
                info = os.lstat(path)
            except OSError as err:
                raise CliError(f"cannot read {path}: {err.strerror or err}") from err
            if stat.S_ISLNK(info.st_mode):
                raise CliError(f"{path}: is a symbolic link; sources must be regular files (copy what it points "
                               "to, or leave it out with --exclude)")
            if not stat.S_ISREG(info.st_mode):
                raise CliError(f"{path}: not a regular file; sources must be regular files")
            if skipped is not None and os.path.realpath(path) == skipped:
                continue
            problem = source_path_problem(relative)
            if problem:
                raise CliError(f"{path}: {problem} (leave it out with --exclude)")
            total += len(relative.encode()) + info.st_size
            if total > MAX_SOURCE_BYTES:
                raise CliError(f"--dir {root}: the files add up to more than {MAX_SOURCE_BYTES} bytes (1 MiB), the "
                               "limit for a GpuJob's sources; leave some out with --exclude")
            if len(files) >= MAX_FILES:
                raise CliError(f"--dir {root}: more than {MAX_FILES} files, the limit for a GpuJob's sources; "
                               "leave some out with --exclude")
            try:
                data = path.read_bytes()
            except OSError as err:
                raise CliError(f"cannot read {path}: {err.strerror or err}") from err
            try:
                files[relative] = data.decode("utf-8")
            except UnicodeDecodeError as err:
                raise CliError(f"{path}: not UTF-8 text (byte {err.start}); sources are text files: build binaries "
                               "in spec.build, or leave it out with --exclude") from err
    if not files:
        raise CliError(f"--dir {root}: no files to send (dotfiles and dot directories are left out)")
    return files


def source_path_problem(relative: str) -> str | None:
    """Why the API server would refuse `relative` as a key of `spec.sources.inline`, or None."""
    parts = relative.split("/")
    if not gpujob_kind._SOURCE_PATH.fullmatch(relative) or any(p in (".", "..") for p in parts):
        return ("a source's path may hold only letters, digits, `_`, `.` and `-` in at most 16 parts "
                f"(not {relative!r})")
    return None


def read_job(file: str, namespace: str) -> Obj:
    """The one GpuJob in `file` (`-`: stdin), read and checked like `apply -f` reads manifests."""
    manifests = load_manifests([file], sys.stdin.read() if file == STDIN else None)
    if len(manifests) != 1:
        raise CliError(f"{file}: expected one GpuJob, found {len(manifests)} objects")
    source, obj = manifests[0]
    if resource_of(obj) is not _RESOURCE:
        raise CliError(f"{source}: expected a GpuJob (apiVersion minik8s.io/v1), not {obj.get('kind')} "
                       f"({obj.get('apiVersion')}); use `minik8s apply -f` for other kinds")
    obj["metadata"]["namespace"] = obj["metadata"].get("namespace") or namespace
    return obj


def add_sources(job: Obj, files: dict[str, str], where: str) -> Obj:
    """`job` with `files` added to `spec.sources.inline` (a path in both is an error)."""
    spec = job.get("spec")
    if not isinstance(spec, dict):
        raise CliError(f"{where}: the GpuJob has no spec")
    sources = spec.setdefault("sources", {})
    if not isinstance(sources, dict):
        raise CliError("spec.sources must be a mapping")
    inline = sources.setdefault("inline", {})
    if not isinstance(inline, dict):
        raise CliError("spec.sources.inline must be a mapping of paths to texts")
    clashes = sorted(set(inline) & set(files))
    if clashes:
        raise CliError(f"{', '.join(clashes)}: both in spec.sources.inline of the manifest and in {where}; "
                       "keep one (or leave it out with --exclude)")
    inline.update(files)
    return job


@gpujob_app.command("submit")
@one_line_errors
def submit(file: Annotated[str, typer.Option("--file", "-f", help="The GpuJob manifest (YAML or JSON; - : stdin).")],
           source_dir: Annotated[Path | None, typer.Option(
               "--dir", help="Put this directory's text files into spec.sources.inline (dotfiles left out).")] = None,
           exclude: Annotated[list[str] | None, typer.Option(
               "--exclude", help="With --dir: leave out paths or names matching this glob (repeatable).")] = None,
           namespace: NamespaceOpt = "default", server: ServerOpt = None, token: TokenOpt = None,
           kubeconfig: KubeconfigOpt = None) -> None:
    """Create a GpuJob from a manifest, with its sources from a directory."""
    job = read_job(file, namespace)
    if source_dir is not None:
        manifest = Path(file) if file != STDIN else None
        files = read_source_dir(source_dir, exclude=exclude, skip=manifest)
        add_sources(job, files, f"--dir {source_dir}")
    elif exclude:
        raise CliError("--exclude goes with --dir")
    size = source_bytes(job)
    if size > MAX_SOURCE_BYTES:
        raise CliError(f"the sources add up to {size} bytes; the limit for a GpuJob's sources is {MAX_SOURCE_BYTES} "
                       "bytes (1 MiB)")
    name, ns = job["metadata"]["name"], job["metadata"]["namespace"]
    with connect(server, token, kubeconfig) as client:
        client.create(job, namespace=ns)
    typer.echo(f"gpujob.minik8s.io/{name} created")


# -- the generic verbs -----------------------------------------------------------------------


@gpujob_app.command("get")
def get_jobs(names: Annotated[list[str] | None, typer.Argument(help="Names (default: all).")] = None,
             output: Annotated[str, typer.Option("--output", "-o", help="wide, yaml, json or name.")] = "",
             all_namespaces: client_verbs.AllNamespacesOpt = False, namespace: NamespaceOpt = "default",
             server: ServerOpt = None, token: TokenOpt = None, kubeconfig: KubeconfigOpt = None) -> None:
    """List GpuJobs (like `minik8s get gpujobs`): phase, Slurm job id, nodes, exit code, age."""
    client_verbs.get(["gpujobs", *(names or [])], output=output, all_namespaces=all_namespaces, namespace=namespace,
                     server=server, token=token, kubeconfig=kubeconfig)


@gpujob_app.command("describe")
def describe(names: Annotated[list[str], typer.Argument(help="Names.")], namespace: NamespaceOpt = "default",
             server: ServerOpt = None, token: TokenOpt = None, kubeconfig: KubeconfigOpt = None) -> None:
    """Show GpuJobs: cluster, phase, Slurm state, resources, sources, artifacts, conditions, script, events."""
    client_verbs.describe("gpujobs", names, namespace=namespace, server=server, token=token, kubeconfig=kubeconfig)


@gpujob_app.command("delete")
def delete(names: Annotated[list[str], typer.Argument(help="Names.")],
           wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait until the jobs are gone.")] = True,
           timeout: Annotated[float, typer.Option("--timeout", help="Seconds to wait for deletion.")] = 60.0,
           namespace: NamespaceOpt = "default", server: ServerOpt = None, token: TokenOpt = None,
           kubeconfig: KubeconfigOpt = None) -> None:
    """Delete GpuJobs (a batch job still queued or running is cancelled with scancel first)."""
    client_verbs.delete(["gpujobs", *names], wait=wait, timeout=timeout, namespace=namespace, server=server,
                        token=token, kubeconfig=kubeconfig)


# -- output ----------------------------------------------------------------------------------


@gpujob_app.command("logs")
@one_line_errors
def logs(name: NameArg,
         stderr: Annotated[bool, typer.Option("--stderr", help="The job's standard error instead of its output.")] = False,
         tail: Annotated[int | None, typer.Option("--tail", help="Only the last N lines.")] = None,
         namespace: NamespaceOpt = "default", server: ServerOpt = None, token: TokenOpt = None,
         kubeconfig: KubeconfigOpt = None) -> None:
    """Print a GpuJob's stdout (or stderr), as brought back once the job ended (the last 256 KiB)."""
    if tail is not None and tail < 0:
        raise CliError("--tail must be 0 or more")
    with connect(server, token, kubeconfig) as client:
        text, note = gpujob_log(client, name, namespace=namespace, stderr=stderr, tail_lines=tail)
    if note and not text:
        typer.echo(f"gpujob {name}: no output: {note}", err=True)
    sys.stdout.write(text)
    sys.stdout.flush()


def _output_of(client: Any, name: str, namespace: str) -> tuple[Obj, Obj]:
    """The job and its output ConfigMap (a CliError while there is none, or an older job's)."""
    job = client.get("gpujobs", name, namespace=namespace)
    phase = (job.get("status") or {}).get("phase") or "Pending"
    try:
        output = client.get("configmaps", output_configmap_name(name), namespace=namespace)
    except errors.NotFoundError:
        output = None
    owners = ((output or {}).get("metadata") or {}).get("ownerReferences") or [{}]
    if output is None or owners[0].get("uid") != job["metadata"].get("uid"):
        raise CliError(f"gpujob {name} has no output yet: it is {phase} (its output and files come back once it "
                       "ended)")
    return job, output


def artifact_files(job: Obj, binary: dict[str, str]) -> tuple[dict[str, str], list[str]]:
    """{relative path: ConfigMap key} of the result files held in `binary` (the output ConfigMap's
    binaryData), and the artifacts the job listed that were not brought back (over the size limits).

    A key stands for the listed artifact whose name, with `/` as `__`, is the key; when two listed
    names give one key, the one whose size matches the data. A key no artifact gives is kept as it is.
    """
    listed = [a for a in (job.get("status") or {}).get("artifacts") or [] if isinstance(a.get("name"), str)]
    by_key: dict[str, list[Obj]] = {}
    for artifact in sorted(listed, key=lambda a: a["name"]):
        by_key.setdefault(artifact["name"].replace("/", "__"), []).append(artifact)
    paths: dict[str, str] = {}
    for key, data in sorted(binary.items()):
        candidates = by_key.get(key) or []
        size = (len(data) * 3) // 4 - data[-2:].count("=") if isinstance(data, str) else -1
        chosen = next((a for a in candidates if a.get("size") == size), candidates[0] if candidates else None)
        paths[chosen["name"] if chosen else key] = key
    missing = [a["name"] for a in listed if a["name"] not in paths]
    return paths, missing


def _safe_target(root: Path, relative: str) -> Path:
    """`root/relative`, refusing a path that is absolute, has `.`/`..`/empty parts or leaves `root`."""
    parts = relative.split("/")
    if (not relative or relative.startswith("/") or "\\" in relative or "\0" in relative
            or any(p in ("", ".", "..") for p in parts) or posixpath.isabs(relative)):
        raise CliError(f"refusing to write {relative!r}: not a relative path inside the output directory")
    target = root.joinpath(*parts)
    if not os.path.realpath(target).startswith(os.path.realpath(root) + os.sep):
        raise CliError(f"refusing to write {relative!r}: it would land outside {root}")
    return target


def _write(path: Path, data: bytes) -> None:
    """Write `path` without following a symbolic link there."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0)
    try:
        fd = os.open(path, flags, 0o644)
    except OSError as err:
        raise CliError(f"cannot write {path}: {err.strerror or err}") from err
    with os.fdopen(fd, "wb") as f:
        f.write(data)


@gpujob_app.command("download")
@one_line_errors
def download(name: NameArg,
             output_dir: Annotated[Path | None, typer.Option(
                 "--output-dir", "-o", help="Where to write (default ./NAME-results): stdout, stderr, files/...")] = None,
             namespace: NamespaceOpt = "default", server: ServerOpt = None, token: TokenOpt = None,
             kubeconfig: KubeconfigOpt = None) -> None:
    """Write a GpuJob's stdout, stderr and result files (spec.artifacts) into a directory."""
    root = output_dir if output_dir is not None else Path(f"{name}-results")
    with connect(server, token, kubeconfig) as client:
        job, output = _output_of(client, name, namespace)
    binary = output.get("binaryData") or {}
    paths, missing = artifact_files(job, binary)
    decoded: dict[Path, bytes] = {}
    files_root = root / FILES_DIR
    for relative, key in sorted(paths.items()):
        try:
            data = base64.b64decode(binary[key], validate=True)
        except (binascii.Error, TypeError, ValueError) as err:
            raise CliError(f"{output_configmap_name(name)}: binaryData {key!r} is not base64") from err
        decoded[_safe_target(files_root, relative)] = data  # every path checked before anything is written
    data_of = output.get("data") or {}
    written = []
    for stream in ("stdout", "stderr"):
        _write(root / stream, str(data_of.get(stream) or "").encode("utf-8", "replace"))
        written.append(root / stream)
    for path, data in decoded.items():
        if not os.path.realpath(path).startswith(os.path.realpath(files_root) + os.sep):  # a link made meanwhile
            raise CliError(f"refusing to write {path}: it would land outside {files_root}")
        _write(path, data)
        written.append(path)
    for path in written:
        typer.echo(str(path))
    for artifact in missing:
        typer.echo(f"not brought back (over the size limits): {artifact}", err=True)


def register(main: typer.Typer) -> None:
    """Add the `gpujob` group to the main `minik8s` app."""
    main.add_typer(gpujob_app, name="gpujob")
