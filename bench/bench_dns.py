"""Cluster DNS: queries/s answered from the cache on one core, and latency at a fixed rate.

Starts the node DNS server (`minik8s.node.dns`) in a child process pinned to one CPU, on
127.0.0.1 (a free port), with records for `--services` Services (ClusterIP) in one namespace and
no upstream. The client (this process, another CPU when there is one) asks for the A records of
those Services by their full names over UDP:

- throughput: `--window` queries in flight at once on one socket, for `--seconds`; every reply
  is matched by id; column qps = answered queries / seconds;
- latency: one query every 1/`--rate` s (paced, not back to back) for `--seconds`; p50/p99 of
  the time from send to reply, in ms; lost = queries without a reply within 1 s.

After the first round of each name the answers come from the server's answer cache (the
encoded reply with the query's id patched in), which is what a pod's repeated lookups hit.

    .venv/bin/python bench/bench_dns.py [--services 100 --seconds 5 --rate 2000]
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import socket
import struct
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from report import format_table, percentile  # noqa: E402


def _serve(port_out: "multiprocessing.connection.Connection", services: int, cpu: int) -> None:
    os.sched_setaffinity(0, {cpu})
    from minik8s.node.dns.forward import Forwarder
    from minik8s.node.dns.records import ClusterRecords
    from minik8s.node.dns.resolver import ZoneSettings
    from minik8s.node.dns.server import DnsServer, ServerSettings

    records = ClusterRecords()
    records.set_namespace({"metadata": {"name": "bench"}})
    for i in range(services):
        ip = f"10.96.{i // 250}.{i % 250 + 1}"
        records.set_service({"metadata": {"name": f"svc-{i}", "namespace": "bench"},
                             "spec": {"clusterIP": ip, "clusterIPs": [ip], "ports": [{"name": "http", "port": 80}]}})
    records.mark_synced()
    server = DnsServer(records, ZoneSettings(), Forwarder([]), ServerSettings(address="127.0.0.1", port=0))
    _, port = server.bind()
    server.start()
    port_out.send(port)
    while True:
        time.sleep(3600)


def _queries(services: int) -> list[bytes]:
    out = []
    for i in range(services):
        labels = b"".join(bytes([len(p)]) + p.encode() for p in f"svc-{i}.bench.svc.cluster.local".split("."))
        out.append(labels + b"\0" + struct.pack("!HH", 1, 1))
    return out


def _packet(ident: int, question: bytes) -> bytes:
    return struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + question


def throughput(port: int, questions: list[bytes], seconds: float, window: int) -> tuple[int, float]:
    """Answered queries and the seconds they took, `window` in flight at once."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(("127.0.0.1", port))
        sock.settimeout(1.0)
        sent = answered = wrong = 0
        for _ in range(window):
            sock.send(_packet(sent & 0xFFFF, questions[sent % len(questions)]))
            sent += 1
        start = time.perf_counter()
        end = start + seconds
        while time.perf_counter() < end:
            try:
                reply = sock.recv(4096)
            except TimeoutError:  # a lost reply: refill the window
                sock.send(_packet(sent & 0xFFFF, questions[sent % len(questions)]))
                sent += 1
                continue
            if reply[3] & 0xF == 0 and reply[6:8] == b"\x00\x01":  # NOERROR with its one A record
                answered += 1
            else:
                wrong += 1
            sock.send(_packet(sent & 0xFFFF, questions[sent % len(questions)]))
            sent += 1
        if wrong:
            raise SystemExit(f"{wrong} replies were not the expected answer")
        return answered, time.perf_counter() - start


def latency(port: int, questions: list[bytes], seconds: float, rate: float) -> tuple[list[float], int]:
    """Reply times (s) of queries paced at `rate`/s, and how many got no reply within 1 s."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.connect(("127.0.0.1", port))
        sock.setblocking(False)
        sent_at: dict[int, float] = {}
        times: list[float] = []
        start = time.perf_counter()
        total = int(seconds * rate)
        n = 0
        while n < total or (sent_at and time.perf_counter() - start < seconds + 1):
            now = time.perf_counter()
            if n < total and now >= start + n / rate:
                ident = n & 0xFFFF
                sent_at[ident] = time.perf_counter()
                sock.send(_packet(ident, questions[n % len(questions)]))
                n += 1
                continue
            try:
                reply = sock.recv(4096)
            except BlockingIOError:
                continue
            ident = struct.unpack("!H", reply[:2])[0]
            if ident in sent_at:
                times.append(time.perf_counter() - sent_at.pop(ident))
        return sorted(times), len(sent_at)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--services", type=int, default=100)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--window", type=int, default=32)
    parser.add_argument("--rate", type=float, default=2000.0)
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    server_cpu = cpus[0]
    if len(cpus) > 1:
        os.sched_setaffinity(0, set(cpus[1:]))
    receive, send = multiprocessing.Pipe(duplex=False)
    child = multiprocessing.get_context("fork").Process(target=_serve, args=(send, args.services, server_cpu),
                                                        daemon=True)
    child.start()
    try:
        port = receive.recv()
        questions = _queries(args.services)
        throughput(port, questions, 0.5, args.window)  # warm-up: every answer cached
        answered, took = throughput(port, questions, args.seconds, args.window)
        times, lost = latency(port, questions, args.seconds, args.rate)
        rows = [["cached A, window %d" % args.window, answered, f"{took:.1f}", f"{answered / took:.0f}", "", "", ""],
                [f"paced {args.rate:.0f}/s", len(times), f"{args.seconds:.1f}", f"{len(times) / args.seconds:.0f}",
                 f"{percentile(times, 50) * 1000:.3f}", f"{percentile(times, 99) * 1000:.3f}", lost]]
        print(f"server on CPU {server_cpu} of {len(cpus)}; {args.services} Services")
        print(format_table(["load", "answered", "seconds", "qps", "p50 ms", "p99 ms", "lost"], rows))
    finally:
        child.terminate()
        child.join(5)


if __name__ == "__main__":
    main()
