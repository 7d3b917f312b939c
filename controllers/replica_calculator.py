"""Kubernetes' HPA replica calculation for resource metrics, as a pure function of pods and metrics.

A port of `pkg/controller/podautoscaler/replica_calculator.go` (GetResourceReplicas,
GetRawResourceReplicas / calcPlainMetricReplicas, groupPods, calculatePodRequests) and
`metrics/utilization.go`, with upstream's integer arithmetic: values are milli-units (millicores,
milli-bytes: `Quantity.MilliValue()`), utilization is truncated to a whole percent, averages are
integer divisions, and replica counts are `ceil(ratio × pods)`.

- Pods being deleted or Failed are ignored; Pending pods, and for CPU pods not yet ready (or
  whose metric may still include their start-up), are *unready*; running pods without a metric
  are *missing*.
- Within the tolerance (0.1) of the target nothing changes.
- With missing or unready pods the ratio is computed again: missing pods count as using 100 %
  of their request (or the target, if higher) on a scale-down and 0 % on a scale-up; unready pods
  count as 0 % on a scale-up; a recount that flips the direction or lands within the tolerance keeps
  the current count.

The controller (`minik8s.controllers.hpa`) fetches pods and metrics; everything here is
deterministic (`now` is passed in), so the table test can check it against upstream's cases.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from minik8s.api.quantity import milli_value
from minik8s.api.timefmt import parse_time

Obj = dict[str, Any]

TOLERANCE = 0.1
CPU_INITIALIZATION_PERIOD = 300.0  # --horizontal-pod-autoscaler-cpu-initialization-period (5 min)
INITIAL_READINESS_DELAY = 30.0  # --horizontal-pod-autoscaler-initial-readiness-delay


class ReplicaCalculationError(Exception):
    """No replica count can be computed (no pods, no metrics, a missing request)."""


@dataclass(frozen=True)
class PodMetric:
    """One pod's usage in milli-units, measured over `window` seconds ending at `timestamp` (epoch)."""

    value: int
    timestamp: float = 0.0
    window: float = 60.0


@dataclass(frozen=True)
class Settings:
    """The controller-wide knobs of the calculation (kube-controller-manager's flags)."""

    tolerance: float = TOLERANCE
    cpu_initialization_period: float = CPU_INITIALIZATION_PERIOD
    initial_readiness_delay: float = INITIAL_READINESS_DELAY


@dataclass(frozen=True)
class Proposal:
    """A recommendation: `replicas`, the average `usage` (milli-units) and, for Utilization targets,
    the `utilization` in percent of requests."""

    replicas: int
    usage: int
    utilization: int | None = None


@dataclass(frozen=True)
class PodGroups:
    """`groupPods`: how many pods count as ready, and the names set aside for each reason."""

    ready: int
    unready: frozenset[str]
    missing: frozenset[str]
    ignored: frozenset[str]


def _epoch(value: Any) -> float | None:
    moment = parse_time(value) if isinstance(value, str) else None
    return moment.timestamp() if moment is not None else None


def _ready_condition(pod: Obj) -> Obj | None:
    for condition in (pod.get("status") or {}).get("conditions") or []:
        if isinstance(condition, dict) and condition.get("type") == "Ready":
            return condition
    return None


def group_pods(pods: Iterable[Obj], metrics: dict[str, PodMetric], resource: str, *, now: float,
               settings: Settings = Settings()) -> PodGroups:
    """Sort pods into ready, unready, missing (no metric) and ignored (deleted or failed), as upstream."""
    ready, unready, missing, ignored = 0, set(), set(), set()
    for pod in pods:
        meta, status = pod.get("metadata") or {}, pod.get("status") or {}
        name = meta.get("name", "")
        if meta.get("deletionTimestamp") or status.get("phase") == "Failed":
            ignored.add(name)
            continue
        if status.get("phase") == "Pending":
            unready.add(name)
            continue
        metric = metrics.get(name)
        if metric is None:
            missing.add(name)
            continue
        if resource == "cpu" and _cpu_unready(status, metric, now, settings):
            unready.add(name)
            continue
        ready += 1
    return PodGroups(ready, frozenset(unready), frozenset(missing), frozenset(ignored))


def _cpu_unready(status: Obj, metric: PodMetric, now: float, settings: Settings) -> bool:
    """Whether a pod's CPU sample is left out: not ready, or (while it starts) possibly from before it was."""
    condition = _ready_condition({"status": status})
    started = _epoch(status.get("startTime"))
    if condition is None or started is None:
        return True
    transition = _epoch(condition.get("lastTransitionTime")) or 0.0
    if started + settings.cpu_initialization_period > now:
        # within the initialization period: unready, or no whole window measured since it became ready
        return condition.get("status") == "False" or metric.timestamp < transition + metric.window
    # afterwards: only a pod that has never been ready since it started
    return condition.get("status") == "False" and started + settings.initial_readiness_delay > transition


def pod_requests(pods: Iterable[Obj], resource: str, container: str = "") -> dict[str, int]:
    """Each pod's request of `resource` in milli-units: the sum over its containers (and sidecar init
    containers), or one `container`'s; ReplicaCalculationError when a container has none."""
    requests = {}
    for pod in pods:
        spec = pod.get("spec") or {}
        containers = [c for c in spec.get("containers") or [] if isinstance(c, dict)]
        containers += [c for c in spec.get("initContainers") or []
                       if isinstance(c, dict) and c.get("restartPolicy") == "Always"]
        total = 0
        for c in containers:
            if container and c.get("name") != container:
                continue
            wanted = ((c.get("resources") or {}).get("requests") or {}).get(resource)
            if wanted is None:
                raise ReplicaCalculationError(f"missing request for {resource} in container {c.get('name')} of Pod "
                                              f"{(pod.get('metadata') or {}).get('name')}")
            total += milli_value(wanted)
        requests[(pod.get("metadata") or {}).get("name", "")] = total
    return requests


