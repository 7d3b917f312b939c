"""Table test: the HPA's replica calculation and behavior normalization against Kubernetes' own cases.

Every case is one of upstream's (`pkg/controller/podautoscaler/replica_calculator_test.go` and
`horizontal_test.go`), run through the same harness shape: pods `test-pod-N` with two containers
that each request the pod's quantity, per-container usage levels in milli-units, a Ready condition
without a transition time, metrics with a zero timestamp and a one-minute window, a CPU
initialization period of 2 minutes and an initial readiness delay of 10 seconds; "hot" pods
started now, "cool" ones 3 minutes ago. Events for the rate policies are spread over a window as
upstream's `generateEventsUniformDistribution` spreads them.
"""

from __future__ import annotations

import math
from typing import Any

import pytest

from minik8s.api.timefmt import format_time
from minik8s.controllers import hpa_scaling as scaling
from minik8s.controllers.hpa_scaling import Recommendation, ScaleEvent, ScalingHistory
from minik8s.controllers.replica_calculator import (PodMetric, Proposal, ReplicaCalculationError, Settings,
                                                    plain_replicas, resource_replicas)

Obj = dict[str, Any]
NOW = 1_700_000_000.0
SETTINGS = Settings(tolerance=0.1, cpu_initialization_period=120.0, initial_readiness_delay=10.0)
ZERO, HOT, COOL = "1970-01-01T00:00:00Z", format_time(NOW), format_time(NOW - 180)
T, F = "True", "False"


def pods_for(count: int, requests: list[str], *, readiness: list[str] | None = None, start: list[str] | None = None,
             phase: list[str] | None = None, deleting: list[bool] | None = None, resource: str = "cpu") -> list[Obj]:
    """Upstream's test pods: `count` pods (or as many as phases), two containers requesting requests[i] each."""
    pods = []
    for i in range(max(count, len(phase or []))):
        containers = [{"name": f"container{j}"} for j in (1, 2)]
        if i < len(requests):
            for c in containers:
                c["resources"] = {"requests": {resource: requests[i]}}
        meta: Obj = {"name": f"test-pod-{i}", "namespace": "test-namespace"}
        if deleting and deleting[i]:
            meta["deletionTimestamp"] = HOT
        pods.append({"metadata": meta, "spec": {"containers": containers}, "status": {
            "phase": phase[i] if phase else "Running", "startTime": start[i] if start else ZERO,
            "conditions": [{"type": "Ready", "status": readiness[i] if readiness and i < len(readiness) else T}]}})
    return pods


def metrics_for(levels: list[list[int]], *, container: str = "",
                names: list[str] | None = None) -> dict[str, PodMetric]:
    """Pod metrics from per-container levels: the sum of the containers, or one container's (pods
    without that container have no metric, as the metrics client leaves them out)."""
    out = {}
    for i, level in enumerate(levels):
        name = names[i] if names and i < len(names) else f"test-pod-{i}"
        if container:
            index = int(container[-1]) - 1
            if index >= len(level):
                continue
            out[name] = PodMetric(level[index], 0.0, 60.0)
        else:
            out[name] = PodMetric(sum(level), 0.0, 60.0)
    return out


def levels(*per_pod: int) -> list[list[int]]:
    """`makePodMetricLevels`: both containers of pod i use per_pod[i]."""
    return [[v, v] for v in per_pod]


