"""Services: creating one when many exist, and how fast EndpointSlices follow pods.

Starts 3 durable minik8s masters on loopback (with their controllers) and measures:

- service create: the client-side time of one `POST .../services` (cluster IP allocated and
  committed with the Service in one Raft entry), sequentially through one master, when 10 and
  when `--services` Services exist (the rest are created 16 at a time in between, and the
  controllers' Endpoints and slices for them written before the row starts);
- endpoint latency: a pod of a Service whose status is written Ready (as a node agent writes
  it) until the Service's EndpointSlice shows it `ready`; then a graceful delete until the slice
  shows it `terminating`. The slice is read every 5 ms, so the figures carry up to 5 ms of that.

    .venv/bin/python bench/bench_services.py [--services 1000] [--samples 50]
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import requests

from cluster import ClusterError, exit_on_sigterm, start_minik8s
from report import format_table, percentile

NS = "/api/v1/namespaces/default"
SLICES = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"
POLL = 0.005
HEADERS = ("measure", "existing", "samples", "p50 ms", "p99 ms", "max ms")


def service(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]}}


def session(token: str) -> requests.Session:
    s = requests.Session()
    s.trust_env = False
    s.headers["Authorization"] = f"Bearer {token}"
    return s


def timed_creates(http: requests.Session, url: str, prefix: str, count: int) -> list[float]:
    times = []
    for i in range(count):
        start = time.perf_counter()
        resp = http.post(f"{url}{NS}/services", json=service(f"{prefix}-{i}"), timeout=10)
        times.append((time.perf_counter() - start) * 1000)
        if resp.status_code != 201:
            raise ClusterError(f"create failed: {resp.status_code} {resp.text[:200]}")
    return sorted(times)


def fill(token: str, urls: list[str], total: int) -> None:
    def one(i: int) -> None:
        http = session(token)
        resp = http.post(f"{urls[i % len(urls)]}{NS}/services", json=service(f"fill-{i}"), timeout=30)
        if resp.status_code != 201:
            raise ClusterError(f"fill create failed: {resp.status_code} {resp.text[:200]}")
        http.close()

    with ThreadPoolExecutor(16) as pool:
        list(pool.map(one, range(total)))


def wait_condition(http: requests.Session, url: str, service_name: str, pod: str, field: str) -> float:
    """Poll the slices until the pod's endpoint has `field` true; the time it was seen."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        items = http.get(f"{url}{SLICES}?labelSelector=kubernetes.io/service-name={service_name}",
                         timeout=5).json()["items"]
        for piece in items:
            for endpoint in piece.get("endpoints") or []:
                if endpoint.get("targetRef", {}).get("name") == pod and endpoint["conditions"].get(field):
                    return time.perf_counter()
        time.sleep(POLL)
    raise ClusterError(f"{pod}: the slice never showed {field}")


def endpoint_latency(http: requests.Session, url: str, samples: int) -> tuple[list[float], list[float]]:
    assert http.post(f"{url}{NS}/services", json=service("lat"), timeout=10).status_code == 201
    ready, deleted = [], []
    for i in range(samples):
        name = f"lat-{i}"
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "lat"}},
                "spec": {"nodeName": "bench-node", "containers": [{"name": "c", "image": "busybox"}]}}
        pod = http.post(f"{url}{NS}/pods", json=body, timeout=10).json()
        pod["status"] = {"phase": "Running", "podIP": f"10.244.{i // 250}.{i % 250 + 1}",
                         "conditions": [{"type": "Ready", "status": "True"}]}
        start = time.perf_counter()
        assert http.put(f"{url}{NS}/pods/{name}/status", json=pod, timeout=10).status_code == 200
        ready.append((wait_condition(http, url, "lat", name, "ready") - start) * 1000)
        start = time.perf_counter()
        assert http.delete(f"{url}{NS}/pods/{name}", timeout=10).status_code == 200
        deleted.append((wait_condition(http, url, "lat", name, "terminating") - start) * 1000)
    return sorted(ready), sorted(deleted)


def settle(http: requests.Session, url: str, services: int, limit: float = 300.0) -> None:
    """Wait until the controllers wrote a slice for every Service (their backlog would slow the rows)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if len(http.get(f"{url}{SLICES}", timeout=30).json()["items"]) >= services:
            return
        time.sleep(0.5)
    raise ClusterError("the EndpointSlice controller did not catch up")


def row(measure: str, existing: int | str, values: list[float]) -> list[object]:
    return [measure, existing, len(values), round(percentile(values, 50), 1), round(percentile(values, 99), 1),
            round(values[-1], 1)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--services", type=int, default=1000, help="Services existing for the second create row")
    parser.add_argument("--samples", type=int, default=50, help="creates / pods measured per row")
    args = parser.parse_args()
    exit_on_sigterm()
    cluster = start_minik8s(3)
    rows: list[list[object]] = []
    try:
        urls = [m.url for m in cluster.members]
        http = session(cluster.token)
        # the controllers need the Lease first; the kubernetes Service is 1 of the existing ones
        time.sleep(3)
        fill(cluster.token, urls, 9)
        settle(http, urls[0], 9)
        rows.append(row("service create", 10, timed_creates(http, urls[0], "small", args.samples)))
        fill_more = args.services - 10 - args.samples
        if fill_more > 0:
            def one(i: int) -> None:
                s = session(cluster.token)
                resp = s.post(f"{urls[i % 3]}{NS}/services", json=service(f"more-{i}"), timeout=30)
                if resp.status_code != 201:
                    raise ClusterError(f"fill create failed: {resp.status_code}")
                s.close()

            with ThreadPoolExecutor(16) as pool:
                list(pool.map(one, range(fill_more)))
        settle(http, urls[0], args.services - args.samples - 1)  # the kubernetes Service's slice is not counted
        rows.append(row("service create", args.services, timed_creates(http, urls[0], "big", args.samples)))
        settle(http, urls[0], args.services)
        ready, deleted = endpoint_latency(http, urls[0], args.samples)
        rows.append(row("pod Ready -> slice ready", args.services, ready))
        rows.append(row("pod DELETE -> slice terminating", args.services, deleted))
    finally:
        cluster.stop()
    print(format_table(HEADERS, rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
