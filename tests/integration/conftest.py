"""Fixtures that start real masters on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .cluster import Cluster, running
from .slurm_cluster import SlurmCluster, running_slurm


@pytest.fixture
def cluster3(tmp_path: Path) -> Iterator[Cluster]:
    """Three masters, started and ready; stopped (by pid) afterwards."""
    with running(tmp_path / "cluster", 3) as c:
        yield c


@pytest.fixture
def cluster1(tmp_path: Path) -> Iterator[Cluster]:
    """One master, started and ready; stopped (by pid) afterwards."""
    with running(tmp_path / "cluster", 1) as c:
        yield c


@pytest.fixture(scope="session")
def slurm_cluster() -> Iterator[SlurmCluster]:
    """A local Slurm (munged, slurmctld, slurmd with 2 fake GPUs) and an sshd on loopback for
    the whole session; stopped and wiped afterwards. Fails, never skips, when it cannot start."""
    try:
        with running_slurm() as cluster:
            yield cluster
    except RuntimeError as e:
        pytest.fail(str(e), pytrace=False)
