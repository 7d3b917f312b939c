"""Resource usage of this node and of its running containers, sampled from cgroups, served to masters.

The masters' `metrics.k8s.io` API (and through it `kubectl top` and the HPA controller) reads
what each node agent measures here, as metrics-server reads kubelets. Every `interval` seconds
(≤ 5 s by default) the sampler reads, for every running container, its cumulative CPU time and
memory working set through the runtime (`Runtime.stats`: cgroup files, no daemon), and the node's
own usage (the whole machine, or one cgroup when several simulated nodes share a machine). It
keeps a short window of samples per container (`window` seconds) and turns the cumulative CPU
counter into a rate between the newest sample and the oldest one inside the window, as
metrics-server does between two scrapes: a container seen only once has no CPU rate yet and its
pod is left out, like a pod metrics-server has no two points for.

`summary()` is the kubelet's Summary API shape (`/stats/summary`), trimmed to what metrics need,
plus `windowSeconds` next to each CPU rate: the span the rate was measured over.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from minik8s.api.threads import start_thread
from minik8s.api.timefmt import format_time

from . import podspec
from .runtime.base import ContainerState, Runtime, RuntimeError_
from .runtime.cgroupstats import Usage

log = logging.getLogger(__name__)

Obj = dict[str, Any]


@dataclass(frozen=True)
class Sample:
    """One reading: wall-clock time, cumulative CPU nanoseconds, memory working set (and usage) bytes."""

    time: float
    cpu_nanos: int
    memory_working_set: int
    memory_usage: int | None = None


@dataclass(frozen=True)
class Rate:
    """CPU use over a window: nanocores (1e9 = one core), the window's end and its length in seconds."""

    nanocores: int
    time: float
    window: float


class Series:
    """The recent samples of one container (or the node), oldest first."""

    def __init__(self, window: float, interval: float) -> None:
        self.window = window
        self._samples: deque[Sample] = deque(maxlen=max(2, math.ceil(window / max(interval, 0.001)) + 2))

    def add(self, sample: Sample) -> None:
        """Append a sample; a counter that went backwards (a reset cgroup) starts the series over."""
        if self._samples and (sample.cpu_nanos < self._samples[-1].cpu_nanos or sample.time <= self._samples[-1].time):
            self._samples.clear()
        self._samples.append(sample)

    @property
    def latest(self) -> Sample | None:
        """The newest sample, None before the first."""
        return self._samples[-1] if self._samples else None

    def rate(self) -> Rate | None:
        """The CPU rate from the oldest sample within `window` of the newest to the newest; None with
        fewer than two samples."""
        if len(self._samples) < 2:
            return None
        newest = self._samples[-1]
        oldest = next(s for s in self._samples if newest.time - s.time <= self.window or s is self._samples[-2])
        span = newest.time - oldest.time
        return Rate(nanocores=int((newest.cpu_nanos - oldest.cpu_nanos) / span), time=newest.time, window=span)


@dataclass(frozen=True)
class _Container:
    """Who a running container belongs to (from its runtime labels)."""

    namespace: str
    pod: str
    uid: str
    name: str
    started_at: float | None


