"""Write throughput and latency: 3 durable minik8s masters side by side with 3-member etcd.

One run starts each system in turn on loopback (see `cluster.py`) and measures creates with 1
and with 16 concurrent clients. Both systems get the same HTTP client (one `requests.Session`
per client thread, keep-alive), the same number of creates per row, the same value size, and
requests spread round-robin over the members:

- etcd 3.4: `POST /v3/kv/put` on the JSON gateway, key `/bench/<uuid>`, value = random bytes;
- minik8s: `POST /api/v1/namespaces/default/configmaps`, ConfigMap `bench-<i>` with `data.v`.

Latency is the client-side time of one request (includes replication and fsync on both). Each
row stops after `--count` creates or `--max-seconds`, whichever comes first.

    .venv/bin/python bench/bench_writes.py [--systems etcd,minik8s] [--count 2000]
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import sys
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import requests

from cluster import ClusterError, exit_on_sigterm, run_main, start_etcd, start_minik8s
from report import format_table, percentile

REQUEST_TIMEOUT = 10.0
HEADERS = ("system", "clients", "ops", "seconds", "ops/s", "p50 ms", "p99 ms", "server CPU ms/op", "errors")


@dataclass
class System:
    """How to send one create to one system: `build(i)` gives the path and JSON body."""

    name: str
    urls: list[str]
    build: Callable[[int], tuple[str, bytes]]
    warmup_path: str
    headers: dict[str, str] = field(default_factory=dict)
    done: int = 0  # creates issued so far, so names stay unique across rows
    cpu_seconds: Callable[[], float] = lambda: 0.0  # CPU used so far by every server process


@dataclass
class RowResult:
    system: str
    clients: int
    seconds: float
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    server_cpu: float = 0.0  # CPU-seconds all server processes used during the row

    def row(self) -> list[object]:
        lat = sorted(self.latencies)
        ops = len(lat)
        rate = ops / self.seconds if self.seconds > 0 else 0.0
        errors = ", ".join(f"{k}x{v}" for k, v in self.errors.most_common()) or "0"
        cpu_per_op = self.server_cpu / ops * 1e3 if ops else 0.0
        return [self.system, self.clients, ops, self.seconds, rate,
                percentile(lat, 50) * 1e3, percentile(lat, 99) * 1e3, cpu_per_op, errors]


class OpSource:
    """Hands out op indexes to client threads until the row's count is used up."""

    def __init__(self, start: int, count: int) -> None:
        self._it: Iterator[int] = iter(range(start, start + count))
        self._lock = threading.Lock()

    def next(self) -> int | None:
        with self._lock:
            return next(self._it, None)


def etcd_system(urls: list[str], value_size: int) -> System:
    def build(i: int) -> tuple[str, bytes]:
        key = f"/bench/{uuid.uuid4()}".encode()
        body = {"key": base64.b64encode(key).decode(),
                "value": base64.b64encode(os.urandom(value_size)).decode()}
        return "/v3/kv/put", json.dumps(body).encode()

    return System("etcd", urls, build, "/health")


