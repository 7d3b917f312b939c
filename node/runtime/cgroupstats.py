"""What a cgroup has used: cumulative CPU time and the memory working set, on cgroup v1 or v2.

The node's metrics (`minik8s.node.stats`) and both runtimes' `stats()` read containers' usage
straight from cgroup files, as the kubelet's cadvisor does, without asking a daemon:

- CPU: v2 `cpu.stat` `usage_usec`; v1 `cpuacct.usage` (nanoseconds). Both are cumulative: a rate
  needs two samples.
- memory: the *working set*, what Kubernetes reports and evicts on: usage minus the inactive file
  cache (v2 `memory.current` − `memory.stat` `inactive_file`; v1 `memory.usage_in_bytes` −
  `total_inactive_file`), never below 0, as cadvisor computes it.

The parsers take file contents, so unit tests run them on fixture files; `read_usage` reads a
cgroup's directories. A missing file (the cgroup went away between listing and reading) raises
`FileNotFoundError` for the caller to skip that container.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class Usage:
    """One reading of a cgroup: cumulative CPU nanoseconds and memory bytes right now."""

    cpu_nanos: int
    memory_working_set: int
    memory_usage: int


def keyed_value(text: str, key: str) -> int | None:
    """The value of `key` in a flat-keyed cgroup file (`key value` lines), or None."""
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name == key:
            try:
                return int(value)
            except ValueError:
                return None
    return None


def working_set(usage: int, memory_stat: str, *, version: int) -> int:
    """cadvisor's working set: `usage` minus the inactive file cache of `memory.stat`, at least 0."""
    inactive = keyed_value(memory_stat, "inactive_file" if version == 2 else "total_inactive_file") or 0
    return max(0, usage - inactive)


def parse_v2(cpu_stat: str, memory_current: str, memory_stat: str) -> Usage:
    """Usage from the v2 files `cpu.stat`, `memory.current` and `memory.stat`."""
    usage = int(memory_current.strip() or 0)
    return Usage(cpu_nanos=(keyed_value(cpu_stat, "usage_usec") or 0) * 1000,
                 memory_working_set=working_set(usage, memory_stat, version=2), memory_usage=usage)


def parse_v1(cpuacct_usage: str, memory_usage: str, memory_stat: str) -> Usage:
    """Usage from the v1 files `cpuacct.usage`, `memory.usage_in_bytes` and `memory.stat`."""
    usage = int(memory_usage.strip() or 0)
    return Usage(cpu_nanos=int(cpuacct_usage.strip() or 0),
                 memory_working_set=working_set(usage, memory_stat, version=1), memory_usage=usage)


def _read(directory: str, name: str) -> str:
    with open(os.path.join(directory, name)) as f:
        return f.read()


def read_v2(directory: str) -> Usage:
    """The usage of the v2 cgroup at `directory`."""
    return parse_v2(_read(directory, "cpu.stat"), _read(directory, "memory.current"), _read(directory, "memory.stat"))


def read_v1(cpuacct_dir: str, memory_dir: str) -> Usage:
    """The usage of a v1 cgroup from its cpuacct and memory directories."""
    return parse_v1(_read(cpuacct_dir, "cpuacct.usage"), _read(memory_dir, "memory.usage_in_bytes"),
                    _read(memory_dir, "memory.stat"))


def machine_usage(proc: str = "/proc") -> Usage:
    """The whole machine, as the kubelet reports a node: CPU time of `/proc/stat` (all but idle and
    iowait) and memory from `/proc/meminfo` (MemTotal − MemFree, minus the inactive file cache)."""
    return parse_machine(_read(proc, "stat"), _read(proc, "meminfo"), ticks_per_second=os.sysconf("SC_CLK_TCK"))


def parse_machine(stat: str, meminfo: str, *, ticks_per_second: int) -> Usage:
    """Usage from `/proc/stat` and `/proc/meminfo` contents (see `machine_usage`)."""
    busy_ticks = 0
    for line in stat.splitlines():
        if line.startswith("cpu "):
            ticks = [int(v) for v in line.split()[1:]]
            # user nice system idle iowait irq softirq steal (guest time is already in user/nice)
            busy_ticks = sum(ticks[:8]) - ticks[3] - (ticks[4] if len(ticks) > 4 else 0)
            break
    memory: dict[str, int] = {}
    for line in meminfo.splitlines():
        name, _, rest = line.partition(":")
        fields = rest.split()
        if fields and fields[0].isdigit():
            memory[name] = int(fields[0]) * 1024  # kB
    usage = memory.get("MemTotal", 0) - memory.get("MemFree", 0)
    return Usage(cpu_nanos=busy_ticks * 1_000_000_000 // ticks_per_second,
                 memory_working_set=max(0, usage - memory.get("Inactive(file)", 0)), memory_usage=usage)
