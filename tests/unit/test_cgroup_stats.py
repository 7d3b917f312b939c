"""Unit tests of reading cgroup usage (v1 and v2) and machine usage from fixture files."""

from __future__ import annotations

from pathlib import Path

import pytest

from minik8s.node.runtime import cgroupstats
from minik8s.node.runtime.cgroupstats import Usage

FIXTURES = Path(__file__).parent / "fixtures"
MiB = 1 << 20


def test_cgroup_stats_v1_working_set_is_usage_minus_total_inactive_file() -> None:
    """v1: CPU from cpuacct.usage (ns); working set = memory.usage_in_bytes - total_inactive_file."""
    root = FIXTURES / "cgroups" / "v1"
    usage = cgroupstats.read_v1(str(root / "cpuacct"), str(root / "memory"))
    assert usage == Usage(cpu_nanos=2_500_000_000, memory_working_set=50 * MiB - 10 * MiB, memory_usage=50 * MiB)


def test_cgroup_stats_v2_cpu_from_usage_usec_and_working_set_minus_inactive_file() -> None:
    """v2: CPU from cpu.stat usage_usec (converted to ns); working set = memory.current - inactive_file."""
    usage = cgroupstats.read_v2(str(FIXTURES / "cgroups" / "v2"))
    assert usage == Usage(cpu_nanos=1_500_000_000, memory_working_set=40 * MiB - 8 * MiB, memory_usage=40 * MiB)


@pytest.mark.parametrize(("usage", "stat", "version", "expected"), [
    pytest.param(100, "total_inactive_file 30\n", 1, 70, id="v1"),
    pytest.param(100, "inactive_file 30\n", 2, 70, id="v2"),
    pytest.param(100, "inactive_file 300\n", 2, 0, id="never-negative"),
    pytest.param(100, "active_file 30\n", 1, 100, id="no-inactive-line"),
    pytest.param(100, "inactive_file 30\n", 1, 100, id="v1-reads-the-hierarchical-total"),
])
def test_cgroup_stats_working_set(usage: int, stat: str, version: int, expected: int) -> None:
    """The working set subtracts the inactive file cache of the right memory.stat key, never below 0."""
    assert cgroupstats.working_set(usage, stat, version=version) == expected


def test_cgroup_stats_missing_file_raises() -> None:
    """A cgroup removed between listing and reading raises FileNotFoundError for the caller to skip."""
    with pytest.raises(FileNotFoundError):
        cgroupstats.read_v2(str(FIXTURES / "cgroups" / "gone"))


def test_cgroup_stats_machine_usage_from_proc() -> None:
    """The machine: busy CPU ticks of /proc/stat (all but idle and iowait) and MemTotal-MemFree less inactive files."""
    proc = FIXTURES / "proc"
    usage = cgroupstats.parse_machine((proc / "stat").read_text(), (proc / "meminfo").read_text(), ticks_per_second=100)
    busy = 1000 + 50 + 400 + 10 + 20 + 5
    assert usage.cpu_nanos == busy * 10_000_000
    assert usage.memory_usage == (8_000_000 - 2_000_000) * 1024
    assert usage.memory_working_set == (8_000_000 - 2_000_000 - 1_500_000) * 1024


def test_cgroup_stats_this_machine_reads() -> None:
    """Reading the real /proc works and gives plausible values."""
    usage = cgroupstats.machine_usage()
    assert usage.cpu_nanos > 0 and 0 < usage.memory_working_set <= usage.memory_usage
