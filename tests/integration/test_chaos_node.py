"""The node-failure chaos scenario against `minik8s up --masters 1 --nodes 2` (process runtime).

Short timers (grace 3 s, eviction 4 s) so the scenario runs in seconds: node-1's agent is killed
under a pinned pod, the node must be NotReady within grace + 2 s, the pod marked for deletion
after the eviction timeout, and the node Ready again once the agent is restarted.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from minik8s.api.client import ApiClient
from minik8s.api.kubeconfig import load_kubeconfig
from minik8s.chaos.node_failure import check, default_restart, run_node_failure

from .cluster import free_port, wait_for

GRACE = 3.0
EVICTION = 4.0


class UpCluster:
    """A running `minik8s up --masters 1 --nodes 2` with short node timers, and a client for it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "minik8s.cli.main", "up", "--masters", "1", "--nodes", "2",
             "--data-dir", str(root), "--api-port", str(free_port()),
             "--node-monitor-grace-period", str(GRACE), "--pod-eviction-timeout", str(EVICTION)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
        wait_for(lambda: (root / "kubeconfig").exists() or self.proc.poll() is not None, timeout=120,
                 what="minik8s up")
        assert self.proc.poll() is None, self.proc.stdout.read() if self.proc.stdout else ""
        config = load_kubeconfig(root / "kubeconfig")
        self.client = ApiClient(config.servers, token=config.token, ca_file=config.ca_file)

    @property
    def state(self) -> dict[str, Any]:
        return json.loads((self.root / "cluster.json").read_text())

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=90)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=10)
        self.client.close()


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpCluster]:
    cluster = UpCluster(tmp_path_factory.mktemp("chaos") / "data")
    try:
        yield cluster
    finally:
        cluster.stop()


def test_node_failure_meets_grace_and_eviction_expectations(up: UpCluster) -> None:
    """kill -9 of node-1's agent: NotReady in time, its pod evicted in time, Ready after a restart."""
    state = up.state
    report = run_node_failure(up.client, cluster_state=state, node_index=1, grace=GRACE, eviction=EVICTION,
                              restart=default_restart(state, 1, up.root))
    print("\n" + "\n".join(report.lines()))
    assert report.restarted and report.became_not_ready and report.pod_evicted and report.ready_again
    assert check(report, GRACE, EVICTION) == []