def utilization_ratio(metrics: dict[str, PodMetric], requests: dict[str, int],
                      target_utilization: int) -> tuple[float, int, int]:
    """`GetResourceUtilizationRatio`: (usage ratio, utilization %, average raw value) over the pods
    that have both a metric and a request."""
    total, requested, entries = 0, 0, 0
    for name, metric in metrics.items():
        if name in requests:
            total += metric.value
            requested += requests[name]
            entries += 1
    if requested == 0:
        raise ReplicaCalculationError("no metrics returned matched known pods")
    utilization = total * 100 // requested
    return utilization / target_utilization, utilization, total // entries


def usage_ratio(metrics: dict[str, PodMetric], target_usage: int) -> tuple[float, int]:
    """`GetMetricUsageRatio`: (usage ratio, average usage) over every metric."""
    usage = sum(m.value for m in metrics.values()) // len(metrics)
    return usage / target_usage, usage


def _within(ratio: float, tolerance: float) -> bool:
    return abs(1.0 - ratio) <= tolerance


def resource_replicas(current_replicas: int, target_utilization: int, resource: str, pods: list[Obj],
                      metrics: dict[str, PodMetric], *, now: float, container: str = "",
                      settings: Settings = Settings()) -> Proposal:
    """`GetResourceReplicas`: replicas for a `Utilization` target (percent of requests)."""
    if not pods:
        raise ReplicaCalculationError("no pods returned by selector while calculating replica count")
    groups = group_pods(pods, metrics, resource, now=now, settings=settings)
    metrics = {n: m for n, m in metrics.items() if n not in groups.ignored and n not in groups.unready}
    if not metrics:
        raise ReplicaCalculationError("did not receive metrics for targeted pods (pods might be unready)")
    requests = pod_requests(pods, resource, container)
    ratio, utilization, raw = utilization_ratio(metrics, requests, target_utilization)
    keep = Proposal(current_replicas, raw, utilization)
    scale_up_with_unready = bool(groups.unready) and ratio > 1.0
    if not scale_up_with_unready and not groups.missing:
        if _within(ratio, settings.tolerance):
            return keep
        return Proposal(math.ceil(ratio * groups.ready), raw, utilization)
    if groups.missing:
        if ratio < 1.0:  # scale down: missing pods use their request (or the target, when above 100 %)
            fallback = max(100, target_utilization)
            metrics.update({n: PodMetric(requests[n] * fallback // 100) for n in groups.missing})
        elif ratio > 1.0:  # scale up: missing pods use nothing
            metrics.update({n: PodMetric(0) for n in groups.missing})
    if scale_up_with_unready:
        metrics.update({n: PodMetric(0) for n in groups.unready})
    new_ratio, _, _ = utilization_ratio(metrics, requests, target_utilization)
    if _within(new_ratio, settings.tolerance) or (ratio < 1.0 < new_ratio) or (new_ratio < 1.0 < ratio):
        return keep
    replicas = math.ceil(new_ratio * len(metrics))
    if (new_ratio < 1.0 and replicas > current_replicas) or (new_ratio > 1.0 and replicas < current_replicas):
        return keep
    return Proposal(replicas, raw, utilization)


def plain_replicas(current_replicas: int, target_usage: int, resource: str, pods: list[Obj],
                   metrics: dict[str, PodMetric], *, now: float, settings: Settings = Settings()) -> Proposal:
    """`GetRawResourceReplicas` (`calcPlainMetricReplicas`): replicas for an `AverageValue` target
    (`target_usage` in milli-units per pod)."""
    if not pods:
        raise ReplicaCalculationError("no pods returned by selector while calculating replica count")
    groups = group_pods(pods, metrics, resource, now=now, settings=settings)
    metrics = {n: m for n, m in metrics.items() if n not in groups.ignored and n not in groups.unready}
    if not metrics:
        raise ReplicaCalculationError("did not receive metrics for targeted pods (pods might be unready)")
    ratio, usage = usage_ratio(metrics, target_usage)
    keep = Proposal(current_replicas, usage)
    scale_up_with_unready = bool(groups.unready) and ratio > 1.0
    if not scale_up_with_unready and not groups.missing:
        if _within(ratio, settings.tolerance):
            return keep
        return Proposal(math.ceil(ratio * groups.ready), usage)
    if groups.missing:
        if ratio < 1.0:  # scale down: missing pods use exactly the target
            metrics.update({n: PodMetric(target_usage) for n in groups.missing})
        elif ratio > 1.0:
            metrics.update({n: PodMetric(0) for n in groups.missing})
    if scale_up_with_unready:
        metrics.update({n: PodMetric(0) for n in groups.unready})
    new_ratio, _ = usage_ratio(metrics, target_usage)
    if _within(new_ratio, settings.tolerance) or (ratio < 1.0 < new_ratio) or (new_ratio < 1.0 < ratio):
        return keep
    replicas = math.ceil(new_ratio * len(metrics))
    if (new_ratio < 1.0 and replicas > current_replicas) or (new_ratio > 1.0 and replicas < current_replicas):
        return keep
    return Proposal(replicas, usage)
