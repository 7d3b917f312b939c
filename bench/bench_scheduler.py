"""Scheduling throughput: pods bound per second by the in-process Scheduler against 1 durable master.

Starts one `minik8s master` on loopback (see `cluster.py`) with `--no-control-loops`, so its
embedded scheduler does not compete, creates `--nodes` fake Node objects (Ready, 32 cpu, 128Gi,
110 pods each) and `--pods` pending pods (100m cpu, 64Mi each, owned by one
fake ReplicaSet so the spread score is in play) with `--creators` threads; none of that is timed.
Then it starts `minik8s.scheduler.Scheduler` in this process and follows the bindings with a
long-poll watch (`GET pods?watch=true&longPoll=true&fieldSelector=spec.nodeName!=`, cheaper for
the master than listing 1000 pods over and over) until every pod is bound or `--max-seconds`
pass. Seconds run from `Scheduler.start()` (so they include the informers' first lists) to the
watch event of the last binding. Each pod costs the master two writes: its binding and its
`Scheduled` event, which the scheduler sends in the background (events still queued when the
last pod is bound are sent before `stop()` returns and are counted under the table).

Columns: pods and nodes, binder threads, seconds, pods bound per second, and the fewest/most
pods any node got (an even spread is pods/nodes on every node). The CPU seconds of this process
(scheduler + polling) and of the master are printed under the table.

    .venv/bin/python bench/bench_scheduler.py [--nodes 100] [--pods 1000] [--binders 32]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from cluster import ClusterError, Minik8sCluster, exit_on_sigterm, run_main, start_minik8s
from report import format_table

from minik8s.api.client import ApiClient
from minik8s.scheduler import Scheduler

NAMESPACE = "default"
BOUND = "spec.nodeName!="
HEADERS = ("pods", "nodes", "binders", "seconds", "pods/s", "min/node", "max/node")
OWNER = {"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "bench", "uid": "bench-rs-uid", "controller": True}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--pods", type=int, default=1000)
    parser.add_argument("--binders", type=int, default=32, help="scheduler threads sending bindings")
    parser.add_argument("--creators", type=int, default=8, help="threads creating nodes and pods (untimed)")
    parser.add_argument("--max-seconds", type=float, default=120.0)
    return parser.parse_args()


def node(i: int) -> dict[str, Any]:
    name = f"bench-node-{i:04d}"
    resources = {"cpu": "32", "memory": "128Gi", "pods": "110"}
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}},
            "status": {"capacity": resources, "allocatable": resources,
                       "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady"}]}}


def pod(i: int) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": f"bench-pod-{i:05d}", "namespace": NAMESPACE, "labels": {"app": "bench"},
                         "ownerReferences": [OWNER]},
            "spec": {"containers": [{"name": "main", "image": "busybox",
                                     "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}}}]}}


def create_all(client: ApiClient, objects: Iterable[dict[str, Any]], threads: int) -> None:
    with ThreadPoolExecutor(threads) as pool:
        for future in [pool.submit(client.create, obj) for obj in objects]:
            future.result()


def follow_bindings(client: ApiClient, revision: str, total: int, *, seconds: float) -> float | None:
    """Watch bound pods from `revision` until `total` are seen; the monotonic time of the last one."""
    deadline = time.monotonic() + seconds
    bound: set[str] = set()
    while len(bound) < total and time.monotonic() < deadline:
        events, revision = client.watch_poll("pods", namespace=NAMESPACE, resource_version=revision,
                                             timeout_seconds=1, field_selector=BOUND)
        bound.update(e["object"]["metadata"]["name"] for e in events if e["type"] in ("ADDED", "MODIFIED"))
    return time.monotonic() if len(bound) >= total else None


def measure(cluster: Minik8sCluster, args: argparse.Namespace) -> tuple[list[object], str]:
    """Create the nodes and pods, schedule them; the table row and the line printed under it."""
    with ApiClient(cluster.urls, token=cluster.token, timeout=30) as client:
        create_all(client, (node(i) for i in range(args.nodes)), args.creators)
        create_all(client, (pod(i) for i in range(args.pods)), args.creators)
        revision = client.list("pods", namespace=NAMESPACE, field_selector=BOUND)["metadata"]["resourceVersion"]
        cpu_before = {"bench process": process_cpu_seconds(), "master": cluster.cpu_seconds()}
        scheduler = Scheduler(client, binders=args.binders, watch_timeout_seconds=2)
        start = time.monotonic()
        scheduler.start()
        try:
            last = follow_bindings(client, revision, args.pods, seconds=args.max_seconds)
            seconds = (last or time.monotonic()) - start
            cpu = {"bench process": process_cpu_seconds() - cpu_before["bench process"],
                   "master": cluster.cpu_seconds() - cpu_before["master"]}
        finally:
            scheduler.stop(timeout=30)
        items = client.list("pods", namespace=NAMESPACE)["items"]
        events = client.list("events", namespace=NAMESPACE, field_selector="reason=Scheduled")["items"]
    per_node = Counter(p["spec"].get("nodeName") for p in items if p["spec"].get("nodeName"))
    bound = sum(per_node.values())
    if last is None:
        print(f"stopped after {args.max_seconds:.0f}s with {args.pods - bound} pods still pending", file=sys.stderr)
    counts = [per_node.get(node(i)["metadata"]["name"], 0) for i in range(args.nodes)]
    row = [bound, args.nodes, args.binders, seconds, bound / seconds, min(counts), max(counts)]
    footer = (f"CPU seconds while scheduling: bench process {cpu['bench process']:.1f}, master {cpu['master']:.1f}; "
              f"Scheduled events recorded: {len(events)}")
    return row, footer


def process_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> int:
    exit_on_sigterm()
    args = parse_args()
    try:
        with start_minik8s(1, extra_args=["--no-control-loops"]) as cluster:
            row, footer = measure(cluster, args)
    except ClusterError as exc:
        print(f"minik8s: cluster did not start: {exc}", file=sys.stderr)
        return 1
    print(format_table(HEADERS, [row]))
    print(footer)
    return 0


if __name__ == "__main__":
    run_main(main)
