"""The per-node launcher of the process runtime: forks a container's shim from a pre-imported process.

Starting each shim as `python -m ...` cost a fresh interpreter and the imports of the runtime,
tens of milliseconds of CPU per container. Instead `ProcessRuntime` keeps one launcher per
runtime directory, a small single-threaded process that has imported the shim once:

    python -m minik8s.node.runtime.process_launcher ROOT_DIR     (stdin: a SOCK_SEQPACKET socket)

Each message on the socket is a container id with one file descriptor attached (SCM_RIGHTS), the
write end of the runtime's "started" pipe. The launcher forks; the child becomes the shim
(`process_shim.run`) in a session of its own, with the pipe, and the launcher goes back to its
socket. At its start it also imports what Python containers use and probes the host's `python3`
(`python_zygote`), so its shims can start a container annotated for it by forking instead of
exec'ing a new interpreter. The launcher ignores SIGCHLD, so the kernel reaps shims that end and
none stays a zombie. It ends when the runtime's end of the socket closes (the agent stopped or was
killed), while the shims and their containers go on: they depend on nothing of the launcher or the agent.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import traceback

from . import process_shim, python_zygote

MAX_MESSAGE = 256  # a container id is 32 hex digits
SHIM_NAME = "minik8s-shim"  # the shims' process name (comm)


class Launcher:
    """The runtime's side: starts the launcher on first use (again if it died) and sends it requests."""

    def __init__(self, root_dir: str) -> None:
        self.root_dir = root_dir
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[bytes] | None = None
        self._channel: socket.socket | None = None

    def _started(self) -> socket.socket:
        with self._lock:
            if self._channel is None or self._proc is None or self._proc.poll() is not None:
                self._stop_locked()
                ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
                try:
                    self._proc = subprocess.Popen(
                        [sys.executable, "-m", "minik8s.node.runtime.process_launcher", self.root_dir],
                        stdin=theirs, start_new_session=True)
                finally:
                    theirs.close()
                self._channel = ours
            return self._channel

    def launch(self, container_id: str, ready_fd: int) -> None:
        """Ask for a shim for `container_id`, handing it `ready_fd` (a launcher that died is replaced)."""
        for attempt in range(2):
            channel = self._started()
            try:
                socket.send_fds(channel, [container_id.encode()], [ready_fd])
                return
            except OSError:
                if attempt:
                    raise
                with self._lock:
                    if self._channel is channel:
                        self._stop_locked()

    def close(self) -> None:
        """Let the launcher end (running shims and containers are not affected)."""
        with self._lock:
            self._stop_locked()

    def _stop_locked(self) -> None:
        if self._channel is not None:
            self._channel.close()
            self._channel = None
        if self._proc is not None:
            try:
                self._proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()
            self._proc = None


def _become_shim(root_dir: str, container_id: str, ready_fd: int, channel: socket.socket,
                 interpreter: python_zygote.Interpreter | None) -> None:
    """In the forked child: detach, send output to the shim log, run the shim; never returns."""
    code = 1
    try:
        channel.close()
        signal.signal(signal.SIGCHLD, signal.SIG_DFL)
        os.setsid()
        with open("/proc/self/comm", "w") as comm:  # tells it from the launcher in `ps` (same command line)
            comm.write(SHIM_NAME)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.close(null)
        log = os.open(process_shim.shim_log_path(root_dir, container_id), os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                      0o640)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(log)
        process_shim.run(root_dir, container_id, ready_fd, interpreter)
        code = 0
    except BaseException:  # noqa: BLE001 - into the shim log, where the runtime reads why it failed
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def serve(root_dir: str, channel: socket.socket) -> None:
    """Fork a shim for every request on `channel` until it is closed."""
    interpreter = _preload()  # before SIGCHLD is ignored: the probes wait for their interpreters
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # shims are reaped by the kernel
    while True:
        try:
            message, fds, _flags, _addr = socket.recv_fds(channel, MAX_MESSAGE, 1)
        except InterruptedError:
            continue
        if not message:
            return  # the runtime is gone
        container_id = message.decode(errors="replace")
        if not fds:
            continue
        ready_fd = fds[0]
        if container_id.isalnum():
            try:
                pid = os.fork()
            except OSError as exc:  # the runtime sees the pipe close with no status and reports it
                _note(root_dir, container_id, f"launcher: fork failed: {exc}")
                pid = -1
            if pid == 0:
                _become_shim(root_dir, container_id, ready_fd, channel, interpreter)
        for fd in fds:
            os.close(fd)


def _preload() -> python_zygote.Interpreter | None:
    """Import the zygote's modules and probe the interpreters (None: containers are exec'd, as without it)."""
    try:
        python_zygote.preload()
        return python_zygote.Interpreter.probe(process_shim.DEFAULT_PATH)
    except Exception:  # noqa: BLE001 - into the launcher's stderr; starts go on without the zygote
        traceback.print_exc()
        return None


def _note(root_dir: str, container_id: str, text: str) -> None:
    try:
        with open(process_shim.shim_log_path(root_dir, container_id), "a") as f:
            f.write(text + "\n")
    except OSError:
        pass


def main(argv: list[str]) -> None:
    channel = socket.socket(fileno=os.dup(0))
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)  # the socket lives on as its duplicate
    os.close(null)
    serve(argv[0], channel)


if __name__ == "__main__":
    main(sys.argv[1:])
