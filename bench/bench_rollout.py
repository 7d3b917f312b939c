"""Rolling-update duration: a 50-pod Deployment on `minik8s up --masters 3 --nodes 3` (process runtime).

Starts `minik8s up` in a temp dir, creates a Deployment of `--replicas` pods (`sleep`, image
`bench:v1`) and waits until all are available (the first row: 0 -> N). Then, for each strategy
of `--strategies` (`RollingUpdate` with maxSurge/maxUnavailable such as `25%/25%` or `2/1`, or
`Recreate`), it switches the Deployment to that strategy with the next image (`bench:v2`, ...)
in one update and times the rollout from that write until the Deployment reports every replica
updated and available at the new generation. A thread lists the pods every 100 ms meanwhile
and remembers the most pods and the fewest available pods (pods being deleted do not count).

Columns: the step, seconds, pods replaced per second, the most pods and the fewest available
pods sampled, the bounds the strategy promises (replicas + maxSurge, replicas - maxUnavailable),
and the number of ReplicaSet resizes the Deployment controller made (`ScalingReplicaSet` events).
Afterwards the Deployment is deleted and `up` stopped (it removes everything it created).

    .venv/bin/python bench/bench_rollout.py [--replicas 50] [--strategies 25%/25%,2/1,Recreate] [--max-seconds 300]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from report import format_table

from minik8s.api.client import ApiClient
from minik8s.chaos.upcluster import UpProcess
from minik8s.controllers.deployment_util import resolve_fenceposts

NAMESPACE = "default"
NAME = "bench"
DEPLOYS = "deployments.apps"
HEADERS = ("step", "seconds", "pods/s", "most pods", "fewest available", "bounds", "RS resizes")


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--replicas", type=int, default=50)
    parser.add_argument("--masters", type=int, default=3)
    parser.add_argument("--nodes", type=int, default=3)
    parser.add_argument("--strategies", default="25%/25%,2/1,Recreate",
                        help="comma-separated: SURGE/UNAVAILABLE for RollingUpdate, or Recreate")
    parser.add_argument("--max-seconds", type=float, default=300.0, help="deadline of one step")
    return parser.parse_args()


def strategy_of(text: str) -> dict[str, Any]:
    """`Recreate`, or `SURGE/UNAVAILABLE` as a RollingUpdate strategy."""
    if text == "Recreate":
        return {"type": "Recreate"}
    surge, unavailable = text.split("/")
    as_value = (lambda v: v if v.endswith("%") else int(v))  # noqa: E731 - one-line conversion
    return {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": as_value(surge),
                                                       "maxUnavailable": as_value(unavailable)}}


def bounds(strategy: dict[str, Any], replicas: int) -> str:
    """What the strategy promises: `most pods / fewest available`."""
    if strategy["type"] == "Recreate":
        return f"{replicas} / 0"
    rolling = strategy["rollingUpdate"]
    surge, unavailable = resolve_fenceposts(rolling["maxSurge"], rolling["maxUnavailable"], replicas)
    return f"{replicas + surge} / {replicas - min(unavailable, replicas)}"


def deployment(replicas: int, image: str, strategy: dict[str, Any]) -> dict[str, Any]:
    """The benchmark's Deployment: `replicas` sleeping pods of `image`."""
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": NAME, "namespace": NAMESPACE},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": NAME}}, "strategy": strategy,
                     "template": {"metadata": {"labels": {"app": NAME}},
                                  "spec": {"terminationGracePeriodSeconds": 1,
                                           "containers": [{"name": "app", "image": image,
                                                           "command": ["sleep", "100000"]}]}}}}


class Sampler:
    """Lists the pods every 100 ms: the most pods and the fewest available ones seen."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self.most, self.fewest = 0, sys.maxsize
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            try:
                pods = self.client.list("pods", namespace=NAMESPACE, label_selector=f"app={NAME}")["items"]
            except Exception:  # noqa: BLE001 - a skipped sample
                pods = None
            if pods is not None:
                live = [p for p in pods if not p["metadata"].get("deletionTimestamp")
                        and p.get("status", {}).get("phase") not in ("Succeeded", "Failed")]
                ready = sum(1 for p in live if any(c.get("type") == "Ready" and c.get("status") == "True"
                                                    for c in p["status"].get("conditions") or []))
                self.most, self.fewest = max(self.most, len(live)), min(self.fewest, ready)
            self.stop.wait(0.1)


def rolled_out(client: ApiClient, replicas: int) -> bool:
    """The Deployment reports every replica updated and available at its current generation."""
    d = client.get(DEPLOYS, NAME, namespace=NAMESPACE)
    s = d.get("status") or {}
    return (s.get("observedGeneration") == d["metadata"]["generation"] and s.get("replicas") == replicas
            and s.get("updatedReplicas") == replicas and s.get("availableReplicas") == replicas)


def resizes(client: ApiClient) -> int:
    """How many ScalingReplicaSet events the Deployment has had so far."""
    events = client.list("events", namespace=NAMESPACE, field_selector=f"involvedObject.name={NAME}")["items"]
    return sum(int(e.get("count") or 1) for e in events if e.get("reason") == "ScalingReplicaSet")


def step(client: ApiClient, name: str, change: Any, replicas: int, promise: str, deadline: float) -> list[Any]:
    """Run `change()`, wait for the rollout, return the table row."""
    sampler = Sampler(client.copy(timeout=5))
    before = resizes(client)
    sampler.thread.start()
    started = time.monotonic()
    change()
    while not rolled_out(client, replicas):
        if time.monotonic() - started > deadline:
            sampler.stop.set()
            raise RuntimeError(f"{name}: not rolled out within {deadline:.0f}s")
        time.sleep(0.1)
    seconds = time.monotonic() - started
    sampler.stop.set()
    sampler.thread.join(timeout=10)
    return [name, seconds, replicas / seconds, sampler.most, sampler.fewest, promise, resizes(client) - before]


def run(up: UpProcess, args: argparse.Namespace) -> None:
    """Create the Deployment, roll it once per strategy, print the table, delete it."""
    client = up.client
    strategies = [s.strip() for s in args.strategies.split(",") if s.strip()]
    first = strategy_of(strategies[0])
    rows = [step(client, f"create 0 -> {args.replicas}",
                 lambda: client.create(deployment(args.replicas, "bench:v1", first)),
                 args.replicas, bounds(first, args.replicas), args.max_seconds)]
    for version, text in enumerate(strategies, start=2):
        strategy = strategy_of(text)

        def change(strategy: dict[str, Any] = strategy, version: int = version) -> None:
            current = client.get(DEPLOYS, NAME, namespace=NAMESPACE)
            current["spec"]["strategy"] = strategy
            current["spec"]["template"]["spec"]["containers"][0]["image"] = f"bench:v{version}"
            client.replace(current)

        label = f"RollingUpdate {text}" if strategy["type"] == "RollingUpdate" else "Recreate"
        rows.append(step(client, label, change, args.replicas, bounds(strategy, args.replicas), args.max_seconds))
    print(f"{args.replicas}-pod Deployment on {args.masters} masters + {args.nodes} nodes (process runtime)")
    print(format_table(HEADERS, rows))
    client.delete(DEPLOYS, NAME, namespace=NAMESPACE)


def main() -> int:
    """Run the benchmark on a fresh `minik8s up` in a temp dir."""
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-rollout-") as tmp:
        up = UpProcess(Path(tmp) / "data", "--masters", str(args.masters), "--nodes", str(args.nodes), timeout=180)
        try:
            run(up, args)
        finally:
            up.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
