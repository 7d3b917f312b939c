"""GpuJobs (`minik8s.io/v1`): a program built and run as a Slurm batch job on an HPC cluster over SSH.

The seed's GPU server as a kind. `spec.sources.inline` holds the job's files (name -> text; the CLI
fills it from a directory), `spec.build` and `spec.run` the shell commands run in the job's working
directory on the cluster, `spec.resources` Slurm's resources (`gpus: N` becomes `--gres=gpu:N`),
`spec.output` / `spec.error` the names of its stdout and stderr files, `spec.sbatchOptions` extra
`#SBATCH` options from an allow-list (`SBATCH_OPTIONS`), and `spec.cluster` the login node: host,
port, user, optionally its SSH host key, and `credentialsSecret`, the name of a Secret in the same
namespace with `ssh-privatekey` (a private key) or `password`. Credentials are never in the job.

The GPU job controller (`minik8s.slurm`) keeps `status`: the phase (Pending, Submitted, Running,
Succeeded, Failed, Cancelled), Slurm's job id and state, the node list, the exit code, the times,
the working directory, the generated batch script, conditions with reasons, and the result files
it brought back. The job's stdout and stderr (their tails) and those files live in the ConfigMap
`output_configmap_name(job)`, served as the `log` subresource (`minik8s logs gpujob/NAME`).
The spec cannot change once the job exists: a changed job is a new job.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from minik8s.api import schema
from minik8s.api.describe import Lines
from minik8s.api.errors import RequestEntityTooLargeError
from minik8s.api.fields import Causes
from minik8s.api.names import DNS_LABEL, NameRule
from minik8s.api.tables import AGE_COLUMN, NAME_COLUMN, age_cell, column, dig, name_cell

from .defaulting import child, default
from .resource import ResourceType
from .strategy import Strategy

Obj = dict[str, Any]

schema.define(schema.package_of("minik8s.io", "v1"), {
    "GpuJob": {"spec": "GpuJobSpec", "status": "GpuJobStatus"},
    "GpuJobSpec": {"cluster": "SlurmLogin", "sources": "GpuJobSources", "build": "str", "run": "str",
                   "resources": "SlurmResources", "output": "str", "error": "str", "sbatchOptions": "[str]",
                   "artifacts": "[str]"},
    "SlurmLogin": {"host": "str", "port": "int", "user": "str", "credentialsSecret": "str", "hostKey": "str"},
    "GpuJobSources": {"inline": "map"},
    "SlurmResources": {"partition": "str", "nodes": "int", "ntasks": "int", "ntasksPerNode": "int",
                       "cpusPerTask": "int", "gpus": "int", "memory": "str", "time": "str"},
    "GpuJobStatus": {"phase": "str", "jobId": "str", "slurmState": "str", "nodeList": "str", "exitCode": "int",
                     "submitTime": "time", "startTime": "time", "completionTime": "time", "workDir": "str",
                     "script": "str", "conditions": "[Condition/type]", "artifacts": "[GpuJobArtifact/name]"},
    "GpuJobArtifact": {"name": "str", "size": "int"},
})

PHASES = ("Pending", "Submitting", "Submitted", "Running", "Succeeded", "Failed", "Cancelled")
ENDED = ("Succeeded", "Failed", "Cancelled")
MAX_SOURCE_BYTES = 1024 * 1024  # all inline files together, as UTF-8
MAX_FILES = 256
MAX_COMMAND_BYTES = 64 * 1024
MAX_NAME_LENGTH = 50  # room for the output ConfigMap's name
DEFAULT_OUTPUT, DEFAULT_ERROR = "job.out", "job.err"
SECRET_KEYS = ("ssh-privatekey", "password")  # what a credentials Secret may hold
OUTPUT_SUFFIX = "-gpujob-output"
OUTPUT_LABEL = "minik8s.io/gpujob"  # on the output ConfigMap: the job's name

# Extra `#SBATCH` options a job may ask for: name -> the pattern of its value (None: a flag). The
# resources have their own fields; options that would move the files, the job's identity or its
# working directory (--chdir, --output, --job-name, --export, --wrap...) are not allowed.
_WORD = r"[A-Za-z0-9_.,:+\-]{1,128}"
SBATCH_OPTIONS: dict[str, str | None] = {
    "account": _WORD, "qos": _WORD, "constraint": r"[A-Za-z0-9_.,:|&\[\]*+\-]{1,256}", "reservation": _WORD,
    "comment": r"[A-Za-z0-9_.,:+\- ]{1,256}", "nice": r"-?[0-9]{1,5}", "exclusive": None, "requeue": None,
    "no-requeue": None, "gpus-per-task": r"[0-9]{1,3}", "gpus-per-node": r"[0-9]{1,3}",
    "mem-per-cpu": r"[0-9]{1,9}[KMGT]?", "mem-per-gpu": r"[0-9]{1,9}[KMGT]?", "cpus-per-gpu": r"[0-9]{1,4}",
    "threads-per-core": r"[0-9]{1,2}",
    "hint": r"(compute_bound|memory_bound|multithread|nomultithread)", "distribution": _WORD,
    "begin": r"[A-Za-z0-9:+\-]{1,32}", "deadline": r"[A-Za-z0-9:+\-]{1,32}", "priority": r"[0-9]{1,9}",
}
_OPTION = re.compile(r"--([a-z][a-z\-]*)(?:=(.*))?")
# Slurm fills %j (job id), %x (job name), %u (user) and %% in output names; the controller reads the
# file back under the same name, so other patterns (%N, %4j ...) are refused.
_FILE_NAME = re.compile(r"([A-Za-z0-9_.\-]|%[jxu%]){1,255}")
RESERVED_SOURCES = ("job.sbatch", ".minik8s-job-id", ".minik8s-exit-code")  # the controller's own files
_SOURCE_PATH = re.compile(r"[A-Za-z0-9_.\-]{1,255}(/[A-Za-z0-9_.\-]{1,255}){0,15}")
_ARTIFACT = re.compile(r"[A-Za-z0-9_.*?\[\]\-]{1,255}(/[A-Za-z0-9_.*?\[\]\-]{1,255}){0,15}")
_MEMORY = re.compile(r"[1-9][0-9]{0,8}[KMGT]?")
_TIME = re.compile(r"([0-9]{1,4}-)?[0-9]{1,5}(:[0-9]{1,2}){0,2}|UNLIMITED|INFINITE")
_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.\-]{0,251}[A-Za-z0-9])?|\[[0-9A-Fa-f:]{2,39}\]")
_USER = re.compile(r"[a-z_][a-z0-9_\-]{0,31}")
_HOST_KEY = re.compile(r"(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)) [A-Za-z0-9+/]{16,1024}={0,3}")

GPUJOB_NAME = NameRule(DNS_LABEL.pattern, MAX_NAME_LENGTH, DNS_LABEL.message)


def output_configmap_name(job_name: str) -> str:
    """The ConfigMap holding a job's stdout, stderr and result files."""
    return f"{job_name}{OUTPUT_SUFFIX}"


