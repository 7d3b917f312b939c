"""Atomic projection of a set of files into a directory, like the kubelet's `AtomicWriter`.

ConfigMap, Secret, downward API and projected volumes are written with it
(`pkg/volume/util/atomic_writer.go`), so a container reading a mounted volume never sees half an
update, even of several files:

    <dir>/..2026_11_26_21_00_00.123456789/   the files of this version (a fresh directory each time)
    <dir>/..data -> ..2026_11_26_...          the current version; swapped by rename(2), atomically
    <dir>/<name> -> ..data/<name>             what the user sees: one symlink per top-level name

A write that changes nothing (same paths, bytes and modes) touches nothing. Names starting with
`..` are reserved; paths must be relative, without `..` elements. Not thread-safe: the caller
writes one volume from one thread at a time.
"""

from __future__ import annotations

import datetime
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass

__all__ = ["DATA_DIR", "AtomicWriter", "FileProjection", "validate_path"]

DATA_DIR = "..data"
_NEW_DATA_DIR = "..data_tmp"
_MAX_FILE_NAME = 255
_MAX_PATH = 4096


@dataclass(frozen=True)
class FileProjection:
    """One file's content and permission bits."""

    data: bytes
    mode: int = 0o644


def validate_path(path: str) -> str | None:
    """Why `path` cannot be written into a volume (None: it can)."""
    if not path:
        return "invalid path: must not be empty"
    if os.path.isabs(path):
        return f"invalid path: must be relative path: {path}"
    if len(path) > _MAX_PATH:
        return f"invalid path: must be less than or equal to {_MAX_PATH} characters"
    items = path.split("/")
    for item in items:
        if item == "..":
            return f"invalid path: must not contain '..': {path}"
        if len(item) > _MAX_FILE_NAME:
            return f"invalid path: filenames must be less than or equal to {_MAX_FILE_NAME} characters"
    if items[0].startswith("..") and len(items[0]) > 2:
        return f"invalid path: must not start with '..': {path}"
    if "\0" in path:
        return "invalid path: must not contain a NUL byte"
    return None


def _timestamp_prefix(now: datetime.datetime) -> str:
    return now.strftime("..%Y_%m_%d_%H_%M_%S.")


class AtomicWriter:
    """Writes payloads into `target_dir` (which must exist) with the `..data` symlink swap."""

    def __init__(self, target_dir: str, *,
                 clock: Callable[[], datetime.datetime] = lambda: datetime.datetime.now(datetime.timezone.utc)) -> None:
        if not os.path.isdir(target_dir):
            raise FileNotFoundError(f"target directory {target_dir} does not exist")
        self.target_dir = target_dir
        self._clock = clock

    def write(self, payload: Mapping[str, FileProjection]) -> bool:
        """Make the directory hold exactly `payload`; returns whether anything changed.

        Raises ValueError for an invalid path, OSError when the files cannot be written (the
        previous version then stays in place).
        """
        clean: dict[str, FileProjection] = {}
        for path, projection in payload.items():
            if (problem := validate_path(path)) is not None:
                raise ValueError(problem)
            clean[os.path.normpath(path)] = projection
        data_link = os.path.join(self.target_dir, DATA_DIR)
        try:
            old_version = os.readlink(data_link)
        except FileNotFoundError:
            old_version = ""
        old_dir = os.path.join(self.target_dir, old_version) if old_version else ""
        to_remove: set[str] = set()
        if old_dir:
            to_remove = self._paths_to_remove(clean, old_dir)
            if not to_remove and not _differs(clean, old_dir):
                return False
        new_dir = tempfile.mkdtemp(prefix=_timestamp_prefix(self._clock()), dir=self.target_dir)
        try:
            os.chmod(new_dir, 0o755)
            _write_payload(clean, new_dir)
            self._create_visible(clean)
            new_link = os.path.join(self.target_dir, _NEW_DATA_DIR)
            if os.path.lexists(new_link):
                os.unlink(new_link)  # left by a write that died half-way
            os.symlink(os.path.basename(new_dir), new_link)
            os.rename(new_link, data_link)  # the atomic step
        except BaseException:
            shutil.rmtree(new_dir, ignore_errors=True)
            raise
        for path in to_remove:
            if "/" not in path:  # only the user-visible symlinks at the top
                try:
                    os.unlink(os.path.join(self.target_dir, path))
                except FileNotFoundError:
                    pass
        if old_dir:
            shutil.rmtree(old_dir, ignore_errors=True)
        return True

    def _paths_to_remove(self, payload: Mapping[str, FileProjection], old_dir: str) -> set[str]:
        """Paths of the current version that the new payload no longer has (directories included)."""
        current: set[str] = set()
        for root, dirs, files in os.walk(old_dir):
            for name in [*dirs, *files]:
                current.add(os.path.relpath(os.path.join(root, name), old_dir))
        wanted: set[str] = set()
        for path in payload:
            while path:
                wanted.add(path)
                path = os.path.dirname(path)
        return current - wanted

    def _create_visible(self, payload: Mapping[str, FileProjection]) -> None:
        """A `name -> ..data/name` symlink for every top-level name of the payload."""
        for path in payload:
            top = path.split("/", 1)[0]
            visible = os.path.join(self.target_dir, top)
            if not os.path.islink(visible):
                if os.path.lexists(visible):  # a stray file or directory in the way
                    shutil.rmtree(visible) if os.path.isdir(visible) else os.unlink(visible)
                os.symlink(os.path.join(DATA_DIR, top), visible)


def _differs(payload: Mapping[str, FileProjection], old_dir: str) -> bool:
    for path, projection in payload.items():
        full = os.path.join(old_dir, path)
        try:
            info = os.lstat(full)
            if not stat.S_ISREG(info.st_mode) or stat.S_IMODE(info.st_mode) != projection.mode:
                return True
            with open(full, "rb") as f:
                if f.read() != projection.data:
                    return True
        except FileNotFoundError:
            return True
    return False


def _write_payload(payload: Mapping[str, FileProjection], directory: str) -> None:
    for path, projection in payload.items():
        full = os.path.join(directory, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        fd = os.open(full, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(projection.data)
        os.chmod(full, projection.mode)  # exactly the mode asked for, whatever the umask