ONE = "1.0"
RESOURCE_CASES = [
    # (current, target %, requests, levels, options, expected replicas, utilization, raw value)
    pytest.param(3, 30, [ONE] * 3, levels(300, 500, 700), {}, 5, 50, 2 * 500, id="ScaleUp"),
    pytest.param(3, 30, [ONE] * 3, [[1000, 300], [1000, 500], [1000, 700]], {"container": "container2"}, 5, 50, 500,
                 id="ContainerScaleUp"),
    pytest.param(3, 30, [ONE] * 3, levels(300, 500, 700), {"readiness": [F, T, T]}, 4, 60, 2 * 600,
                 id="ScaleUpUnreadyLessScale"),
    pytest.param(3, 30, [ONE] * 3, levels(300, 500, 700), {"start": [HOT, COOL, COOL]}, 4, 60, 2 * 600,
                 id="ScaleUpHotCpuLessScale"),
    pytest.param(3, 30, [ONE] * 3, [[0, 300], [0, 500], [0, 700]], {"start": [HOT, COOL, COOL],
                                                                  "container": "container2"}, 4, 60, 600,
                 id="ScaleUpContainerHotCpuLessScale"),
    pytest.param(3, 30, [ONE] * 3, levels(400, 500, 700), {"readiness": [T, F, F]}, 3, 40, 2 * 400,
                 id="ScaleUpUnreadyNoScale"),
    pytest.param(3, 30, [ONE] * 3, levels(400, 500, 700), {"readiness": [T, F, F], "start": [COOL, HOT, HOT]},
                 3, 40, 2 * 400, id="ScaleHotCpuNoScale"),
    pytest.param(2, 30, [ONE] * 4, levels(500, 700), {"readiness": [T, T, F, F],
                                                      "phase": ["Running", "Running", "Failed", "Failed"]},
                 4, 60, 2 * 600, id="ScaleUpIgnoresFailedPods"),
    pytest.param(2, 30, [ONE] * 4, [[1000, 500], [9000, 700], [1000], [9000]],
                 {"readiness": [T, T, F, F], "phase": ["Running", "Running", "Failed", "Failed"],
                  "container": "container2"}, 4, 60, 600, id="MissingContainerMetricScaleUpIgnoresFailedPods"),
    pytest.param(2, 30, [ONE] * 4, levels(500, 700), {"readiness": [T, T, F, F], "phase": ["Running"] * 4,
                                                      "deleting": [False, False, True, True]},
                 4, 60, 2 * 600, id="ScaleUpIgnoresDeletionPods"),
    pytest.param(5, 50, [ONE] * 5, levels(100, 300, 500, 250, 250), {}, 3, 28, 2 * 280, id="ScaleDown"),
    pytest.param(5, 50, [ONE] * 5, [[1000, 100], [1000, 300], [1000, 500], [1000, 250], [1000, 250]],
                 {"container": "container2"}, 3, 28, 280, id="ContainerScaleDown"),
    pytest.param(5, 50, [ONE] * 5, levels(100, 300, 500, 250, 250), {"readiness": [T, T, T, F, F]}, 2, 30, 2 * 300,
                 id="ScaleDownExcludeUnreadyPods"),
    pytest.param(5, 50, [ONE] * 5, levels(100), {"readiness": [T, F, F, F, F],
                                                 "phase": ["Running"] + ["Pending"] * 4}, 1, 10, 2 * 100,
                 id="ScaleDownExcludeUnscheduledPods"),
    pytest.param(5, 50, [ONE] * 5, levels(100, 300, 500, 250, 250), {"start": [COOL, COOL, COOL, HOT, HOT]},
                 2, 30, 2 * 300, id="ScaleDownIgnoreHotCpuPods"),
    pytest.param(5, 50, [ONE] * 7, levels(100, 300, 500, 250, 250),
                 {"readiness": [T] * 5 + [F] * 2, "phase": ["Running"] * 5 + ["Failed"] * 2}, 3, 28, 2 * 280,
                 id="ScaleDownIgnoresFailedPods"),
    pytest.param(5, 50, [ONE] * 7, levels(100, 300, 500, 250, 250),
                 {"readiness": [T] * 5 + [F] * 2, "phase": ["Running"] * 7, "deleting": [False] * 5 + [True] * 2},
                 3, 28, 2 * 280, id="ScaleDownIgnoresDeletionPods"),
    pytest.param(3, 100, ["0.9", "1.0", "1.1"], levels(1010, 1030, 1020), {}, 3, 102, 2 * 1020, id="Tolerance"),
    pytest.param(4, 100, [ONE] * 4, levels(4000, 9500, 3000, 7000, 3200, 2000), {}, 24, 587, 2 * 5875,
                 id="SuperfluousMetrics"),
    pytest.param(4, 100, [ONE] * 4, levels(400, 95), {}, 3, 24, 495, id="MissingMetrics"),
    pytest.param(2, 100, [ONE] * 2, levels(1000), {}, 2, 100, 2 * 1000, id="MissingMetricsNoChangeEq"),
    pytest.param(2, 100, [ONE] * 2, levels(1900), {}, 2, 190, 2 * 1900, id="MissingMetricsNoChangeGt"),
    pytest.param(2, 100, [ONE] * 2, levels(600), {}, 2, 60, 2 * 600, id="MissingMetricsNoChangeLt"),
    pytest.param(3, 50, [ONE] * 3, levels(100, 450), {"readiness": [F, T, T]}, 3, 45, 2 * 450,
                 id="MissingMetricsUnreadyChange"),
    pytest.param(3, 50, [ONE] * 3, levels(100, 450), {"start": [HOT, COOL, COOL]}, 3, 45, 2 * 450,
                 id="MissingMetricsHotCpuNoChange"),
    pytest.param(3, 50, [ONE] * 3, levels(100, 2000), {"readiness": [F, T, T]}, 4, 200, 2 * 2000,
                 id="MissingMetricsUnreadyScaleUp"),
    pytest.param(3, 50, [ONE] * 3, levels(100, 2000), {"readiness": [F, T, T], "start": [HOT, COOL, COOL]},
                 4, 200, 2 * 2000, id="MissingMetricsHotCpuScaleUp"),
    pytest.param(4, 50, [ONE] * 4, levels(100, 100, 100), {"readiness": [F, T, T, T]}, 3, 10, 2 * 100,
                 id="MissingMetricsUnreadyScaleDown"),
    pytest.param(4, 300, [ONE, ONE, "2.0", "2.0"], levels(200, 100, 100), {"readiness": [F, T, T, T]}, 2, 6, 2 * 100,
                 id="MissingMetricsScaleDownTargetOver100"),
    pytest.param(2, 50, [ONE] * 3, levels(100, 100), {"phase": ["Running"] * 3}, 2, 10, 2 * 100,
                 id="DuringRollingUpdateWithMaxSurge"),
]


