"""HPA acceptance (issue 9, item 4) on `minik8s up --masters 3 --nodes 3` (process runtime).

Masters sync HPAs every `SYNC` seconds; node agents sample every 5 s and measure CPU over 15 s.
Three Deployments, each with an HPA, run at once:

- `fast`: CPU burners against a Utilization target and no `behavior`: the first rescale comes
  within two sync periods (plus the two samples a new pod needs before it has a CPU rate) and
  goes to exactly the count Kubernetes' algorithm gives for the utilization the HPA reported;
- `stepped`: the same load with `behavior` scaleUp +1 pod per 15 s and a 30 s scale-down
  stabilization window: it steps 1 → 2 → 3 at least 15 s apart, and once the load stops it
  scales down only after the window;
- `memory`: pods holding ~40 MiB against a memory AverageValue target: it scales up.

The Deployments' pods come from the Deployment controller when one runs; until that controller is
merged, `ReplicaStub` (a test-side stand-in) keeps each Deployment's pods at its `spec.replicas`.
The test says which one it used.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from minik8s.api.client import ApiClient
from minik8s.chaos.upcluster import UpProcess

from .cluster import wait_for
from .load_pods import cpu_burner, memory_holder
from .replica_stub import ReplicaStub, deployment_controller_acts

SYNC = 5.0  # --horizontal-pod-autoscaler-sync-period
WARM_UP = 10.0  # a new pod's CPU rate needs two node samples, 5 s apart
WINDOW = 30  # the stepped HPA's scale-down stabilization window
Obj = dict[str, Any]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpProcess]:
    cluster = UpProcess(tmp_path_factory.mktemp("hpa") / "data", "--masters", "3", "--nodes", "3",
                        "--horizontal-pod-autoscaler-sync-period", str(SYNC))
    try:
        yield cluster
    finally:
        cluster.stop()


def deployment(name: str, container: Obj) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}}}}


def hpa(name: str, metric: Obj, *, maximum: int, behavior: Obj | None = None) -> Obj:
    spec: Obj = {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": name},
                 "minReplicas": 1, "maxReplicas": maximum, "metrics": [{"type": "Resource", "resource": metric}]}
    if behavior:
        spec["behavior"] = behavior
    return {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": name},
            "spec": spec}


class ReplicaLog:
    """Polls Deployments' `spec.replicas` every 0.25 s and keeps each change with its monotonic time."""

    def __init__(self, client: ApiClient, names: list[str]) -> None:
        self.client, self.names = client, names
        self.changes: dict[str, list[tuple[float, int]]] = {n: [] for n in names}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            for name in self.names:
                try:
                    replicas = self.client.get("deployments", name)["spec"]["replicas"]
                except Exception:  # noqa: BLE001 - a master away for a moment
                    continue
                log = self.changes[name]
                if not log or log[-1][1] != replicas:
                    log.append((time.monotonic(), replicas))

    def start(self) -> ReplicaLog:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def current(self, name: str) -> int:
        return self.changes[name][-1][1] if self.changes[name] else 0

    def first_change_after(self, name: str, since: float) -> tuple[float, int] | None:
        return next(((t, r) for t, r in self.changes[name] if t > since and r != self.changes[name][0][1]), None)


def running_pods(client: ApiClient, app: str) -> int:
    pods = client.list("pods", namespace="default", label_selector=f"app={app}")["items"]
    return sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Running"
               and not p["metadata"].get("deletionTimestamp"))


def expected_first_rescale(utilization: int, target: int, maximum: int) -> int:
    """Kubernetes' count for one ready pod at `utilization` %: ceil(u/target), unless within the
    0.1 tolerance, limited to max(2 × 1, 4) (no behavior) and maxReplicas."""
    ratio = utilization / target
    desired = 1 if abs(1 - ratio) <= 0.1 else math.ceil(ratio * 1)
    return max(1, min(desired, 4, maximum))


