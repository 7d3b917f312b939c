"""`minik8s up` counts a master restarted by hand with its recorded command line (`master_argv`) as running."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from minik8s.cli.localcluster import LocalCluster


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    """Processes a test starts, killed (by pid) afterwards."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        proc.kill()
        proc.wait(timeout=10)


def test_up_counts_a_master_restarted_by_hand_towards_the_majority(
        tmp_path: Path, processes: list[subprocess.Popen[bytes]]) -> None:
    """Two of three masters `up` started are dead: no majority, until one runs again with its recorded command line."""
    argvs = [["sleep", f"300.{secrets.randbelow(10**9)}"] for _ in range(3)]  # unique command lines
    dead = [subprocess.Popen(["true"]) for _ in range(2)]
    for proc in dead:
        proc.wait(timeout=10)
    processes.append(subprocess.Popen(argvs[2]))
    cluster = LocalCluster(tmp_path)
    cluster.state["master_argv"] = argvs
    cluster._masters = [*dead, processes[0]]
    assert not cluster.alive()
    processes.append(subprocess.Popen(argvs[0]))
    assert cluster.alive()
