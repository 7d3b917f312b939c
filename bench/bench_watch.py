"""Event delivery latency to many long-poll watchers on 3 durable minik8s masters.

Starts 3 masters on loopback (see `cluster.py`), creates the Namespace `bench`, and opens
`--watchers` long-poll watchers spread round-robin over the masters. Each watcher loops on

    GET /api/v1/namespaces/bench/configmaps?watch=true&longPoll=true
        &resourceVersion=RV&timeoutSeconds=30

and continues from the `metadata.resourceVersion` of each answer. A writer then creates
ConfigMaps at `--rate` per second for `--seconds`, each carrying its send time (`time.time()`)
in `data.t`; a watcher's delivery latency for an event is its receive time minus `data.t`.
After the writer stops, watchers get up to `--drain-seconds` to catch up; then everything stops.

The client is one asyncio loop with a raw HTTP/1.1 keep-alive connection per watcher
(`httpio.py`), which keeps the client's share of the 2 cores small; its CPU time and the
masters' are printed under the table.

    .venv/bin/python bench/bench_watch.py [--watchers 500] [--rate 50] [--seconds 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import cycle
from typing import Any
from urllib.parse import urlsplit

import requests

from cluster import ClusterError, Minik8sCluster, exit_on_sigterm, start_minik8s
from httpio import Connection, HttpError
from report import format_table, percentile

NAMESPACE = "bench"
CONFIGMAPS = f"/api/v1/namespaces/{NAMESPACE}/configmaps"
WATCH_TIMEOUT_SECONDS = 30
CLIENT_SLACK_SECONDS = 10.0  # on top of the server's long-poll timeout
RETRY_SECONDS = 0.5
CONNECT_SECONDS = 30.0
SETTLE_SECONDS = 1.0
MAX_WRITE_CONNECTIONS = 64
HEADERS = ("watchers", "writes/s", "events delivered", "expected", "p50 ms", "p99 ms", "max ms")


@dataclass
class Stats:
    """Everything the coroutines record; one event loop, so no locks."""

    watching: int = 0  # watchers that have sent their first request
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    writes_sent: int = 0
    writes_ok: int = 0
    write_latencies: list[float] = field(default_factory=list)
    write_seconds: float = 0.0  # from the first create sent to one interval after the last
    created: int = 0  # ConfigMaps listed after the run: acknowledged or not, they were events


def connection_for(url: str) -> Connection:
    parts = urlsplit(url)
    return Connection(parts.hostname or "127.0.0.1", parts.port or 80)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}", "Accept": "application/json"}


def prepare_namespace(cluster: Minik8sCluster) -> str:
    """Create the Namespace and return the ConfigMap list's resourceVersion to watch from."""
    headers = auth(cluster.token)
    body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
    response = requests.post(cluster.urls[0] + "/api/v1/namespaces", json=body,
                             headers=headers, timeout=10)
    if response.status_code not in (200, 201, 409):
        raise RuntimeError(f"create namespace: HTTP {response.status_code} {response.text[:300]}")
    listing = requests.get(cluster.urls[0] + CONFIGMAPS, headers=headers, timeout=10)
    listing.raise_for_status()
    return revision_of(listing.json())


async def list_configmaps(conn: Connection, token: str) -> dict[str, Any]:
    response = await conn.request("GET", CONFIGMAPS, headers=auth(token))
    if response.status != 200:
        raise HttpError(f"list: HTTP {response.status}")
    listing: dict[str, Any] = json.loads(response.body)
    return listing


async def count_created(url: str, token: str) -> int:
    conn = connection_for(url)
    try:
        return len((await list_configmaps(conn, token)).get("items") or [])
    finally:
        await conn.close()


def revision_of(document: dict[str, Any]) -> str:
    return str(document["metadata"]["resourceVersion"])


def record_events(body: bytes, received: float, stats: Stats) -> str:
    """Record the latency of every benchmark event in one answer; return the next revision."""
    document = json.loads(body)
    for item in document.get("items") or []:
        sent = ((item.get("object") or {}).get("data") or {}).get("t")
        if sent is not None:
            stats.latencies.append(received - float(sent))
    return revision_of(document)


async def watch(conn: Connection, token: str, revision: str, stats: Stats) -> None:
    """One long-poll watcher; runs until cancelled, backing off briefly after errors."""
    headers = auth(token)
    stats.watching += 1
    while True:
        target = (f"{CONFIGMAPS}?watch=true&longPoll=true&resourceVersion={revision}"
                  f"&timeoutSeconds={WATCH_TIMEOUT_SECONDS}")
        try:
            response = await asyncio.wait_for(conn.request("GET", target, headers=headers),
                                              WATCH_TIMEOUT_SECONDS + CLIENT_SLACK_SECONDS)
            received = time.time()
            if response.status == 200:
                revision = record_events(response.body, received, stats)
                continue
            stats.errors[f"watch HTTP {response.status}"] += 1
            if response.status == 410:
                revision = revision_of(await list_configmaps(conn, token))
        except (OSError, asyncio.IncompleteReadError, TimeoutError, HttpError, ValueError,
                KeyError) as exc:
            stats.errors[f"watch {type(exc).__name__}"] += 1
        await asyncio.sleep(RETRY_SECONDS)


