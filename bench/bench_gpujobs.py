"""GpuJobs on a real local Slurm: 100 concurrent short jobs, batched polls, RPCs, latency, CPU per job.

Starts Slurm + sshd with scripts/start-slurm.sh (the node declared with `--cpus` CPUs, so the one-CPU
jobs run side by side; they only sleep), one `minik8s master --no-control-loops`, and the GPU job
controller in a process of its own (so its CPU is its own). Then `--jobs` GpuJobs are created at
once (16 client threads), each running `date +%s.%N; sleep 1; date +%s.%N` (its own start and end on
the machine's clock). A long-poll watch notes when each job is first seen Submitted and ended. Then:

- slurmctld's RPCs during the run, from `sdiag` (reset first): job-info RPCs (squeue, scontrol),
  batch submissions; the controller's polls and its state queries (each poll is ONE squeue for
  every active job, plus a fallback for ids squeue no longer knows); beside them what a loop of one
  squeue per job per poll would have cost;
- create -> sbatch accepted (status Submitted seen), create -> the job's own start, and the job's
  end -> the end seen through the API (completion detection), p50/p99;
- the controller process's CPU per job.

    .venv/bin/python bench/bench_gpujobs.py [--jobs 100] [--cpus 128] [--run-seconds 1]
"""

from __future__ import annotations

import argparse
import base64
import json
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cluster import exit_on_sigterm, process_cpu_seconds, run_main, start_minik8s
from report import format_table, percentile

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.integration.slurm_cluster import SlurmCluster, running_slurm  # noqa: E402

from minik8s.api.client import ApiClient  # noqa: E402