def cluster_key(job: Obj) -> tuple[str, int, str, str, str]:
    """(namespace, port, host, user, secret): the jobs that share one SSH connection."""
    cluster = dig(job, "spec", "cluster", default={}) or {}
    return (job["metadata"].get("namespace", "default"), int(cluster.get("port") or 22), str(cluster.get("host")),
            str(cluster.get("user")), str(cluster.get("credentialsSecret")))


class GpuJobStrategy(Strategy):
    """GpuJobs: defaults, the size of the sources (413), validation, the `get` table and `describe`."""

    name_rule = GPUJOB_NAME
    columns = (
        NAME_COLUMN,
        column("Phase", "Pending, Submitting, Submitted, Running, Succeeded, Failed or Cancelled."),
        column("Job ID", "Slurm's job id."),
        column("Nodes", "The nodes Slurm runs the job on."),
        column("Exit", "The job's exit code once it ended.", type_="integer"),
        AGE_COLUMN,
    )

    def default(self, obj: Obj, now: str) -> None:
        if (spec := child(obj, "spec")) is None:
            return
        default(spec, "output", DEFAULT_OUTPUT)
        default(spec, "error", DEFAULT_ERROR)
        if (cluster := child(spec, "cluster")) is not None:
            default(cluster, "port", 22)
        if (resources := child(spec, "resources")) is not None:
            default(resources, "nodes", 1)
            default(resources, "ntasks", 1)

    def initial_status(self, obj: Obj) -> Obj:
        return {"phase": "Pending"}

    def prepare_create(self, obj: Obj) -> None:
        _check_source_size(obj)

    def prepare_update(self, new: Obj, old: Obj) -> None:
        _check_source_size(new)

    def validate(self, c: Causes, obj: Obj, old: Obj | None) -> None:
        spec = c.object("spec", obj.get("spec"), required=True)
        if spec is not None:
            _validate_spec(c, spec)
            if old is not None and old.get("spec") != spec:
                c.immutable("spec", "<spec>")
        status = c.object("status", obj.get("status")) or {}
        c.choice("status.phase", status.get("phase"), PHASES)
        c.integer("status.exitCode", status.get("exitCode"), minimum=0, maximum=255)

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        exit_code = dig(obj, "status", "exitCode")
        return [name_cell(obj), dig(obj, "status", "phase", default="Pending"), dig(obj, "status", "jobId", default=""),
                dig(obj, "status", "nodeList", default=""), exit_code if isinstance(exit_code, int) else None,
                age_cell(obj, now)]

    def describe(self, out: Lines, obj: Obj) -> None:
        spec, status = obj.get("spec") or {}, obj.get("status") or {}
        cluster = spec.get("cluster") or {}
        out.add(0, "Cluster:", f"{cluster.get('user', '')}@{cluster.get('host', '')}:{cluster.get('port', 22)} "
                               f"(credentials: Secret {cluster.get('credentialsSecret', '')})")
        out.add(0, "Phase:", status.get("phase", "Pending"))
        for key, label in (("jobId", "Slurm Job ID:"), ("slurmState", "Slurm State:"), ("nodeList", "Nodes:"),
                           ("exitCode", "Exit Code:"), ("submitTime", "Submitted:"), ("startTime", "Started:"),
                           ("completionTime", "Completed:"), ("workDir", "Working Directory:")):
            if status.get(key) not in (None, ""):
                out.add(0, label, status[key])
        out.mapping(0, "Resources", spec.get("resources") or {})
        out.add(0, "Sources:", ", ".join(sorted(dig(spec, "sources", "inline", default={}) or {})) or "<none>")
        for label, text in (("Build:", spec.get("build") or "<none>"), ("Run:", spec.get("run", ""))):
            lines = str(text).splitlines() or [""]
            if len(lines) == 1:
                out.add(0, label, lines[0])
            else:  # a multi-line command: one line each, indented like the batch script
                out.add(0, label)
                for line in lines:
                    out.add(1, line)
        if status.get("artifacts"):
            out.add(0, "Artifacts:")
            for artifact in status["artifacts"]:
                out.add(1, artifact.get("name", ""), f"{artifact.get('size', 0)} bytes")
        if status.get("conditions"):
            out.add(0, "Conditions:")
            out.add(1, "Type", "Status", "Reason", "Message")
            for condition in status["conditions"]:
                out.add(1, condition.get("type", ""), condition.get("status", ""), condition.get("reason", ""),
                        condition.get("message", ""))
        if status.get("script"):
            out.add(0, "Batch Script:")
            for line in str(status["script"]).splitlines():
                out.add(1, line)


