"""Unit tests of the node's stats sampler: CPU rates over a window, working sets, pod totals, summary shape."""

from __future__ import annotations

import pytest

from minik8s.node import podspec
from minik8s.node.runtime.base import ContainerConfig, SandboxConfig
from minik8s.node.runtime.cgroupstats import Usage
from minik8s.node.runtime.fake import FakeClock, FakeRuntime
from minik8s.node.stats import Sample, Series, StatsSampler, cgroup_usage_reader


class Machine:
    """A node usage reader: `cores` busy cores and `memory` bytes in use, on the fake clock."""

    def __init__(self, clock: FakeClock, cores: float, memory: int) -> None:
        self.clock, self.cores, self.memory, self.start = clock, cores, memory, clock()

    def __call__(self) -> Usage:
        return Usage(int((self.clock() - self.start) * self.cores * 1e9), self.memory, self.memory + 100)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(1_700_000_000.0)


@pytest.fixture
def rt(clock: FakeClock) -> FakeRuntime:
    return FakeRuntime(clock=clock, sleep=clock.sleep)


def _pod(rt: FakeRuntime, name: str, *containers: tuple[str, int, int], namespace: str = "default") -> list[str]:
    """Run a pod whose containers use (millicores, bytes)."""
    labels = {podspec.POD_NAME: name, podspec.POD_NAMESPACE: namespace, podspec.POD_UID: f"uid-{name}"}
    sid = rt.run_pod_sandbox(SandboxConfig(pod_uid=f"uid-{name}", pod_name=name, namespace=namespace, hostname=name,
                                           labels=labels))
    ids = []
    for cname, millis, memory in containers:
        cid = rt.create_container(sid, ContainerConfig(
            name=cname, image="x", command=["fake", "cpu", str(millis), "mem", str(memory)],
            labels={**labels, podspec.CONTAINER_NAME: cname}))
        rt.start_container(cid)
        ids.append(cid)
    return ids


def _sampler(rt: FakeRuntime, clock: FakeClock, **kw: float) -> StatsSampler:
    return StatsSampler(rt, node_name="node-0", node_usage=Machine(clock, 1.5, 2 << 30), clock=clock,
                        interval=kw.get("interval", 5.0), window=kw.get("window", 15.0))


def test_node_stats_rate_needs_two_samples(rt: FakeRuntime, clock: FakeClock) -> None:
    """A container sampled once has no CPU rate yet, and neither has its pod; memory is there at once."""
    _pod(rt, "web", ("c", 250, 1 << 20))
    sampler = _sampler(rt, clock)
    sampler.sample_once()
    pod = sampler.summary()["pods"][0]
    assert "usageNanoCores" not in pod["cpu"] and "usageNanoCores" not in pod["containers"][0]["cpu"]
    assert pod["memory"]["workingSetBytes"] == 1 << 20


def test_node_stats_cpu_rate_and_pod_totals(rt: FakeRuntime, clock: FakeClock) -> None:
    """Rates in nanocores per container, pod sums over containers, and the node's own usage."""
    _pod(rt, "web", ("app", 250, 10 << 20), ("sidecar", 50, 5 << 20))
    sampler = _sampler(rt, clock)
    sampler.sample_once()
    clock.advance(5)
    sampler.sample_once()
    summary = sampler.summary()
    pod = summary["pods"][0]
    assert pod["podRef"] == {"name": "web", "namespace": "default", "uid": "uid-web"}
    cpu = {c["name"]: c["cpu"]["usageNanoCores"] for c in pod["containers"]}
    assert cpu == {"app": 250_000_000, "sidecar": 50_000_000}
    assert pod["cpu"]["usageNanoCores"] == 300_000_000 and pod["cpu"]["windowSeconds"] == 5.0
    assert pod["memory"]["workingSetBytes"] == 15 << 20
    assert summary["node"]["cpu"]["usageNanoCores"] == 1_500_000_000
    assert summary["node"]["memory"] == {"time": "2023-11-14T22:13:25Z", "workingSetBytes": 2 << 30,
                                         "usageBytes": (2 << 30) + 100}


def test_node_stats_window_bounds_the_rate(rt: FakeRuntime, clock: FakeClock) -> None:
    """The rate spans the oldest sample within the window: a load change shows fully once a window passed."""
    series = Series(window=10.0, interval=5.0)
    for t, cpu in [(0, 0), (5, 0), (10, 0), (15, 5_000_000_000), (20, 10_000_000_000)]:
        series.add(Sample(float(t), cpu, 0))
    rate = series.rate()
    assert rate is not None and (rate.window, rate.nanocores) == (10.0, 1_000_000_000)


def test_node_stats_counter_reset_starts_over() -> None:
    """A cumulative counter that goes backwards (a recreated cgroup) drops the older samples."""
    series = Series(window=15.0, interval=5.0)
    series.add(Sample(0.0, 9_000, 0))
    series.add(Sample(5.0, 1_000, 0))
    assert series.rate() is None


def test_node_stats_forgets_stopped_containers(rt: FakeRuntime, clock: FakeClock) -> None:
    """Containers that stopped and sandboxes' own containers are not reported."""
    (cid,) = _pod(rt, "web", ("c", 100, 1))
    _pod(rt, "db", ("c", 100, 1), namespace="data")
    sampler = _sampler(rt, clock)
    sampler.sample_once()
    rt.stop_container(cid, 0)
    clock.advance(5)
    sampler.sample_once()
    assert [(p["podRef"]["namespace"], p["podRef"]["name"]) for p in sampler.summary()["pods"]] == [("data", "db")]


def test_node_stats_cgroup_reader_before_the_cgroup_exists() -> None:
    """A node cgroup that does not exist yet (no pod ever ran) reads as zero usage."""
    def missing() -> Usage:
        raise FileNotFoundError("no such cgroup")
    assert cgroup_usage_reader(missing)() == Usage(0, 0, 0)
