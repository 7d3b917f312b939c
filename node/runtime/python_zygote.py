"""Starts a container's `python3 SCRIPT` by forking the pre-imported launcher: the "zygote" of SOCK.

A cold start of a Python container spends most of its own time before the user's code runs: the
interpreter starts and imports its standard library (70-170 ms here for the function server). A
pod annotated `minik8s.io/python-zygote: "true"` (the function controller sets it) skips that on
the process runtime: the per-node launcher has imported the modules in `PRELOAD` once, and the
container's shim, forked from it, forks the container's process, which joins the container
(session, cgroup, volumes, working directory, environment, stdio) as an exec'd one would and then
runs the script with `runpy`, as `python3 SCRIPT ARGS...` does.

The script runs on the launcher's interpreter (the node agent's Python) standing in for the host's
`python3`, which must be the same Python version (major.minor). It sees what `python3 SCRIPT` would
give it: `sys.argv`, `sys.path` (the script's directory, then the launcher's interpreter's own path,
without the agent's virtual environment), `sys.executable`, `os.environ`, and no module of minik8s
or of that virtual environment in `sys.modules`.
At the end it does what the interpreter does at exit: waits for non-daemon threads, runs atexit
functions, flushes stdio, and exits with the code `SystemExit` carried (1 after a traceback).

The annotation is a hint: a container is forked only when its command is `python3 SCRIPT [ARGS]`
(or `python3.X`, or a path to one), the name resolves on the container's PATH to the `python3` the
launcher probed, and no `PYTHON*` variable is set (they change how an interpreter starts);
otherwise it is exec'd as usual. Known difference: forked instances share the launcher's string
hash seed (SOCK's trade-off; `random` is reseeded in each child by the standard library).
"""

from __future__ import annotations

import atexit
import gc
import importlib
import json
import os
import runpy
import shutil
import signal
import subprocess
import sys
import threading
import traceback
from collections.abc import Callable, Mapping

LABEL = "minik8s.io/python-zygote"  # container label "true": the kubelet's word for the pod annotation
# The function server's imports and what handlers commonly use; all of the standard library.
PRELOAD = ("asyncio", "base64", "collections", "datetime", "hashlib", "http.server", "importlib.util", "json",
           "math", "random", "re", "shutil", "socketserver", "tempfile", "traceback", "types", "typing",
           "urllib.parse", "zipfile")
_PATH_PROBE = "import json, sys; print(json.dumps(sys.path[1:]))"
_VERSION_PROBE = "import json, sys; print(json.dumps(sys.version_info[:2]))"


class ZygoteStartError(Exception):
    """The forked process could not join its container; the message says why, in runc's words."""


class _SetupFailed(Exception):
    """Joining the container failed (cgroup, volumes); the message is complete."""


class Interpreter:
    """The launcher's interpreter, and the host's `python3` whose scripts it may run in its place."""

    def __init__(self, path: list[str], stand_in_for: set[str]) -> None:
        self.path = path  # the launcher's interpreter's own sys.path (not its virtual environment's)
        self.stand_in_for = stand_in_for  # real paths of host interpreters of the same Python version

    @classmethod
    def probe(cls, search_path: str, program: str = "python3") -> Interpreter | None:
        """Ask our base interpreter its path and `program` on `search_path` its version; None if either fails."""
        found = shutil.which(program, path=search_path)
        if found is None:
            return None
        ours = _ask([os.path.realpath(sys.executable), "-c", _PATH_PROBE], search_path)
        theirs = _ask([found, "-c", _VERSION_PROBE], search_path)
        if (not isinstance(ours, list) or not all(isinstance(p, str) for p in ours)
                or theirs != list(sys.version_info[:2])):
            return None
        return cls(ours, {os.path.realpath(found)})

    def script_of(self, command: list[str], env: Mapping[str, str]) -> str | None:
        """The script `command` runs if it is `python3 SCRIPT [ARGS]` we may stand in for, else None."""
        if len(command) < 2 or command[1].startswith("-") or any(name.startswith("PYTHON") for name in env):
            return None
        program = os.path.basename(command[0])
        if program != "python3" and not (program.startswith("python3.") and program[8:].isdigit()):
            return None
        found = shutil.which(command[0], path=env.get("PATH", os.defpath))
        if found is None or os.path.realpath(found) not in self.stand_in_for:
            return None
        return command[1]


def _ask(command: list[str], search_path: str) -> object:
    """The JSON an interpreter prints for a probe, or None."""
    try:
        done = subprocess.run(command, capture_output=True, timeout=30, env={"PATH": search_path}, check=True)
        return json.loads(done.stdout)
    except (OSError, subprocess.SubprocessError, ValueError):
        return None


def preload() -> None:
    """Import `PRELOAD` (in the launcher, once) and keep those objects out of the collector's way."""
    for name in PRELOAD:
        importlib.import_module(name)
    gc.collect()
    gc.freeze()  # the children's collector leaves them alone, so their pages stay shared


class ForkedProcess:
    """The parent's handle on a forked container process, shaped like the `Popen` the shim supervises."""

    def __init__(self, pid: int, stdout: int, stderr: int) -> None:
        self.pid = pid
        self.stdout = os.fdopen(stdout, "rb", buffering=0)
        self.stderr = os.fdopen(stderr, "rb", buffering=0)
        self.returncode: int | None = None


