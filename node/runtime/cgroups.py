"""Per-container cgroups for the process runtime, on cgroup v1 or v2 (detected).

v1 (one hierarchy per controller, found in /proc/self/mountinfo, co-mounted ones shared) uses a
directory in each of cpu, cpuacct, memory and pids; v2 (unified hierarchy: /sys/fs/cgroup has
`cgroup.controllers`) uses one directory, with cpu/memory/pids enabled in every ancestor's
`cgroup.subtree_control`. A `Cgroup` is a plain value (version + directories) that round-trips
through JSON, so the shim that runs the container and a restarted runtime see the same cgroup.
"""

from __future__ import annotations

import errno
import os
import signal
import time
from dataclasses import dataclass

from . import cgroupstats
from .cgroupstats import Usage

CGROUP_ROOT = "/sys/fs/cgroup"
V1_CONTROLLERS = ("cpu", "cpuacct", "memory", "pids")
V2_CONTROLLERS = ("cpu", "memory", "pids")
CFS_PERIOD_US = 100_000
MIN_CFS_QUOTA_US = 1_000  # the kernel rejects smaller quotas
UNIFIED = "unified"


def detect_version(root: str = CGROUP_ROOT) -> int:
    """2 when `root` is a unified (v2) hierarchy, else 1 (hybrid setups count as v1)."""
    return 2 if os.path.exists(os.path.join(root, "cgroup.controllers")) else 1


def _v1_mounts() -> dict[str, str]:
    """Mount point of each v1 controller we use (cpu and cpuacct may share one)."""
    mounts: dict[str, str] = {}
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            sep = fields.index("-")
            if fields[sep + 1] != "cgroup":
                continue
            for option in fields[sep + 3].split(","):
                if option in V1_CONTROLLERS:
                    mounts.setdefault(option, fields[4])
    return mounts


def _read(path: str) -> str:
    with open(path) as f:
        return f.read()


def _write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


def _keyed(path: str, key: str) -> int:
    """The value of `key` in a flat-keyed cgroup file ("key value" lines); 0 when absent."""
    try:
        for line in _read(path).splitlines():
            name, _, value = line.partition(" ")
            if name == key:
                return int(value)
    except FileNotFoundError:
        pass
    return 0


@dataclass(frozen=True)
class Cgroup:
    """One cgroup: a directory per v1 controller, or the single v2 directory under `UNIFIED`."""

    version: int
    dirs: dict[str, str]

    @classmethod
    def at(cls, relative_path: str) -> Cgroup:
        """The cgroup at `relative_path` (e.g. "minik8s/<cluster id>/<node>/<sandbox>/<container>": the
        parent is per node and per cluster, see `minik8s node --cgroup-parent`) of every hierarchy."""
        relative_path = relative_path.strip("/")
        if detect_version() == 2:
            return cls(2, {UNIFIED: os.path.join(CGROUP_ROOT, relative_path)})
        mounts = _v1_mounts()
        missing = [c for c in V1_CONTROLLERS if c not in mounts]
        if missing:
            raise OSError(f"cgroup v1 controllers not mounted: {', '.join(missing)}")
        return cls(1, {c: os.path.join(mounts[c], relative_path) for c in V1_CONTROLLERS})

    @classmethod
    def from_json(cls, data: dict) -> Cgroup:
        return cls(int(data["version"]), dict(data["dirs"]))

    def to_json(self) -> dict:
        return {"version": self.version, "dirs": dict(self.dirs)}

    def _unique_dirs(self) -> list[str]:
        return sorted(set(self.dirs.values()))

    def _dir(self, controller: str) -> str:
        return self.dirs[UNIFIED] if self.version == 2 else self.dirs[controller]

    # lifecycle

    def create(self, *, cpu_millis: int | None = None, memory_bytes: int | None = None) -> None:
        """Make the directories (and parents) and apply the limits. Idempotent."""
        if self.version == 2:
            self._enable_v2_controllers()
        for d in self._unique_dirs():
            os.makedirs(d, exist_ok=True)
        if cpu_millis is not None:
            quota = max(cpu_millis * CFS_PERIOD_US // 1000, MIN_CFS_QUOTA_US)
            if self.version == 2:
                _write(os.path.join(self._dir("cpu"), "cpu.max"), f"{quota} {CFS_PERIOD_US}")
            else:
                _write(os.path.join(self._dir("cpu"), "cpu.cfs_period_us"), str(CFS_PERIOD_US))
                _write(os.path.join(self._dir("cpu"), "cpu.cfs_quota_us"), str(quota))
        if memory_bytes is not None:
            name = "memory.max" if self.version == 2 else "memory.limit_in_bytes"
            _write(os.path.join(self._dir("memory"), name), str(memory_bytes))

    def _enable_v2_controllers(self) -> None:
        """v2 only delegates a controller to a child when every ancestor enables it in subtree_control."""
        ancestors = [CGROUP_ROOT]
        for part in os.path.relpath(os.path.dirname(self.dirs[UNIFIED]), CGROUP_ROOT).split(os.sep):
            if part != ".":
                ancestors.append(os.path.join(ancestors[-1], part))
        for d in ancestors:
            os.makedirs(d, exist_ok=True)
            available = _read(os.path.join(d, "cgroup.controllers")).split()
            wanted = [c for c in V2_CONTROLLERS if c in available]
            if wanted:
                _write(os.path.join(d, "cgroup.subtree_control"), " ".join(f"+{c}" for c in wanted))

    def join(self, pid: int) -> None:
        """Move process `pid` into this cgroup (its future children inherit it)."""
        for d in self._unique_dirs():
            _write(os.path.join(d, "cgroup.procs"), str(pid))

    def pids(self) -> list[int]:
        """Processes in this cgroup (not in its children); empty when it does not exist."""
        try:
            return [int(p) for p in _read(os.path.join(self._dir("pids"), "cgroup.procs")).split()]
        except FileNotFoundError:
            return []

    def kill_all(self) -> None:
        """SIGKILL every process in the cgroup (`cgroup.kill` on v2 when the kernel has it)."""
        kill_file = os.path.join(self._dir("pids"), "cgroup.kill")
        if self.version == 2 and os.path.exists(kill_file):
            _write(kill_file, "1")
            return
        for _ in range(3):  # processes forking while we kill get caught on the next pass
            pids = self.pids()
            if not pids:
                return
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def remove(self, timeout: float = 5.0) -> None:
        """Remove the directories and any children, retrying while exiting processes linger. Idempotent."""
        deadline = time.monotonic() + timeout
        for d in self._unique_dirs():
            for parent, _, _ in os.walk(d, topdown=False):  # children before their parent
                while True:
                    try:
                        os.rmdir(parent)
                        break
                    except FileNotFoundError:
                        break
                    except OSError as e:
                        if e.errno != errno.EBUSY or time.monotonic() > deadline:
                            raise
                        time.sleep(0.05)

    # accounting

    def oom_kills(self) -> int:
        """How many processes the OOM killer killed in this cgroup (kernel >= 4.13 on v1)."""
        if self.version == 2:
            return _keyed(os.path.join(self._dir("memory"), "memory.events"), "oom_kill")
        return _keyed(os.path.join(self._dir("memory"), "memory.oom_control"), "oom_kill")

    def usage(self) -> Usage:
        """CPU time and memory working set now (see `cgroupstats`); FileNotFoundError once removed."""
        if self.version == 2:
            return cgroupstats.read_v2(self.dirs[UNIFIED])
        return cgroupstats.read_v1(self.dirs["cpuacct"], self.dirs["memory"])
