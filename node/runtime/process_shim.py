"""Container shim of the process runtime: runs one container's process and outlives the agent.

The per-node launcher (`process_launcher`) forks it in a new session with no pipes to the agent
except the "started" pipe, so killing the agent (even with -9) leaves containers running; a
restarted agent finds them through the files written here. `run(ROOT_DIR, CONTAINER_ID, READY_FD)`
reads ROOT_DIR/containers/<id>/spec.json, enters the sandbox's network namespace, starts the
command in its own session (its pid is the process group the runtime signals) after moving it
into the container's cgroup (before exec, so the command and its children are accounted), and:

- writes stdout/stderr to the log file in CRI format, one entry per line:
  `<RFC3339Nano UTC> <stdout|stderr> <F|P> <text>` (P = partial: a line longer than
  `MAX_LINE_BYTES` continues in the next entry of that stream);
- records status.json: `running` with pid and start time, then `exited` with exit code
  (128+signal when killed by a signal), finish time and reason (Completed, Error, OOMKilled, or
  StartError when the command could not be started at all).

On READY_FD it writes its own pid and start time first (so the runtime can kill a shim that hangs)
and closes it once status.json says running or StartError: the runtime waits for that EOF instead
of polling. It is a child subreaper, so processes the container orphans are reaped instead of
becoming zombies; it sleeps until output or a SIGCHLD arrives (no polling while the container runs).
A `python3 SCRIPT` container labelled for the Python zygote is forked instead (`python_zygote`).
Layout helpers, atomic JSON files and /proc liveness checks here are shared with
`process.ProcessRuntime`, the other reader/writer of these files.
"""

from __future__ import annotations

import ctypes
import json
import os
import selectors
import signal
import subprocess
import time

from . import python_zygote
from .base import START_ERROR_EXIT_CODE
from .cgroups import Cgroup

MAX_LINE_BYTES = 16 * 1024
DRAIN_SECONDS = 1.0  # after the main process exits, how long to keep copying output of leftovers
DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CLONE_NEWNET = 0x40000000
CLONE_NEWNS = 0x00020000
MS_RDONLY, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 0x1, 0x20, 0x1000, 0x4000, 0x40000
PR_SET_CHILD_SUBREAPER = 36


# on-disk layout and files shared with the runtime

def container_dir(root_dir: str, container_id: str) -> str:
    return os.path.join(root_dir, "containers", container_id)


def spec_path(root_dir: str, container_id: str) -> str:
    return os.path.join(container_dir(root_dir, container_id), "spec.json")


def status_path(root_dir: str, container_id: str) -> str:
    return os.path.join(container_dir(root_dir, container_id), "status.json")


def shim_log_path(root_dir: str, container_id: str) -> str:
    return os.path.join(container_dir(root_dir, container_id), "shim.log")


def write_json(path: str, data: dict) -> None:
    """Replace `path` atomically, so readers never see half a file."""
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        json.dump(data, f)
    os.replace(tmp, path)


def read_json(path: str) -> dict | None:
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def process_start_time(pid: int) -> int | None:
    """The start time (clock ticks after boot) of a live process; None if gone or a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = stat[stat.rindex(")") + 2:].split()
    return None if fields[0] in ("Z", "X") else int(fields[19])


def process_alive(pid: int | None, start_time: int | None) -> bool:
    """Whether `pid` still runs and is the same process (not a reused pid)."""
    return pid is not None and start_time is not None and process_start_time(pid) == start_time


def container_env(spec: dict) -> dict[str, str]:
    """The environment a container's processes get (its own and those `exec_sync` runs in it)."""
    return {"PATH": DEFAULT_PATH, "HOSTNAME": spec["hostname"], **spec["config"]["env"]}


