"""Watch event delivery to many watchers, minik8s vs etcd's JSON gateway; idle-watch memory.

Load mode (default). For each system in `--systems` a 3-member cluster on loopback (see
`cluster.py`), then:

1. idle phase: creates at `--rate` for `--idle-seconds` with no watcher open (create latency
   without watch load);
2. `--watchers` watchers, spread round-robin over the members, then creates at `--rate` for
   `--seconds`, each carrying its send time (`time.time()`); a watcher's delivery latency for an
   event is its receive time minus that time. After the last write, watchers get up to
   `--drain-seconds` to catch up.

minik8s watchers (`--style`):
- `stream`: `GET /api/v1/namespaces/bench/configmaps?watch=true&resourceVersion=RV` (chunked
  NDJSON; resumed from the last revision if the stream ends);
- `longpoll`: `GET ...?watch=true&longPoll=true&resourceVersion=RV&timeoutSeconds=30`, continuing
  from each answer's `metadata.resourceVersion`.
etcd watchers: `POST /v3/watch` with `{"create_request":{"key":"/bench/","range_end":"/bench0"}}`
(base64), a stream of JSON messages (the gateway has no long-poll: it streams in both styles);
writes are `POST /v3/kv/put` of `/bench/<i>` with the send time in the value.

Idle mode (`--idle-watches N`): one member of each system, N idle streaming watches on it; prints
its RSS before and after.

The client is one asyncio loop with a raw HTTP/1.1 connection per watcher (`httpio.py`), the
same for both systems; its CPU time and the servers' are printed under the table.

    .venv/bin/python bench/bench_watch.py [--systems etcd,minik8s] [--style stream|longpoll]
        [--watchers 1000] [--rate 100] [--seconds 20]
    .venv/bin/python bench/bench_watch.py --idle-watches 10000
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import resource
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import cycle
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

from cluster import Cluster, ClusterError, Minik8sCluster, exit_on_sigterm, run_main, start_etcd, start_minik8s
from httpio import Connection, HttpError, StreamReader
from report import format_table, percentile

NAMESPACE = "bench"
CONFIGMAPS = f"/api/v1/namespaces/{NAMESPACE}/configmaps"
ETCD_PREFIX, ETCD_END = b"/bench/", b"/bench0"
WATCH_TIMEOUT_SECONDS = 30
CLIENT_SLACK_SECONDS = 10.0  # on top of the server's long-poll timeout
RETRY_SECONDS = 0.5
CONNECT_SECONDS = 60.0
SETTLE_SECONDS = 1.0
MAX_WRITE_CONNECTIONS = 64
HEADERS = ("system", "style", "watchers", "writes/s", "events delivered", "expected", "p50 ms", "p99 ms",
           "max ms", "create p99 idle ms", "create p99 loaded ms")


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass
class Stats:
    """Everything the coroutines record; one event loop, so no locks."""

    watching: int = 0  # watchers whose watch is open (headers received)
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)
    writes_sent: int = 0
    writes_ok: int = 0
    write_latencies: list[float] = field(default_factory=list)
    idle_write_latencies: list[float] = field(default_factory=list)
    write_seconds: float = 0.0  # from the first create sent to one interval after the last
    created: int = 0  # objects listed after the run: acknowledged or not, they were events


def connection_for(url: str) -> Connection:
    parts = urlsplit(url)
    return Connection(parts.hostname or "127.0.0.1", parts.port or 80)


def _finds(line: bytes, key: bytes) -> list[int]:
    """Where the values after every `key` start."""
    found, start = [], 0
    while (at := line.find(key, start)) >= 0:
        start = at + len(key)
        found.append(start)
    return found


def _field(line: bytes, key: bytes) -> str | None:
    """The string value after the first `key` (`"name":"`), or None."""
    at = line.find(key)
    if at < 0:
        return None
    at += len(key)
    return line[at:line.index(b'"', at)].decode()


class System:
    """What differs between minik8s and etcd: how to write, watch and count."""

    name = ""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def write_request(self, index: int, sent: float) -> tuple[str, str, bytes, dict[str, str]]:
        raise NotImplementedError

    def watch_request(self, revision: str) -> tuple[str, str, bytes, dict[str, str]]:
        raise NotImplementedError

    def sent_times(self, line: bytes) -> tuple[list[float], str | None]:
        """Send times carried by one streamed message and the revision to resume after (found by
        byte search, not a JSON parse: the client's one core must keep up with 100,000 lines/s)."""
        raise NotImplementedError

    def start_revision(self) -> str:
        raise NotImplementedError

    async def count(self) -> int:
        raise NotImplementedError


class Minik8s(System):
    name = "minik8s"
    cluster: Minik8sCluster

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.cluster.token}", "Accept": "application/json"}

    def prepare(self) -> None:
        body = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NAMESPACE}}
        response = requests.post(self.cluster.urls[0] + "/api/v1/namespaces", json=body, headers=self.headers(),
                                 timeout=10)
        if response.status_code not in (200, 201, 409):
            raise RuntimeError(f"create namespace: HTTP {response.status_code} {response.text[:300]}")

    def start_revision(self) -> str:
        listing = requests.get(self.cluster.urls[0] + CONFIGMAPS, headers=self.headers(), timeout=10)
        listing.raise_for_status()
        return str(listing.json()["metadata"]["resourceVersion"])

    def write_request(self, index: int, sent: float) -> tuple[str, str, bytes, dict[str, str]]:
        body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": f"bench-{index}"},
                "data": {"t": repr(sent)}}
        return "POST", CONFIGMAPS, json.dumps(body).encode(), {**self.headers(), "Content-Type": "application/json"}

    def watch_request(self, revision: str) -> tuple[str, str, bytes, dict[str, str]]:
        return "GET", f"{CONFIGMAPS}?watch=true&resourceVersion={revision}", b"", self.headers()

    def sent_times(self, line: bytes) -> tuple[list[float], str | None]:
        if line.startswith(b'{"type":"ERROR"'):
            raise HttpError(f"watch ERROR {line[:200]!r}")
        sent = _field(line, b'"t":"')
        return ([float(sent)] if sent is not None else []), _field(line, b'"resourceVersion":"')

    async def count(self) -> int:
        conn = connection_for(self.cluster.urls[0])
        try:
            response = await conn.request("GET", CONFIGMAPS, headers=self.headers())
            return len(json.loads(response.body).get("items") or [])
        finally:
            await conn.close()


