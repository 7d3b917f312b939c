"""The HPA controller's syncs with fake caches, a fake clock and a recording client: rescale, status,
conditions, events, behavior over time, stabilization, and what happens without metrics or a target."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from minik8s.api import errors
from minik8s.api.timefmt import format_time
from minik8s.controllers.hpa import HorizontalPodAutoscalerController, HpaSettings
from minik8s.controllers.replica_calculator import Settings

Obj = dict[str, Any]
T0 = 1_700_000_000.0
KEY = "default/web"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Cache:
    def __init__(self, objects: dict[str, Obj] | None = None) -> None:
        self.objects = objects or {}

    def get(self, key: str) -> Obj | None:
        return self.objects.get(key)

    def list(self) -> list[Obj]:
        return list(self.objects.values())


class FakeClient:
    """Scale of one Deployment, pod metrics by pod name (millicores), status writes and events."""

    def __init__(self) -> None:
        self.replicas = 1
        self.usage: dict[str, str] = {}
        self.statuses: list[Obj] = []
        self.events: list[tuple[str, str]] = []
        self.scales: list[int] = []
        self.target_exists = True

    def scale(self, resource: Any, name: str, *, namespace: str | None = None, replicas: int | None = None) -> Obj:
        if not self.target_exists:
            raise errors.NotFoundError(f'deployments.apps "{name}" not found')
        if replicas is not None:
            self.replicas = replicas
            self.scales.append(replicas)
        return {"spec": {"replicas": self.replicas}, "status": {"replicas": self.replicas, "selector": "app=web"}}

    def list(self, resource: Any, *, namespace: str | None = None, label_selector: str | None = None) -> Obj:
        return {"items": [{"metadata": {"name": name, "namespace": "default"}, "timestamp": format_time(T0),
                           "window": "15s", "containers": [{"name": "c", "usage": {"cpu": cpu, "memory": "10Mi"}}]}
                          for name, cpu in self.usage.items()]}

    def update_status(self, obj: Obj) -> Obj:
        self.statuses.append(copy.deepcopy(obj["status"]))
        return obj

    def create(self, obj: Obj, *, namespace: str | None = None) -> Obj:
        self.events.append((obj["reason"], obj["message"]))
        return obj

    def patch(self, *args: Any, **kw: Any) -> Obj:
        return {}


def pod(name: str) -> Obj:
    """A running, ready pod requesting 100m that started long ago."""
    return {"metadata": {"name": name, "namespace": "default", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "c", "resources": {"requests": {"cpu": "100m", "memory": "20Mi"}}}]},
            "status": {"phase": "Running", "startTime": format_time(T0 - 3600),
                       "conditions": [{"type": "Ready", "status": "True",
                                       "lastTransitionTime": format_time(T0 - 3500)}]}}


def hpa(**spec: Any) -> Obj:
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "default", "uid": "u1", "generation": 1},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                     "minReplicas": 1, "maxReplicas": 10, "metrics": [{"type": "Resource", "resource": {
                         "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}], **spec},
            "status": {}}


class Harness(HorizontalPodAutoscalerController):
    """The controller with fake caches; `step(seconds)` advances both clocks and syncs (pods follow the scale)."""

    def __init__(self, obj: Obj, *, downscale: float = 300.0) -> None:
        self.fake, self.mono, self.wall = FakeClient(), Clock(), Clock()
        self.wall.now = T0
        settings = HpaSettings(sync_period=15.0, downscale_stabilization=downscale, calculation=Settings())
        super().__init__(self.fake, settings, clock=self.mono, wall_clock=self.wall)  # type: ignore[arg-type]
        self.hpa_cache, self.pod_cache = Cache({KEY: obj}), Cache()
        self.setup()
        self.load = "200m"  # every pod's usage

    def watch(self, resource: Any, **kw: Any) -> Any:  # type: ignore[override]
        return self.hpa_cache if resource.plural == "horizontalpodautoscalers" else self.pod_cache

    def sync(self) -> Any:
        self.pod_cache.objects = {f"default/web-{i}": pod(f"web-{i}") for i in range(self.fake.replicas)}
        self.fake.usage = {f"web-{i}": self.load for i in range(self.fake.replicas)}
        result = self.reconcile(KEY)
        if self.fake.statuses:
            self.hpa_cache.objects[KEY]["status"] = self.fake.statuses[-1]
        return result

    def step(self, seconds: float) -> Any:
        self.mono.now += seconds
        self.wall.now += seconds
        return self.sync()


def conditions(status: Obj) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in status.get("conditions") or []}


def test_hpa_controller_scales_up_with_event_status_and_conditions() -> None:
    """200% of requests against a 50% target: 1 -> 4 pods, with SuccessfulRescale and upstream's conditions."""
    h = Harness(hpa())
    result = h.sync()
    assert h.fake.scales == [4] and result.requeue_after == 15.0
    assert h.fake.events == [("SuccessfulRescale",
                              "New size: 4; reason: cpu resource utilization (percentage of request) above target")]
    status = h.fake.statuses[-1]
    assert (status["currentReplicas"], status["desiredReplicas"], status["observedGeneration"]) == (1, 4, 1)
    assert status["lastScaleTime"] == format_time(T0)
    assert status["currentMetrics"] == [{"type": "Resource", "resource": {
        "name": "cpu", "current": {"averageUtilization": 200, "averageValue": "200m"}}}]
    assert conditions(status) == {"AbleToScale": ("True", "SucceededRescale"),
                                  "ScalingActive": ("True", "ValidMetricFound"),
                                  "ScalingLimited": ("False", "DesiredWithinRange")}


