"""The node proxy: network programming latency, adding a Service among 1,000, first-packet latency.

A master (`minik8s up --masters 1 --nodes 0`) holds the Services and EndpointSlices; the node
proxy (`minik8s.node.proxy.Proxier`, the agent's own, with its informers on that master) programs
the real kernel in a network namespace made here. There every address of 10.244.0.0/16 is local
(`ip route add local`) and one server on port 8080 answers with the address it was reached at, so
each endpoint of every Service is a real destination and a reply names the endpoint that served it.
A prober process inside the namespace sends the traffic. Services have no selector: the bench
writes their EndpointSlices itself, 10 endpoints each.

- programming latency (`--services` 100 × 10 endpoints, `--rounds` changes `--gap` s apart): one
  Service's slice is replaced by 10 new addresses; from the write until the first connection
  answered by a new address (API write -> watch -> informer -> nft transaction -> DNAT). Changes
  closer together than the proxier's minimum sync period (0.1 s) wait for it and go in one sync;
- add one Service when `--many` (1,000) exist: from the Service's create until a connection to it
  is answered (its slice written right after the Service), and the proxier's own sync time for it;
- first-packet latency: TCP connect time to a ClusterIP with 10 and with `--many` Services
  programmed (the verdict-map lookup should not grow with the number of Services).

    .venv/bin/python bench/bench_proxy.py [--services 100] [--many 1000] [--rounds 100] [--adds 20]
"""

from __future__ import annotations

import argparse
import ipaddress
import json
import logging
import random
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from report import format_table, percentile

from minik8s.api.client import ApiClient
from minik8s.api.informer import Informer
from minik8s.chaos.upcluster import UpProcess
from minik8s.node.proxy import Conntrack, Nft, Proxier, ProxySettings

ENDPOINTS = 10
NAMESPACE = "default"
POOL = ipaddress.IPv4Network("10.244.0.0/16")

SERVER = """
import socket, threading
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", 8080)); s.listen(1024)
print("up", flush=True)
while True:
    c, _ = s.accept()
    c.sendall(c.getsockname()[0].encode()); c.close()
"""

PROBER = """
import json, socket, sys, time
def ask(ip):
    with socket.create_connection((ip, 80), timeout=2) as c:
        return c.recv(64).decode()
for line in sys.stdin:
    job = json.loads(line)
    if job["kind"] == "until":
        want, deadline, tries = set(job["want"]), time.monotonic() + job["timeout"], 0
        found = None
        while time.monotonic() < deadline:
            tries += 1
            try:
                if ask(job["ip"]) in want:
                    found = time.monotonic()
                    break
            except OSError:
                pass
        print(json.dumps({"t": found, "tries": tries}), flush=True)
    else:
        times = []
        for _ in range(job["count"]):
            s = socket.socket()
            start = time.perf_counter()
            s.connect((job["ip"], 80))
            times.append(time.perf_counter() - start)
            s.close()
        print(json.dumps({"times": times}), flush=True)
"""


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--services", type=int, default=100, help="Services during the programming-latency rounds")
    parser.add_argument("--many", type=int, default=1000, help="Services for the add and first-packet rows")
    parser.add_argument("--rounds", type=int, default=100, help="endpoint changes measured")
    parser.add_argument("--adds", type=int, default=20, help="Services added (one at a time) among --many")
    parser.add_argument("--connects", type=int, default=2000, help="connections per first-packet row")
    parser.add_argument("--gap", type=float, default=0.25,
                        help="seconds between two measured changes (more than the proxier's 0.1 s minimum sync "
                             "period, so that each change is measured alone, not waiting behind the last)")
    return parser.parse_args()


class Addresses:
    """Endpoint addresses handed out in order from 10.244.0.0/16 (never .0 or .255)."""

    def __init__(self) -> None:
        self._hosts = (str(ip) for ip in POOL.hosts() if ip.packed[-1] not in (0, 255))

    def take(self, count: int) -> list[str]:
        return [next(self._hosts) for _ in range(count)]


def service(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NAMESPACE},
            "spec": {"ports": [{"name": "http", "port": 80, "targetPort": 8080}]}}


def endpoint_slice(name: str, addresses: list[str], version: str | None = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "addressType": "IPv4",
        "metadata": {"name": f"{name}-1", "namespace": NAMESPACE,
                     "labels": {"kubernetes.io/service-name": name, "endpointslice.kubernetes.io/managed-by": "bench"}},
        "endpoints": [{"addresses": [a], "conditions": {"ready": True}, "nodeName": "bench"} for a in addresses],
        "ports": [{"name": "http", "port": 8080, "protocol": "TCP"}]}
    if version is not None:
        body["metadata"]["resourceVersion"] = version
    return body


class Namespace:
    """The bench's network namespace, its server and its prober (stopped by pid, then the namespace deleted)."""

    def __init__(self) -> None:
        self.name = f"mkbpx-{secrets.token_hex(4)}"
        self.prefix = ["nsenter", f"--net=/var/run/netns/{self.name}"]
        subprocess.run(["ip", "netns", "add", self.name], check=True)
        for argv in (["ip", "link", "set", "lo", "up"],
                     ["ip", "route", "add", "local", str(POOL), "dev", "lo"],
                     ["ip", "link", "add", "svc0", "type", "veth", "peer", "name", "svc1"],
                     ["ip", "addr", "add", "10.243.0.1/24", "dev", "svc0"],
                     ["ip", "link", "set", "svc0", "up"], ["ip", "link", "set", "svc1", "up"],
                     ["ip", "route", "add", "10.96.0.0/12", "dev", "svc0"]):
            subprocess.run([*self.prefix, *argv], check=True)
        self.server = subprocess.Popen([*self.prefix, sys.executable, "-c", SERVER], stdout=subprocess.PIPE, text=True)
        assert self.server.stdout is not None and self.server.stdout.readline().strip() == "up"
        self.prober = subprocess.Popen([*self.prefix, sys.executable, "-c", PROBER], stdin=subprocess.PIPE,
                                       stdout=subprocess.PIPE, text=True)

    def ask(self, job: dict[str, Any]) -> dict[str, Any]:
        assert self.prober.stdin is not None and self.prober.stdout is not None
        self.prober.stdin.write(json.dumps(job) + "\n")
        self.prober.stdin.flush()
        return json.loads(self.prober.stdout.readline())

    def close(self) -> None:
        for proc in (self.prober, self.server):
            proc.kill()
            proc.wait(10)
        subprocess.run(["ip", "netns", "del", self.name], check=False)


