"""Runs one command inside a running process-runtime container (the runtime's `exec_sync`).

The agent is multi-threaded, and joining a mount namespace needs a single-threaded process, so
`ProcessRuntime.exec_sync` starts this small program, which becomes the command:

    python -m minik8s.node.runtime.process_exec ROOT_DIR CONTAINER_ID ERROR_FD -- COMMAND...

It joins what the container's own process has — the pod's network namespace, the container's
mount namespace (so its volumes are where the container sees them) and its cgroup — takes the
container's environment and working directory, and execs the command. Anything that fails
before the exec is written to ERROR_FD (closed by a successful exec), so the runtime can tell "the
command ran and exited N" from "it could not be run" (then this exits 125).
"""

from __future__ import annotations

import os
import sys

from .cgroups import Cgroup
from .process_shim import (CLONE_NEWNS, container_env, enter_namespace, process_alive, read_json, spec_path,
                           start_error_message, status_path)

SETUP_FAILED = 125


def _same_namespace(a: str, b: str) -> bool:
    try:
        return os.stat(a).st_ino == os.stat(b).st_ino
    except OSError:
        return False


def run(root_dir: str, container_id: str, error_fd: int, command: list[str]) -> None:
    """Join the container and exec `command` (never returns on success)."""
    os.set_inheritable(error_fd, False)  # closed by the exec: nothing on it means the command runs
    try:
        spec = read_json(spec_path(root_dir, container_id))
        status = read_json(status_path(root_dir, container_id))
        if spec is None:
            raise RuntimeError(f"container {container_id} not found")
        if status is None or status.get("state") != "running" or not process_alive(status.get("pid"),
                                                                                      status.get("pid_start")):
            raise RuntimeError(f"container {container_id} is not running")
        if spec.get("netns_path"):
            enter_namespace(spec["netns_path"])
        mounts = f"/proc/{status['pid']}/ns/mnt"
        if not _same_namespace(mounts, "/proc/self/ns/mnt"):
            enter_namespace(mounts, CLONE_NEWNS)
        Cgroup.from_json(spec["cgroup"]).join(os.getpid())
        cwd = spec["config"].get("working_dir") or None
        env = container_env(spec)
        if cwd:
            os.chdir(cwd)
        if not command:
            raise RuntimeError("no command to run")
    except Exception as exc:  # noqa: BLE001 - every setup failure is reported the same way
        os.write(error_fd, str(exc).encode()[:4000])
        os._exit(SETUP_FAILED)
    try:
        os.execvpe(command[0], command, env)
    except OSError as exc:
        os.write(error_fd, start_error_message(exc, command, None).encode()[:4000])
        os._exit(SETUP_FAILED)


if __name__ == "__main__":
    separator = sys.argv.index("--")
    run(sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[separator + 1:])
