"""Warm function calls through a node's router only, as a pod makes them, beside calls through a master.

Starts `minik8s up --masters 3 --nodes 3` (process runtime) and a Function that returns its input with
one instance kept warm (`minScale` 1). Then, side by side in one run:

- **gateway**: a client inside node-0's network namespace (where its pods live) calls
  `http://169.254.20.10:8090/invoke/default/NAME`: client -> the node's router -> the instance;
- **master**: the same calls from this machine through a master (`functions/NAME/invoke`, HTTPS):
  client -> master -> a node's router -> the instance.

For each: `--warm` calls one after another (p50/p99), then `--clients` threads, each with its own
keep-alive connection, calling for `--seconds` (calls/s, p50/p99, failures). The issue's aims: warm p50
<= 5 ms, p99 <= 20 ms, >= 500 calls/s on these 2 cores.

    .venv/bin/python bench/bench_function_gateway.py [--warm 300] [--clients 16] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from bench_functions import NAME, NAMESPACE, SOURCE, instances
from bench_pods import UpCluster
from cluster import exit_on_sigterm, run_main
from report import format_table

from minik8s.api.kubeconfig import load_kubeconfig

GATEWAY_HOST, GATEWAY_PORT = "169.254.20.10", 8090

# Runs in the node's network namespace (or here, for the master path): prints one JSON line.
CALLER = textwrap.dedent('''
    import http.client, json, os, ssl, sys, threading, time
    host, port, path, ca, warm, clients, seconds = sys.argv[1:8]
    token = os.environ.get("BENCH_TOKEN", "")  # never in argv
    port, warm, clients, seconds = int(port), int(warm), int(clients), float(seconds)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = "Bearer " + token
    def connect():
        if ca:
            return http.client.HTTPSConnection(host, port, timeout=30, context=ssl.create_default_context(cafile=ca))
        return http.client.HTTPConnection(host, port, timeout=30)
    def call(conn, i):
        body = json.dumps({"i": i}).encode()
        conn.request("POST", path, body=body, headers=headers)
        answer = conn.getresponse()
        data = answer.read()
        return answer.status == 200 and json.loads(data) == {"i": i}
    def pct(values, q):
        values = sorted(values)
        return values[min(len(values) - 1, int(q * len(values)))] * 1000 if values else None
    conn, times, failed = connect(), [], 0
    for i in range(warm):
        start = time.perf_counter()
        ok = call(conn, i)
        times.append(time.perf_counter() - start)
        failed += not ok
    result = {"warm_p50": pct(times, 0.5), "warm_p99": pct(times, 0.99), "warm_failed": failed}
    lock, load_times, load_failed = threading.Lock(), [], [0]
    stop_at = time.monotonic() + seconds
    def worker(k):
        c, mine, bad, i = connect(), [], 0, 0
        while time.monotonic() < stop_at and i < 100000:
            start = time.perf_counter()
            try:
                ok = call(c, k * 100000 + i)
            except Exception:
                ok, c = False, connect()
            mine.append(time.perf_counter() - start)
            bad += not ok
            i += 1
        with lock:
            load_times.extend(mine)
            load_failed[0] += bad
    began = time.monotonic()
    threads = [threading.Thread(target=worker, args=(k,)) for k in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.monotonic() - began
    result.update({"calls": len(load_times), "per_second": len(load_times) / elapsed, "load_p50": pct(load_times, 0.5),
                   "load_p99": pct(load_times, 0.99), "load_failed": load_failed[0]})
    print(json.dumps(result))
''')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--warm", type=int, default=300, help="warm calls one after another")
    parser.add_argument("--clients", type=int, default=16, help="threads calling at once")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of the throughput run")
    return parser.parse_args()


def run_caller(prefix: list[str], host: str, port: int, path: str, token: str, ca: str,
               args: argparse.Namespace) -> dict:
    argv = [*prefix, sys.executable, "-c", CALLER, host, str(port), path, ca, str(args.warm),
            str(args.clients), str(args.seconds)]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=args.seconds + args.warm + 120,
                          env={**os.environ, "BENCH_TOKEN": token})
    if done.returncode != 0:
        raise RuntimeError(f"the caller failed: {done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> int:
    args = parse_args()
    exit_on_sigterm()
    workdir = Path(tempfile.mkdtemp(prefix="bench-fn-gateway-"))
    cluster = UpCluster(workdir, masters=3, nodes=3, runtime="process")
    try:
        cluster.wait_ready()
        client = cluster.client(timeout=120)
        client.create({"apiVersion": "minik8s.io/v1", "kind": "Function",
                       "metadata": {"name": NAME, "namespace": NAMESPACE},
                       "spec": {"source": {"inline": SOURCE}, "scale": {"minScale": 1, "maxScale": 1}}})
        deadline = time.monotonic() + 120
        while not any((p.get("status") or {}).get("phase") == "Running" for p in instances(client)):
            if time.monotonic() > deadline:
                raise RuntimeError("no instance became Running within 120 s")
            time.sleep(0.2)
        client.invoke("functions", NAME, {"i": 0}, namespace=NAMESPACE)  # every router has seen it once
        host = cluster.state["hosts"][0]
        config = load_kubeconfig(cluster.root / "kubeconfig")
        gateway = run_caller(["nsenter", f"--net=/var/run/netns/{host['netns']}"], GATEWAY_HOST, GATEWAY_PORT,
                             f"/invoke/{NAMESPACE}/{NAME}", "", "", args)
        server = config.servers[0].removeprefix("https://")
        master_host, master_port = server.rsplit(":", 1)
        through_master = run_caller([], master_host, int(master_port),
                                    f"/apis/minik8s.io/v1/namespaces/{NAMESPACE}/functions/{NAME}/invoke",
                                    config.token or "", config.ca_file or "", args)
        rows = []
        for label, r in (("pod -> node router (gateway)", gateway), ("client -> master -> router", through_master)):
            rows.append([label, f"{r['warm_p50']:.1f}", f"{r['warm_p99']:.1f}", f"{r['per_second']:.0f}",
                         f"{r['load_p50']:.1f}", f"{r['load_p99']:.1f}", str(r["warm_failed"] + r["load_failed"])])
        rows.append(["aim (issue 12)", "<= 5", "<= 20", ">= 500", "", "", "0"])
        print(format_table(["path", "warm p50 ms", "warm p99 ms", f"calls/s ({args.clients} clients)",
                            "load p50 ms", "load p99 ms", "failed"], rows))
        client.close()
        return 0
    finally:
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(run_main(main))
