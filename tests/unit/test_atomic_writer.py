"""The atomic writer: a timestamped directory per version, `..data` swapped, visible names through it."""

from __future__ import annotations

import datetime
import os
import stat
import threading
from pathlib import Path

import pytest

from minik8s.node.atomic_writer import DATA_DIR, AtomicWriter, FileProjection, validate_path

CLOCK = lambda: datetime.datetime(2026, 11, 26, 21, 0, 5, tzinfo=datetime.timezone.utc)  # noqa: E731


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_atomic_writer_layout(tmp_path: Path) -> None:
    """Files live in a `..<timestamp>` directory; `..data` points at it; names are symlinks through `..data`."""
    writer = AtomicWriter(str(tmp_path), clock=CLOCK)
    assert writer.write({"a.conf": FileProjection(b"A"), "sub/dir/b": FileProjection(b"B", 0o400)}) is True
    version = os.readlink(tmp_path / DATA_DIR)
    assert version.startswith("..2026_11_26_21_00_05.") and "/" not in version
    assert os.readlink(tmp_path / "a.conf") == f"{DATA_DIR}/a.conf"
    assert os.readlink(tmp_path / "sub") == f"{DATA_DIR}/sub"
    assert (tmp_path / "a.conf").read_bytes() == b"A" and (tmp_path / "sub/dir/b").read_bytes() == b"B"
    assert _mode(tmp_path / "a.conf") == 0o644 and _mode(tmp_path / "sub/dir/b") == 0o400
    assert sorted(os.listdir(tmp_path)) == sorted([DATA_DIR, version, "a.conf", "sub"])


def test_atomic_writer_update_swaps_and_cleans_up(tmp_path: Path) -> None:
    """An update makes a new version, removes names no longer there and the old version; no change, no write."""
    writer = AtomicWriter(str(tmp_path))
    writer.write({"keep": FileProjection(b"1"), "drop": FileProjection(b"x")})
    first = os.readlink(tmp_path / DATA_DIR)
    assert writer.write({"keep": FileProjection(b"1"), "drop": FileProjection(b"x")}) is False
    assert os.readlink(tmp_path / DATA_DIR) == first
    assert writer.write({"keep": FileProjection(b"2"), "new": FileProjection(b"n")}) is True
    second = os.readlink(tmp_path / DATA_DIR)
    assert second != first and not (tmp_path / first).exists()
    assert (tmp_path / "keep").read_bytes() == b"2" and (tmp_path / "new").read_bytes() == b"n"
    assert not os.path.lexists(tmp_path / "drop")
    assert writer.write({"keep": FileProjection(b"2", 0o600), "new": FileProjection(b"n")}) is True  # mode only
    assert _mode(tmp_path / "keep") == 0o600
    assert writer.write({}) is True and sorted(os.listdir(tmp_path)) == sorted([DATA_DIR, os.readlink(
        tmp_path / DATA_DIR)])


def test_atomic_writer_readers_never_see_a_mix(tmp_path: Path) -> None:
    """Two files written together are always read from one version by a reader going through `..data`."""
    writer = AtomicWriter(str(tmp_path))
    writer.write({"a": FileProjection(b"0"), "b": FileProjection(b"0")})
    stop = threading.Event()
    mixed: list[tuple[bytes, bytes]] = []

    def read() -> None:
        while not stop.is_set():
            try:
                version = os.readlink(tmp_path / DATA_DIR)  # a reader that pins one version, as inotify users do
                a, b = (tmp_path / version / "a").read_bytes(), (tmp_path / version / "b").read_bytes()
            except FileNotFoundError:
                continue  # that version was just removed: read again
            if a != b:
                mixed.append((a, b))

    reader = threading.Thread(target=read)
    reader.start()
    for i in range(1, 100):
        writer.write({"a": FileProjection(str(i).encode()), "b": FileProjection(str(i).encode())})
    stop.set()
    reader.join()
    assert mixed == []


@pytest.mark.parametrize(("path", "problem"), [
    pytest.param("", "must not be empty", id="empty"),
    pytest.param("/etc/passwd", "must be relative", id="absolute"),
    pytest.param("a/../../b", "must not contain '..'", id="dotdot"),
    pytest.param("..data", "must not start with '..'", id="reserved"),
    pytest.param("x" * 256, "filenames must be less than or equal to 255", id="long-name"),
])
def test_atomic_writer_refuses_bad_paths(tmp_path: Path, path: str, problem: str) -> None:
    """Paths that would escape the volume or clash with the writer's own names are refused, nothing written."""
    assert problem in (validate_path(path) or "")
    with pytest.raises(ValueError, match=problem.split("'")[0]):
        AtomicWriter(str(tmp_path)).write({path: FileProjection(b"x")})
    assert os.listdir(tmp_path) == []
    assert validate_path("ok/..x/file") is None