@pytest.mark.parametrize(("current", "target", "requests", "pod_levels", "options", "replicas", "utilization",
                          "raw"), RESOURCE_CASES)
def test_hpa_algorithm_resource_utilization(current: int, target: int, requests: list[str],
                                            pod_levels: list[list[int]], options: Obj, replicas: int,
                                            utilization: int, raw: int) -> None:
    """Utilization targets: replicas, current utilization and raw average as upstream computes them."""
    container = options.pop("container", "")
    pods = pods_for(current, requests, **options)
    result = resource_replicas(current, target, "cpu", pods, metrics_for(pod_levels, container=container),
                               now=NOW, container=container, settings=SETTINGS)
    assert result == Proposal(replicas, raw, utilization)


def test_hpa_algorithm_computed_tolerance() -> None:
    """Upstream's back-calculated tolerance test: just outside the tolerance scales, just inside does not."""
    start_pods, used = 10, 10 * 150
    requested = 2 * used
    per_pod = requested // start_pods
    requests = [f"{per_pod + d}m" for d in (100, -100, 10, -10, 2, -2, 1, -1, 0, 0)]
    pods = pods_for(start_pods, requests)
    metrics = metrics_for(levels(*[used // 10] * 10))
    for margin, expect_scale in ((0.01, True), (0.004, False)):
        target = abs(1 / (float(requested // used) * (1 - 0.1))) + margin
        percent = int(target * 100)
        final = math.ceil(used / (requested * target) * start_pods) if expect_scale else start_pods
        result = resource_replicas(start_pods, percent, "cpu", pods, metrics, now=NOW, settings=SETTINGS)
        assert result == Proposal(final, 2 * used // 10, used * 100 // requested)


@pytest.mark.parametrize(("current", "requests", "pod_levels", "names", "message"), [
    pytest.param(1, [ONE], levels(100), ["an-older-pod-name"], "no metrics returned matched known pods",
                 id="DisjointResourcesMetrics"),
    pytest.param(1, [], levels(200), None, "missing request for", id="EmptyCPURequest"),
    pytest.param(4, [ONE] * 3, levels(), None, "did not receive metrics", id="EmptyMetrics"),
    pytest.param(0, [], [], None, "no pods returned by selector", id="NoPods"),
])
def test_hpa_algorithm_errors(current: int, requests: list[str], pod_levels: list[list[int]],
                              names: list[str] | None, message: str) -> None:
    """What cannot be computed is an error naming why (ScalingActive False upstream)."""
    with pytest.raises(ReplicaCalculationError, match=message):
        resource_replicas(current, 100, "cpu", pods_for(current, requests),
                          metrics_for(pod_levels, names=names), now=NOW, settings=SETTINGS)


@pytest.mark.parametrize(("current", "target", "pod_levels", "options", "replicas", "usage"), [
    pytest.param(3, 15000, [20000, 10000, 30000], {}, 4, 20000, id="ScaleUpCM"),
    pytest.param(3, 15000, [50000, 10000, 30000], {"readiness": [T, T, F], "start": [COOL, COOL, HOT]}, 6, 30000,
                 id="ScaleUpCMUnreadyHotCpuNoLessScale"),
    pytest.param(3, 15000, [50000, 15000, 30000], {"readiness": [F, T, F], "start": [HOT, COOL, HOT]}, 7, 31666,
                 id="ScaleUpCMUnreadyHotCpuScaleWouldScaleDown"),
    pytest.param(1, 4400, [8600], {}, 2, 8600, id="ScaleUpCMExternalNoLabels"),
    pytest.param(5, 20000, [12000] * 5, {}, 3, 12000, id="ScaleDownCM"),
    pytest.param(3, 20000, [20000, 21000, 21000], {}, 3, 20666, id="ToleranceCM"),
    pytest.param(5, 20000, [20000, 19000, 21000], {}, 5, 20000, id="PlainMetricMissingMetricsNoChangeEq"),
    pytest.param(2, 17000, [10000, 10000], {"phase": ["Running"] * 3}, 2, 10000,
                 id="DuringRollingUpdateWithMaxSurgeCM"),
])
def test_hpa_algorithm_average_value(current: int, target: int, pod_levels: list[int], options: Obj, replicas: int,
                                     usage: int) -> None:
    """AverageValue targets (memory here: readiness does not set CPU-only samples aside)."""
    pods = pods_for(current, [], **options)
    metrics = {f"test-pod-{i}": PodMetric(v, 0.0, 60.0) for i, v in enumerate(pod_levels)}
    assert plain_replicas(current, target, "memory", pods, metrics, now=NOW, settings=SETTINGS) == Proposal(
        replicas, usage)


# ---- behavior ------------------------------------------------------------------------------------

def policies(pods: int, pods_period: int, percent: int, percent_period: int, window: int) -> Obj:
    """upstream's `generateScalingRules`: Max select policy, a Pods and/or a Percent policy."""
    out: Obj = {"stabilizationWindowSeconds": window, "selectPolicy": "Max", "policies": []}
    if pods:
        out["policies"].append({"type": "Pods", "value": pods, "periodSeconds": pods_period})
    if percent:
        out["policies"].append({"type": "Percent", "value": percent, "periodSeconds": percent_period})
    return out


def spread(changes: list[int], period: int) -> list[ScaleEvent]:
    """upstream's `generateEventsUniformDistribution`: each event in the middle of its slice of the period."""
    segment = period / len(changes)
    return [ScaleEvent(c, NOW - (period - segment * (i + 1) + segment / 2)) for i, c in enumerate(changes)]


RATE_CASES = [
    # name, up events, down events, min, max, up rules, down rules, current, desired, expected, condition
    ("prenormalized desired replicas within range", [], [], 3, 8, None, None, 5, 7, 7, "DesiredWithinRange"),
    ("prenormalized desired replicas < minReplicas", [], [], 2, 8, None, None, 3, 1, 2, "TooFewReplicas"),
    ("within range when minReplicas is 0", [], [], 0, 10, None, None, 1, 0, 0, "DesiredWithinRange"),
    ("maxReplicas is the limit because maxReplicas < scaleUpLimit", [], [], 1, 10, None, None, 20, 1000, 10,
     "TooManyReplicas"),
    ("desired replica count is more than the maximum replica count", [], [], 100, 150, None, None, 100, 1000, 150,
     "TooManyReplicas"),
    ("scaleUpLimit < maxReplicas with user policies", [], [], 1, 2000, policies(0, 0, 1, 60, 0), None, 3, 1000, 4,
     "ScaleUpLimit"),
    ("scaleUp with default behavior", [], [], 1, 1000, None, None, 10, 50, 20, "ScaleUpLimit"),
    ("scaleUp with pods policy larger than percent policy", [], [], 1, 1000, policies(100, 60, 100, 60, 0), None,
     10, 500, 110, "ScaleUpLimit"),
    ("scaleUp with percent policy larger than pods policy", [], [], 1, 1000, policies(2, 60, 100, 60, 0), None,
     10, 500, 20, "ScaleUpLimit"),
    ("scaleUp with spec MaxReplicas limitation with large pod policy", [], [], 1, 1000, policies(100, 60, 0, 0, 0),
     None, 10, 50, 50, "DesiredWithinRange"),
    ("scaleUp with pod policy limitation", [], [], 1, 1000, policies(30, 60, 0, 0, 0), None, 10, 50, 40,
     "ScaleUpLimit"),
    ("scaleUp with percent policy limitation", [], [], 1, 1000, policies(0, 0, 200, 60, 0), None, 10, 50, 30,
     "ScaleUpLimit"),
    ("scaleDown with percent policy larger than pod policy", [], [], 1, 1000, None, policies(20, 60, 1, 60, 300),
     100, 2, 80, "ScaleDownLimit"),
    ("scaleDown with pod policy larger than percent policy", [], [], 1, 1000, None, policies(2, 60, 1, 60, 300),
     100, 2, 98, "ScaleDownLimit"),
    ("scaleDown with spec MinReplicas limitation with large pod policy", [], [], 1, 1000, None,
     policies(100, 60, 0, 0, 300), 10, 0, 1, "TooFewReplicas"),
    ("scaleDown with spec MinReplicas limitation with large percent policy", [], [], 5, 1000, None,
     policies(0, 0, 100, 60, 300), 10, 2, 5, "TooFewReplicas"),
    ("scaleDown with pod policy limitation", [], [], 1, 1000, None, policies(5, 60, 0, 0, 300), 10, 2, 5,
     "ScaleDownLimit"),
    ("scaleDown with percent policy limitation", [], [], 1, 1000, None, policies(0, 0, 50, 60, 300), 10, 5, 5,
     "DesiredWithinRange"),
    ("scaleUp with MaxReplicas limitation with large pod policy and events", spread([1, 5, 9], 120), [], 1, 200,
     policies(300, 60, 0, 0, 0), None, 100, 500, 200, "TooManyReplicas"),
    ("scaleUp with currentReplicas limitation with a lot of recent scale up events", spread([1, 5, 9], 120), [], 1,
     1000, policies(5, 120, 0, 0, 0), None, 100, 500, 100, "ScaleUpLimit"),
    ("scaleUp with pod policy and previous scale up events", spread([1, 5, 9], 120), [], 1, 1000,
     policies(150, 120, 0, 0, 0), None, 100, 500, 235, "ScaleUpLimit"),
    ("scaleUp with percent policy and previous scale up events", spread([1, 5, 9], 120), [], 1, 1000,
     policies(0, 0, 200, 120, 0), None, 100, 500, 255, "ScaleUpLimit"),
    ("scaleUp with percent policy and previous scale up and down events", spread([4], 120), spread([2], 120), 1,
     1000, policies(0, 0, 300, 300, 0), None, 6, 24, 16, "ScaleUpLimit"),
    ("scaleDown with default policy and previous events", [], spread([1, 5, 9], 120), 1, 1000, None, None, 10, 5, 5,
     "DesiredWithinRange"),
    ("scaleDown with MinReplicas limitation with large pod policy and previous events", [], spread([1, 5, 9], 120),
     5, 1000, None, policies(130, 120, 0, 0, 300), 100, 0, 5, "TooFewReplicas"),
    ("scaleDown with pod policy limitation and previous events", [], spread([1, 5, 9], 120), 1, 1000, None,
     policies(5, 120, 0, 0, 300), 100, 2, 100, "ScaleDownLimit"),
    ("scaleDown with percent policy limitation and previous events", [], spread([2, 4, 6], 120), 1, 1000, None,
     policies(0, 0, 50, 120, 300), 100, 0, 56, "ScaleDownLimit"),
    ("scaleDown with percent policy and previous scale up and down events", spread([2], 120), spread([4], 120), 1,
     1000, None, policies(0, 0, 50, 180, 0), 10, 1, 6, "ScaleDownLimit"),
    ("scaleDown with previous events preventing further scale down", [], spread([10, 10, 10], 120), 1, 1000, None,
     policies(0, 0, 10, 120, 300), 100, 0, 100, "ScaleDownLimit"),
    ("scaleDown with previous events still allowing more scale down", [], spread([10, 10, 10], 120), 1, 1000, None,
     policies(0, 0, 1000, 120, 300), 10, 5, 5, "DesiredWithinRange"),
    ("outdated events for one behavior for up", spread([8, 12, 9, 11], 120), [], 1, 1000,
     policies(1000, 60, 0, 0, 0), None, 100, 200, 200, "DesiredWithinRange"),
    ("outdated events for two policies for down", [], spread([8, 12, 9, 11], 120), 1, 1000, None,
     policies(1000, 30, 100, 60, 300), 100, 5, 5, "DesiredWithinRange"),
]


@pytest.mark.parametrize(("up_events", "down_events", "minimum", "maximum", "up_rules", "down_rules", "current",
                          "desired", "expected", "condition"),
                         [pytest.param(*case[1:], id=case[0]) for case in RATE_CASES])
def test_hpa_algorithm_rate_policies(up_events: list[ScaleEvent], down_events: list[ScaleEvent], minimum: int,
                                     maximum: int, up_rules: Obj | None, down_rules: Obj | None, current: int,
                                     desired: int, expected: int, condition: str) -> None:
    """Pods/Percent policies over periodSeconds with past scale events, select policy Max, min/max clamps."""
    history = ScalingHistory(scale_up_events=up_events, scale_down_events=down_events)
    behavior = {"scaleUp": up_rules, "scaleDown": down_rules}
    replicas, reason = scaling.limit_by_rate(
        history, current=current, desired=desired, min_replicas=minimum, max_replicas=maximum,
        up_rules=scaling.rules(behavior, "scaleUp"), down_rules=scaling.rules(behavior, "scaleDown"), now=NOW)
    assert (replicas, reason) == (expected, condition)


@pytest.mark.parametrize(("select", "direction", "expected"), [
    pytest.param("Min", "scaleUp", 12, id="min-up-picks-the-smaller-increase"),
    pytest.param("Max", "scaleUp", 20, id="max-up-picks-the-larger-increase"),
    pytest.param("Disabled", "scaleUp", 10, id="disabled-up-keeps-current"),
    pytest.param("Min", "scaleDown", 8, id="min-down-picks-the-smaller-decrease"),
    pytest.param("Max", "scaleDown", 5, id="max-down-picks-the-larger-decrease"),
    pytest.param("Disabled", "scaleDown", 10, id="disabled-down-keeps-current"),
])
def test_hpa_algorithm_select_policy(select: str, direction: str, expected: int) -> None:
    """selectPolicy: Max takes the policy allowing the largest change, Min the smallest, Disabled none."""
    rules = {"selectPolicy": select, "policies": [{"type": "Pods", "value": 2, "periodSeconds": 15},
                                                  {"type": "Percent", "value": 100 if direction == "scaleUp" else 50,
                                                   "periodSeconds": 15}]}
    desired = 100 if direction == "scaleUp" else 1
    replicas, _ = scaling.limit_by_rate(ScalingHistory(), current=10, desired=desired, min_replicas=1,
                                        max_replicas=1000, up_rules=rules, down_rules=rules, now=NOW)
    assert replicas == expected


def recs(*pairs: tuple[int, float]) -> list[Recommendation]:
    return [Recommendation(r, NOW - ago) for r, ago in pairs]


@pytest.mark.parametrize(("history", "current", "desired", "up_window", "down_window", "expected", "stored"), [
    pytest.param([], 100, 5, 0, 0, 5, [5], id="empty recommendations for scaling down"),
    pytest.param(recs((4, 120), (5, 60)), 100, 3, 0, 180, 5, [4, 5, 3], id="simple scale down stabilization"),
    pytest.param(recs((4, 120), (5, 60)), 1, 7, 300, 0, 4, [4, 5, 7], id="simple scale up stabilization"),
    pytest.param(recs((1, 120), (2, 60)), 100, 3, 300, 0, 3, [1, 2, 3], id="no scale down stabilization"),
    pytest.param(recs((4, 120), (5, 60)), 1, 3, 0, 300, 3, [4, 5, 3], id="no scale up stabilization"),
    pytest.param(recs((10, 600), (9, 540)), 100, 3, 0, 0, 3, [10, 3], id="no scale down stabilization, reuse"),
    pytest.param(recs((10, 600), (9, 540)), 1, 100, 0, 0, 100, [10, 100], id="no scale up stabilization, reuse"),
    pytest.param(recs((10, 600), (4, 60), (5, 120), (9, 540)), 100, 3, 0, 180, 5, [10, 4, 5, 3],
                 id="scale down stabilization, reuse one obsolete"),
    pytest.param(recs((10, 6000), (6, 60), (5, 120), (9, 180)), 1, 100, 300, 300, 5, [100, 6, 5, 9],
                 id="scale up stabilization, reuse one obsolete"),
    pytest.param(recs((2, 6000), (3, 180)), 2, 1, 300, 300, 2, None,
                 id="do not scale up when the recommendation goes down"),
    pytest.param(recs((2, 6000), (1, 180)), 2, 3, 300, 300, 2, None,
                 id="do not scale down when the recommendation goes up"),
])
def test_hpa_algorithm_stabilization_windows(history: list[Recommendation], current: int, desired: int,
                                             up_window: int, down_window: int, expected: int,
                                             stored: list[int] | None) -> None:
    """Stabilization: the lowest recommendation of the scale-up window and the highest of the scale-down
    window bound the result; the new recommendation replaces one older than both windows."""
    h = ScalingHistory(recommendations=history)
    replicas, _, _ = scaling.stabilize_with_behavior(h, current=current, desired=desired, up_window=up_window,
                                                     down_window=down_window, now=NOW)
    assert replicas == expected
    if stored is not None:
        assert [r.replicas for r in h.recommendations] == stored


@pytest.mark.parametrize(("history", "desired", "expected", "length"), [
    pytest.param([], 5, 5, 1, id="empty log"),
    pytest.param(recs((4, 120), (5, 60)), 3, 5, 3, id="stabilize"),
    pytest.param(recs((1, 120), (2, 60)), 3, 3, 3, id="no stabilize"),
    pytest.param(recs((10, 600), (9, 540)), 3, 3, 2, id="no stabilize - old recommendations"),
    pytest.param(recs((10, 600), (4, 60), (5, 120), (9, 540)), 3, 5, 4, id="stabilize - old recommendations"),
])
def test_hpa_algorithm_default_downscale_stabilization(history: list[Recommendation], desired: int, expected: int,
                                                       length: int) -> None:
    """Without behavior: the highest recommendation of the last 5 minutes (upstream's TestNormalizeDesiredReplicas)."""
    h = ScalingHistory(recommendations=history)
    assert scaling.stabilize(h, desired, now=NOW, window=300) == expected
    assert len(h.recommendations) == length


def test_hpa_algorithm_scale_events_reuse_outdated() -> None:
    """storeScaleEvent: events older than the longest policy period are marked outdated and the last one reused."""
    history = ScalingHistory(scale_up_events=[ScaleEvent(8, NOW - 29), ScaleEvent(6, NOW - 59), ScaleEvent(7, NOW - 61),
                                              ScaleEvent(9, NOW - 61)])
    behavior = {"scaleUp": policies(10, 60, 100, 30, 0)}
    scaling.record_scale(history, behavior, previous=10, new=15, now=NOW)
    assert [(e.change, e.outdated) for e in history.scale_up_events] == [(8, False), (6, False), (7, True), (5, False)]
    scaling.record_scale(history, None, previous=15, new=10, now=NOW)  # without behavior nothing is kept
    assert history.scale_down_events == []


def test_hpa_algorithm_without_behavior_limits_scale_up() -> None:
    """Without behavior a scale up is limited to max(2 × current, 4) (ScaleUpLimit), as upstream."""
    result = scaling.normalize(ScalingHistory(), None, current=3, desired=50, min_replicas=1, max_replicas=100, now=NOW)
    assert (result.replicas, result.limited, result.limited_reason) == (6, True, "ScaleUpLimit")
