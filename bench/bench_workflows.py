"""Per-transition workflow overhead: WorkflowRuns of Pass chains, a Pass/Choice loop and Task chains.

Starts `minik8s up --masters 3 --nodes 3` (process runtime) in a temp dir, creates a Function whose
handler returns its input (`minScale` 1, warmed by a few calls) and these Workflows:

- `one`: a single Succeed state (the fixed cost of a run: create, start commit, end commit);
- `pass-chain`: `--passes` (100) Pass states in a chain;
- `pass-loop`: a Pass that adds 1 to a counter (`States.MathAdd`) and a Choice that loops back
  while the counter is below `--loops` (50): 2 transitions per turn;
- `task-chain`: `--tasks` (20) Task states in a chain, each calling the warm function.

Each runs `--runs` (10) times, one run at a time. The clock is the client's: one long-poll watch
on WorkflowRuns (opened before the first create, from the list's revision) notes when each run is
first seen Succeeded or Failed; a run's wall time is that moment minus the moment just before its
create was sent (`startTime`/`completionTime` have 1 s resolution). Per transition = wall time /
`status.steps` (the states entered). The watch also counts the run's writes (every event of the
run after its create: the runner's status commits). Beside them, the parts a transition is made
of, measured from the same client: one write through Raft (a small ConfigMap patch, `--writes`
times), one status write of a finished task-chain run (its size printed), and one warm function
call (`--calls` times). `--py-spy DIR` records the runner's master during the task-chain runs.

    .venv/bin/python bench/bench_workflows.py [--runs 10] [--passes 100] [--loops 50] [--tasks 20]
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from bench_pods import UpCluster, run_on_up, stop_py_spy
from cluster import exit_on_sigterm, run_main
from report import format_table, percentile

from minik8s.api.client import ApiClient

NAMESPACE = "default"
FUNCTION = "bench-wf-echo"
SOURCE = "def handle(params):\n    return params\n"
WATCH_POLL_SECONDS = 2
RUN_TIMEOUT = 120.0
LEASE = "minik8s-controller-manager"  # held by the master whose controllers (the workflow runner) act


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=10, help="runs of each workflow")
    parser.add_argument("--passes", type=int, default=100, help="Pass states in the pass-chain workflow")
    parser.add_argument("--loops", type=int, default=50, help="turns of the pass-loop workflow")
    parser.add_argument("--tasks", type=int, default=20, help="Task states in the task-chain workflow")
    parser.add_argument("--writes", type=int, default=100, help="ConfigMap updates timed (one Raft write each)")
    parser.add_argument("--calls", type=int, default=100, help="warm function calls timed")
    parser.add_argument("--py-spy", type=Path, default=None, metavar="DIR",
                        help="record py-spy raw stacks (all threads, idle included) of the master holding the "
                             "controller-manager Lease during the task-chain runs into DIR")
    return parser.parse_args()


def chain(prefix: str, count: int, state: dict[str, Any]) -> dict[str, Any]:
    names = [f"{prefix}{i:03d}" for i in range(count)]
    states = {name: {**state, **({"Next": names[i + 1]} if i + 1 < count else {"End": True})}
              for i, name in enumerate(names)}
    return {"StartAt": names[0], "States": states}


def definitions(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    loop = {"StartAt": "Inc", "States": {
        "Inc": {"Type": "Pass", "Parameters": {"i.$": "States.MathAdd($.i, 1)"}, "Next": "More?"},
        "More?": {"Type": "Choice", "Choices": [{"Variable": "$.i", "NumericLessThan": args.loops, "Next": "Inc"}],
                  "Default": "Done"},
        "Done": {"Type": "Succeed"}}}
    return {
        "one": {"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}},
        "pass-chain": chain("P", args.passes, {"Type": "Pass"}),
        "pass-loop": loop,
        "task-chain": chain("T", args.tasks, {"Type": "Task", "Resource": f"function:{FUNCTION}"}),
    }


class RunWatch:
    """One long-poll watch on WorkflowRuns: per run, the writes seen and when it was first seen ended."""

    def __init__(self, client: ApiClient) -> None:
        self.client = client
        self.lock = threading.Lock()
        self.writes: dict[str, int] = {}
        self.ended: dict[str, tuple[float, dict[str, Any]]] = {}
        self.events: dict[str, threading.Event] = {}
        self.error: BaseException | None = None
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def expect(self, name: str) -> threading.Event:
        with self.lock:
            return self.events.setdefault(name, threading.Event())

    def start(self) -> None:
        self.resource_version = self.client.list("workflowruns", namespace=NAMESPACE)["metadata"]["resourceVersion"]
        self.thread.start()

    def _run(self) -> None:
        try:
            for event in self.client.watch("workflowruns", namespace=NAMESPACE, resource_version=self.resource_version,
                                           stop=self.stop, timeout_seconds=WATCH_POLL_SECONDS):
                seen = time.monotonic()
                obj = event.get("object") or {}
                name = (obj.get("metadata") or {}).get("name", "")
                status = obj.get("status") or {}
                with self.lock:
                    if event.get("type") == "MODIFIED":
                        self.writes[name] = self.writes.get(name, 0) + 1
                    if status.get("phase") in ("Succeeded", "Failed") and name not in self.ended:
                        self.ended[name] = (seen, obj)
                        self.events.setdefault(name, threading.Event()).set()
        except BaseException as exc:  # reported by the main thread
            self.error = exc
            with self.lock:
                for event in self.events.values():
                    event.set()

    def close(self) -> None:
        self.stop.set()
        self.thread.join(timeout=WATCH_POLL_SECONDS + 35)


def run_once(client: ApiClient, watch: RunWatch, workflow: str, index: int) -> tuple[float, int, int]:
    """Wall time (ms), steps and writes of one run of `workflow`."""
    name = f"{workflow}-{index:03d}"
    done = watch.expect(name)
    started = time.monotonic()
    client.create({"apiVersion": "minik8s.io/v1", "kind": "WorkflowRun", "metadata": {"name": name, "namespace": NAMESPACE},
                   "spec": {"workflowRef": {"name": workflow}, "input": json.dumps({"i": 0})}})
    if not done.wait(RUN_TIMEOUT) or watch.error is not None:
        raise RuntimeError(f"run {name} did not end within {RUN_TIMEOUT:.0f} s (watch error: {watch.error!r})")
    with watch.lock:
        seen, obj = watch.ended[name]
        writes = watch.writes.get(name, 0)
    status = obj.get("status") or {}
    if status.get("phase") != "Succeeded":
        raise RuntimeError(f"run {name} {status.get('phase')}: {status.get('error')}: {status.get('cause')}")
    return (seen - started) * 1000, int(status.get("steps") or 0), writes


def timed_ms(action: Any, count: int) -> list[float]:
    out = []
    for i in range(count):
        started = time.perf_counter()
        action(i)
        out.append((time.perf_counter() - started) * 1000)
    return sorted(out)


def start_leader_py_spy(up: UpCluster, client: ApiClient, out_dir: Path) -> list[subprocess.Popen[bytes]]:
    """py-spy on the master that runs the controllers (the workflow runner): every thread, idle ones too."""
    holder = client.get("leases", LEASE, namespace="kube-system")["spec"]["holderIdentity"]
    pid = up.state["pids"][int(holder.rsplit("-", 1)[1])]
    py_spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    out_dir.mkdir(parents=True, exist_ok=True)
    print(f"py-spy on the leader {holder} (pid {pid}) into {out_dir}/leader.txt", file=sys.stderr)
    return [subprocess.Popen([py_spy, "record", "--pid", str(pid), "--format", "raw", "--rate", "200",
                              "--nonblocking", "--threads", "--idle", "--output", str(out_dir / "leader.txt")],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)]


def measure(up: UpCluster, args: argparse.Namespace) -> bool:
    client = up.client(timeout=120)
    client.create({"apiVersion": "minik8s.io/v1", "kind": "Function", "metadata": {"name": FUNCTION, "namespace": NAMESPACE},
                   "spec": {"source": {"inline": SOURCE}, "handler": "main:handle", "scale": {"minScale": 1}}})
    for name, definition in definitions(args).items():
        client.create({"apiVersion": "minik8s.io/v1", "kind": "Workflow", "metadata": {"name": name, "namespace": NAMESPACE},
                       "spec": {"definition": definition, "maxSteps": 10_000}})
    calls = timed_ms(lambda i: client.invoke("functions", FUNCTION, {"i": i}, namespace=NAMESPACE), 5 + args.calls)[5:]
    client.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "bench-wf-write", "namespace": NAMESPACE},
                   "data": {"v": "0"}})

    def write(i: int) -> None:
        client.patch("configmaps", "bench-wf-write", {"data": {"v": str(i)}}, namespace=NAMESPACE,
                     patch_type="merge")

    writes = timed_ms(write, args.writes)
    watch = RunWatch(client.copy())
    watch.start()
    rows, fixed = [], None
    try:
        for workflow in definitions(args):
            print(f"{workflow}: {args.runs} runs ...", file=sys.stderr)
            spies = start_leader_py_spy(up, client, args.py_spy) if args.py_spy and workflow == "task-chain" else []
            try:
                results = [run_once(client, watch, workflow, i) for i in range(args.runs)]
            finally:
                stop_py_spy(spies)
            walls = sorted(r[0] for r in results)
            per = sorted(wall / max(1, steps) for wall, steps, _ in results)
            steps = results[0][1]
            if workflow == "one":
                fixed = percentile(walls, 50)
            marginal = "-" if fixed is None or steps <= 1 else \
                f"{(percentile(walls, 50) - fixed) / (steps - 1):.2f}"
            rows.append([workflow, args.runs, steps, f"{sum(r[2] for r in results) / len(results):.1f}",
                         f"{percentile(walls, 50):.1f}", f"{percentile(walls, 99):.1f}",
                         f"{percentile(per, 50):.2f}", f"{percentile(per, 99):.2f}", marginal])
    finally:
        watch.close()
    last = client.get("workflowruns", f"task-chain-{args.runs - 1:03d}", namespace=NAMESPACE)
    size = len(json.dumps(last))

    def write_run(i: int) -> None:
        last["status"]["cause"] = f"bench write {i}"
        last["metadata"] = client.update_status(last)["metadata"]

    run_writes = timed_ms(write_run, args.writes)
    print("workflow runs on 3 masters + 3 nodes, one at a time; wall = client's create -> run seen ended "
          "(long-poll watch); per transition = wall / status.steps; marginal = (wall p50 - wall p50 of `one`) "
          "/ (steps - 1)")
    print(format_table(["workflow", "runs", "steps", "writes/run", "wall p50 ms", "wall p99 ms",
                        "per transition p50 ms", "p99 ms", "marginal ms"], rows))
    print(f"\nparts, from the same client: one write through Raft (ConfigMap merge patch, {len(writes)} in a row) "
          f"p50 {percentile(writes, 50):.1f} ms, p99 {percentile(writes, 99):.1f} ms; one status write of a "
          f"finished task-chain run ({size / 1024:.1f} KiB, PUT .../status, {len(run_writes)} in a row) "
          f"p50 {percentile(run_writes, 50):.1f} ms, p99 {percentile(run_writes, 99):.1f} ms; one warm function call "
          f"({len(calls)} in a row) p50 {percentile(calls, 50):.1f} ms, p99 {percentile(calls, 99):.1f} ms")
    client.close()
    return True


def main() -> int:
    exit_on_sigterm()
    args = parse_args()
    return run_on_up("bench-workflows-", lambda up: measure(up, args))


if __name__ == "__main__":
    run_main(main)
