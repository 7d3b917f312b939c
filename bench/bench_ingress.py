"""Ingress: how fast a change is routed, and what nginx costs per request, on `minik8s up --nodes 2`.

Starts `minik8s up` (process runtime) in a temp dir with two echo pods (`a` on node-0, `b` on
node-1, Python HTTP servers answering their name and path) behind Services `a` and `b`, and an
Ingress `bench` routing host `bench.example` path `/` (Prefix) to `a`.

1. Change -> routed, `--changes` times: the Ingress is switched to the other Service with one
   PUT, and from that moment a client on this machine sends `GET /` to node-0's address (a new
   connection each time, `Host: bench.example`) until the other pod answers. The time from the
   PUT to that answer is the row (watch -> node agent -> render -> `nginx -t` -> reload, measured
   by traffic). Failed requests during the loop are counted too (should be 0).
2. Requests/s: ApacheBench (`ab`, `--requests` at `--concurrency`), run inside node-0's host,
   through nginx (`http://<node-0 IP>/`, Host `bench.example`) and straight to the pod
   (`http://<pod IP>:8080/`), each with a new connection per request and with keep-alive (`-k`).

    .venv/bin/python bench/bench_ingress.py [--changes 20] [--requests 5000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import http.client
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from report import format_table

from minik8s.chaos.upcluster import UpProcess

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "integration"))
from ingress_support import ECHO_SERVER  # noqa: E402

NS = "default"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--changes", type=int, default=20)
    parser.add_argument("--requests", type=int, default=5000)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--max-seconds", type=float, default=30.0, help="deadline of one change")
    return parser.parse_args()


def pod(name: str, node: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS, "labels": {"app": name}},
            "spec": {"nodeName": node, "containers": [{
                "name": "echo", "image": "python", "command": [sys.executable, "-c", ECHO_SERVER, name, "8080"],
                "readinessProbe": {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 1}}]}}


def service(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NS},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]}}


def ingress_rules(target: str) -> list[dict[str, Any]]:
    return [{"host": "bench.example", "http": {"paths": [
        {"path": "/", "pathType": "Prefix", "backend": {"service": {"name": target, "port": {"number": 80}}}}]}}]


def answer(ip: str) -> str:
    """Who answers `GET /` for bench.example at `ip` ("" on an error or another status)."""
    conn = http.client.HTTPConnection(ip, 80, timeout=2)
    try:
        conn.request("GET", "/", headers={"Host": "bench.example", "Connection": "close"})
        response = conn.getresponse()
        body = response.read().decode()
        return body.split()[0] if response.status == 200 and body else ""
    except OSError:
        return ""
    finally:
        conn.close()


def wait(condition: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.05)
    raise RuntimeError(f"timed out waiting for {what}")


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * len(ordered) + 0.5) - 1))]


def measure_changes(up: UpProcess, ip: str, changes: int, max_seconds: float) -> tuple[list[float], int, int]:
    """Seconds from each PUT to the first answer of the new backend; failed and total requests."""
    latencies, failed, sent = [], 0, 0
    target = "a"
    for _ in range(changes):
        target = "b" if target == "a" else "a"
        current = up.client.get("ingresses.networking.k8s.io", "bench", namespace=NS)
        current["spec"]["rules"] = ingress_rules(target)
        start = time.monotonic()
        up.client.replace(current)
        while True:
            who = answer(ip)
            sent += 1
            if who == target:
                latencies.append(time.monotonic() - start)
                break
            if who == "":
                failed += 1
            if time.monotonic() - start > max_seconds:
                raise RuntimeError(f"change to {target} not routed within {max_seconds}s")
    return latencies, failed, sent


def run_ab(netns: str, url: str, requests: int, concurrency: int, keepalive: bool,
           host: str | None) -> list[object]:
    argv = ["nsenter", f"--net=/var/run/netns/{netns}", "ab", "-q", "-s", "10", "-n", str(requests),
            "-c", str(concurrency)]
    argv += ["-k"] if keepalive else []
    argv += ["-H", f"Host: {host}"] if host else []
    done = subprocess.run([*argv, url], capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"ab failed: {done.stderr.strip() or done.stdout[-500:]}")
    out = done.stdout

    def number(pattern: str) -> float:
        found = re.search(pattern, out)
        return float(found.group(1)) if found else float("nan")

    return [f"{'nginx' if host else 'direct'}{' keep-alive' if keepalive else ''}", int(number(r"Complete requests:\s+(\d+)")),
            int(number(r"Failed requests:\s+(\d+)")) + int(number(r"Non-2xx responses:\s+(\d+)") if "Non-2xx" in out
                                                           else 0),
            round(number(r"Requests per second:\s+([\d.]+)")), number(r"\n\s+50%\s+(\d+)"),
            number(r"\n\s+99%\s+(\d+)")]


def main() -> None:
    args = parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ingress-") as tmp:
        up = UpProcess(Path(tmp) / "data", "--nodes", "2", timeout=180)
        try:
            for name, node in (("a", "node-0"), ("b", "node-1")):
                up.client.create(pod(name, node))
                up.client.create(service(name))
            up.client.create({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                              "metadata": {"name": "bench", "namespace": NS},
                              "spec": {"ingressClassName": "nginx", "rules": ingress_rules("a")}})
            host = up.state["hosts"][0]
            wait(lambda: answer(host["ip"]) == "a", 120, "the Ingress routed to a")
            pod_ip = up.client.get("pods", "a", namespace=NS)["status"]["podIP"]

            latencies, failed, sent = measure_changes(up, host["ip"], args.changes, args.max_seconds)
            ms = [s * 1000 for s in latencies]
            print(f"Ingress change -> routed ({args.changes} changes, measured by traffic to {host['ip']})")
            print(format_table(("changes", "p50 ms", "p99 ms", "max ms", "mean ms", "failed requests", "requests"),
                               [[len(ms), round(statistics.median(ms)), round(percentile(ms, 99)), round(max(ms)),
                                 round(statistics.mean(ms)), failed, sent]]))
            rows = []
            for keepalive in (False, True):
                rows.append(run_ab(host["netns"], f"http://{host['ip']}/", args.requests, args.concurrency,
                                   keepalive, "bench.example"))
                rows.append(run_ab(host["netns"], f"http://{pod_ip}:8080/", args.requests, args.concurrency,
                                   keepalive, None))
            print(f"\nRequests/s from node-0's host, ab -n {args.requests} -c {args.concurrency} "
                  "(backend: one Python ThreadingHTTPServer pod on node-0)")
            print(format_table(("path", "complete", "failed", "req/s", "p50 ms", "p99 ms"), rows))
        finally:
            up.stop()


if __name__ == "__main__":
    main()