RESOURCE = ResourceType("minik8s.io", "v1", "gpujobs", "GpuJob", True, ("gj",), (), ("status", "log"),
                        strategy=GpuJobStrategy())


def source_bytes(obj: Obj) -> int:
    """The size of the inline files (names and texts) as UTF-8."""
    files = dig(obj, "spec", "sources", "inline", default={})
    if not isinstance(files, dict):
        return 0
    return sum(len(str(k).encode("utf-8", "surrogatepass")) + len(v.encode("utf-8", "surrogatepass"))
               for k, v in files.items() if isinstance(v, str))


def _check_source_size(obj: Obj) -> None:
    size = source_bytes(obj)
    if size > MAX_SOURCE_BYTES:
        name = dig(obj, "metadata", "name")
        name = name if isinstance(name, str) else None
        raise RequestEntityTooLargeError(
            f'GpuJob "{name or ""}": spec.sources.inline is {size} bytes of UTF-8; the limit is '
            f"{MAX_SOURCE_BYTES} bytes (1 MiB)", name=name, kind="gpujobs", group="minik8s.io")


def _control_free(c: Causes, path: str, value: str | None, *, newlines: bool = False) -> None:
    if value is None:
        return
    allowed = "\n\t" if newlines else ""
    if any((ord(ch) < 32 and ch not in allowed) or ord(ch) == 127 for ch in value):
        c.invalid(path, value[:64], "must not hold control characters" + (" other than newlines and tabs"
                                                                           if newlines else ""))