class Etcd(System):
    name = "etcd"

    def prepare(self) -> None:
        pass

    def start_revision(self) -> str:
        response = requests.post(self.cluster.urls[0] + "/v3/kv/range", json={"key": b64(b"/")}, timeout=10)
        response.raise_for_status()
        return str(int(response.json()["header"]["revision"]) + 1)

    def write_request(self, index: int, sent: float) -> tuple[str, str, bytes, dict[str, str]]:
        body = {"key": b64(ETCD_PREFIX + str(index).encode()), "value": b64(json.dumps({"t": sent}).encode())}
        return "POST", "/v3/kv/put", json.dumps(body).encode(), {"Content-Type": "application/json"}

    def watch_request(self, revision: str) -> tuple[str, str, bytes, dict[str, str]]:
        body = {"create_request": {"key": b64(ETCD_PREFIX), "range_end": b64(ETCD_END),
                                   "start_revision": revision}}
        return "POST", "/v3/watch", json.dumps(body).encode(), {"Content-Type": "application/json"}

    def sent_times(self, line: bytes) -> tuple[list[float], str | None]:
        times, last, start = [], None, 0
        while (at := line.find(b'"value":"', start)) >= 0:  # one per event in the message
            end = line.index(b'"', at + 9)
            times.append(float(json.loads(base64.b64decode(line[at + 9:end]))["t"]))
            start = end
        for at in _finds(line, b'"mod_revision":"'):
            last = str(int(line[at:line.index(b'"', at)]) + 1)
        return times, last

    async def count(self) -> int:
        conn = connection_for(self.cluster.urls[0])
        try:
            body = {"key": b64(ETCD_PREFIX), "range_end": b64(ETCD_END), "count_only": True}
            response = await conn.request("POST", "/v3/kv/range", body=json.dumps(body).encode(),
                                          headers={"Content-Type": "application/json"})
            return int(json.loads(response.body).get("count") or 0)
        finally:
            await conn.close()


