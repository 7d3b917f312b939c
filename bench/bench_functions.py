"""Function calls: cold starts from zero, warm calls through the masters and routers, calls/s.

Starts `minik8s up --masters 3 --nodes 3` (process runtime) in a temp dir and creates a Function
whose handler returns its input (`minScale` 0). Then:

- cold starts (`--cold`): the function's Deployment is scaled to 0 and the bench waits until no
  instance pod is left; one call is then timed from its POST to its answer (the router wakes the
  function, the scheduler and a kubelet start the instance, the router probes it, the call runs);
  watches on the Deployment and the instance pods show when each step was first seen;
- warm calls (`--warm`): one instance running, calls one after another, each timed;
- throughput: `--clients` threads (each its own connection to one of the masters) call for
  `--seconds`; calls/s and latency.

Every call goes client -> master (HTTPS) -> a node agent's router -> the instance. The seed's
published figure (a cold start of about 10 s) is printed beside ours. Afterwards `up` is stopped
with SIGINT, which removes everything it started.

`--runtime docker` runs the same on Docker nodes (`up --runtime docker`: a dockerd per node, images
through the cluster's registry mirror of this machine's engine; needs scripts/start-dockerd.sh and
scripts/build-images.sh). The instances run the image `python:3.11`; before the first cold start
one pod per node pulls it, so the cold starts time the instance start, not a first pull.
`--warm 0` / `--clients 0` leave those rows out.

    .venv/bin/python bench/bench_functions.py [--cold 10] [--warm 300] [--clients 16] [--seconds 10]
                                              [--runtime process|docker] [--nodes 3]
"""

from __future__ import annotations

import argparse
import threading
import time

from bench_pods import UpCluster, run_on_up
from cluster import exit_on_sigterm, run_main
from report import format_table, percentile

from minik8s.api import errors
from minik8s.api.client import ApiClient
from minik8s.api.kubeconfig import load_kubeconfig
from minik8s.serverless.controller import DEFAULT_IMAGE

NAMESPACE = "default"
NAME = "bench-echo"
SOURCE = "def handle(params):\n    return params\n"
SEED_COLD_START_S = 10.0  # the seed project's published cold start


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cold", type=int, default=10, help="cold starts to time")
    parser.add_argument("--warm", type=int, default=300, help="warm calls one after another")
    parser.add_argument("--clients", type=int, default=16, help="threads calling at once for the throughput run")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the throughput run")
    parser.add_argument("--runtime", choices=("process", "docker"), default="process", help="the nodes' runtime")
    parser.add_argument("--nodes", type=int, default=3, help="node agents (and Docker engines with --runtime docker)")
    return parser.parse_args()


def instances(client: ApiClient) -> list[dict]:
    return client.list("pods", namespace=NAMESPACE, label_selector=f"minik8s.io/function={NAME}")["items"]


def to_zero(client: ApiClient, timeout: float = 120.0) -> None:
    """Scale the function to zero and wait until its last instance pod is gone."""
    client.scale("deployments", f"fn-{NAME}", namespace=NAMESPACE, replicas=0)
    deadline = time.monotonic() + timeout
    while instances(client):
        if time.monotonic() > deadline:
            raise RuntimeError("the function's instances did not go away")
        time.sleep(0.1)


class ColdStartTrace:
    """When each step of a cold start is seen by a watch, from the call's POST (client clock).

    One long-poll watch on the function's instance pods and one on its Deployment note the first time
    each is seen: the Deployment asked for an instance, the pod created, bound to a node, given its IP,
    Running, Ready. The watches' own delivery is in each figure (a few ms).
    """

    STEPS = ("Deployment replicas >= 1", "pod created", "pod bound to a node", "pod has its IP",
             "pod Running", "pod Ready")

    def __init__(self, client: ApiClient) -> None:
        self.client = client.copy(timeout=60)
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.seen: dict[str, float] = {}  # step -> first monotonic time since `mark`
        self.samples: dict[str, list[float]] = {step: [] for step in (*self.STEPS, "answer")}
        self.threads = [threading.Thread(target=self._watch, args=(resource, selector), daemon=True)
                        for resource, selector in (("pods", f"minik8s.io/function={NAME}"),
                                                   ("deployments", f"minik8s.io/function={NAME}"))]
        for thread in self.threads:
            thread.start()

    def mark(self) -> None:
        """A cold call is about to be sent: forget what was seen before."""
        with self.lock:
            self.seen = {}
            self.started = time.monotonic()

    def done(self, took_ms: float) -> None:
        with self.lock:
            for step in self.STEPS:
                if step in self.seen:
                    self.samples[step].append((self.seen[step] - self.started) * 1000)
            self.samples["answer"].append(took_ms)

    def _note(self, step: str) -> None:
        with self.lock:
            self.seen.setdefault(step, time.monotonic())

    def _watch(self, resource: str, selector: str) -> None:
        for event in self.client.watch(resource, namespace=NAMESPACE, label_selector=selector, stop=self.stop,
                                       timeout_seconds=5):
            obj, kind = event["object"], event["type"]
            if resource == "deployments":
                if (obj.get("spec") or {}).get("replicas", 0) >= 1:
                    self._note("Deployment replicas >= 1")
                continue
            if kind == "DELETED" or obj["metadata"].get("deletionTimestamp"):
                continue
            status = obj.get("status") or {}
            self._note("pod created")
            if (obj.get("spec") or {}).get("nodeName"):
                self._note("pod bound to a node")
            if status.get("podIP"):
                self._note("pod has its IP")
            if status.get("phase") == "Running":
                self._note("pod Running")
            if any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []):
                self._note("pod Ready")

    def rows(self) -> list[list[object]]:
        return [[step, len(values), f"{percentile(sorted(values), 50):.1f}", f"{percentile(sorted(values), 99):.1f}"]
                for step, values in self.samples.items() if values]

    def close(self) -> None:
        self.stop.set()
        for thread in self.threads:  # their polls end within timeout_seconds, before the cluster stops
            thread.join(timeout=10)