def test_hpa_controller_waits_for_the_sync_period() -> None:
    """A reconcile within the sync period (our own status write) changes nothing and waits out the period."""
    h = Harness(hpa())
    h.sync()
    result = h.step(5)
    assert h.fake.scales == [4] and result.requeue_after == pytest.approx(10.0)


def test_hpa_controller_follows_a_pods_policy_per_period() -> None:
    """behavior scaleUp +1 pod per 15 s: one more pod each sync period until the target count."""
    behavior = {"scaleUp": {"stabilizationWindowSeconds": 0, "selectPolicy": "Max",
                            "policies": [{"type": "Pods", "value": 1, "periodSeconds": 15}]}}
    h = Harness(hpa(behavior=behavior))
    h.load = "400m"  # wants 8 for 1 pod
    h.sync()
    for _ in range(3):
        h.step(15)
    assert h.fake.scales == [2, 3, 4, 5]
    assert conditions(h.fake.statuses[-1])["ScalingLimited"] == ("True", "ScaleUpLimit")


def test_hpa_controller_scales_down_only_after_the_stabilization_window() -> None:
    """Load gone: the count holds until the recommendations of the scale-down window are all lower."""
    behavior = {"scaleDown": {"stabilizationWindowSeconds": 45, "selectPolicy": "Max",
                              "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}]}}
    h = Harness(hpa(behavior=behavior))
    h.sync()  # t=0: 1 -> 4
    h.load = "10m"
    h.step(15)
    h.step(15)  # t=30: the recommendation of 4 made at t=0 is still in the window
    assert h.fake.scales == [4] and conditions(h.fake.statuses[-1])["AbleToScale"] == ("True", "ScaleDownStabilized")
    h.step(15)  # t=45: it is not any more
    assert h.fake.scales == [4, 1]
    assert h.fake.events[-1] == ("SuccessfulRescale", "New size: 1; reason: All metrics below target")


def test_hpa_controller_memory_average_value() -> None:
    """A memory AverageValue target scales on the pods' working set."""
    h = Harness(hpa(metrics=[{"type": "Resource", "resource": {"name": "memory", "target": {
        "type": "AverageValue", "averageValue": "4Mi"}}}]))
    h.sync()
    assert h.fake.scales == [3]  # 10Mi / 4Mi = 2.5 -> 3
    assert h.fake.statuses[-1]["currentMetrics"][0]["resource"]["current"] == {"averageValue": "10485760"}


def test_hpa_controller_without_metrics_reports_and_does_not_scale() -> None:
    """No pod metrics: FailedGetResourceMetric and FailedComputeMetricsReplicas, ScalingActive False, no rescale."""
    h = Harness(hpa())
    h.load = ""
    h.fake.replicas = 2
    h.pod_cache.objects = {"default/web-0": pod("web-0")}
    h.fake.list = lambda *a, **k: {"items": []}  # type: ignore[method-assign]
    h.reconcile(KEY)
    assert h.fake.scales == []
    reasons = [r for r, _ in h.fake.events]
    assert reasons == ["FailedGetResourceMetric", "FailedComputeMetricsReplicas"]
    assert "no metrics returned from resource metrics API" in h.fake.events[1][1]
    status = h.fake.statuses[-1]
    assert conditions(status)["ScalingActive"] == ("False", "FailedGetResourceMetric")
    assert status["currentReplicas"] == 2


def test_hpa_controller_missing_target() -> None:
    """A target that does not exist: FailedGetScale event and AbleToScale False."""
    h = Harness(hpa())
    h.fake.target_exists = False
    h.sync()
    assert h.fake.events[0][0] == "FailedGetScale"
    assert conditions(h.fake.statuses[-1]) == {"AbleToScale": ("False", "FailedGetScale")}


def test_hpa_controller_clamps_to_min_and_max_and_ignores_zero() -> None:
    """Below minReplicas it scales up at once; a target at 0 replicas is not autoscaled."""
    h = Harness(hpa(minReplicas=3))
    h.sync()
    assert h.fake.scales == [3]
    assert h.fake.events[0][1] == "New size: 3; reason: Current number of replicas below Spec.MinReplicas"
    z = Harness(hpa())
    z.fake.replicas = 0
    z.sync()
    assert z.fake.scales == [] and conditions(z.fake.statuses[-1])["ScalingActive"] == ("False", "ScalingDisabled")


def test_hpa_controller_forgets_deleted_hpas() -> None:
    h = Harness(hpa())
    h.sync()
    h.hpa_cache.objects.clear()
    assert h.reconcile(KEY) is None and KEY not in h._histories