def format_timestamp(ns: int) -> str:
    """RFC3339Nano in UTC, e.g. 2026-11-26T23:00:00.123456789Z."""
    seconds, nanos = divmod(ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{nanos:09d}Z"


# the shim itself

class _LogWriter:
    """Turns chunks read from the stdout/stderr pipes into CRI log entries."""

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._partial: dict[str, bytes] = {"stdout": b"", "stderr": b""}

    def _entry(self, stream: str, tag: str, text: bytes) -> None:
        os.write(self._fd, f"{format_timestamp(time.time_ns())} {stream} {tag} ".encode() + text + b"\n")

    def feed(self, stream: str, data: bytes) -> None:
        buffered = self._partial[stream] + data
        *lines, rest = buffered.split(b"\n")
        for line in lines:
            while len(line) > MAX_LINE_BYTES:
                self._entry(stream, "P", line[:MAX_LINE_BYTES])
                line = line[MAX_LINE_BYTES:]
            self._entry(stream, "F", line)
        while len(rest) >= MAX_LINE_BYTES:
            self._entry(stream, "P", rest[:MAX_LINE_BYTES])
            rest = rest[MAX_LINE_BYTES:]
        self._partial[stream] = rest

    def flush(self) -> None:
        for stream, rest in self._partial.items():
            if rest:
                self._entry(stream, "F", rest)
            self._partial[stream] = b""


def _exit_code(wait_status: int) -> int:
    code = os.waitstatus_to_exitcode(wait_status)
    return 128 - code if code < 0 else code


class _Reaper:
    """Reaps every child (we are a subreaper) and remembers the main process's exit code."""

    def __init__(self, main_pid: int) -> None:
        self.main_pid = main_pid
        self.exit_code: int | None = None

    def reap(self, block: bool = False) -> None:
        """Reap exited children; with `block`, first wait for the main process to exit."""
        while True:
            flags = 0 if block and self.exit_code is None else os.WNOHANG
            try:
                pid, wait_status = os.waitpid(-1, flags)
            except ChildProcessError:
                return
            if pid == 0:
                return
            if pid == self.main_pid:
                self.exit_code = _exit_code(wait_status)


def _child_signals() -> int:
    """A pipe that gets a byte whenever SIGCHLD arrives (read end returned), so select wakes on exits."""
    read_end, write_end = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
    signal.signal(signal.SIGCHLD, lambda _signum, _frame: None)
    signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    return read_end


def _supervise(proc: subprocess.Popen | python_zygote.ForkedProcess, log: _LogWriter, wakeup: int) -> int:
    """Copy the output until the main process exits (and its pipes drain); return its exit code."""
    assert proc.stdout is not None and proc.stderr is not None
    selector = selectors.DefaultSelector()
    selector.register(proc.stdout.fileno(), selectors.EVENT_READ, "stdout")
    selector.register(proc.stderr.fileno(), selectors.EVENT_READ, "stderr")
    selector.register(wakeup, selectors.EVENT_READ, None)
    reaper = _Reaper(proc.pid)
    reaper.reap()  # an exit before the handler was there
    drain_until: float | None = None
    while len(selector.get_map()) > 1 and (drain_until is None or time.monotonic() < drain_until):
        timeout = None if drain_until is None else max(0.0, drain_until - time.monotonic())
        for key, _ in selector.select(timeout=timeout):
            if key.data is None:
                try:
                    os.read(wakeup, 4096)
                except BlockingIOError:
                    pass
                continue
            data = os.read(key.fd, 65536)
            if data:
                log.feed(key.data, data)
            else:
                selector.unregister(key.fd)
        reaper.reap()
        if reaper.exit_code is not None and drain_until is None:
            drain_until = time.monotonic() + DRAIN_SECONDS
    log.flush()
    reaper.reap(block=True)
    proc.returncode = reaper.exit_code  # reaped by us, not by Popen.wait
    assert reaper.exit_code is not None
    return reaper.exit_code


def enter_namespace(path: str, kind: int = CLONE_NEWNET) -> None:
    """Join the namespace at `path` (a netns file, /proc/PID/ns/mnt, ...) of type `kind`."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY)
    try:
        if libc.setns(fd, kind) != 0:
            raise OSError(ctypes.get_errno(), f"setns {path}")
    finally:
        os.close(fd)


def _mount_volumes(mounts: list[dict]) -> None:
    """In the container's own mount namespace, bind each volume's host directory at its mount path.

    Runs in the child before exec, so the mounts exist for the container only; a pod's containers
    that mount the same emptyDir see the same directory.
    """
    if not mounts:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(CLONE_NEWNS) != 0:
        raise OSError(ctypes.get_errno(), "unshare(CLONE_NEWNS)")
    if libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None) != 0:
        raise OSError(ctypes.get_errno(), "make / private")
    for mount in mounts:
        target = mount["container_path"].encode()
        if os.path.isdir(mount["host_path"]):
            os.makedirs(mount["container_path"], exist_ok=True)
        elif not os.path.exists(mount["container_path"]):  # a file (subPath): bind it onto a file
            os.makedirs(os.path.dirname(mount["container_path"]) or "/", exist_ok=True)
            open(mount["container_path"], "a").close()
        if libc.mount(mount["host_path"].encode(), target, None, MS_BIND | MS_REC, None) != 0:
            raise OSError(ctypes.get_errno(), f"bind {mount['host_path']} at {mount['container_path']}")
        if mount.get("read_only") and libc.mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY, None) != 0:
            raise OSError(ctypes.get_errno(), f"read-only {mount['container_path']}")


def _prepare_child(cgroup: Cgroup, mounts: list[dict], error_file: str) -> None:
    try:
        cgroup.join(os.getpid())
        _mount_volumes(mounts)
    except BaseException as e:  # Popen only says "Exception occurred in preexec_fn": keep the reason
        with open(error_file, "w") as f:
            f.write(f"{type(e).__name__}: {e}")
        raise


def start_error_message(exc: BaseException, command: list[str], cwd: str | None, error_file: str | None = None) -> str:
    """What went wrong when the container's program could not be started, in the words runc uses."""
    program = command[0] if command else ""
    if isinstance(exc, OSError) and exc.filename is not None:
        reason = (exc.strerror or str(exc)).lower()
        if cwd and exc.filename == cwd:
            return f'chdir to the working dir "{cwd}": {reason}'
        if isinstance(exc, FileNotFoundError) and "/" not in program:
            return f'exec: "{program}": executable file not found in $PATH'
        return f'exec: "{program}": {reason}'
    if isinstance(exc, subprocess.SubprocessError) and error_file and os.path.exists(error_file):
        with open(error_file, errors="replace") as f:
            return f"setting up the container's process: {f.read()[:1000]}"
    if not command:
        return "the container has no command to run"
    return f"starting {program!r}: {type(exc).__name__}: {exc}"


def _become_subreaper() -> None:
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def _reason(exit_code: int, cgroup: Cgroup) -> str:
    if cgroup.oom_kills() > 0:
        return "OOMKilled"
    return "Completed" if exit_code == 0 else "Error"


def _close(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)


def _start(config: dict, env: dict[str, str], cgroup: Cgroup, error_file: str,
           interpreter: python_zygote.Interpreter | None) -> subprocess.Popen | python_zygote.ForkedProcess:
    """Start the container's process: forked from the pre-imported launcher when it may, else exec'd."""
    command, cwd = config["command"], config["working_dir"] or None
    join = lambda: _prepare_child(cgroup, config.get("mounts") or [], error_file)  # noqa: E731
    if (interpreter is not None and (config.get("labels") or {}).get(python_zygote.LABEL) == "true"
            and interpreter.script_of(command, env) is not None):
        return python_zygote.spawn(interpreter, command, env, cwd, join,
                                   lambda exc: start_error_message(exc, command, cwd, error_file))
    return subprocess.Popen(command, env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, start_new_session=True, preexec_fn=join)


def run(root_dir: str, container_id: str, ready_fd: int | None = None,
        interpreter: python_zygote.Interpreter | None = None) -> None:
    """Start and supervise the container until it exits (see the module docstring).

    With `interpreter` (the launcher's, after it preloaded), a container labelled for the Python
    zygote is forked rather than exec'd (`python_zygote`).
    """
    shim = {"shim_pid": os.getpid(), "shim_start": process_start_time(os.getpid())}
    if ready_fd is not None:
        os.write(ready_fd, f"{shim['shim_pid']} {shim['shim_start']}\n".encode())
    spec = read_json(spec_path(root_dir, container_id))
    if spec is None:
        raise SystemExit(f"no container {container_id} under {root_dir}")
    config, cgroup = spec["config"], Cgroup.from_json(spec["cgroup"])
    status_file = status_path(root_dir, container_id)
    log_fd = os.open(spec["log_path"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o640)
    log = _LogWriter(log_fd)
    error_file = os.path.join(container_dir(root_dir, container_id), "start-error")
    cwd = config["working_dir"] or None
    try:
        _become_subreaper()
        wakeup = _child_signals()
        if spec.get("netns_path"):
            enter_namespace(spec["netns_path"])
        proc = _start(config, container_env(spec), cgroup, error_file, interpreter)
    except Exception as e:  # noqa: BLE001 - whatever stops the start is the container's StartError
        message = (str(e) if isinstance(e, python_zygote.ZygoteStartError)
                   else start_error_message(e, config["command"], cwd, error_file))
        log.feed("stderr", f"failed to start the container: {message}\n".encode())
        log.flush()
        write_json(status_file, {**shim, "state": "exited", "started_at": None, "finished_at": time.time(),
                                 "exit_code": START_ERROR_EXIT_CODE, "reason": "StartError", "message": message})
        _close(ready_fd)
        return
    running = {**shim, "state": "running", "pid": proc.pid, "pid_start": process_start_time(proc.pid),
               "started_at": time.time()}
    write_json(status_file, running)
    _close(ready_fd)
    exit_code = _supervise(proc, log, wakeup)
    write_json(status_file, {**running, "state": "exited", "finished_at": time.time(), "exit_code": exit_code,
                             "reason": _reason(exit_code, cgroup)})
    os.close(log_fd)
