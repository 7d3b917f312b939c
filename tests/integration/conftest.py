"""Fixtures that start real masters on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .cluster import Cluster


def _running(root: Path, size: int) -> Iterator[Cluster]:
    c = Cluster(root, size)
    try:
        c.start()
        c.wait_ready()
        yield c
    finally:
        c.stop()


@pytest.fixture
def cluster3(tmp_path: Path) -> Iterator[Cluster]:
    """Three masters, started and ready; stopped (by pid) afterwards."""
    yield from _running(tmp_path / "cluster", 3)


@pytest.fixture
def cluster1(tmp_path: Path) -> Iterator[Cluster]:
    """One master, started and ready; stopped (by pid) afterwards."""
    yield from _running(tmp_path / "cluster", 1)
