"""The pod chaos run's fast subset: pods churn on `minik8s up --masters 3 --nodes 3` (process runtime) while
node agents are killed and paused, node links cut and masters killed; no pod ever runs on two nodes and
everything converges after healing. The long run is `minik8s chaos pods --duration 600 --seed N`
(docs/chaos.md); the checkers' power to catch defects is shown on synthetic data in
tests/unit/test_chaos_pod_checks.py."""

from __future__ import annotations

import subprocess
from pathlib import Path

from minik8s.chaos.pod_faults import POD_NEMESES
from minik8s.chaos.pods import PodRunSettings, run_pod_chaos

from .workload_support import minik8s


def test_pod_churn_under_node_and_master_faults_passes_every_checker(tmp_path: Path) -> None:
    """20 s of churn under every kind of fault (one round: each once): no pod on two nodes, the
    Deployment, the bare pods and what runs on the nodes converge; the report says so. (`up` counting
    masters restarted by hand is tested in tests/unit/test_localcluster_masters.py; longer runs kill
    several: `minik8s chaos pods --duration 300`.)"""
    report = run_pod_chaos(PodRunSettings(duration=20, seed=17, hold=(1.0, 2.5), gap=(0.3, 1.0),
                                          root=tmp_path / "run"))
    text = report.text()
    print("\n" + text)
    assert report.ok, text
    assert set(report.checks) == {"exclusive", "deployment", "bare-pods", "runtime"}
    injected = [fault["nemesis"] for fault in report.timeline if fault["action"] == "inject"]
    assert set(injected) == set(POD_NEMESES), text
    assert sum(1 for fault in report.timeline if fault["action"] == "recovered") == len(injected), text
    ops = report.operations
    assert ops.get("create ok", 0) > 20 and ops.get("delete ok", 0) > 20 and ops.get("scale ok", 0) > 5, ops


def test_pods_command_refuses_an_unknown_nemesis() -> None:
    """`minik8s chaos pods` checks its options before it starts anything."""
    run = subprocess.run(minik8s("chaos", "pods", "--nemesis", "meteor"), capture_output=True, text=True, timeout=60)
    assert run.returncode == 1 and "unknown nemesis meteor" in run.stderr
