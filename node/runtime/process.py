"""The process runtime: pods as network namespaces, containers as supervised host processes.

For nodes without Docker, like Nomad's raw_exec: the image is only recorded, the command runs on
the host filesystem, but each pod gets its own network namespace (see `netns`) and each container
its own cgroup with cpu/memory limits (see `cgroups`). A container is run by a shim process
(`process_shim`, forked by the runtime's pre-imported launcher, `process_launcher`) that outlives
the agent and writes the container's log and exit status, so all state lives in files under
`root_dir` and a new `ProcessRuntime` on the same directory adopts what is running:

    sandboxes/<id>.json          sandbox config, netns and veth names, ready flag (written here)
    containers/<id>/spec.json    container config, sandbox, cgroup, log path (written here)
    containers/<id>/status.json  running/exited, pids, exit code, reason (written by the shim)
    containers/<id>/shim.log     the shim's own errors, if any
    logs/<id>.log                the container's output in CRI format, unless config.log_path says

Cgroups live at `<cgroup_parent>/<sandbox id>/<container id>` below each hierarchy's root.
"""

from __future__ import annotations

import calendar
import contextlib
import os
import select
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass

from pyroute2.netlink.exceptions import NetlinkError

from . import netns
from .base import (START_ERROR_EXIT_CODE, Capabilities, ContainerConfig, ContainerState, ContainerStats,
                   ContainerStatus, ExecResult, Runtime, RuntimeError_, SandboxConfig, SandboxStatus, config_problem)
from .cgroups import Cgroup
from .process_launcher import Launcher
from .process_shim import (container_dir, process_alive, read_json, shim_log_path, spec_path, status_path,
                           write_json)

START_TIMEOUT = 10.0  # seconds for a shim to report the container started
KILL_WAIT = 10.0  # seconds to wait for the exit after SIGKILL
POLL = 0.05
FOLLOW_POLL = 0.1


def _parse_timestamp(timestamp: bytes) -> int:
    """Nanoseconds since the epoch of an RFC3339Nano UTC timestamp (as the shim writes them)."""
    base, _, fraction = timestamp.decode().rstrip("Z").partition(".")
    seconds = calendar.timegm(time.strptime(base, "%Y-%m-%dT%H:%M:%S"))
    return seconds * 1_000_000_000 + int(fraction.ljust(9, "0")[:9])


@dataclass(frozen=True)
class _LogEntry:
    timestamp: bytes
    time_ns: int
    text: bytes

    def render(self, timestamps: bool) -> bytes:
        return (self.timestamp + b" " if timestamps else b"") + self.text + b"\n"


class _CriLogReader:
    """Reads a CRI-format log file incrementally, joining partial (P) entries into whole lines."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._offset = 0
        self._pending: dict[bytes, tuple[bytes, bytes]] = {}  # stream -> (first timestamp, text so far)

    def read(self) -> list[_LogEntry]:
        """The entries completed since the last call (a line still being written waits)."""
        try:
            with open(self._path, "rb") as f:
                f.seek(self._offset)
                data = f.read()
        except FileNotFoundError:
            return []
        end = data.rfind(b"\n") + 1
        self._offset += end
        entries = []
        for line in data[:end].split(b"\n")[:-1]:
            parts = line.split(b" ", 3)
            if len(parts) != 4:
                continue
            timestamp, stream, tag, text = parts
            first, earlier = self._pending.pop(stream, (timestamp, b""))
            if tag == b"P":
                self._pending[stream] = (first, earlier + text)
            else:
                entries.append(_LogEntry(first, _parse_timestamp(first), earlier + text))
        return entries


@contextlib.contextmanager
def _failing_as_runtime_error(what: str) -> Iterator[None]:
    """Report OS and netlink failures as `RuntimeError_`, the interface's one error type."""
    try:
        yield
    except (OSError, NetlinkError) as e:
        raise RuntimeError_(f"{what}: {e}") from e


def _shim_identity(said: bytes) -> tuple[int | None, int | None]:
    """(pid, start time) from the shim's first line on the started pipe, or Nones."""
    try:
        pid, start = said.split(b"\n", 1)[0].split()
        return int(pid), int(start)
    except ValueError:
        return None, None


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:
        pass