NAMESPACE = "default"
CONTROLLER = """
import json, signal, sys, threading
from minik8s.api.client import ApiClient
from minik8s.slurm.controller import GpuJobController
controller = GpuJobController(ApiClient(sys.argv[1], token=sys.stdin.readline().strip(), timeout=30))
stop = threading.Event()
signal.signal(signal.SIGTERM, lambda *_: stop.set())
controller.start()
stop.wait()
print(json.dumps(controller.counters()), flush=True)
controller.stop()
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=100, help="GpuJobs created at once")
    parser.add_argument("--cpus", type=int, default=128, help="CPUs the Slurm node declares")
    parser.add_argument("--run-seconds", type=float, default=1.0, help="how long each job sleeps")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds for all jobs to end")
    return parser.parse_args()


def sdiag_counts(slurm: SlurmCluster) -> dict[str, int]:
    """RPC counts by message type from `sdiag`."""
    counts = {}
    for line in slurm.sdiag().splitlines():
        line = line.strip()
        if line.startswith("REQUEST_") and "count:" in line:
            name = line.split()[0]
            counts[name] = int(line.split("count:")[1].split()[0])
    return counts


def measure(slurm: SlurmCluster, args: argparse.Namespace) -> bool:
    with start_minik8s(1, extra_args=["--no-control-loops"]) as master:
        url = master.urls[0]
        client = ApiClient(url, token=master.token, timeout=60)
        key = slurm.key_path.read_text()
        client.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "slurm-login", "namespace": NAMESPACE},
                       "data": {"ssh-privatekey": base64.b64encode(key.encode()).decode()}})
        controller = subprocess.Popen([sys.executable, "-c", CONTROLLER, url], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True, start_new_session=True)
        assert controller.stdin is not None
        controller.stdin.write(master.token + "\n")
        controller.stdin.close()
        names = [f"short-{i:03d}" for i in range(args.jobs)]
        seen: dict[str, dict[str, float]] = {name: {} for name in names}
        created: dict[str, float] = {}
        ended: set[str] = set()
        lock = threading.Lock()
        stop = threading.Event()

        def watch() -> None:
            watcher = client.copy(timeout=60)
            for event in watcher.watch("gpujobs", namespace=NAMESPACE, stop=stop, timeout_seconds=2):
                obj = event["object"]
                name, phase = obj["metadata"]["name"], (obj.get("status") or {}).get("phase", "")
                now = time.time()
                with lock:
                    if name in seen and phase:
                        seen[name].setdefault(phase, now)
                        if phase in ("Succeeded", "Failed", "Cancelled"):
                            ended.add(name)

        watcher = threading.Thread(target=watch, daemon=True)
        watcher.start()
        time.sleep(0.5)  # the watch's first list is done (it only notes phases, so an early event is fine)
        slurm.run("sdiag", "-r")
        cpu_before = process_cpu_seconds(controller.pid)
        started = time.monotonic()
        run = f"date +%s.%N; sleep {args.run_seconds}; date +%s.%N"

        def create(name: str) -> None:
            job = {"apiVersion": "minik8s.io/v1", "kind": "GpuJob", "metadata": {"name": name, "namespace": NAMESPACE},
                   "spec": {"cluster": {"host": slurm.host, "port": slurm.port, "user": slurm.user,
                                        "credentialsSecret": "slurm-login"},
                            "run": run, "resources": {"partition": slurm.partition, "time": "00:05:00"}}}
            created[name] = time.time()
            client.create(job)

        with ThreadPoolExecutor(16) as pool:
            list(pool.map(create, names))
        deadline = time.monotonic() + args.timeout
        while len(ended) < len(names) and time.monotonic() < deadline:
            time.sleep(0.1)
        wall = time.monotonic() - started
        cpu = process_cpu_seconds(controller.pid) - cpu_before
        rpcs = sdiag_counts(slurm)
        stop.set()
        controller.send_signal(signal.SIGTERM)
        assert controller.stdout is not None
        out = controller.stdout.read()
        controller.wait(timeout=30)
        counters = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
        jobs = {j["metadata"]["name"]: j for j in client.list("gpujobs", namespace=NAMESPACE)["items"]}
        failed = [n for n in names if (jobs[n].get("status") or {}).get("phase") != "Succeeded"]
        to_submitted, to_start, detection = [], [], []
        for name in names:
            text = client.request("GET", f"/apis/minik8s.io/v1/namespaces/{NAMESPACE}/gpujobs/{name}/log") or ""
            stamps = [float(line) for line in text.split() if line.replace(".", "", 1).isdigit()]
            if "Submitted" in seen[name]:
                to_submitted.append((seen[name]["Submitted"] - created[name]) * 1000)
            if len(stamps) == 2:
                to_start.append((stamps[0] - created[name]) * 1000)
                end_seen = seen[name].get("Succeeded")
                if end_seen is not None:
                    detection.append((end_seen - stamps[1]) * 1000)
        client.close()
        watcher.join(timeout=10)
    job_info = sum(v for k, v in rpcs.items() if k.startswith("REQUEST_JOB_INFO"))
    submits = rpcs.get("REQUEST_SUBMIT_BATCH_JOB", 0)
    polls = counters.get("polls", 0)
    print(f"{args.jobs} GpuJobs of `sleep {args.run_seconds:g}` at once on a local Slurm (node declares "
          f"{args.cpus} CPUs), 1 master, the controller in its own process; all ended in {wall:.1f} s, "
          f"{len(failed)} not Succeeded")
    print()
    print(format_table(["slurmctld RPCs during the run (sdiag)", "count"], [
        ["batch submissions (REQUEST_SUBMIT_BATCH_JOB)", submits],
        ["job info (REQUEST_JOB_INFO*: squeue, scontrol)", job_info],
        ["  of which the controller's state queries", counters.get("slurmctld_queries", "-")],
        ["  the rest: adoption checks before an sbatch (squeue -n; none for jobs this controller prepared)",
         job_info - counters.get("slurmctld_queries", 0)],
        ["controller polls (each one batched query for all active jobs)", polls],
        ["state queries per poll", f"{counters.get('slurmctld_queries', 0) / polls:.2f}" if polls else "-"],
        ["one squeue per active job per poll instead (the design Slurm warns of)", counters.get("polled_jobs", "-")],
    ]))
    print()
    print(format_table(["latency", "jobs", "p50 ms", "p99 ms", "max ms"], [
        [what, len(values), f"{percentile(sorted(values), 50):.0f}", f"{percentile(sorted(values), 99):.0f}",
         f"{max(values):.0f}" if values else "-"]
        for what, values in (("create -> sbatch accepted (Submitted seen)", to_submitted),
                             ("create -> the job started (its own clock)", to_start),
                             ("the job ended -> ended seen through the API", detection))]))
    print()
    print(f"controller CPU: {cpu:.2f} s for {args.jobs} jobs = {cpu / args.jobs * 1000:.1f} ms per job "
          f"(its process: informer, SSH/SFTP, polls, status writes)")
    return not failed


def main() -> int:
    exit_on_sigterm()
    args = parse_args()
    with running_slurm(cpus=args.cpus) as slurm:
        return 0 if measure(slurm, args) else 1


if __name__ == "__main__":
    run_main(main)