async def stream_watch(system: System, url: str, revision: str, stats: Stats, *, ready: list[bool]) -> None:
    """One streaming watcher; resumes after the last event it saw when its stream ends."""
    parts = urlsplit(url)
    while True:
        reader: StreamReader | None = None
        try:
            method, target, body, headers = system.watch_request(revision)
            reader = await StreamReader.open(parts.hostname or "127.0.0.1", parts.port or 80, method, target,
                                             headers=headers, body=body)
            if reader.status != 200:
                stats.errors[f"watch HTTP {reader.status}"] += 1
            else:
                if not ready[0]:
                    ready[0] = True
                    stats.watching += 1
                async for line in reader.lines():
                    received = time.time()
                    times, last = system.sent_times(line)
                    stats.latencies += [received - t for t in times]
                    revision = last or revision
                stats.errors["watch stream ended"] += 1
        except (OSError, asyncio.IncompleteReadError, HttpError, ValueError, KeyError) as exc:
            stats.errors[f"watch {type(exc).__name__}"] += 1
        finally:
            if reader is not None:
                reader.close()
        await asyncio.sleep(RETRY_SECONDS)


async def long_poll_watch(system: Minik8s, url: str, revision: str, stats: Stats, *, ready: list[bool]) -> None:
    """One minik8s long-poll watcher on a keep-alive connection."""
    conn = connection_for(url)
    headers = system.headers()
    try:
        while True:
            target = (f"{CONFIGMAPS}?watch=true&longPoll=true&resourceVersion={revision}"
                      f"&timeoutSeconds={WATCH_TIMEOUT_SECONDS}")
            if not ready[0]:
                ready[0] = True
                stats.watching += 1
            try:
                response = await asyncio.wait_for(conn.request("GET", target, headers=headers),
                                                  WATCH_TIMEOUT_SECONDS + CLIENT_SLACK_SECONDS)
                received = time.time()
                if response.status == 200:
                    document = json.loads(response.body)
                    for item in document.get("items") or []:
                        sent = ((item.get("object") or {}).get("data") or {}).get("t")
                        if sent is not None:
                            stats.latencies.append(received - float(sent))
                    revision = str(document["metadata"]["resourceVersion"])
                    continue
                stats.errors[f"watch HTTP {response.status}"] += 1
            except (OSError, asyncio.IncompleteReadError, TimeoutError, HttpError, ValueError, KeyError) as exc:
                stats.errors[f"watch {type(exc).__name__}"] += 1
            await asyncio.sleep(RETRY_SECONDS)
    finally:
        await conn.close()