def timed_call(client: ApiClient, i: int) -> float:
    started = time.perf_counter()
    answer = client.invoke("functions", NAME, {"i": i}, namespace=NAMESPACE)
    took = time.perf_counter() - started
    if answer != {"i": i}:
        raise RuntimeError(f"wrong answer {answer!r} for call {i}")
    return took * 1000


def throughput(servers: list[str], token: str | None, ca_file: str | None, clients: int,
               seconds: float) -> tuple[int, int, list[float]]:
    """Calls answered, calls failed and latencies (ms) of `clients` threads calling for `seconds`."""
    latencies: list[float] = []
    failed = [0]
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def caller(index: int) -> None:
        client = ApiClient(servers[index % len(servers)], token=token, ca_file=ca_file, timeout=30)
        mine: list[float] = []
        n = 0
        while time.monotonic() < stop and n < 100_000:
            try:
                mine.append(timed_call(client, index * 100_000 + n))
            except (errors.ApiError, RuntimeError):
                with lock:
                    failed[0] += 1
            n += 1
        client.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=caller, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return len(latencies), failed[0], sorted(latencies)


def row(what: str, values: list[float], extra: str = "") -> list[object]:
    values = sorted(values)
    return [what, len(values), f"{percentile(values, 50):.1f}", f"{percentile(values, 99):.1f}",
            f"{values[-1]:.1f}" if values else "-", extra]


def pull_on_every_node(client: ApiClient, image: str, timeout: float = 300.0) -> None:
    """Run one short pod of `image` on every node and wait until each ended: the image is on every node."""
    nodes = [n["metadata"]["name"] for n in client.list("nodes")["items"]]
    names = [f"bench-pull-{i}" for i in range(len(nodes))]
    for name, node in zip(names, nodes, strict=True):
        client.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NAMESPACE},
                       "spec": {"nodeName": node, "restartPolicy": "Never", "terminationGracePeriodSeconds": 1,
                                "containers": [{"name": "pull", "image": image, "command": ["python3", "-c", "pass"]}]}})
    deadline = time.monotonic() + timeout
    for name in names:
        while client.get("pods", name, namespace=NAMESPACE).get("status", {}).get("phase") not in ("Succeeded", "Failed"):
            if time.monotonic() > deadline:
                raise RuntimeError(f"pod {name} of {image} did not run within {timeout:.0f} s")
            time.sleep(0.2)
        client.delete("pods", name, namespace=NAMESPACE)


def measure(up: UpCluster, args: argparse.Namespace) -> bool:
    config = load_kubeconfig(up.root / "kubeconfig")
    client = up.client(timeout=120)
    if args.runtime == "docker":
        pull_on_every_node(client, DEFAULT_IMAGE)
    client.create({"apiVersion": "minik8s.io/v1", "kind": "Function", "metadata": {"name": NAME, "namespace": NAMESPACE},
                   "spec": {"source": {"inline": SOURCE}, "handler": "main:handle"}})
    deadline = time.monotonic() + 60
    while (client.get("functions", NAME, namespace=NAMESPACE).get("status") or {}).get("desiredInstances") != 0:
        if time.monotonic() > deadline:
            raise RuntimeError("the function's Deployment did not appear")
        time.sleep(0.2)
    cold = []
    trace = ColdStartTrace(client)
    for i in range(args.cold):
        to_zero(client)
        trace.mark()
        cold.append(timed_call(client, i))
        trace.done(cold[-1])
    trace.close()
    rows = [row(f"cold start (from zero, {args.runtime} runtime)", cold)]
    if args.warm:
        rows.append(row("warm call, one at a time", [timed_call(client, i) for i in range(args.warm)]))
    if args.clients:
        done, failed, loaded = throughput(config.servers, config.token, config.ca_file, args.clients, args.seconds)
        rows.append(row(f"warm calls, {args.clients} clients", loaded,
                        f"{done / args.seconds:.0f} calls/s, {failed} failed"))
    rows.append(["seed project, cold start (published)", "-", f"~{SEED_COLD_START_S * 1000:.0f}", "-", "-", ""])
    print(format_table(["what", "calls", "p50 ms", "p99 ms", "max ms", ""], rows))
    if args.cold:
        print("\ncold starts, each step as a watch first saw it, from the call's POST:")
        print(format_table(["step", "cold starts", "p50 ms", "p99 ms"], trace.rows()))
    client.close()
    return True


def main() -> int:
    exit_on_sigterm()
    args = parse_args()
    return run_on_up("bench-functions-", lambda up: measure(up, args), nodes=args.nodes, runtime=args.runtime)


if __name__ == "__main__":
    run_main(main)
