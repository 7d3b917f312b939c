"""Scale-out under a 20x burst: a Function warmed to one instance, then 20 callers at once.

Starts `minik8s up --masters 3 --nodes 3` (process runtime) in a temp dir and creates a Function
with `containerConcurrency` 1 (the KPA's target is then 0.7 calls per instance) and `maxScale`
`--max-scale` (20), whose handler sleeps `--sleep` seconds (0.1) and returns its input. Then:

1. warm-up: the Function starts with one instance (`minScale` 1, so no cold start panics the KPA);
   one caller calls, then pauses `--think` seconds (0.1), for `--warm-seconds` (20), so the routers
   see about half a call in flight on average: the KPA keeps one instance;
2. burst: `--callers` (20) threads call back to back (no pause) for `--burst-seconds` (30) or
   `--max-calls` calls each, whichever ends first, spread over the three masters.

The rule's number for the burst is N = min(ceil(callers / 0.7), maxScale) (20 with the defaults).
Two long-poll watches (the Function's Deployment and the Function) record, from the first call of
the burst, when the Deployment's `spec.replicas` first reached N (the autoscaler wrote it), when the
Function's `status.desiredInstances` did, and when `status.readyReplicas` / `status.readyInstances`
reached N (N instances passed their readiness probe); every change of the counts goes into a
timeline. Call latency p50/p99 and failed calls (must be 0) over the burst (also split: calls
started before / after N instances were ready), and over the warm-up for comparison; the whole
machine's CPU use during the burst.

    .venv/bin/python bench/bench_function_burst.py [--callers 20] [--max-scale 20] [--burst-seconds 30]
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from bench_pods import UpCluster, machine_busy_seconds, run_on_up
from cluster import exit_on_sigterm, run_main
from report import format_table, percentile

from minik8s.api import errors
from minik8s.api.client import ApiClient
from minik8s.api.kubeconfig import load_kubeconfig

NAMESPACE = "default"
NAME = "bench-burst"
SOURCE = ("import os, time\n\ndef handle(params):\n    time.sleep(params.get('sleep', 0))\n"
          "    return {**params, 'pid': os.getpid()}\n")
TARGET_UTILIZATION = 0.7  # Knative's: the target per instance is 70 % of containerConcurrency
WATCH_POLL_SECONDS = 2


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--callers", type=int, default=20, help="threads calling back to back in the burst")
    parser.add_argument("--max-scale", type=int, default=20, help="the Function's scale.maxScale")
    parser.add_argument("--concurrency", type=int, default=1, help="the Function's containerConcurrency")
    parser.add_argument("--sleep", type=float, default=0.1, help="seconds the handler sleeps per call")
    parser.add_argument("--think", type=float, default=0.1, help="the warm-up caller's pause between calls")
    parser.add_argument("--warm-seconds", type=float, default=20.0, help="length of the one-caller warm-up")
    parser.add_argument("--burst-seconds", type=float, default=30.0, help="length of the burst")
    parser.add_argument("--max-calls", type=int, default=2000, help="calls per caller at most (each phase)")
    return parser.parse_args()


@dataclass
class Calls:
    """Latencies (ms) and failures of one phase, from every caller thread."""

    latencies: list[float] = field(default_factory=list)
    starts: list[float] = field(default_factory=list)  # monotonic start of each answered call, as `latencies`
    pids: list[int] = field(default_factory=list)  # the instance (its process id) that answered, as `latencies`
    failures: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


def call_loop(client: ApiClient, index: int, calls: Calls, *, until: float, max_calls: int, sleep: float,
              think: float) -> None:
    """Call the function from one thread until `until` (monotonic) or `max_calls`, recording each call."""
    mine: list[float] = []
    starts: list[float] = []
    pids: list[int] = []
    failed: list[str] = []
    for n in range(max_calls):
        if time.monotonic() >= until:
            break
        params = {"i": index * 1_000_000 + n, "sleep": sleep}
        started = time.monotonic()
        try:
            answer = client.invoke("functions", NAME, params, namespace=NAMESPACE)
            if not isinstance(answer, dict) or {k: v for k, v in answer.items() if k != "pid"} != params:
                failed.append(f"wrong answer {answer!r}")
            else:
                mine.append((time.monotonic() - started) * 1000)
                starts.append(started)
                pids.append(int(answer.get("pid") or 0))
        except errors.ApiError as exc:
            failed.append(f"{type(exc).__name__}: {exc.message[:200]}")
        if think:
            time.sleep(think)
    with calls.lock:
        calls.latencies.extend(mine)
        calls.starts.extend(starts)
        calls.pids.extend(pids)
        calls.failures.extend(failed)


def run_phase(clients: list[ApiClient], callers: int, seconds: float, *, max_calls: int, sleep: float,
              think: float) -> Calls:
    calls = Calls()
    until = time.monotonic() + seconds
    threads = [threading.Thread(target=call_loop, args=(clients[i % len(clients)], i, calls),
                                kwargs={"until": until, "max_calls": max_calls, "sleep": sleep, "think": think})
               for i in range(callers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return calls


class CountWatch:
    """A long-poll watch on one object: every change of the counts it picks, with the monotonic time seen."""

    def __init__(self, client: ApiClient, resource: str, pick: Any) -> None:
        self.client, self.resource, self.pick = client, resource, pick
        self.timeline: list[tuple[float, tuple[int, int]]] = []
        self.error: BaseException | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def start(self, resource_version: str) -> None:
        self.resource_version = resource_version
        self.thread.start()

    def _run(self) -> None:
        name = f"fn-{NAME}" if self.resource == "deployments" else NAME
        try:
            for event in self.client.watch(self.resource, namespace=NAMESPACE, resource_version=self.resource_version,
                                           field_selector=f"metadata.name={name}", stop=self.stop,
                                           timeout_seconds=WATCH_POLL_SECONDS):
                counts = self.pick(event.get("object") or {})
                if not self.timeline or self.timeline[-1][1] != counts:
                    self.timeline.append((time.monotonic(), counts))
        except BaseException as exc:  # reported by the main thread
            self.error = exc

    def first(self, since: float, which: int, at_least: int) -> float | None:
        """Seconds from `since` to the first count `which` (0 desired, 1 ready) >= `at_least`."""
        for seen, counts in self.timeline:
            if counts[which] >= at_least:
                return max(0.0, seen - since)
        return None

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=WATCH_POLL_SECONDS + 35)


def deployment_counts(obj: dict[str, Any]) -> tuple[int, int]:
    return (obj.get("spec") or {}).get("replicas") or 0, (obj.get("status") or {}).get("readyReplicas") or 0


def function_counts(obj: dict[str, Any]) -> tuple[int, int]:
    status = obj.get("status") or {}
    return status.get("desiredInstances") or 0, status.get("readyInstances") or 0


def latency_row(what: str, latencies: list[float], seconds: float, failed: int | str) -> list[object]:
    values = sorted(latencies)
    return [what, len(values), f"{len(values) / seconds:.0f}" if seconds > 0 else "-", f"{percentile(values, 50):.1f}",
            f"{percentile(values, 99):.1f}", f"{values[-1]:.1f}" if values else "-", failed]


def wait_until(what: str, check: Any, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what}: not within {timeout:.0f} s")
        time.sleep(0.2)


def elapsed(value: float | None) -> str:
    return "not reached" if value is None else f"{value:.2f}"


def measure(up: UpCluster, args: argparse.Namespace) -> bool:
    config = load_kubeconfig(up.root / "kubeconfig")
    client = up.client(timeout=120)
    clients = [ApiClient(server, token=config.token, ca_file=config.ca_file, timeout=120) for server in config.servers]
    target = TARGET_UTILIZATION * args.concurrency
    rule = min(math.ceil(args.callers / target), args.max_scale)
    client.create({"apiVersion": "minik8s.io/v1", "kind": "Function", "metadata": {"name": NAME, "namespace": NAMESPACE},
                   "spec": {"source": {"inline": SOURCE}, "handler": "main:handle",
                            "containerConcurrency": args.concurrency,
                            "scale": {"minScale": 1, "maxScale": args.max_scale}}})

    def deployment() -> dict[str, Any] | None:
        try:
            return client.get("deployments", f"fn-{NAME}", namespace=NAMESPACE)
        except errors.NotFoundError:
            return None

    wait_until("one ready instance", lambda: deployment_counts(deployment() or {}) == (1, 1), 60)
    print(f"warm-up: 1 caller for {args.warm_seconds:.0f} s ...", file=sys.stderr)
    warm = run_phase(clients, 1, args.warm_seconds, max_calls=args.max_calls, sleep=args.sleep, think=args.think)
    before = deployment_counts(deployment() or {})
    if before != (1, 1):
        print(f"note: after the warm-up the Deployment has {before[0]} desired / {before[1]} ready instance(s)",
              file=sys.stderr)
    watches = [CountWatch(clients[0], "deployments", deployment_counts),
               CountWatch(clients[1 % len(clients)], "functions", function_counts)]
    for watch, resource in zip(watches, ("deployments", "functions"), strict=True):
        watch.start(client.list(resource, namespace=NAMESPACE)["metadata"]["resourceVersion"])
    print(f"burst: {args.callers} callers for {args.burst_seconds:.0f} s ...", file=sys.stderr)
    busy_before = machine_busy_seconds()
    started = time.monotonic()
    burst = run_phase(clients, args.callers, args.burst_seconds, max_calls=args.max_calls, sleep=args.sleep, think=0)
    burst_seconds = time.monotonic() - started
    busy = machine_busy_seconds() - busy_before
    time.sleep(WATCH_POLL_SECONDS)
    for watch in watches:
        watch.close()
        if watch.error is not None:
            raise RuntimeError(f"the {watch.resource} watch failed: {watch.error!r}")
    dep, fn = watches
    print(f"scale-out under a {args.callers}x burst: containerConcurrency {args.concurrency} (target {target:.2f} "
          f"per instance), handler {args.sleep * 1000:.0f} ms, maxScale {args.max_scale}; "
          f"warmed at {before[0]} instance(s) by 1 caller pausing {args.think * 1000:.0f} ms between calls; "
          f"rule: N = min(ceil({args.callers} / {target:.2f}), {args.max_scale}) = {rule}")
    print(format_table(["from the burst's first call to", "seconds"], [
        [f"Deployment spec.replicas >= {rule} (autoscaler's decision)", elapsed(dep.first(started, 0, rule))],
        [f"Function status.desiredInstances >= {rule}", elapsed(fn.first(started, 0, rule))],
        [f"Deployment status.readyReplicas >= {rule}", elapsed(dep.first(started, 1, rule))],
        [f"Function status.readyInstances >= {rule}", elapsed(fn.first(started, 1, rule))],
    ]))
    print()
    all_ready = dep.first(started, 1, rule)
    split = started + (all_ready if all_ready is not None else burst_seconds)
    before_ready = [ms for ms, at in zip(burst.latencies, burst.starts, strict=True) if at < split]
    after_ready = [ms for ms, at in zip(burst.latencies, burst.starts, strict=True) if at >= split]
    print(format_table(["phase", "calls", "calls/s", "p50 ms", "p99 ms", "max ms", "failed"], [
        latency_row(f"warm-up, 1 caller ({args.warm_seconds:.0f} s)", warm.latencies, args.warm_seconds,
                    len(warm.failures)),
        latency_row(f"burst, {args.callers} callers ({burst_seconds:.0f} s)", burst.latencies, burst_seconds,
                    len(burst.failures)),
        latency_row(f"  calls started before {rule} were ready", before_ready, split - started, "-"),
        latency_row(f"  calls started once {rule} were ready", after_ready, started + burst_seconds - split, "-"),
    ]))
    steps = " ".join(f"{seen - started:+.1f}s:{d}/{r}" for seen, (d, r) in dep.timeline)
    print(f"\nDeployment desired/ready over time (from the burst's first call): {steps}")
    served = Counter(pid for pid, at in zip(burst.pids, burst.starts, strict=True) if at >= split)
    print(f"calls started once {rule} were ready were answered by {len(served)} instance(s); calls per instance: "
          f"{sorted(served.values(), reverse=True)}")
    print(f"whole machine CPU during the burst: {busy:.1f} of {burst_seconds * (os.cpu_count() or 1):.1f} "
          f"core-seconds ({os.cpu_count()} cores x {burst_seconds:.1f} s)")
    for failure in (warm.failures + burst.failures)[:10]:
        print(f"failed call: {failure}")
    for each in clients:
        each.close()
    client.close()
    return not warm.failures and not burst.failures


def main() -> int:
    exit_on_sigterm()
    args = parse_args()
    return run_on_up("bench-burst-", lambda up: measure(up, args))


if __name__ == "__main__":
    run_main(main)
