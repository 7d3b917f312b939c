"""The node-failure chaos scenario against `minik8s up --masters 1 --nodes 2` (process runtime).

Short timers (grace 3 s, eviction 4 s) so the scenario runs in seconds: node-1's agent is killed
under a pinned pod, the node must be NotReady within grace + 2 s, the pod marked for deletion
after the eviction timeout, and the node Ready again once the agent is restarted.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from minik8s.chaos.node_failure import check, default_restart, run_node_failure
from minik8s.chaos.upcluster import UpProcess


GRACE = 3.0
EVICTION = 4.0


class UpCluster(UpProcess):
    """`minik8s up --masters 1 --nodes 2` with short node timers."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, "--masters", "1", "--nodes", "2", "--node-monitor-grace-period", str(GRACE),
                         "--pod-eviction-timeout", str(EVICTION))


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpCluster]:
    cluster = UpCluster(tmp_path_factory.mktemp("chaos") / "data")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.mark.slow  # 31 s with its cluster; node loss and eviction are also covered by test_nodes and test_node_lifecycle
def test_node_failure_meets_grace_and_eviction_expectations(up: UpCluster) -> None:
    """kill -9 of node-1's agent: NotReady in time, its pod evicted in time, Ready after a restart."""
    state = up.state
    report = run_node_failure(up.client, cluster_state=state, node_index=1, grace=GRACE, eviction=EVICTION,
                              restart=default_restart(state, 1, up.root))
    print("\n" + "\n".join(report.lines()))
    assert report.restarted and report.became_not_ready and report.pod_evicted and report.ready_again
    assert check(report, GRACE, EVICTION) == []
