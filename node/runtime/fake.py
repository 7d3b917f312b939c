"""An in-memory, deterministic `Runtime` for kubelet unit tests (the idea of Nomad's mock driver).

How a container behaves is written in its own command, so a test only builds pod specs:

    ["fake", TOKEN...]      tokens, in any order:
      run                   run until stopped (the default, also for commands not starting with "fake")
      exit N                exit by itself with code N (reason Completed for 0, else Error)
      oom                   get OOM-killed: exit code 137, reason OOMKilled
      after S               the exit/oom happens S seconds after the start (default 0: at once)
      grace S               after SIGTERM, need S seconds to exit with 143 (default 0); when
                            stop_container's timeout is shorter, SIGKILL at the timeout gives 137;
                            "grace never" ignores SIGTERM
      say TEXT              print TEXT on stdout when started (repeatable)
      cpu MILLIS            stats: use MILLIS thousandths of a core while running
      mem BYTES             stats: use BYTES of memory
      fail-start            start_container raises RuntimeError_ (as for a missing executable) and the
                            container is exited with reason StartError, exit code 128 and a message

    e.g. ["fake", "say", "hello", "exit", "3", "after", "0.2"]

`exec_sync` reads the same tokens from the command it runs: it prints the `say` texts and exits
with `exit N` (default 0) after `after S` seconds (timing out when S exceeds the timeout).

Time comes from `clock`; whatever would block a real runtime (stop_container's grace period,
logs(follow=True)) calls `sleep`, so with a `FakeClock` nothing waits and everything is
reproducible. Ids are sequential ("sandbox-1", "container-2", ...), and every interface call is
appended to `calls` as (method, arguments...) for tests to assert on.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from .base import (START_ERROR_EXIT_CODE, Capabilities, ContainerConfig, ContainerState, ContainerStats,
                   ContainerStatus, ExecResult, Runtime, RuntimeError_, SandboxConfig, SandboxStatus)
from .process_shim import format_timestamp

SIGTERM_EXIT_CODE = 143
SIGKILL_EXIT_CODE = 137
FOLLOW_POLL = 0.1


class FakeClock:
    """A clock that only moves when told to (or when something sleeps on it)."""

    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += max(seconds, 0.0)

    advance = sleep


@dataclass
class Behavior:
    """A parsed fake command (see the module docstring)."""

    exit_code: int | None = None  # None: runs until stopped
    oom: bool = False
    after: float = 0.0
    grace: float = 0.0
    say: list[str] = field(default_factory=list)
    cpu_millis: int = 0
    mem_bytes: int = 0
    fail_start: bool = False

    @classmethod
    def parse(cls, command: list[str]) -> Behavior:
        behavior = cls()
        if not command or command[0] != "fake":
            return behavior
        tokens = iter(command[1:])
        try:
            for token in tokens:
                if token == "run":
                    behavior.exit_code, behavior.oom = None, False
                elif token == "exit":
                    behavior.exit_code = int(next(tokens))
                elif token == "oom":
                    behavior.oom = True
                elif token == "after":
                    behavior.after = float(next(tokens))
                elif token == "grace":
                    value = next(tokens)
                    behavior.grace = math.inf if value == "never" else float(value)
                elif token == "say":
                    behavior.say.append(next(tokens))
                elif token == "cpu":
                    behavior.cpu_millis = int(next(tokens))
                elif token == "mem":
                    behavior.mem_bytes = int(next(tokens))
                elif token == "fail-start":
                    behavior.fail_start = True
                else:
                    raise ValueError(f"unknown token {token!r}")
        except StopIteration:
            raise ValueError("a token is missing its value") from None
        return behavior

    def natural_exit(self) -> tuple[int, str] | None:
        """(exit code, reason) when the container ends by itself, None when it runs until stopped."""
        if self.oom:
            return SIGKILL_EXIT_CODE, "OOMKilled"
        if self.exit_code is not None:
            return self.exit_code, "Completed" if self.exit_code == 0 else "Error"
        return None


@dataclass
class _Sandbox:
    id: str
    config: SandboxConfig
    created_at: float
    ready: bool = True


@dataclass
class _Container:
    id: str
    sandbox_id: str
    config: ContainerConfig
    behavior: Behavior
    created_at: float
    pid: int
    state: ContainerState = ContainerState.CREATED
    started_at: float | None = None
    finished_at: float | None = None
    exit_code: int | None = None
    reason: str | None = None
    message: str | None = None
    lines: list[tuple[float, bytes]] = field(default_factory=list)

    def finish(self, at: float, exit_code: int, reason: str) -> None:
        self.state, self.finished_at, self.exit_code, self.reason = ContainerState.EXITED, at, exit_code, reason


class FakeRuntime(Runtime):
    """In-memory `Runtime`; containers follow the DSL in their command (see the module docstring)."""

    def __init__(self, *, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.clock = clock
        self.sleep = sleep
        self.calls: list[tuple] = []
        self._sandboxes: dict[str, _Sandbox] = {}
        self._containers: dict[str, _Container] = {}
        self._serial = 0
        self._lock = threading.RLock()

    def _next(self) -> int:
        self._serial += 1
        return self._serial

    def _refresh(self, c: _Container) -> None:
        """Apply a natural exit whose time has come."""
        ending = c.behavior.natural_exit()
        if c.state is ContainerState.RUNNING and ending is not None and c.started_at is not None:
            at = c.started_at + c.behavior.after
            if self.clock() >= at:
                c.finish(at, *ending)

    def _container(self, container_id: str) -> _Container:
        c = self._containers.get(container_id)
        if c is None:
            raise RuntimeError_(f"container {container_id} not found")
        self._refresh(c)
        return c

    def capabilities(self) -> Capabilities:
        return Capabilities(name="fake", isolates_filesystem=False, enforces_limits=False,
                            needs_pod_network=False)

    # sandboxes

    def run_pod_sandbox(self, config: SandboxConfig) -> str:
        with self._lock:
            sandbox_id = f"sandbox-{self._next()}"
            self.calls.append(("run_pod_sandbox", config.pod_uid))
            self._sandboxes[sandbox_id] = _Sandbox(sandbox_id, config, self.clock())
            return sandbox_id

    def stop_pod_sandbox(self, sandbox_id: str) -> None:
        with self._lock:
            self.calls.append(("stop_pod_sandbox", sandbox_id))
            self._stop_sandbox(sandbox_id)

    def _stop_sandbox(self, sandbox_id: str) -> None:
        for c in [c for c in self._containers.values() if c.sandbox_id == sandbox_id]:
            self._stop(c.id, 0)
        if sandbox_id in self._sandboxes:
            self._sandboxes[sandbox_id].ready = False

    def remove_pod_sandbox(self, sandbox_id: str) -> None:
        with self._lock:
            self.calls.append(("remove_pod_sandbox", sandbox_id))
            self._stop_sandbox(sandbox_id)
            for c in [c for c in self._containers.values() if c.sandbox_id == sandbox_id]:
                del self._containers[c.id]
            self._sandboxes.pop(sandbox_id, None)

    def list_sandboxes(self) -> list[SandboxStatus]:
        with self._lock:
            return [SandboxStatus(id=s.id, pod_uid=s.config.pod_uid, ready=s.ready, ip=s.config.pod_ip,
                                  labels=dict(s.config.labels), created_at=s.created_at)
                    for s in self._sandboxes.values()]

    # containers

    def create_container(self, sandbox_id: str, config: ContainerConfig) -> str:
        with self._lock:
            self.calls.append(("create_container", sandbox_id, config.name))
            sandbox = self._sandboxes.get(sandbox_id)
            if sandbox is None or not sandbox.ready:
                raise RuntimeError_(f"sandbox {sandbox_id} is not ready")
            try:
                behavior = Behavior.parse(config.command)
            except ValueError as e:
                raise RuntimeError_(f"fake command {config.command!r}: {e}") from e
            serial = self._next()
            container_id = f"container-{serial}"
            self._containers[container_id] = _Container(container_id, sandbox_id, config, behavior,
                                                        self.clock(), pid=1000 + serial)
            return container_id

    def start_container(self, container_id: str) -> None:
        with self._lock:
            self.calls.append(("start_container", container_id))
            c = self._container(container_id)
            if c.state is not ContainerState.CREATED:
                raise RuntimeError_(f"container {container_id} was already started")
            now = self.clock()
            if c.behavior.fail_start:
                message = f'exec: "{c.config.command[0]}": executable file not found in $PATH (fake fail-start)'
                c.finish(now, START_ERROR_EXIT_CODE, "StartError")
                c.message = message
                raise RuntimeError_(message)
            c.state, c.started_at = ContainerState.RUNNING, now
            c.lines.extend((now, line.encode()) for line in c.behavior.say)
            self._refresh(c)

    def stop_container(self, container_id: str, timeout: float) -> None:
        with self._lock:
            self.calls.append(("stop_container", container_id, timeout))
        self._stop(container_id, timeout)

    def _stop(self, container_id: str, timeout: float) -> None:
        with self._lock:
            c = self._containers.get(container_id)
            if c is None:
                return
            self._refresh(c)
            if c.state is not ContainerState.RUNNING:
                return
            terminated = timeout > 0 and c.behavior.grace <= timeout
            wait = c.behavior.grace if terminated else max(timeout, 0.0)
        self.sleep(wait)
        with self._lock:
            self._refresh(c)  # it may have exited by itself while the signal took effect
            if c.state is ContainerState.RUNNING:
                c.finish(self.clock(), SIGTERM_EXIT_CODE if terminated else SIGKILL_EXIT_CODE, "Error")

    def remove_container(self, container_id: str) -> None:
        with self._lock:
            self.calls.append(("remove_container", container_id))
            self._stop(container_id, 0)
            self._containers.pop(container_id, None)

    def _status(self, c: _Container) -> ContainerStatus:
        self._refresh(c)
        return ContainerStatus(id=c.id, sandbox_id=c.sandbox_id, name=c.config.name, state=c.state,
                               labels=dict(c.config.labels), created_at=c.created_at, started_at=c.started_at,
                               finished_at=c.finished_at, exit_code=c.exit_code, reason=c.reason, message=c.message,
                               pid=c.pid if c.state is ContainerState.RUNNING else None)

    def list_containers(self, sandbox_id: str | None = None) -> list[ContainerStatus]:
        with self._lock:
            return [self._status(c) for c in self._containers.values() if sandbox_id in (None, c.sandbox_id)]

    def container_status(self, container_id: str) -> ContainerStatus:
        with self._lock:
            return self._status(self._container(container_id))

    def logs(self, container_id: str, *, follow: bool = False, tail: int | None = None,
             timestamps: bool = False, since: float | None = None) -> Iterator[bytes]:
        with self._lock:
            c = self._container(container_id)
            lines = [(t, text) for t, text in c.lines if since is None or t >= since]
        if tail is not None:
            lines = lines[-tail:] if tail > 0 else []
        return self._follow(c, lines, follow, timestamps)

    def _follow(self, c: _Container, lines: list[tuple[float, bytes]], follow: bool,
                timestamps: bool) -> Iterator[bytes]:
        for t, text in lines:
            yield (format_timestamp(int(t * 1e9)).encode() + b" " if timestamps else b"") + text + b"\n"
        while follow:  # fake containers print only when they start: just wait for the exit
            with self._lock:
                self._refresh(c)
                if c.state is not ContainerState.RUNNING:
                    return
            self.sleep(FOLLOW_POLL)

    def stats(self, container_id: str) -> ContainerStats:
        with self._lock:
            c = self._container(container_id)
            if c.started_at is None:
                return ContainerStats(cpu_usage_nanos=0, memory_bytes=0)
            running = (c.finished_at if c.finished_at is not None else self.clock()) - c.started_at
            return ContainerStats(cpu_usage_nanos=int(running * c.behavior.cpu_millis * 1_000_000),
                                  memory_bytes=c.behavior.mem_bytes if c.state is ContainerState.RUNNING else 0)

    def exec_sync(self, container_id: str, command: list[str], *, timeout: float | None) -> ExecResult:
        with self._lock:
            self.calls.append(("exec_sync", container_id, tuple(command)))
            c = self._container(container_id)
            if c.state is not ContainerState.RUNNING:
                raise RuntimeError_(f"container {container_id} is not running")
            try:
                behavior = Behavior.parse(["fake", *command[1:]] if command[:1] == ["fake"] else ["fake"])
            except ValueError as e:
                raise RuntimeError_(f"fake exec {command!r}: {e}") from e
        output = "".join(f"{line}\n" for line in behavior.say).encode()
        if timeout is not None and behavior.after > timeout:
            self.sleep(timeout)
            return ExecResult(exit_code=None, output=output, timed_out=True)
        self.sleep(behavior.after)
        return ExecResult(exit_code=behavior.exit_code or 0, output=output)
