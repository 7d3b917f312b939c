"""Files and directories that hold secrets: created private (0600 / 0700), checked at start-up.

Every file that holds a token, a key or the cluster secret is created with `os.open(..., 0o600)`
(never written first and chmod-ed after, which leaves a window), data directories are 0700, and
the servers warn when a secret file they are given can be read by group or others — like ssh
does for private keys, but a warning, not a refusal.
"""

from __future__ import annotations

import logging
import os
import stat
import tempfile
from pathlib import Path

PRIVATE_FILE = 0o600
PRIVATE_DIR = 0o700

log = logging.getLogger(__name__)


def ensure_private_dir(path: str | os.PathLike[str]) -> Path:
    """Create `path` (and missing parents) as 0700, and make an existing `path` 0700."""
    directory = Path(path)
    directory.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    if stat.S_IMODE(directory.stat().st_mode) != PRIVATE_DIR:
        directory.chmod(PRIVATE_DIR)
    return directory


def _as_bytes(content: str | bytes) -> bytes:
    return content.encode() if isinstance(content, str) else content


def write_private(path: str | os.PathLike[str], content: str | bytes) -> Path:
    """Replace `path` atomically with `content`, mode 0600 from the first byte on."""
    target = Path(path)
    fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")  # mkstemp creates 0600
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(_as_bytes(content))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return target


def create_private_once(path: str | os.PathLike[str], content: str | bytes) -> Path:
    """Create `path` (0600, exclusive) with `content` unless it exists; an existing one is made 0600."""
    target = Path(path)
    try:
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE)
    except FileExistsError:
        if stat.S_IMODE(target.stat().st_mode) & 0o077:
            target.chmod(PRIVATE_FILE)
        return target
    with os.fdopen(fd, "wb") as f:
        f.write(_as_bytes(content))
    return target


def open_private_append(path: str | os.PathLike[str]) -> int:
    """An O_APPEND descriptor on `path`, 0600 (logs of processes that may print secrets)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, PRIVATE_FILE)
    os.fchmod(fd, PRIVATE_FILE)  # a log created before logs were private
    return fd


def exposure(path: str | os.PathLike[str]) -> str | None:
    """Why `path` is readable by others than its owner (a sentence), or None when it is private."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError:
        return None  # the caller reports a missing file when it reads it
    if not mode & 0o077:
        return None
    who = " and ".join(w for w, bits in (("group", 0o070), ("others", 0o007)) if mode & bits)
    return f"{path} is accessible by {who} (mode {mode:04o}); run: chmod 600 {path}"


def warn_if_exposed(path: str | os.PathLike[str] | None, what: str, logger: logging.Logger | None = None) -> bool:
    """Log a warning when the secret file `path` (a `what`, e.g. "token file") is not private."""
    if not path:
        return False
    problem = exposure(path)
    if problem is None:
        return False
    (logger or log).warning("%s %s", what, problem)
    return True
