"""Hostile clients against a 3-master cluster: it keeps answering throughout and recovers by itself.

A separate process (`minik8s.chaos.hostile_clients`) floods the API (plain HTTP, and HTTPS through
the TLS front kubectl uses) and every Raft port at once:
a 2 GiB frame announced and 48 MiB streamed to each Raft port, garbage connections, 200 KB methods
and 1 MB headers, 1000 idle sockets, 40 `pods/log -f` streams from a node that accepts and never
answers, 300 malformed watches. Meanwhile this process probes every master's `/readyz` and makes a
write through each master in turn, each with a 2 s timeout: every probe must succeed. Afterwards,
without a restart, watch slots are all released, `/metrics` is small, and every master writes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from .cluster import TOKEN, Cluster, configmap, running, wait_for
from .hostile_support import FakeNode, open_watches

PROBE_TIMEOUT = 2.0  # seconds: what "keeps answering" means here
PROBE_INTERVAL = 0.25
REPO = Path(__file__).resolve().parents[2]


class Prober:
    """Probes `/readyz` of every master and writes through each in turn; keeps every failure."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.failures: list[str] = []
        self.probes = 0
        self.slowest = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _probe(self, what: str, fn) -> None:  # type: ignore[no-untyped-def]
        started = time.monotonic()
        try:
            response = fn()
            if response.status_code >= 300:
                self.failures.append(f"{what}: {response.status_code} {response.text[:200]}")
        except requests.RequestException as exc:
            self.failures.append(f"{what}: {type(exc).__name__} after {time.monotonic() - started:.2f}s")
        self.slowest = max(self.slowest, time.monotonic() - started)
        self.probes += 1

    def _run(self) -> None:
        session = requests.Session()
        session.trust_env = False
        session.verify = self.cluster.ca_file or True
        session.headers["Authorization"] = f"Bearer {TOKEN}"
        i = 0
        while not self._stop.wait(PROBE_INTERVAL):
            m = self.cluster.masters[i % len(self.cluster.masters)]
            self._probe(f"readyz {m.name}", lambda: session.get(m.url + "/readyz", timeout=PROBE_TIMEOUT))
            self._probe(f"write via {m.name}", lambda: session.post(
                m.url + "/api/v1/namespaces/default/configmaps", json=configmap(f"probe-{i}"), timeout=PROBE_TIMEOUT))
            i += 1
        session.close()

    def __enter__(self) -> Prober:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


# the plain-HTTP run (15 s) repeats the TLS one without the TLS front: with --slow only
@pytest.fixture(params=[pytest.param(False, marks=pytest.mark.slow), True], ids=["plain-http", "https"])
def cluster(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Cluster]:
    kubelet_token = tmp_path / "kubelet-token"
    kubelet_token.write_text("kubelet-token-0123456789\n")
    kubelet_token.chmod(0o600)
    with running(tmp_path / "cluster", 3, tls=request.param,
                 extra_args=["--no-control-loops", "--kubelet-token-file", str(kubelet_token)]) as c:
        yield c


def assert_attacks_were_refused(report: dict[str, Any], raft_members: int, idle: int, *, tls: bool) -> None:
    """What each attack got back: refusals, closed connections and capped streams, never a success or a 5xx."""
    assert not [k for k, v in report.items() if "error" in v], report
    for i in range(raft_members):
        flood = report[f"raft_flood_{i}"]
        assert flood["dropped"] and flood["sent"] <= 16 * 1024 * 1024, flood  # cut off long before 48 MiB
        garbage = report[f"raft_garbage_{i}"]
        assert garbage["opened"] == 60 and garbage["closed_by_server"] == 60, garbage
    assert report["idle_sockets"]["opened"] == idle, report["idle_sockets"]
    if tls:  # the TLS front wants a handshake within 10 s; the sockets are held for 15 s
        assert report["idle_sockets"]["open_at_end"] == 0, report["idle_sockets"]
    assert report["api_garbage"]["opened"] == 100, report["api_garbage"]
    huge = report["huge_requests"]["answers"]
    assert sum(huge.values()) == 40, huge
    assert all(line == "closed" or line.split()[1].startswith("4") for line in huge), huge  # 4xx, or dropped
    assert report["bad_watches"]["codes"] == {"400": 300}, report["bad_watches"]
    logs = report["stuck_logs"]["answers"]
    assert sum(logs.values()) == 40 and set(logs) <= {"429", "503", "504"}, logs  # capped, or the node timed out


def test_cluster_keeps_answering_under_hostile_clients(cluster: Cluster) -> None:
    node = FakeNode("silent")
    try:
        created = cluster.post(0, "/api/v1/nodes", {"metadata": {"name": "frozen"}, "status": {
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": node.port}}}})
        assert created.status_code == 201, created.text
        created = cluster.post(0, "/api/v1/namespaces/default/pods", {"metadata": {"name": "stuck"}, "spec": {
            "nodeName": "frozen", "containers": [{"name": "c", "image": "busybox", "command": ["sleep", "1"]}]}})
        assert created.status_code == 201, created.text
        pids = [m.proc.pid for m in cluster.masters if m.proc is not None]

        attack = [sys.executable, "-m", "minik8s.chaos.hostile_clients", "--api-url", cluster.masters[0].url,
                  "--raft", ",".join(m.raft_addr for m in cluster.masters),
                  "--log-path", "/api/v1/namespaces/default/pods/stuck/log", "--seconds", "15"]
        if cluster.ca_file:
            attack += ["--ca-file", cluster.ca_file]
        with Prober(cluster) as prober:
            done = subprocess.run(attack, capture_output=True, text=True, timeout=240, cwd=REPO,
                                  env={**os.environ, "MINIK8S_TOKEN": TOKEN})
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        print(json.dumps(report, indent=1), f"\nprobes {prober.probes}, slowest {prober.slowest:.2f}s")
        assert_attacks_were_refused(report, len(cluster.masters), idle=1000, tls=cluster.ca_file is not None)
        assert prober.probes > 40
        assert not prober.failures, prober.failures[:20]

        # Recovered without a restart: same processes, slots released, small metrics, writes everywhere.
        assert [m.proc.pid for m in cluster.masters if m.alive and m.proc is not None] == pids
        wait_for(lambda: open_watches(cluster) == 0, timeout=30, what="watch slots released")
        assert len(cluster.get(0, "/metrics").content) < 1_000_000
        for i in range(len(cluster.masters)):
            response = cluster.post(i, "/api/v1/namespaces/default/configmaps", configmap(f"after-{i}"))
            assert response.status_code == 201, response.text
        with cluster.session.get(cluster.masters[0].url + "/api/v1/namespaces/default/configmaps",
                                 params={"watch": "true", "timeoutSeconds": "2"}, stream=True, timeout=10) as watch:
            assert watch.status_code == 200
            first = json.loads(next(watch.iter_lines()))
            assert first["type"] == "ADDED"
    finally:
        node.close()