def minik8s_system(urls: list[str], token: str, value_size: int) -> System:
    def build(i: int) -> tuple[str, bytes]:
        body = {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": f"bench-{i}"},
                "data": {"v": secrets.token_hex(value_size // 2 + 1)[:value_size]}}
        return "/api/v1/namespaces/default/configmaps", json.dumps(body).encode()

    return System("minik8s", urls, build, "/readyz", {"Authorization": f"Bearer {token}"})


def warm_up(session: requests.Session, system: System, result: RowResult) -> None:
    """Open one keep-alive connection per member before the clock starts."""
    for url in system.urls:
        try:
            session.get(url + system.warmup_path, timeout=REQUEST_TIMEOUT)
        except requests.RequestException as exc:
            result.errors[f"warm-up {type(exc).__name__}"] += 1


def client_loop(system: System, ops: OpSource, start: threading.Barrier, max_seconds: float,
                result: RowResult) -> None:
    """One client: warm up, wait for the others, then create until the row is done.

    `result` belongs to this thread alone; `run_row` merges the clients' results.
    """
    session = requests.Session()
    headers = {"Content-Type": "application/json", **system.headers}
    warm_up(session, system, result)
    start.wait()
    deadline = time.monotonic() + max_seconds
    while time.monotonic() < deadline and (i := ops.next()) is not None:
        path, body = system.build(i)
        url = system.urls[i % len(system.urls)] + path
        t0 = time.perf_counter()
        try:
            response = session.post(url, data=body, headers=headers, timeout=REQUEST_TIMEOUT)
        except requests.RequestException as exc:
            result.errors[type(exc).__name__] += 1
            continue
        elapsed = time.perf_counter() - t0
        if response.status_code in (200, 201):
            result.latencies.append(elapsed)
        else:
            result.errors[f"HTTP {response.status_code}"] += 1
    session.close()


def run_row(system: System, *, clients: int, count: int, max_seconds: float) -> RowResult:
    """`count` creates from `clients` threads; the clock runs from the common start."""
    ops = OpSource(system.done, count)
    system.done += count
    start = threading.Barrier(clients + 1)
    per_client = [RowResult(system.name, clients, 0.0) for _ in range(clients)]
    threads = [threading.Thread(target=client_loop, daemon=True,
                                args=(system, ops, start, max_seconds, mine))
               for mine in per_client]
    for thread in threads:
        thread.start()
    start.wait(timeout=REQUEST_TIMEOUT * len(system.urls) + 5)
    t0, cpu0 = time.perf_counter(), system.cpu_seconds()
    for thread in threads:
        thread.join(timeout=max_seconds + REQUEST_TIMEOUT + 5)
    result = RowResult(system.name, clients, time.perf_counter() - t0, server_cpu=system.cpu_seconds() - cpu0)
    for mine in per_client:
        result.latencies += mine.latencies
        result.errors += mine.errors
    return result


def bench_system(system: System, args: argparse.Namespace) -> list[RowResult]:
    results = []
    for clients in args.clients:
        result = run_row(system, clients=clients, count=args.count, max_seconds=args.max_seconds)
        print(format_table(HEADERS, [result.row()]).splitlines()[-1], file=sys.stderr)
        results.append(result)
    return results


def bench_etcd(args: argparse.Namespace) -> list[RowResult]:
    with start_etcd(args.members) as cluster:
        system = etcd_system(cluster.urls, args.value_size)
        system.cpu_seconds = cluster.cpu_seconds
        return bench_system(system, args)


def bench_minik8s(args: argparse.Namespace) -> list[RowResult]:
    with start_minik8s(args.members, extra_args=args.minik8s_arg) as cluster:
        system = minik8s_system(cluster.urls, cluster.token, args.value_size)
        system.cpu_seconds = cluster.cpu_seconds
        return bench_system(system, args)


RUNNERS: dict[str, Callable[[argparse.Namespace], list[RowResult]]] = {
    "etcd": bench_etcd,
    "minik8s": bench_minik8s,
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--systems", default="etcd,minik8s",
                        help="comma-separated subset of: " + ",".join(RUNNERS))
    parser.add_argument("--clients", default="1,16", help="concurrent clients per row")
    parser.add_argument("--count", type=int, default=2000, help="creates per row")
    parser.add_argument("--value-size", type=int, default=100, help="value bytes per create")
    parser.add_argument("--max-seconds", type=float, default=60.0, help="time bound per row")
    parser.add_argument("--members", type=int, default=3, help="members per cluster")
    parser.add_argument("--minik8s-arg", action="append", default=[],
                        help="extra flag for every `minik8s master` (repeatable, use --x=y)")
    args = parser.parse_args()
    args.systems = [s for s in args.systems.split(",") if s]
    args.clients = [int(c) for c in args.clients.split(",") if c]
    unknown = set(args.systems) - RUNNERS.keys()
    if unknown:
        parser.error(f"unknown systems: {', '.join(sorted(unknown))}")
    return args


def main() -> int:
    exit_on_sigterm()
    args = parse_args()
    rows: list[list[object]] = []
    failed = False
    for name in args.systems:
        print(f"== {name}: {args.members} members, {args.count} creates/row, "
              f"{args.value_size} B values", file=sys.stderr)
        try:
            rows += [r.row() for r in RUNNERS[name](args)]
        except ClusterError as exc:
            print(f"{name}: cluster did not start: {exc}", file=sys.stderr)
            failed = True
    print(f"\ncreates, {args.members} members each, {args.value_size} B values, "
          f"requests round-robin over members, HTTP/1.1 keep-alive (requests.Session)")
    print(format_table(HEADERS, rows))
    return 1 if failed else 0


if __name__ == "__main__":
    run_main(main)