def _validate_spec(c: Causes, spec: Obj) -> None:
    cluster = c.object("spec.cluster", spec.get("cluster"), required=True)
    if cluster is not None:
        host = c.string("spec.cluster.host", cluster.get("host"), required=True)
        if host is not None and not _HOST.fullmatch(host):
            c.invalid("spec.cluster.host", host, "must be a host name or an IP address")
        c.integer("spec.cluster.port", cluster.get("port"), minimum=1, maximum=65535)
        user = c.string("spec.cluster.user", cluster.get("user"), required=True)
        if user is not None and not _USER.fullmatch(user):
            c.invalid("spec.cluster.user", user, "must be a user name (lower case letters, digits, _ and -)")
        c.name("spec.cluster.credentialsSecret", cluster.get("credentialsSecret"), DNS_LABEL, required=True)
        key = c.string("spec.cluster.hostKey", cluster.get("hostKey"))
        if key is not None and not _HOST_KEY.fullmatch(key):
            c.invalid("spec.cluster.hostKey", key[:64], "must be `<type> <base64>` as in known_hosts, e.g. "
                                                        "`ssh-ed25519 AAAA...`")
    sources = c.object("spec.sources", spec.get("sources"))
    if sources is not None:
        files = c.string_map("spec.sources.inline", sources.get("inline"))
        if len(files) > MAX_FILES:
            c.too_many("spec.sources.inline", MAX_FILES)
        for name in files:
            if not _SOURCE_PATH.fullmatch(name) or any(part in (".", "..") for part in name.split("/")):
                c.invalid(f"spec.sources.inline[{name}]", name, "must be a relative path of letters, digits, "
                                                                "`_`, `.` and `-`, without `.` or `..` parts")
            elif name in RESERVED_SOURCES:
                c.invalid(f"spec.sources.inline[{name}]", name, "is the name of a file the GPU job controller "
                                                                "writes: " + ", ".join(RESERVED_SOURCES))
    for field, required in (("build", False), ("run", True)):
        text = c.string(f"spec.{field}", spec.get(field), required=required)
        if required and text is not None and not text.strip():
            c.required(f"spec.{field}")  # a blank run would leave the script an empty `( )`: a syntax error
        if text is not None and len(text.encode("utf-8", "surrogatepass")) > MAX_COMMAND_BYTES:
            c.too_long(f"spec.{field}", MAX_COMMAND_BYTES)
        _control_free(c, f"spec.{field}", text, newlines=True)
    for field in ("output", "error"):
        name = c.string(f"spec.{field}", spec.get(field))
        if name is not None and (not _FILE_NAME.fullmatch(name) or name in (".", "..")):
            c.invalid(f"spec.{field}", name, "must be a file name of letters, digits, `_`, `.` and `-`, with "
                                             "Slurm's `%j`, `%x`, `%u` or `%%`")
    resources = c.object("spec.resources", spec.get("resources"))
    if resources is not None:
        _validate_resources(c, resources)
    for i, option in enumerate(c.strings("spec.sbatchOptions", spec.get("sbatchOptions"))):
        problem = sbatch_option_problem(option)
        if problem:
            c.invalid(f"spec.sbatchOptions[{i}]", option[:64], problem)
    for i, pattern in enumerate(c.strings("spec.artifacts", spec.get("artifacts"))):
        if not _ARTIFACT.fullmatch(pattern) or any(part in (".", "..") for part in pattern.split("/")):
            c.invalid(f"spec.artifacts[{i}]", pattern[:64], "must be a relative path or glob pattern of letters, "
                                                            "digits, `_`, `.`, `-`, `*`, `?` and `[]`")


def _validate_resources(c: Causes, resources: Obj) -> None:
    partition = c.string("spec.resources.partition", resources.get("partition"))
    if partition is not None and not re.fullmatch(_WORD, partition):
        c.invalid("spec.resources.partition", partition, "must be a partition name")
    for key, maximum in (("nodes", 100_000), ("ntasks", 1_000_000), ("ntasksPerNode", 100_000),
                         ("cpusPerTask", 100_000)):
        c.integer(f"spec.resources.{key}", resources.get(key), minimum=1, maximum=maximum)
    c.integer("spec.resources.gpus", resources.get("gpus"), minimum=0, maximum=1024)
    memory = c.string("spec.resources.memory", resources.get("memory"))
    if memory is not None and not _MEMORY.fullmatch(memory):
        c.invalid("spec.resources.memory", memory, "must be Slurm's memory size: a number with K, M, G or T "
                                                   "(e.g. `4G`)")
    time = c.string("spec.resources.time", resources.get("time"))
    if time is not None and not _TIME.fullmatch(time):
        c.invalid("spec.resources.time", time, "must be Slurm's time limit: `minutes`, `HH:MM:SS` or "
                                               "`days-HH:MM:SS`")


def sbatch_option_problem(option: str) -> str | None:
    """Why `option` (`--name[=value]`) may not go into a job's `#SBATCH` lines, or None."""
    match = _OPTION.fullmatch(option)
    if match is None:
        return "must be `--option=value` or `--flag`"
    name, value = match.group(1), match.group(2)
    if name not in SBATCH_OPTIONS:
        return f"--{name} is not allowed; allowed: " + ", ".join(f"--{n}" for n in sorted(SBATCH_OPTIONS))
    pattern = SBATCH_OPTIONS[name]
    if pattern is None:
        return None if value is None else f"--{name} takes no value"
    if value is None or not re.fullmatch(pattern, value):
        return f"--{name} needs a value matching {pattern}"
    return None