class ProcessRuntime(Runtime):
    """`Runtime` running containers as processes in per-pod network namespaces (needs root)."""

    def __init__(self, root_dir: str, *, cgroup_parent: str = "minik8s") -> None:
        self.root_dir = os.path.abspath(root_dir)
        self.cgroup_parent = cgroup_parent.strip("/")
        for sub in ("sandboxes", "containers", "logs"):
            os.makedirs(os.path.join(self.root_dir, sub), exist_ok=True)
        self._launcher = Launcher(self.root_dir)
        self._spec_cache: dict[str, dict] = {}
        self._sandbox_cache: dict[str, dict] = {}

    def capabilities(self) -> Capabilities:
        return Capabilities(name="process", isolates_filesystem=False, enforces_limits=True)

    # sandboxes

    def _sandbox_file(self, sandbox_id: str) -> str:
        return os.path.join(self.root_dir, "sandboxes", f"{sandbox_id}.json")

    def _sandbox(self, sandbox_id: str) -> dict | None:
        """A sandbox's record (only this runtime writes them, so they are cached: syncs list them often)."""
        cached = self._sandbox_cache.get(sandbox_id)
        if cached is not None:
            return cached
        record = read_json(self._sandbox_file(sandbox_id)) if sandbox_id.isalnum() else None
        if record is not None:
            self._sandbox_cache[sandbox_id] = record
        return record

    def _write_sandbox(self, record: dict) -> None:
        write_json(self._sandbox_file(record["id"]), record)
        self._sandbox_cache[record["id"]] = record

    def _forget_sandbox(self, sandbox_id: str) -> None:
        self._sandbox_cache.pop(sandbox_id, None)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._sandbox_file(sandbox_id))

    def run_pod_sandbox(self, config: SandboxConfig) -> str:
        sandbox_id = uuid.uuid4().hex
        name = f"mk8s-{sandbox_id[:12]}"
        veth = f"mkv{sandbox_id[:12]}" if config.bridge and config.pod_ip else None
        record = {"id": sandbox_id, "config": asdict(config), "netns": name, "veth": veth,
                  "created_at": time.time(), "ready": False}
        self._write_sandbox(record)  # first, so that a crash half-way leaves something to list and remove
        try:
            if veth and config.bridge and config.pod_ip:
                netns.create_attached(name, veth, config.bridge, config.pod_ip, config.prefix_len, config.gateway)
            else:
                netns.create(name)
        except (OSError, NetlinkError) as e:
            netns.delete(name, veth)
            self._forget_sandbox(sandbox_id)
            raise RuntimeError_(f"pod network for {config.namespace}/{config.pod_name}: {e}") from e
        self._write_sandbox({**record, "ready": True})
        return sandbox_id

    def stop_pod_sandbox(self, sandbox_id: str) -> None:
        record = self._sandbox(sandbox_id)
        if record is None:
            return
        for spec in self._specs(sandbox_id):
            self.stop_container(spec["id"], 0)
        with _failing_as_runtime_error(f"releasing the network of sandbox {sandbox_id}"):
            netns.delete(record["netns"], record["veth"])
        if record["ready"]:
            self._write_sandbox({**record, "ready": False})

    def remove_pod_sandbox(self, sandbox_id: str) -> None:
        if self._sandbox(sandbox_id) is None:
            return
        self.stop_pod_sandbox(sandbox_id)
        for spec in self._specs(sandbox_id):
            self.remove_container(spec["id"])
        with _failing_as_runtime_error(f"removing the cgroup of sandbox {sandbox_id}"):
            Cgroup.at(f"{self.cgroup_parent}/{sandbox_id}").remove()
        self._forget_sandbox(sandbox_id)

    def list_sandboxes(self) -> list[SandboxStatus]:
        listed = netns.names()
        result = []
        for name in sorted(os.listdir(os.path.join(self.root_dir, "sandboxes"))):
            record = self._sandbox(name.removesuffix(".json")) if name.endswith(".json") else None
            if record is None:
                continue
            config = record["config"]
            result.append(SandboxStatus(id=record["id"], pod_uid=config["pod_uid"],
                                        ready=record["ready"] and record["netns"] in listed,
                                        ip=config["pod_ip"], labels=config["labels"],
                                        created_at=record["created_at"]))
        return result

    # containers

    def _spec(self, container_id: str) -> dict | None:
        """A container's spec (immutable once written, so cached: listing stays cheap with many pods)."""
        cached = self._spec_cache.get(container_id)
        if cached is not None:
            return cached
        spec = read_json(spec_path(self.root_dir, container_id)) if container_id.isalnum() else None
        if spec is not None:
            self._spec_cache[container_id] = spec
        return spec

    def _known_spec(self, container_id: str) -> dict:
        spec = self._spec(container_id)
        if spec is None:
            raise RuntimeError_(f"container {container_id} not found")
        return spec

    def _specs(self, sandbox_id: str | None = None) -> list[dict]:
        specs = (self._spec(c) for c in sorted(os.listdir(os.path.join(self.root_dir, "containers"))))
        return [s for s in specs if s is not None and sandbox_id in (None, s["sandbox_id"])]

    def create_container(self, sandbox_id: str, config: ContainerConfig) -> str:
        sandbox = self._sandbox(sandbox_id)
        if sandbox is None or not sandbox["ready"]:
            raise RuntimeError_(f"sandbox {sandbox_id} is not ready")
        if (problem := config_problem(config, self.capabilities())) is not None:
            raise RuntimeError_(problem)  # nothing made, nothing forked
        container_id = uuid.uuid4().hex
        with _failing_as_runtime_error(f"cgroup for container {config.name}"):
            cgroup = Cgroup.at(f"{self.cgroup_parent}/{sandbox_id}/{container_id}")
            cgroup.create(cpu_millis=config.cpu_limit_millis, memory_bytes=config.memory_limit_bytes)
        log_path = config.log_path or os.path.join(self.root_dir, "logs", f"{container_id}.log")
        os.makedirs(os.path.dirname(log_path), exist_ok=True)
        os.makedirs(container_dir(self.root_dir, container_id))
        write_json(spec_path(self.root_dir, container_id), {
            "id": container_id, "sandbox_id": sandbox_id, "config": asdict(config), "log_path": log_path,
            "hostname": sandbox["config"]["hostname"], "netns_path": netns.path(sandbox["netns"]),
            "cgroup": cgroup.to_json(), "created_at": time.time()})
        return container_id

    def start_container(self, container_id: str) -> None:
        spec = self._known_spec(container_id)
        if read_json(status_path(self.root_dir, container_id)) is not None:
            raise RuntimeError_(f"container {container_id} was already started")
        if not os.path.exists(spec["netns_path"]):
            raise RuntimeError_(f"sandbox {spec['sandbox_id']} of container {container_id} is stopped")
        open(shim_log_path(self.root_dir, container_id), "ab").close()
        read_end, write_end = os.pipe2(os.O_CLOEXEC)
        try:
            try:
                self._launcher.launch(container_id, write_end)
            finally:
                os.close(write_end)
            status = self._wait_started(container_id, read_end)
        finally:
            os.close(read_end)
        if status.get("reason") == "StartError":
            raise RuntimeError_(status.get("message") or "the container could not be started")

    def _wait_started(self, container_id: str, started: int) -> dict:
        """The status the shim wrote once it started (or failed to start) the container.

        The shim writes its pid on `started` and closes it after writing the status, so EOF there
        (or the shim's death) ends the wait. A shim that dies or hangs without writing a status is
        killed, and the container recorded as exited with reason StartError here, so it never
        stays `created` for ever.
        """
        said = b""
        deadline = time.monotonic() + START_TIMEOUT
        while (remaining := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([started], [], [], remaining)
            if not ready:
                break
            chunk = os.read(started, 256)
            if not chunk:
                break
            said += chunk
        path = status_path(self.root_dir, container_id)
        if (status := read_json(path)) is not None:
            return status
        pid, start = _shim_identity(said)
        if pid is not None and process_alive(pid, start):  # hangs: gone before anything is recorded
            _signal_group(pid, signal.SIGKILL)
            while process_alive(pid, start) and time.monotonic() < deadline + KILL_WAIT:
                time.sleep(POLL / 5)
        if (status := read_json(path)) is not None:  # written just before it ended
            return status
        with open(shim_log_path(self.root_dir, container_id), errors="replace") as f:
            detail = f.read()[-1000:].strip() or ("no answer in time" if pid else "the launcher did not start it")
        status = {"shim_pid": pid, "shim_start": None, "state": "exited", "started_at": None,
                  "finished_at": time.time(), "exit_code": START_ERROR_EXIT_CODE, "reason": "StartError",
                  "message": f"the container's shim failed before starting it: {detail}"}
        write_json(path, status)
        return status

    def _status(self, container_id: str) -> dict | None:
        """The shim's status record, with exits the shim could not record (it died) filled in."""
        status = read_json(status_path(self.root_dir, container_id))
        if status is None or status["state"] != "running" or process_alive(status["shim_pid"], status["shim_start"]):
            return status
        status = read_json(status_path(self.root_dir, container_id))  # it may have just written the exit
        if status is not None and status["state"] == "running":
            # As Kubernetes does when a container vanished: exit code 137, reason ContainerStatusUnknown.
            status = {**status, "state": "unknown", "exit_code": 137, "reason": "ContainerStatusUnknown"}
        return status

    def _wait_exited(self, container_id: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            status = self._status(container_id)
            if status is None or status["state"] != "running":
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL)

    def stop_container(self, container_id: str, timeout: float) -> None:
        spec = self._spec(container_id)
        status = self._status(container_id) if spec is not None else None
        if spec is None or status is None or status["state"] == "exited":
            return
        cgroup = Cgroup.from_json(spec["cgroup"])
        if status["state"] == "running":
            if timeout > 0:
                _signal_group(status["pid"], signal.SIGTERM)
                if self._wait_exited(container_id, timeout):
                    return
            _signal_group(status["pid"], signal.SIGKILL)
        cgroup.kill_all()
        if not self._wait_exited(container_id, KILL_WAIT):
            raise RuntimeError_(f"container {container_id} did not exit after SIGKILL")

    def remove_container(self, container_id: str) -> None:
        spec = self._spec(container_id)
        if spec is None:
            return
        self._spec_cache.pop(container_id, None)
        self.stop_container(container_id, 0)
        cgroup = Cgroup.from_json(spec["cgroup"])
        with _failing_as_runtime_error(f"removing the cgroup of container {container_id}"):
            cgroup.kill_all()  # whatever the container left behind
            cgroup.remove()
        if spec["log_path"] == os.path.join(self.root_dir, "logs", f"{container_id}.log"):
            try:
                os.unlink(spec["log_path"])
            except FileNotFoundError:
                pass
        shutil.rmtree(container_dir(self.root_dir, container_id), ignore_errors=True)

    def _to_status(self, spec: dict) -> ContainerStatus:
        config = spec["config"]
        common = {"id": spec["id"], "sandbox_id": spec["sandbox_id"], "name": config["name"],
                  "labels": config["labels"], "created_at": spec["created_at"]}
        status = self._status(spec["id"])
        if status is None:
            return ContainerStatus(state=ContainerState.CREATED, **common)
        if status["state"] == "running":
            return ContainerStatus(state=ContainerState.RUNNING, started_at=status["started_at"],
                                   pid=status["pid"], **common)
        return ContainerStatus(state=ContainerState.EXITED, started_at=status["started_at"],
                               finished_at=status.get("finished_at"), exit_code=status["exit_code"],
                               reason=status["reason"], message=status.get("message"), **common)

    def list_containers(self, sandbox_id: str | None = None) -> list[ContainerStatus]:
        return [self._to_status(spec) for spec in self._specs(sandbox_id)]

    def container_status(self, container_id: str) -> ContainerStatus:
        return self._to_status(self._known_spec(container_id))

    def logs(self, container_id: str, *, follow: bool = False, tail: int | None = None,
             timestamps: bool = False, since: float | None = None) -> Iterator[bytes]:
        spec = self._known_spec(container_id)
        return self._logs(spec, follow, tail, timestamps, since)

    def _logs(self, spec: dict, follow: bool, tail: int | None, timestamps: bool,
              since: float | None) -> Iterator[bytes]:
        since_ns = None if since is None else int(since * 1e9)
        reader = _CriLogReader(spec["log_path"])
        entries = [e for e in reader.read() if since_ns is None or e.time_ns >= since_ns]
        if tail is not None:
            entries = entries[-tail:] if tail > 0 else []
        yield from (e.render(timestamps) for e in entries)
        while follow:
            status = self._status(spec["id"])
            done = status is None or status["state"] != "running"  # decided before the last read
            yield from (e.render(timestamps) for e in reader.read() if since_ns is None or e.time_ns >= since_ns)
            if done:
                return
            time.sleep(FOLLOW_POLL)

    def stats(self, container_id: str) -> ContainerStats:
        cgroup = Cgroup.from_json(self._known_spec(container_id)["cgroup"])
        with _failing_as_runtime_error(f"reading the cgroup of container {container_id}"):
            usage = cgroup.usage()
        return ContainerStats(cpu_usage_nanos=usage.cpu_nanos, memory_bytes=usage.memory_working_set)

    def exec_sync(self, container_id: str, command: list[str], *, timeout: float | None) -> ExecResult:
        """Run `command` in the container through `process_exec` (which joins its namespaces and cgroup)."""
        self._known_spec(container_id)
        read_end, write_end = os.pipe()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "minik8s.node.runtime.process_exec", self.root_dir, container_id,
                 str(write_end), "--", *command],
                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, pass_fds=(write_end,),
                start_new_session=True)
        except OSError as e:
            os.close(read_end)
            raise RuntimeError_(f"exec in container {container_id}: {e}") from e
        finally:
            os.close(write_end)
        timed_out = False
        try:
            output, _ = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _signal_group(proc.pid, signal.SIGKILL)
            output, _ = proc.communicate()
        with os.fdopen(read_end, "rb") as errors:
            setup_error = errors.read().decode(errors="replace")
        if setup_error:
            raise RuntimeError_(setup_error)
        return ExecResult(exit_code=None if timed_out else proc.returncode, output=output, timed_out=timed_out)
