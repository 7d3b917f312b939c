"""The chaos suite's fast subset: a short seeded run under faults passes every checker, and the checkers
catch real defects of real masters (the self-test: failpoints that serve stale reads or drop watch
events). The long run is `minik8s chaos run --duration 600 --seed N` (docs/chaos.md)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from minik8s.chaos.run import RunSettings, run_chaos

from .workload_support import minik8s


def test_a_seeded_run_under_faults_passes_every_checker(tmp_path: Path) -> None:
    """`minik8s chaos run`: kills, pauses and torn journal tails while clients write and watch;
    linearizability, watches, durability and convergence all hold; the report says so."""
    out = tmp_path / "report"
    run = subprocess.run(minik8s("chaos", "run", "--duration", "8", "--seed", "4", "--out", str(out)),
                         capture_output=True, text=True, timeout=300)
    report = json.loads((out / "report.json").read_text())
    assert run.returncode == 0, run.stdout + run.stderr
    assert report["ok"] and {name: check["verdict"] for name, check in report["checks"].items()} == {
        "linearizability": "ok", "watch": "ok", "durability": "ok", "convergence": "ok"}
    assert sum(1 for fault in report["timeline"] if fault["action"] == "inject") >= 2
    assert report["operations"]["total"] > 300 and "verdict: OK" in (out / "report.txt").read_text()


@pytest.mark.parametrize(("failpoint", "caught_by"), [("stale-reads", "linearizability"),
                                                      ("drop-watch-events", "watch")])
def test_the_checkers_catch_a_deliberately_broken_store(failpoint: str, caught_by: str, tmp_path: Path) -> None:
    """Masters started with a failpoint (no faults injected): the right checker reports the defect."""
    report = run_chaos(RunSettings(duration=3, seed=2, nemeses=("pause-follower",), gap=(60.0, 60.0),
                                   failpoints=(failpoint,), root=tmp_path / "run"))
    assert not report.ok and report.checks[caught_by]["verdict"] == "violation", report.text()
    assert report.checks["durability"]["verdict"] == "ok" and report.checks["convergence"]["verdict"] == "ok"
