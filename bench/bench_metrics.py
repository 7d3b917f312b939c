"""Metrics sampling cost per node agent: --pods pods (process runtime) on one node.

Starts `minik8s up --masters 1 --nodes 1` in a temp dir, creates `--pods` one-container pods
(`sleep`), waits until they run, then measures three things:

- sampler: the node agent's own sampling code (`minik8s.node.stats.StatsSampler` over the node's
  `ProcessRuntime`: the same runtime files and cgroups the agent reads) run `--samples` times in
  this process; CPU seconds per sample (`time.process_time`), and what that is as a share of one
  core at the agent's 5 s interval;
- agent: the node agent process's CPU seconds over `--idle-seconds` with every pod running
  (everything it does: sampling, kubelet resyncs, Lease renewals, status): an upper bound;
- API: `GET /apis/metrics.k8s.io/v1beta1/namespaces/default/pods` through the master
  (`--requests` times; the master fetches the node's summary at most every 3 s, so most answers
  come from its cache, as `kubectl top` and the HPA see them).

Then the pods are deleted and `up` is stopped with SIGINT (it removes what it created).

    .venv/bin/python bench/bench_metrics.py [--pods 100] [--samples 20] [--idle-seconds 60]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from cluster import exit_on_sigterm, process_cpu_seconds
from report import format_table, percentile

from minik8s.api.kubeconfig import load_kubeconfig
from minik8s.chaos.upcluster import UpProcess
from minik8s.cli.hosts import HostNet
from minik8s.node.runtime.cgroups import Cgroup
from minik8s.node.runtime.process import ProcessRuntime
from minik8s.node.stats import StatsSampler, cgroup_usage_reader

INTERVAL = 5.0  # the node agent's default --stats-interval


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--pods", type=int, default=100)
    parser.add_argument("--samples", type=int, default=20)
    parser.add_argument("--idle-seconds", type=float, default=60.0)
    parser.add_argument("--requests", type=int, default=20)
    parser.add_argument("--max-seconds", type=float, default=300.0, help="deadline for the pods to run")
    return parser.parse_args()


def running(up: UpProcess) -> int:
    """The bench's pods that run."""
    pods = up.client.list("pods", namespace="default", label_selector="bench=metrics")["items"]
    return sum(1 for p in pods if (p.get("status") or {}).get("phase") == "Running")


def main() -> int:
    args = parse_args()
    exit_on_sigterm()
    with tempfile.TemporaryDirectory(prefix="bench-metrics-") as tmp:
        root = Path(tmp) / "cluster"
        up = UpProcess(root, "--masters", "1", "--nodes", "1", timeout=180)
        try:
            for i in range(args.pods):
                up.client.create({"apiVersion": "v1", "kind": "Pod",
                                  "metadata": {"name": f"m-{i}", "labels": {"bench": "metrics"}},
                                  "spec": {"containers": [{"name": "c", "image": "busybox",
                                                           "command": ["sleep", "100000"]}]}})
            deadline = time.monotonic() + args.max_seconds
            while running(up) < args.pods and time.monotonic() < deadline:
                time.sleep(1)
            pods_running = running(up)
            state = json.loads((root / "cluster.json").read_text())
            net = HostNet.from_json(state["net"])
            runtime = ProcessRuntime(str(root / "node-0" / "runtime"), cgroup_parent=net.cgroup_parent("node-0"))
            sampler = StatsSampler(runtime, node_name="node-0", interval=INTERVAL,
                                   node_usage=cgroup_usage_reader(Cgroup.at(net.cgroup_parent("node-0")).usage))
            costs = []
            for _ in range(args.samples):
                started = time.process_time()
                sampler.sample_once()
                costs.append(time.process_time() - started)
                time.sleep(0.2)
            containers = sum(len(p["containers"]) for p in sampler.summary()["pods"])

            agent = state["node_pids"][0]
            before = process_cpu_seconds(agent)
            time.sleep(args.idle_seconds)
            agent_share = (process_cpu_seconds(agent) - before) / args.idle_seconds

            config = load_kubeconfig(root / "kubeconfig")
            latencies, items = [], 0
            for _ in range(args.requests):
                started = time.monotonic()
                items = len(up.client.list("pods.metrics.k8s.io", namespace="default")["items"])
                latencies.append((time.monotonic() - started) * 1000)
                time.sleep(0.5)
            latencies.sort()
        finally:
            up.stop()
    per_sample = statistics.median(costs)
    print(f"{pods_running} of {args.pods} pods running on one node agent (process runtime), "
          f"{config.servers[0]}\n")
    print(format_table(
        ("measured", "containers", "CPU ms/sample p50", "max", "us/container", "% of a core at 5 s"),
        [("sampler", containers, per_sample * 1000, max(costs) * 1000,
          per_sample / max(containers, 1) * 1e6, per_sample / INTERVAL * 100)]))
    print()
    print(format_table(("measured", "seconds", "% of a core"),
                       [("node agent, all work, pods idle", args.idle_seconds, agent_share * 100)]))
    print()
    print(format_table(("metrics API", "requests", "pods listed", "p50 ms", "max ms"),
                       [("list PodMetrics in default", len(latencies), items, percentile(latencies, 50),
                         latencies[-1])]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
