"""The batch script of a GpuJob: `#SBATCH` lines from its resources and options, then build and run.

Pure functions: the controller stores the script in the job's status (`describe` shows it) and
uploads it as `job.sbatch` into the job's working directory. Everything that goes into an
`#SBATCH` line was validated by the kind (`minik8s.api.kinds.gpujob`), and is also quoted here
so that no value can end the line. The script runs the build command, stops with its exit code if
it fails, then the run command; the job's exit code is the run's (or the build's). It writes its
Slurm job id to `JOB_ID_FILE` as it starts and its exit code to `EXIT_CODE_FILE` as it ends, so the
controller reads them over SFTP instead of asking slurmctld.
"""

from __future__ import annotations

from typing import Any

from minik8s.api.kinds.gpujob import DEFAULT_ERROR, DEFAULT_OUTPUT, sbatch_option_problem

Obj = dict[str, Any]
SCRIPT_NAME = "job.sbatch"
JOB_ID_FILE = ".minik8s-job-id"  # written when the job starts: a new leader adopts the job by it
EXIT_CODE_FILE = ".minik8s-exit-code"  # written when the build or the run ends: the job's exit code
# resource field -> sbatch option (gpus is --gres=gpu:N, as the seed's GPU server wrote it)
_RESOURCE_OPTIONS = (("partition", "partition"), ("nodes", "nodes"), ("ntasks", "ntasks"),
                     ("ntasksPerNode", "ntasks-per-node"), ("cpusPerTask", "cpus-per-task"), ("memory", "mem"),
                     ("time", "time"))


def job_name(job: Obj) -> str:
    """The Slurm job name: the GpuJob's uid, so that a new leader finds a job submitted before a crash."""
    return f"minik8s-{job['metadata']['uid']}"


def work_dir_name(job: Obj) -> str:
    """The job's working directory, relative to the login user's home."""
    meta = job["metadata"]
    return f".minik8s/gpujobs/{meta.get('namespace', 'default')}/{meta['name']}-{meta['uid'][:8]}"


def _line(option: str, value: Any = None) -> str:
    text = f"--{option}" if value is None else f"--{option}={value}"
    if any(ord(ch) < 32 for ch in text):
        raise ValueError(f"sbatch option {option!r} holds a control character")
    return f"#SBATCH {text}"


def batch_script(job: Obj) -> str:
    """The sbatch script for `job` (its spec as the API server stored it). Build and run are subshells that
    start with `:`, so that a command of only comments is not an empty `( )` (a bash syntax error)."""
    spec = job.get("spec") or {}
    resources = spec.get("resources") or {}
    lines = ["#!/bin/bash", _line("job-name", job_name(job)), _line("output", spec.get("output") or DEFAULT_OUTPUT),
             _line("error", spec.get("error") or DEFAULT_ERROR)]
    for field, option in _RESOURCE_OPTIONS:
        if resources.get(field) not in (None, ""):
            lines.append(_line(option, resources[field]))
    if resources.get("gpus"):
        lines.append(_line("gres", f"gpu:{int(resources['gpus'])}"))
    for option in spec.get("sbatchOptions") or []:
        if (problem := sbatch_option_problem(option)) is not None:
            raise ValueError(f"sbatch option {option!r}: {problem}")
        lines.append(f"#SBATCH {option}")
    lines += ["", 'cd "$SLURM_SUBMIT_DIR" || exit 1', f'echo "$SLURM_JOB_ID" > {JOB_ID_FILE}']
    build = (spec.get("build") or "").strip()
    if build:
        lines += ["( :", build, ")", "status=$?", 'if [ "$status" -ne 0 ]; then',
                  '  echo "minik8s: the build failed with exit code $status" >&2',
                  f'  echo "$status" > {EXIT_CODE_FILE}', '  exit "$status"', "fi"]
    lines += ["( :", (spec.get("run") or "").strip(), ")", "status=$?", f'echo "$status" > {EXIT_CODE_FILE}',
              'exit "$status"']
    return "\n".join(lines) + "\n"
