"""Power loss of every master (issue 14, item 3): each master's data directory is a lazyfs mount
that keeps what was not fsynced in memory, and a power loss kills the masters and then the
daemons. Every acknowledged write survives; a master that does not fsync (the `no-fsync`
failpoint) loses acknowledged writes, and the checkers say so."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import pytest

from minik8s.chaos.run import RunSettings, run_chaos

pytestmark = pytest.mark.skipif(not os.path.exists("/dev/fuse") or shutil.which("fusermount3") is None,
                                reason="lazyfs needs /dev/fuse and fusermount3 (Debian's fuse3)")


def _power_losses(timeline: list[dict[str, object]]) -> list[int]:
    """The unsynced pages each injected power loss dropped."""
    return [int(m.group(1)) for f in timeline if f["action"] == "inject"
            and (m := re.search(r"(\d+) unsynced pages dropped", str(f["detail"])))]


def test_every_acknowledged_write_survives_a_power_loss_of_every_master(tmp_path: Path) -> None:
    """Writers and watchers through all three masters; every master loses power at once (what it
    had not fsynced is dropped), then restarts: linearizable, no acknowledged write lost or applied
    twice, watches complete, stores equal."""
    report = run_chaos(RunSettings(duration=4, seed=11, nemeses=("power-loss",), gap=(1.0, 1.5),
                                   root=tmp_path / "run"))
    assert report.ok, report.text()
    dropped = _power_losses(report.timeline)
    assert dropped and max(dropped) > 0, report.text()  # the power loss did drop unsynced data
    assert report.checks["durability"]["detail"]["writes_checked"] > 0


def test_a_master_that_does_not_fsync_loses_acknowledged_writes_and_is_caught(tmp_path: Path) -> None:
    """The same run against masters whose journal and store never fsync: the durability checker
    reports acknowledged writes lost."""
    # 10 keys: with 3, every key's last acknowledged write was sometimes a delete, so losing the
    # whole store (the namespace included) left a final state the history allowed
    report = run_chaos(RunSettings(duration=4, seed=11, keys=10, nemeses=("power-loss",), gap=(1.0, 1.5),
                                   failpoints=("no-fsync",), root=tmp_path / "run"))
    assert not report.ok and report.checks["durability"]["verdict"] == "violation", report.text()
    assert "lost" in report.checks["durability"]["summary"]
