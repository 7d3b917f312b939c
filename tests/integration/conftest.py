"""Fixtures that start real masters on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .cluster import Cluster, running


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