def spawn(interpreter: Interpreter, command: list[str], env: Mapping[str, str], cwd: str | None,
          join: Callable[[], None], start_error: Callable[[BaseException], str]) -> ForkedProcess:
    """Fork `command` (a script of `interpreter`) into a new session; `join` puts it in its container.

    Raises ZygoteStartError (with `start_error`'s words) when `join` or the working directory fails,
    as a failed exec would.
    """
    out_read, out_write = os.pipe2(os.O_CLOEXEC)
    err_read, err_write = os.pipe2(os.O_CLOEXEC)
    report_read, report_write = os.pipe2(os.O_CLOEXEC)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    pid = os.fork()
    if pid == 0:
        _child(interpreter, command, dict(env), cwd, join, start_error, out_write, err_write, report_write)
    for fd in (out_write, err_write, report_write):
        os.close(fd)
    with os.fdopen(report_read, "rb") as report:
        failure = report.read()
    if failure:
        os.close(out_read)
        os.close(err_read)
        os.waitpid(pid, 0)
        raise ZygoteStartError(failure.decode(errors="replace"))
    return ForkedProcess(pid, out_read, err_read)


def _child(interpreter: Interpreter, command: list[str], env: dict[str, str], cwd: str | None,
           join: Callable[[], None], start_error: Callable[[BaseException], str],
           out_write: int, err_write: int, report_write: int) -> None:
    """In the forked child: join the container, become `python3 SCRIPT`, run it; never returns."""
    try:
        os.setsid()
        signal.set_wakeup_fd(-1)
        for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT):
            signal.signal(signum, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        signal.signal(signal.SIGPIPE, signal.SIG_IGN)  # as the interpreter sets it
        try:
            join()
        except BaseException as exc:  # noqa: BLE001 - what the exec'd path reports for its preexec step
            raise _SetupFailed(f"setting up the container's process: {type(exc).__name__}: {exc}") from exc
        if cwd:
            os.chdir(cwd)
        null = os.open(os.devnull, os.O_RDONLY)
        for source, target in ((null, 0), (out_write, 1), (err_write, 2)):
            os.dup2(source, target)  # dup2's copies are inheritable, as an exec'd program's stdio
        os.closerange(3, report_write)
        os.closerange(report_write + 1, _max_fd())
    except BaseException as exc:  # noqa: BLE001 - reported to the shim as the container's start error
        try:
            message = str(exc) if isinstance(exc, _SetupFailed) else start_error(exc)
            os.write(report_write, message.encode()[:4000] or b"setting up the container's process")
        finally:
            os._exit(1)
    os.close(report_write)  # nothing said: the container runs
    os._exit(_run_script(interpreter, command, env))


def _max_fd() -> int:
    try:
        return os.sysconf("SC_OPEN_MAX")
    except (OSError, ValueError):
        return 1024


def _become_interpreter(interpreter: Interpreter, command: list[str], env: dict[str, str]) -> None:
    """Make this process look like `python3 SCRIPT ARGS` just started."""
    script = command[1]
    os.environ.clear()
    os.environ.update(env)
    sys.argv = list(command[1:])
    sys.executable = shutil.which(command[0], path=env.get("PATH", os.defpath)) or sys.executable
    sys.prefix, sys.exec_prefix = sys.base_prefix, sys.base_exec_prefix
    sys.path[:] = [os.path.dirname(os.path.realpath(script)), *interpreter.path]
    sys.path_importer_cache.clear()
    roots = tuple(p for p in interpreter.path if p)
    for name, module in list(sys.modules.items()):
        origins = [getattr(module, "__file__", None), *(getattr(module, "__path__", None) or [])]
        if any(o and not o.startswith(roots) for o in origins):  # ours and the virtual environment's
            del sys.modules[name]
    # Finders the virtual environment's .pth files added (an editable install's) go with their modules.
    sys.meta_path[:] = [f for f in sys.meta_path if _owner(f) in sys.modules]
    sys.path_hooks[:] = [h for h in sys.path_hooks if _owner(h) in sys.modules]
    importlib.invalidate_caches()
    try:
        with open("/proc/self/comm", "w") as comm:
            comm.write(os.path.basename(command[0])[:15])
    except OSError:
        pass


def _owner(hook: object) -> str:
    """The module that defines an import finder or path hook (a class, an instance or a function)."""
    return getattr(hook, "__module__", None) or type(hook).__module__


def _run_script(interpreter: Interpreter, command: list[str], env: dict[str, str]) -> int:
    """Run the script as `__main__` and shut down as the interpreter would; the exit code."""
    script = command[1]
    code = 0
    try:
        _become_interpreter(interpreter, command, env)
        if not os.access(script, os.R_OK):
            sys.stderr.write(f"{os.path.basename(command[0])}: can't open file {script!r}: "
                             f"[Errno 2] No such file or directory\n")
            return 2
        runpy.run_path(script, run_name="__main__")
    except SystemExit as exc:
        code = _exit_status(exc)
    except KeyboardInterrupt:
        _flush()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)  # dies of SIGINT, as the interpreter does
    except BaseException:  # noqa: BLE001 - the interpreter prints it and exits 1
        traceback.print_exc()
        code = 1
    try:
        threading._shutdown()  # type: ignore[attr-defined]  # join non-daemon threads, as at exit
        atexit._run_exitfuncs()
    except BaseException:  # noqa: BLE001
        traceback.print_exc()
    return code if _flush() else 120


def _exit_status(exc: SystemExit) -> int:
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code & 0xFF
    try:
        sys.stderr.write(f"{exc.code}\n")
    except Exception:  # noqa: BLE001
        pass
    return 1


def _flush() -> bool:
    ok = True
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:  # noqa: BLE001 - a closed pipe: the interpreter exits 120
            ok = False
    return ok