class StatsSampler:
    """Samples the runtime's running containers and the node every `interval` seconds."""

    def __init__(self, runtime: Runtime, *, node_name: str, node_usage: Callable[[], Usage], interval: float = 5.0,
                 window: float = 15.0, clock: Callable[[], float] = time.time) -> None:
        """`node_usage` reads the node's own usage (the machine, or the cgroup of its pods)."""
        self.runtime = runtime
        self.node_name = node_name
        self.node_usage = node_usage
        self.interval = interval
        self.window = window
        self.clock = clock
        self._node = Series(window, interval)
        self._series: dict[str, Series] = {}  # container id -> samples
        self._owners: dict[str, _Container] = {}
        self._summary: Obj = {"node": {"nodeName": node_name}, "pods": []}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self.started = clock()

    # ---- sampling ---------------------------------------------------------------------------

    def sample_once(self) -> None:
        """Read every running container and the node once, then rebuild the summary."""
        now = self.clock()
        running: dict[str, _Container] = {}
        for container in self.runtime.list_containers():
            if container.state is not ContainerState.RUNNING:
                continue
            labels = container.labels
            pod, namespace = labels.get(podspec.POD_NAME), labels.get(podspec.POD_NAMESPACE)
            name = labels.get(podspec.CONTAINER_NAME) or container.name
            if not pod or not namespace:
                continue  # not a pod's container (a sandbox, or something else on the engine)
            try:
                stats = self.runtime.stats(container.id)
            except (RuntimeError_, OSError) as exc:
                log.debug("no stats for container %s: %s", container.id, exc)
                continue
            running[container.id] = _Container(namespace, pod, labels.get(podspec.POD_UID, ""), name,
                                               container.started_at)
            series = self._series.get(container.id) or Series(self.window, self.interval)
            series.add(Sample(now, stats.cpu_usage_nanos, stats.memory_bytes))
            self._series[container.id] = series
        for gone in [cid for cid in self._series if cid not in running]:
            del self._series[gone]
        self._owners = running
        try:
            usage = self.node_usage()
            self._node.add(Sample(now, usage.cpu_nanos, usage.memory_working_set, usage.memory_usage))
        except OSError as exc:
            log.debug("no node usage: %s", exc)
        summary = self._build_summary()
        with self._lock:
            self._summary = summary

    def summary(self) -> Obj:
        """The latest summary (`/stats/summary`); never blocks on sampling."""
        with self._lock:
            return self._summary

    def _build_summary(self) -> Obj:
        pods: dict[tuple[str, str, str], Obj] = {}
        for cid, owner in sorted(self._owners.items(), key=lambda item: (item[1].namespace, item[1].pod, item[1].name)):
            series = self._series[cid]
            entry = pods.setdefault((owner.namespace, owner.pod, owner.uid), {
                "podRef": {"name": owner.pod, "namespace": owner.namespace, "uid": owner.uid}, "containers": []})
            container: Obj = {"name": owner.name, "cpu": _cpu(series), "memory": _memory(series.latest)}
            if owner.started_at:
                container["startTime"] = format_time(owner.started_at)
            entry["containers"].append(container)
        for entry in pods.values():
            entry["cpu"], entry["memory"] = _pod_totals(entry["containers"])
        node: Obj = {"nodeName": self.node_name, "startTime": format_time(self.started)}
        if self._node.latest is not None:
            node["cpu"], node["memory"] = _cpu(self._node), _memory(self._node.latest)
        return {"node": node, "pods": list(pods.values())}

    # ---- running ----------------------------------------------------------------------------

    def start(self) -> None:
        """Sample now and then every `interval` seconds on a thread of its own, until `stop()`."""
        start_thread(self._run, name="stats")

    def stop(self) -> None:
        """End the sampling thread (after the sample in progress)."""
        self._stop.set()

    def _run(self) -> None:
        while True:
            started = time.monotonic()
            try:
                self.sample_once()
            except Exception:  # noqa: BLE001 - a failed sample must not end the sampling
                log.exception("sampling container stats failed")
            if self._stop.wait(max(0.0, self.interval - (time.monotonic() - started))):
                return


def _cpu(series: Series) -> Obj:
    latest = series.latest
    assert latest is not None
    out: Obj = {"time": format_time(latest.time), "usageCoreNanoSeconds": latest.cpu_nanos}
    rate = series.rate()
    if rate is not None:
        out["usageNanoCores"] = rate.nanocores
        out["windowSeconds"] = round(rate.window, 3)
    return out


def _memory(sample: Sample | None) -> Obj:
    assert sample is not None
    out: Obj = {"time": format_time(sample.time), "workingSetBytes": sample.memory_working_set}
    if sample.memory_usage is not None:
        out["usageBytes"] = sample.memory_usage
    return out


def _pod_totals(containers: list[Obj]) -> tuple[Obj, Obj]:
    """A pod's CPU and memory: the sums over its containers (a CPU rate only when every container has one)."""
    cpu: Obj = {"time": max(c["cpu"]["time"] for c in containers),
                "usageCoreNanoSeconds": sum(c["cpu"]["usageCoreNanoSeconds"] for c in containers)}
    if all("usageNanoCores" in c["cpu"] for c in containers):
        cpu["usageNanoCores"] = sum(c["cpu"]["usageNanoCores"] for c in containers)
        cpu["windowSeconds"] = min(c["cpu"]["windowSeconds"] for c in containers)
    memory = {"time": max(c["memory"]["time"] for c in containers),
              "workingSetBytes": sum(c["memory"]["workingSetBytes"] for c in containers)}
    return cpu, memory


def cgroup_usage_reader(read: Callable[[], Usage]) -> Callable[[], Usage]:
    """`read`, answering zero usage while the cgroup does not exist yet (a node without pods)."""
    def reader() -> Usage:
        """`read()`, or zero usage while the cgroup does not exist."""
        try:
            return read()
        except FileNotFoundError:
            return Usage(cpu_nanos=0, memory_working_set=0, memory_usage=0)
    return reader