class WritePool:
    """The writer's keep-alive connections, opened on demand round-robin over the members.

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


async def write_one(system: System, pool: WritePool, index: int, stats: Stats, latencies: list[float]) -> None:
    conn = await pool.acquire()
    stats.writes_sent += 1
    try:
        sent = time.time()
        method, target, body, headers = system.write_request(index, sent)
        response = await asyncio.wait_for(conn.request(method, target, body=body, headers=headers),
                                          CLIENT_SLACK_SECONDS)
        if response.status in (200, 201):
            stats.writes_ok += 1
            latencies.append(time.time() - sent)
        else:
            stats.errors[f"write HTTP {response.status}"] += 1
    except (OSError, asyncio.IncompleteReadError, TimeoutError, HttpError) as exc:
        stats.errors[f"write {type(exc).__name__}"] += 1
    finally:
        pool.release(conn)


async def write_at_rate(system: System, *, first: int, rate: float, seconds: float, stats: Stats,
                        latencies: list[float]) -> float:
    """Start one create every 1/rate s and wait for all of them; return the time it took to offer them."""
    pool = WritePool(system.cluster.urls)
    loop = asyncio.get_running_loop()
    start = loop.time()
    tasks = []
    try:
        for n in range(int(rate * seconds)):
            await asyncio.sleep(max(0.0, start + n / rate - loop.time()))
            tasks.append(asyncio.create_task(write_one(system, pool, first + n, stats, latencies)))
        offered = loop.time() - start + 1 / rate
        await asyncio.gather(*tasks)
    finally:
        await pool.close()
    return offered


async def wait_until(condition: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        await asyncio.sleep(0.1)


async def run_load(system: System, args: argparse.Namespace) -> Stats:
    """Idle writes, watchers up, writes at the rate, drain, count what was created, stop."""
    stats = Stats()
    idle_count = int(args.rate * args.idle_seconds)
    await write_at_rate(system, first=0, rate=args.rate, seconds=args.idle_seconds, stats=stats,
                        latencies=stats.idle_write_latencies)
    stats.writes_sent = stats.writes_ok = 0
    revision = await asyncio.to_thread(system.start_revision)
    urls = [url for url, _ in zip(cycle(system.cluster.urls), range(args.watchers))]
    if args.style == "longpoll" and isinstance(system, Minik8s):
        watchers = [asyncio.create_task(long_poll_watch(system, url, revision, stats, ready=[False])) for url in urls]
    else:
        watchers = [asyncio.create_task(stream_watch(system, url, revision, stats, ready=[False])) for url in urls]
    try:
        await wait_until(lambda: stats.watching == args.watchers, CONNECT_SECONDS)
        await asyncio.sleep(SETTLE_SECONDS)
        stats.write_seconds = await write_at_rate(system, first=idle_count, rate=args.rate, seconds=args.seconds,
                                                  stats=stats, latencies=stats.write_latencies)
        acknowledged = stats.writes_ok * args.watchers
        await wait_until(lambda: len(stats.latencies) >= acknowledged, args.drain_seconds)
        stats.created = await system.count() - idle_count
    finally:
        for task in watchers:
            task.cancel()
        await asyncio.gather(*watchers, return_exceptions=True)
    return stats


def summary_row(system: System, stats: Stats, args: argparse.Namespace) -> list[object]:
    latencies = sorted(stats.latencies)
    style = args.style if system.name == "minik8s" else "stream"
    return [system.name, style, args.watchers, stats.writes_sent / stats.write_seconds if stats.write_seconds else 0.0,
            len(latencies), stats.created * args.watchers, percentile(latencies, 50) * 1e3,
            percentile(latencies, 99) * 1e3, (latencies[-1] if latencies else float("nan")) * 1e3,
            percentile(sorted(stats.idle_write_latencies), 99) * 1e3,
            percentile(sorted(stats.write_latencies), 99) * 1e3]


def client_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


async def hold_idle(system: System, count: int) -> tuple[int, Counter[str], list[StreamReader]]:
    """Open `count` streaming watches on the first member; return how many are open."""
    url = urlsplit(system.cluster.urls[0])
    revision = await asyncio.to_thread(system.start_revision)
    readers: list[StreamReader] = []
    errors: Counter[str] = Counter()
    semaphore = asyncio.Semaphore(200)  # connections being opened at once

    async def one() -> None:
        async with semaphore:
            try:
                method, target, body, headers = system.watch_request(revision)
                reader = await StreamReader.open(url.hostname or "127.0.0.1", url.port or 80, method, target,
                                                 headers=headers, body=body)
                readers.append(reader)
                if reader.status != 200:
                    errors[f"HTTP {reader.status}"] += 1
            except (OSError, asyncio.IncompleteReadError, HttpError) as exc:
                errors[type(exc).__name__] += 1

    await asyncio.gather(*(one() for _ in range(count)))
    await asyncio.sleep(2.0)  # settle
    return sum(r.status == 200 for r in readers), errors, readers


def run_idle(args: argparse.Namespace) -> int:
    rows = []
    for name in args.systems.split(","):
        with (start_minik8s(1, extra_args=args.minik8s_arg) if name == "minik8s" else start_etcd(1)) as cluster:
            system: System = Minik8s(cluster) if name == "minik8s" else Etcd(cluster)  # type: ignore[arg-type]
            system.prepare()  # type: ignore[attr-defined]
            pid = cluster.members[0].process.pid
            time.sleep(1.0)
            before = rss_mib(pid)

            async def measure() -> tuple[int, Counter[str], float]:
                opened, errors, readers = await hold_idle(system, args.idle_watches)
                after = rss_mib(pid)
                for reader in readers:
                    reader.close()
                return opened, errors, after

            opened, errors, after = asyncio.run(measure())
            per_watch = (after - before) * 1024 / opened if opened else float("nan")
            rows.append([name, args.idle_watches, opened, before, after, per_watch,
                         ", ".join(f"{k} x{v}" for k, v in errors.items()) or "none"])
    print("\nidle streaming watches on one member")
    print(format_table(("system", "watches asked", "open", "RSS before MiB", "RSS after MiB", "KiB per watch",
                        "errors"), rows))
    return 0


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--systems", default="etcd,minik8s", help="comma-separated: etcd, minik8s")
    parser.add_argument("--style", choices=("stream", "longpoll"), default="stream",
                        help="minik8s watch style (etcd always streams)")
    parser.add_argument("--watchers", type=int, default=1000, help="concurrent watchers")
    parser.add_argument("--rate", type=float, default=100.0, help="creates per second")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long to write under watch load")
    parser.add_argument("--idle-seconds", type=float, default=5.0, help="how long to write before watchers open")
    parser.add_argument("--drain-seconds", type=float, default=10.0,
                        help="time bound for watchers to catch up after the last write")
    parser.add_argument("--idle-watches", type=int, default=0,
                        help="instead of the load: hold this many idle watches on one member, report its RSS")
    parser.add_argument("--minik8s-arg", action="append", default=[],
                        help="extra flag for every `minik8s master` (repeatable, use --x=y)")
    return parser.parse_args()


def main() -> int:
    exit_on_sigterm()
    args = parse_args()
    try:
        if args.idle_watches:
            return run_idle(args)
        rows, notes = [], []
        for name in args.systems.split(","):
            with (start_minik8s(3, extra_args=args.minik8s_arg) if name == "minik8s" else start_etcd(3)) as cluster:
                system: System = Minik8s(cluster) if name == "minik8s" else Etcd(cluster)  # type: ignore[arg-type]
                system.prepare()  # type: ignore[attr-defined]
                cpu = {"client": client_cpu_seconds(), "servers": cluster.cpu_seconds()}
                stats = asyncio.run(run_load(system, args))
                cpu = {"client": client_cpu_seconds() - cpu["client"], "servers": cluster.cpu_seconds() - cpu["servers"]}
            rows.append(summary_row(system, stats, args))
            errors = ", ".join(f"{k} x{v}" for k, v in stats.errors.most_common()) or "none"
            notes.append(f"{name}: writes {stats.writes_sent} sent, {stats.writes_ok} acknowledged, {stats.created} "
                         f"created; errors: {errors}; CPU s client {cpu['client']:.1f}, servers {cpu['servers']:.1f}")
    except ClusterError as exc:
        print(f"cluster did not start: {exc}", file=sys.stderr)
        return 1
    print(f"\nwatch delivery, 3 members, target {args.rate:g} writes/s for {args.seconds:g} s "
          f"(create p99 idle: {args.idle_seconds:g} s of writes before any watcher)")
    print(format_table(HEADERS, rows))
    print("\n".join(notes))
    return 0


if __name__ == "__main__":
    run_main(main)