class WritePool:
    """The writer's keep-alive connections, opened on demand round-robin over the masters.

    Opening more while every open one is busy keeps the offered rate independent of create
    latency (open loop), up to MAX_WRITE_CONNECTIONS.
    """

    def __init__(self, urls: list[str]) -> None:
        self._urls = cycle(urls)
        self._idle: asyncio.Queue[Connection] = asyncio.Queue()
        self._opened: list[Connection] = []

    async def acquire(self) -> Connection:
        if self._idle.empty() and len(self._opened) < MAX_WRITE_CONNECTIONS:
            self._opened.append(connection_for(next(self._urls)))
            return self._opened[-1]
        return await self._idle.get()

    def release(self, conn: Connection) -> None:
        self._idle.put_nowait(conn)

    async def close(self) -> None:
        for conn in self._opened:
            await conn.close()


async def write_one(pool: WritePool, token: str, index: int, stats: Stats) -> None:
    conn = await pool.acquire()
    stats.writes_sent += 1
    try:
        sent = time.time()
        body = {"apiVersion": "v1", "kind": "ConfigMap",
                "metadata": {"name": f"bench-{index}"}, "data": {"t": repr(sent)}}
        response = await asyncio.wait_for(
            conn.request("POST", CONFIGMAPS, body=json.dumps(body).encode(),
                         headers={**auth(token), "Content-Type": "application/json"}),
            CLIENT_SLACK_SECONDS)
        if response.status in (200, 201):
            stats.writes_ok += 1
            stats.write_latencies.append(time.time() - sent)
        else:
            stats.errors[f"write HTTP {response.status}"] += 1
    except (OSError, asyncio.IncompleteReadError, TimeoutError, HttpError) as exc:
        stats.errors[f"write {type(exc).__name__}"] += 1
    finally:
        pool.release(conn)


async def write_at_rate(urls: list[str], token: str, *, rate: float, seconds: float,
                        stats: Stats) -> None:
    """Start one create every 1/rate s and wait for all of them; record the achieved rate."""
    pool = WritePool(urls)
    loop = asyncio.get_running_loop()
    start = loop.time()
    tasks = []
    try:
        for index in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, start + index / rate - loop.time()))
            tasks.append(asyncio.create_task(write_one(pool, token, index, stats)))
        stats.write_seconds = loop.time() - start + 1 / rate
        await asyncio.gather(*tasks)
    finally:
        await pool.close()


async def wait_until(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)


async def run(cluster: Minik8sCluster, revision: str, args: argparse.Namespace) -> Stats:
    """Watchers up, writes at the rate, drain, count what was created, stop."""
    stats = Stats()
    conns = [connection_for(url) for url, _ in zip(cycle(cluster.urls), range(args.watchers))]
    watchers = [asyncio.create_task(watch(c, cluster.token, revision, stats)) for c in conns]
    try:
        await wait_until(lambda: stats.watching == args.watchers, CONNECT_SECONDS)
        await asyncio.sleep(SETTLE_SECONDS)
        await write_at_rate(cluster.urls, cluster.token, rate=args.rate, seconds=args.seconds,
                            stats=stats)
        acknowledged = stats.writes_ok * args.watchers
        await wait_until(lambda: len(stats.latencies) >= acknowledged, args.drain_seconds)
        stats.created = await count_created(cluster.urls[0], cluster.token)
    finally:
        for task in watchers:
            task.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
        for conn in conns:
            await conn.close()
    return stats


def summary(stats: Stats, cpu: dict[str, float], args: argparse.Namespace) -> str:
    latencies = sorted(stats.latencies)
    writes = sorted(stats.write_latencies)
    row = [args.watchers, stats.writes_sent / stats.write_seconds if stats.write_seconds else 0.0,
           len(latencies), stats.created * args.watchers, percentile(latencies, 50) * 1e3,
           percentile(latencies, 99) * 1e3, (latencies[-1] if latencies else float("nan")) * 1e3]
    errors = ", ".join(f"{k} x{v}" for k, v in stats.errors.most_common()) or "none"
    cpu_text = ", ".join(f"{name} {seconds:.1f}" for name, seconds in cpu.items())
    return "\n".join([
        f"\nlong-poll watch delivery, 3 masters, target {args.rate:g} writes/s for "
        f"{args.seconds:g} s",
        format_table(HEADERS, [row]),
        f"writes: {stats.writes_sent} sent, {stats.writes_ok} acknowledged, "
        f"{stats.created} created (listed); create p50 {percentile(writes, 50) * 1e3:.1f} ms, "
        f"p99 {percentile(writes, 99) * 1e3:.1f} ms",
        f"errors: {errors}",
        f"CPU seconds during the run: {cpu_text}",
    ])


def client_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--watchers", type=int, default=500, help="concurrent long-poll watchers")
    parser.add_argument("--rate", type=float, default=50.0, help="ConfigMap creates per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to write")
    parser.add_argument("--drain-seconds", type=float, default=10.0,
                        help="time bound for watchers to catch up after the last write")
    parser.add_argument("--minik8s-arg", action="append", default=[],
                        help="extra flag for every `minik8s master` (repeatable, use --x=y)")
    return parser.parse_args()


def main() -> int:
    exit_on_sigterm()
    args = parse_args()
    try:
        with start_minik8s(3, extra_args=args.minik8s_arg) as cluster:
            revision = prepare_namespace(cluster)
            cpu_before = {"client": client_cpu_seconds(), "masters": cluster.cpu_seconds()}
            stats = asyncio.run(run(cluster, revision, args))
            cpu = {"client": client_cpu_seconds() - cpu_before["client"],
                   "masters": cluster.cpu_seconds() - cpu_before["masters"]}
    except ClusterError as exc:
        print(f"minik8s: cluster did not start: {exc}", file=sys.stderr)
        return 1
    print(summary(stats, cpu, args))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