def test_hpa_acceptance(up: UpProcess, tmp_path: Path) -> None:
    """CPU Utilization: first rescale in time and to the algorithm's count; +1 pod per 15 s policy; scale
    down only after the stabilization window; a memory AverageValue target scales too."""
    client = up.client
    stop_file = str(tmp_path / "stop-burning")
    burner = cpu_burner("burn", duty=0.05, stop_file=stop_file, cpu_request="10m")  # ~50m of a 10m request
    for name, container in (("fast", burner), ("stepped", burner),
                            ("memory", memory_holder("hold", size=40 << 20, memory_request="64Mi"))):
        client.create(deployment(name, container))
    stubs = [] if deployment_controller_acts(client, "fast") else [ReplicaStub(client, n).start()
                                                                   for n in ("fast", "stepped", "memory")]
    print(f"pods made by {'ReplicaStub (no Deployment controller)' if stubs else 'the Deployment controller'}")
    replicas = ReplicaLog(client, ["fast", "stepped", "memory"]).start()
    try:
        wait_for(lambda: all(running_pods(client, n) == 1 for n in ("fast", "stepped", "memory")), timeout=120,
                 interval=0.5, what="one running pod per Deployment")
        created = time.monotonic()
        client.create(hpa("fast", {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 200}},
                          maximum=6))
        client.create(hpa("stepped", {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 200}},
                          maximum=3, behavior={
                              "scaleUp": {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 15}]},
                              "scaleDown": {"stabilizationWindowSeconds": WINDOW}}))
        client.create(hpa("memory", {"name": "memory", "target": {"type": "AverageValue", "averageValue": "20Mi"}},
                          maximum=3))

        # fast: within two sync periods (plus a new pod's warm-up), to the algorithm's count
        first = wait_for(lambda: replicas.first_change_after("fast", created), timeout=2 * SYNC + WARM_UP + 10,
                         interval=0.25, what="the first rescale of fast")
        status = wait_for(lambda: (s := client.get("horizontalpodautoscalers", "fast").get("status") or {}).get(
            "lastScaleTime") and s, timeout=10, what="the status of fast")
        scaled_to = first[1]
        utilization = status["currentMetrics"][0]["resource"]["current"]["averageUtilization"]
        events = [e["message"] for e in client.list("events", namespace="default",
                                                    field_selector="involvedObject.name=fast")["items"]
                  if e["reason"] == "SuccessfulRescale"]
        assert (f"New size: {scaled_to}; reason: cpu resource utilization (percentage of request) above target"
                in events)
        if status["desiredReplicas"] == scaled_to:  # the status of the same sync: its utilization made the count
            assert scaled_to == expected_first_rescale(utilization, 200, 6), (utilization, status)
        print(f"fast: 1 -> {scaled_to} after {first[0] - created:.1f}s at {utilization}% of requests")

        # stepped: +1 pod per 15 s up to maxReplicas
        wait_for(lambda: replicas.current("stepped") == 3, timeout=2 * 15 + 3 * SYNC + WARM_UP + 30, interval=0.5,
                 what="stepped at 3 replicas")
        steps = replicas.changes["stepped"]
        assert [r for _, r in steps] == [1, 2, 3], steps
        assert steps[2][0] - steps[1][0] >= 15 - 0.5, steps
        print(f"stepped: 1 -> 2 -> 3, {steps[2][0] - steps[1][0]:.1f}s apart")

        # memory: an AverageValue target scales up too
        wait_for(lambda: replicas.current("memory") >= 2, timeout=2 * SYNC + 30, interval=0.5, what="memory scaled")
        memory_events = [e["message"] for e in client.list("events", namespace="default",
                                                           field_selector="involvedObject.name=memory")["items"]]
        assert any(m.endswith("reason: memory resource above target") for m in memory_events), memory_events

        # load gone: stepped scales down, but only once the stabilization window has passed
        Path(stop_file).touch()
        stopped = time.monotonic()
        down = wait_for(lambda: next(((t, r) for t, r in replicas.changes["stepped"] if t > stopped and r < 3), None),
                        timeout=WINDOW + 15 + 3 * SYNC + 30, interval=0.5, what="stepped scaling down")
        assert down[0] - stopped >= WINDOW - SYNC, (down, stopped)
        print(f"stepped: scaled down to {down[1]} {down[0] - stopped:.1f}s after the load stopped "
              f"(window {WINDOW}s)")
    finally:
        replicas.stop()
        for stub in stubs:
            stub.stop()
