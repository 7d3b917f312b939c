"""HPA reaction time to a load step, for each HPA sync period.

For each `--sync-periods` value, starts `minik8s up --masters 1 --nodes 1` with that
`--horizontal-pod-autoscaler-sync-period` (and a 10 s downscale stabilization so each run starts
from 1 replica again), a Deployment of one pod (request 20m) that burns ~10 % of a core while a
start file exists and idles otherwise, and an HPA (cpu Utilization 100 %, 1..5 replicas, no
behavior). Each of `--runs` runs waits until the HPA reports the idle pod, then a random part
of a sync period (so the step falls anywhere between two syncs), creates the start file (the load
step, t=0) and polls every 0.25 s for:

- metric: the HPA's status first reports the utilization above the tolerance (the node's sample
  interval and CPU window, the master's 3 s cache, and the HPA's sync all count here);
- rescale: the Deployment's `spec.replicas` changes;
- running: every pod of the new count is Running;

then removes the start file and waits until the HPA is back at one replica. Pods come from the
Deployment controller when it runs, else from the tests' `ReplicaStub`.

    .venv/bin/python bench/bench_hpa.py [--sync-periods 15,5] [--runs 3]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from cluster import exit_on_sigterm
from report import format_table, percentile

from minik8s.api.client import ApiClient
from minik8s.chaos.upcluster import UpProcess

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from tests.integration.replica_stub import ReplicaStub, deployment_controller_acts  # noqa: E402

BURN = """
import os, sys, time
start = sys.argv[1]
while True:
    if os.path.exists(start):
        t = time.monotonic()
        while time.monotonic() - t < 0.01:
            pass
        time.sleep(0.09)
    else:
        time.sleep(0.1)
"""
HEADERS = ("sync period s", "runs", "metric p50 s", "max s", "rescale p50 s", "max s", "running p50 s", "max s")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--sync-periods", default="15,5")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--max-seconds", type=float, default=120.0, help="deadline of one step")
    return parser.parse_args()


def wait(condition: Any, deadline: float) -> float | None:
    """When `condition()` first held (polled every 0.25 s), None when `deadline` came first."""
    while time.monotonic() < deadline:
        if condition():
            return time.monotonic()
        time.sleep(0.25)
    return None


def replicas(client: ApiClient) -> int:
    """The Deployment's `spec.replicas`."""
    return client.get("deployments", "step")["spec"]["replicas"]


def running(client: ApiClient) -> int:
    """Running pods of the Deployment (not being deleted)."""
    pods = client.list("pods", namespace="default", label_selector="app=step")["items"]
    return sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Running"
               and not p["metadata"].get("deletionTimestamp"))


def utilization(client: ApiClient) -> int:
    """The CPU utilization the HPA last reported (0 before any)."""
    metrics = (client.get("horizontalpodautoscalers", "step").get("status") or {}).get("currentMetrics") or []
    return (((metrics or [{}])[0].get("resource") or {}).get("current") or {}).get("averageUtilization") or 0


def measure(period: float, runs: int, max_seconds: float, workdir: Path) -> list[tuple[float, float, float]]:
    """(metric, rescale, running) seconds after the load step, per run."""
    up = UpProcess(workdir / "cluster", "--masters", "1", "--nodes", "1", "--horizontal-pod-autoscaler-sync-period",
                   str(period), "--horizontal-pod-autoscaler-downscale-stabilization", "10", timeout=180)
    start = workdir / "start"
    client, stub = up.client, None
    results = []
    try:
        client.create({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "step"}, "spec": {
            "replicas": 1, "selector": {"matchLabels": {"app": "step"}}, "template": {
                "metadata": {"labels": {"app": "step"}}, "spec": {"containers": [{
                    "name": "burn", "image": "python", "command": [sys.executable, "-c", BURN, str(start)],
                    "resources": {"requests": {"cpu": "20m"}}}]}}}})
        if not deployment_controller_acts(client, "step"):
            stub = ReplicaStub(client, "step").start()
        client.create({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "step"},
                       "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "step"},
                                "minReplicas": 1, "maxReplicas": 5, "metrics": [{"type": "Resource", "resource": {
                                    "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 100}}}]}})
        for _ in range(runs):
            settle = time.monotonic() + max_seconds
            if wait(lambda: replicas(client) == 1 and running(client) == 1 and 0 < utilization(client) < 90,
                    settle) is None:
                print("did not settle at 1 replica; skipping the remaining runs", file=sys.stderr)
                break
            time.sleep(random.uniform(0, period))  # the last sync was just now: step at a random phase
            start.touch()
            step = time.monotonic()
            deadline = step + max_seconds
            metric = wait(lambda: utilization(client) > 110, deadline)
            rescale = wait(lambda: replicas(client) > 1, deadline)
            ran = wait(lambda: running(client) >= replicas(client) > 1, deadline) if rescale else None
            start.unlink()
            if metric is None or rescale is None or ran is None:
                print("a step did not complete in time", file=sys.stderr)
                continue
            results.append((metric - step, rescale - step, ran - step))
    finally:
        if stub is not None:
            stub.stop()
        up.stop()
    return results


def main() -> int:
    args = parse_args()
    exit_on_sigterm()
    rows = []
    for period in (float(p) for p in args.sync_periods.split(",")):
        with tempfile.TemporaryDirectory(prefix="bench-hpa-") as tmp:
            results = measure(period, args.runs, args.max_seconds, Path(tmp))
        columns = [sorted(r[i] for r in results) for i in range(3)]
        row: list[object] = [period, len(results)]
        for values in columns:
            row += [percentile(values, 50), values[-1] if values else float("nan")]
        rows.append(row)
        print(f"sync period {period:g}s: " + ", ".join(f"{m:.1f}/{r:.1f}/{p:.1f}s" for m, r, p in results),
              file=sys.stderr)
    print(format_table(HEADERS, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