class Bench:
    def __init__(self, client: ApiClient, ns: Namespace) -> None:
        self.client, self.ns = client, ns
        self.addresses = Addresses()
        self.cluster_ips: dict[str, str] = {}
        self.slices: dict[str, dict[str, Any]] = {}
        self.proxier = Proxier(Informer(client.copy(), "services"), Informer(client.copy(), "endpointslices"),
                               ProxySettings(node_name="bench", pod_cidr=None), nft=Nft(prefix=ns.prefix),
                               conntrack=Conntrack(prefix=ns.prefix))

    def add(self, name: str) -> tuple[str, list[str]]:
        """Create a Service and its slice; its ClusterIP and endpoint addresses."""
        self.cluster_ips[name] = self.client.create(service(name))["spec"]["clusterIP"]
        addresses = self.addresses.take(ENDPOINTS)
        self.slices[name] = self.client.create(endpoint_slice(name, addresses))
        return self.cluster_ips[name], addresses

    def grow(self, total: int) -> None:
        """Services `svc-<i>` up to `total`, then wait until the last one answers."""
        ip, addresses = "", []
        for i in range(len(self.cluster_ips), total):
            ip, addresses = self.add(f"svc-{i}")
        if ip:
            done = self.ns.ask({"kind": "until", "ip": ip, "want": addresses, "timeout": 120})
            if done["t"] is None:
                raise RuntimeError(f"{total} Services were not programmed within 120 s")

    def programming_latency(self, rounds: int, gap: float) -> list[float]:
        latencies = []
        names = list(self.cluster_ips)
        for _ in range(rounds):
            time.sleep(gap)
            name = random.choice(names)
            addresses = self.addresses.take(ENDPOINTS)
            old = self.slices[name]
            start = time.monotonic()
            self.slices[name] = self.client.replace(endpoint_slice(name, addresses, old["metadata"]["resourceVersion"]))
            done = self.ns.ask({"kind": "until", "ip": self.cluster_ips[name], "want": addresses, "timeout": 30})
            if done["t"] is None:
                raise RuntimeError(f"the change of {name} was not live within 30 s")
            latencies.append(done["t"] - start)
        return latencies

    def add_latency(self, adds: int, gap: float) -> tuple[list[float], list[float]]:
        live, syncs = [], []
        for i in range(adds):
            time.sleep(gap)
            name = f"added-{i}"
            start = time.monotonic()
            ip, addresses = self.add(name)
            done = self.ns.ask({"kind": "until", "ip": ip, "want": addresses, "timeout": 30})
            if done["t"] is None:
                raise RuntimeError(f"{name} was not live within 30 s")
            live.append(done["t"] - start)
            if self.proxier.last_sync is not None and not self.proxier.last_sync.full:
                syncs.append(self.proxier.last_sync.seconds)
        return live, syncs

    def first_packet(self, count: int) -> list[float]:
        name = random.choice(list(self.cluster_ips))
        return sorted(self.ns.ask({"kind": "connect", "ip": self.cluster_ips[name], "count": count})["times"])


def row(label: str, values: list[float], unit: float = 1000.0) -> list[object]:
    ordered = sorted(values)
    return [label, len(ordered), percentile(ordered, 50) * unit, percentile(ordered, 99) * unit,
            ordered[-1] * unit if ordered else float("nan")]


def main() -> None:
    args = parse_args()
    random.seed(1)
    with tempfile.TemporaryDirectory(prefix="bench-proxy-") as tmp:
        up = UpProcess(Path(tmp) / "data", "--masters", "1", "--nodes", "0")
        ns = Namespace()
        try:
            bench = Bench(up.client, ns)
            bench.proxier.start()
            rows: list[list[object]] = []
            bench.grow(10)
            rows.append(row("first packet (connect), 10 Services", bench.first_packet(args.connects)))
            bench.grow(args.services)
            rows.append(row(f"programming latency, {args.services} Services x {ENDPOINTS} endpoints",
                            bench.programming_latency(args.rounds, args.gap)))
            started = time.monotonic()
            bench.grow(args.many)
            print(f"grew to {args.many} Services in {time.monotonic() - started:.1f} s", file=sys.stderr)
            live, syncs = bench.add_latency(args.adds, args.gap)
            rows.append(row(f"add 1 Service among {args.many}: create -> live", live))
            rows.append(row(f"add 1 Service among {args.many}: proxier sync", syncs))
            rows.append(row(f"first packet (connect), {args.many} Services", bench.first_packet(args.connects)))
            rows.append(row(f"programming latency, {args.many} Services", bench.programming_latency(args.rounds, args.gap)))
            bench.proxier.stop()
            logging.getLogger("minik8s").setLevel(logging.CRITICAL)  # the stopped proxier's last poll failing
            print(format_table(("measure", "n", "p50 ms", "p99 ms", "max ms"), rows))
        finally:
            ns.close()
            up.stop()


if __name__ == "__main__":
    main()
