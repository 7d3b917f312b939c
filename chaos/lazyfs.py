"""A FUSE layer that loses what was not fsynced when it is killed: power loss for the chaos suite.

Like Jepsen's lazyfs, the daemon passes a backing directory through, but keeps file *data*
(writes, truncations, size changes) in its own memory, as dirty 4 KiB pages and a logical size
per file, until that file is fsynced (or fdatasynced); reads merge the backing file with the dirty
pages. Metadata operations (create, mkdir, unlink, rename, chmod, link, symlink) reach the backing
directory at once. Dirty pages are keyed by the backing inode, so a rename keeps them and the
last unlink drops them. A clean unmount (SIGTERM) syncs every file; SIGKILL of the daemon is a
power loss: the dirty pages are gone, and a fresh daemon over the same backing directory sees only
what was synced. SIGUSR1 drops the dirty pages without unmounting (lazyfs' "clear-cache"); the
daemon logs how many pages it synced and dropped.

The kernel caches pages of FUSE files too. The mount never asks for the kernel's write-back cache
(every write reaches the daemon at once) and attributes and entries expire at once, so the logical
size is always the daemon's. A remount after a power loss is a new superblock with an empty page
cache; after SIGUSR1 the kernel may still serve dropped data of files that stay open (it drops its
pages of a file when the file is opened again). `direct_io` is off because LMDB maps its files
(read-only for data.mdb, shared and writable for lock.mdb); both work through the page cache.

Overhead (1 KiB appends, each followed by fdatasync, on the 2-core development machine under
load; medians of 20 interleaved rounds): about 3,200/s on the plain ext4 disk and 1,700/s through
lazyfs over it; over tmpfs, where only the layer costs, 386,000/s plain and 10,800/s through lazyfs
(about 90 us per write and fdatasync, 35 us of it the daemon's CPU). Unsynced 64 KiB writes: about
640 MiB/s against 4.5 GiB/s. sync(1) and syncfs(2) never reach a FUSE daemon: only fsync of a file
makes its data durable here.

`LazyMount(backing, mountpoint)` runs the daemon (`python -m minik8s.chaos.lazyfs BACKING
MOUNTPOINT`) in a session of its own and only ever signals its own pid and unmounts its own path.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)
PAGE = 4096
_WRITE_MODES = os.O_WRONLY | os.O_RDWR
# The daemon applies O_TRUNC to its cache and writes at explicit offsets, so the backing file is
# opened without them.
_STRIPPED_FLAGS = os.O_TRUNC | os.O_APPEND | os.O_CREAT | os.O_EXCL | getattr(os, "O_DIRECT", 0)
_FUSE_CAP_WRITEBACK_CACHE = 1 << 16


class _DirtyFile:
    """Unsynced state of one backing inode: its logical size and its dirty pages."""

    def __init__(self, fd: int) -> None:
        self.fd = fd  # our own read-write descriptor of the backing inode
        self.size = os.fstat(fd).st_size
        self.floor = self.size  # backing bytes at or past this offset were truncated away
        self.pages: dict[int, bytearray] = {}

    def read(self, size: int, offset: int) -> bytes:
        end = min(offset + size, self.size)
        if end <= offset:
            return b""
        buf = bytearray(end - offset)
        if min(end, self.floor) > offset:
            data = os.pread(self.fd, min(end, self.floor) - offset, offset)
            buf[:len(data)] = data
        for index in range(offset // PAGE, (end - 1) // PAGE + 1):
            page = self.pages.get(index)
            if page is not None:
                lo, hi = max(offset, index * PAGE), min(end, (index + 1) * PAGE)
                buf[lo - offset:hi - offset] = page[lo - index * PAGE:hi - index * PAGE]
        return bytes(buf)

    def write(self, data: bytes, offset: int) -> None:
        if not data:  # an empty write never changes the size
            return
        end = offset + len(data)
        for index in range(offset // PAGE, (end - 1) // PAGE + 1):
            page = self.pages.get(index)
            if page is None:
                page = self.pages[index] = bytearray(self.read(PAGE, index * PAGE).ljust(PAGE, b"\0"))
            lo, hi = max(offset, index * PAGE), min(end, (index + 1) * PAGE)
            page[lo - index * PAGE:hi - index * PAGE] = data[lo - offset:hi - offset]
        self.size = max(self.size, end)

    def truncate(self, length: int) -> None:
        if length < self.size:
            self.floor = min(self.floor, length)
            for index in [i for i in self.pages if i * PAGE >= length]:
                del self.pages[index]
            tail = self.pages.get(length // PAGE)
            if tail is not None:  # bytes past the new end read as zeros if the file grows again
                tail[length % PAGE:] = bytes(PAGE - length % PAGE)
        self.size = length

    def sync(self) -> int:
        """Write the dirty pages and the size to the backing file (no fsync); pages written."""
        if self.floor < os.fstat(self.fd).st_size:
            os.ftruncate(self.fd, self.floor)
        written = 0
        for index, page in sorted(self.pages.items()):
            if index * PAGE < self.size:
                os.pwrite(self.fd, page[:self.size - index * PAGE], index * PAGE)
                written += 1
        if os.fstat(self.fd).st_size != self.size:
            os.ftruncate(self.fd, self.size)
        return written


class LazyFS:
    """mfusepy operations: a passthrough of `root` that keeps file data in memory until fsync."""

    use_ns = True  # mfusepy: times in nanoseconds

    def __init__(self, root: str) -> None:
        self.root = root
        self._lock = threading.Lock()  # FUSE runs single-threaded; this guards against SIGUSR1
        self._files: dict[int, _DirtyFile] = {}  # backing inode -> unsynced state
        self._inode_of: dict[int, int] = {}  # open backing fd (the FUSE file handle) -> inode
        self.pages_synced = 0
        self.pages_dropped = 0
        self.unmounted = False

    def _path(self, path: str) -> str:
        return self.root + path

    def _dirty(self, inode: int, fd: int | None = None, path: str | None = None) -> _DirtyFile:
        state = self._files.get(inode)
        if state is None:
            own = os.dup(fd) if fd is not None else os.open(self._path(path or ""), os.O_RDWR)
            state = self._files[inode] = _DirtyFile(own)
        return state

    def _forget(self, inode: int) -> int:
        """Drop the unsynced state of `inode`; the number of dirty pages it had."""
        state = self._files.pop(inode, None)
        if state is None:
            return 0
        os.close(state.fd)
        return len(state.pages)

    def _forget_if_last_link(self, path: str) -> int | None:
        """The inode that removing `path` would free (its last link), if it is a regular file."""
        try:
            st = os.lstat(self._path(path))
        except FileNotFoundError:
            return None
        return st.st_ino if stat.S_ISREG(st.st_mode) and st.st_nlink == 1 else None

    # ---- lifecycle -----------------------------------------------------------------------------

    def init_with_config(self, conn: Any, config: Any) -> None:
        conn.want &= ~_FUSE_CAP_WRITEBACK_CACHE  # every write must reach the daemon
        for name in ("entry_timeout", "attr_timeout", "negative_timeout"):
            setattr(config, name, 0.0)
        log.info("lazyfs: %s mounted (pid %d), %d orphaned files removed", self.root, os.getpid(),
                 self._remove_orphans())

    def _remove_orphans(self) -> int:
        """Delete what libfuse kept of files unlinked while open (renamed `.fuse_hidden*`).

        After a power loss nothing holds them any more; a journaling file system frees such orphans
        when it is mounted again. The walk stays on the backing file system: a daemon owns its
        backing directory, other mounts below it are not its business."""
        device, removed = os.stat(self.root).st_dev, 0
        for folder, dirs, files in os.walk(self.root):
            dirs[:] = [d for d in dirs if os.lstat(os.path.join(folder, d)).st_dev == device]
            for name in files:
                if name.startswith(".fuse_hidden"):
                    os.unlink(os.path.join(folder, name))
                    removed += 1
        return removed

    def destroy(self, path: str) -> None:
        with self._lock:
            for inode in list(self._files):
                self.pages_synced += self._files[inode].sync()
                os.fsync(self._files[inode].fd)
                self._forget(inode)
            self.unmounted = True
        log.info("lazyfs: unmounted cleanly: %d pages synced, %d dropped", self.pages_synced, self.pages_dropped)

    def clear_cache(self) -> None:
        """Drop every unsynced page, as a power loss would (the mount stays)."""
        with self._lock:
            files = len(self._files)
            dropped = sum(self._forget(inode) for inode in list(self._files))
            self.pages_dropped += dropped
        log.info("lazyfs: clear-cache dropped %d dirty pages of %d files (%d synced, %d dropped in all)",
                 dropped, files, self.pages_synced, self.pages_dropped)

    # ---- data ----------------------------------------------------------------------------------

    def open(self, path: str, flags: int) -> int:
        return self._open(path, flags)

    def create(self, path: str, mode: int, flags: int) -> int:
        return self._open(path, flags | os.O_CREAT, mode)

    def _open(self, path: str, flags: int, mode: int = 0o600) -> int:
        backing_flags = flags & ~_STRIPPED_FLAGS & ~_WRITE_MODES
        # Partly written pages are read back to merge them, so a writer needs read access.
        backing_flags |= os.O_RDWR if flags & _WRITE_MODES else os.O_RDONLY
        fd = os.open(self._path(path), backing_flags | (flags & os.O_CREAT), mode)
        inode = os.fstat(fd).st_ino
        self._inode_of[fd] = inode
        if flags & os.O_TRUNC and flags & _WRITE_MODES:
            with self._lock:
                self._dirty(inode, fd).truncate(0)
        return fd

    def read(self, path: str, size: int, offset: int, fh: int) -> bytes:
        with self._lock:
            state = self._files.get(self._inode_of[fh])
            return os.pread(fh, size, offset) if state is None else state.read(size, offset)

    def write(self, path: str, data: bytes, offset: int, fh: int) -> int:
        with self._lock:
            self._dirty(self._inode_of[fh], fh).write(data, offset)
        return len(data)

    def truncate(self, path: str, length: int, fh: int | None = None) -> int:
        inode = os.lstat(self._path(path)).st_ino
        with self._lock:
            self._dirty(inode, path=path).truncate(length)
        return 0

    def fsync(self, path: str, datasync: int, fh: int) -> int:
        flush = os.fdatasync if datasync else os.fsync
        inode = self._inode_of[fh]
        with self._lock:
            state = self._files.get(inode)
            if state is None:
                flush(fh)
            else:  # on an error the pages stay dirty, as a kernel keeps them for the next fsync
                self.pages_synced += state.sync()
                flush(state.fd)
                self._forget(inode)
        return 0

    def release(self, path: str, fh: int) -> int:
        self._inode_of.pop(fh, None)
        os.close(fh)
        return 0

    def getattr(self, path: str, fh: int | None = None) -> dict[str, Any]:
        st = os.lstat(self._path(path))
        attrs = {key: getattr(st, key) for key in ("st_mode", "st_ino", "st_nlink", "st_uid", "st_gid",
                                                   "st_size", "st_blocks", "st_rdev")}
        attrs.update(st_atime=st.st_atime_ns, st_mtime=st.st_mtime_ns, st_ctime=st.st_ctime_ns)
        with self._lock:
            state = self._files.get(st.st_ino)
            if state is not None:
                attrs["st_size"] = state.size
        return attrs

    # ---- metadata: straight to the backing directory ---------------------------------------------

    def unlink(self, path: str) -> int:
        freed = self._forget_if_last_link(path)
        os.unlink(self._path(path))
        if freed is not None:
            with self._lock:
                self._forget(freed)
        return 0

    def rename(self, old: str, new: str) -> int:
        freed = self._forget_if_last_link(new)
        os.rename(self._path(old), self._path(new))
        if freed is not None and freed != os.lstat(self._path(new)).st_ino:
            with self._lock:
                self._forget(freed)
        return 0

    def link(self, target: str, source: str) -> int:
        os.link(self._path(source), self._path(target))
        return 0

    def symlink(self, target: str, source: str) -> int:
        os.symlink(source, self._path(target))
        return 0

    def readlink(self, path: str) -> str:
        return os.readlink(self._path(path))

    def mkdir(self, path: str, mode: int) -> int:
        os.mkdir(self._path(path), mode)
        return 0

    def rmdir(self, path: str) -> int:
        os.rmdir(self._path(path))
        return 0

    def chmod(self, path: str, mode: int) -> int:
        os.chmod(self._path(path), mode)
        return 0

    def chown(self, path: str, uid: int, gid: int) -> int:
        os.chown(self._path(path), uid, gid)
        return 0

    def utimens(self, path: str, times: tuple[int, int] | None = None) -> int:
        os.utime(self._path(path), ns=times)
        return 0

    def readdir(self, path: str, fh: int) -> list[str]:
        return [".", "..", *os.listdir(self._path(path))]

    def statfs(self, path: str) -> dict[str, int]:
        st = os.statvfs(self._path(path))
        return {key: getattr(st, key) for key in ("f_bsize", "f_frsize", "f_blocks", "f_bfree", "f_bavail",
                                                  "f_files", "f_ffree", "f_favail", "f_flag", "f_namemax")}


def serve(backing: Path, mountpoint: Path, *, debug: bool = False) -> None:
    """Mount `backing` at `mountpoint` and serve it in the foreground until unmounted or signalled."""
    import mfusepy  # loads libfuse3: only the daemon needs it

    fs = LazyFS(str(backing.resolve()))
    # SIGUSR1 is taken by a thread of its own: the main thread sits in libfuse's C loop, where
    # Python signal handlers would only run at the next file system request.
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGUSR1})

    def clear_on_signal() -> None:
        while True:
            signal.sigwait({signal.SIGUSR1})
            fs.clear_cache()

    threading.Thread(target=clear_on_signal, name="lazyfs-sigusr1", daemon=True).start()
    try:
        mfusepy.FUSE(fs, str(mountpoint), foreground=True, nothreads=True, debug=debug,
                     fsname="lazyfs", subtype="lazyfs")
    except RuntimeError:
        if not fs.unmounted:  # libfuse also reports a loop ended by SIGTERM as an error (8)
            raise


# ---- the daemon as seen from the chaos suite ----------------------------------------------------

def _unescape(field: str) -> str:
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def is_mounted(mountpoint: Path) -> bool:
    """Whether something is mounted at `mountpoint` (per /proc/self/mountinfo)."""
    target = str(mountpoint)
    with open("/proc/self/mountinfo") as f:
        return any(_unescape(line.split()[4]) == target for line in f)


def unsynced_pages(mountpoint: Path, backing: Path) -> int:
    """How many 4 KiB pages of the files under a live mount differ from their backing files: what a
    power loss now would drop (read while no process writes, e.g. after the writers were killed)."""
    pages = 0
    for directory, _, files in os.walk(mountpoint):
        for name in files:
            seen = Path(directory) / name
            try:
                with open(seen, "rb") as new, open(backing / seen.relative_to(mountpoint), "rb") as old:
                    while True:
                        a, b = new.read(PAGE), old.read(PAGE)
                        if not a and not b:
                            break
                        pages += a != b
            except OSError:
                continue
    return pages


class LazyMount:
    """One lazyfs daemon over `backing`, mounted at `mountpoint`; it only touches its own pid and path."""

    def __init__(self, backing: Path, mountpoint: Path, *, log_path: Path | None = None) -> None:
        self.backing = backing.resolve()
        self.mountpoint = mountpoint.resolve()
        self.log_path = log_path or self.mountpoint.with_name(self.mountpoint.name + ".lazyfs.log")
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def start(self, timeout: float = 10.0) -> None:
        """Start the daemon and return once the mount is live (RuntimeError with its log otherwise)."""
        if is_mounted(self.mountpoint):
            raise RuntimeError(f"{self.mountpoint} is already a mount point")
        self.backing.mkdir(parents=True, exist_ok=True)
        self.mountpoint.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "minik8s.chaos.lazyfs", str(self.backing), str(self.mountpoint)],
                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + timeout
        while not is_mounted(self.mountpoint):
            if not self.alive or time.monotonic() > deadline:
                self._kill()
                raise RuntimeError(f"lazyfs did not mount {self.mountpoint}:\n{self.log_tail()}")
            time.sleep(0.02)

    def power_loss(self, timeout: float = 10.0) -> None:
        """SIGKILL the daemon (its unsynced data is lost) and detach the dead mount."""
        self._kill()
        self._detach(timeout)

    def clear_cache(self) -> None:
        """Drop the unsynced data but keep the mount (reopen files to see the loss: see the module doc)."""
        if self.alive and self.process is not None:
            os.kill(self.process.pid, signal.SIGUSR1)

    def stop(self, timeout: float = 10.0) -> None:
        """Unmount cleanly (every dirty page is synced); a power loss if that takes over `timeout`."""
        if self.alive and self.process is not None:
            self.process.terminate()
            try:
                self.process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                log.warning("lazyfs at %s did not stop within %.0f s: killed", self.mountpoint, timeout)
        self.power_loss(timeout)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def _kill(self) -> None:
        if self.alive and self.process is not None:
            os.kill(self.process.pid, signal.SIGKILL)
        if self.process is not None:
            self.process.wait(timeout=30)

    def _detach(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while is_mounted(self.mountpoint):
            if shutil.which("fusermount3"):
                subprocess.run(["fusermount3", "-u", "-z", str(self.mountpoint)], capture_output=True, check=False)
            else:
                subprocess.run(["umount", "-l", str(self.mountpoint)], capture_output=True, check=False)
            if time.monotonic() > deadline:
                raise RuntimeError(f"could not unmount {self.mountpoint}")
            time.sleep(0.02)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m minik8s.chaos.lazyfs",
        description="Mount BACKING at MOUNTPOINT (FUSE, foreground). File data stays in this process's "
                    "memory until the file is fsynced; SIGKILL loses it (a power loss), SIGTERM or an "
                    "unmount syncs it, SIGUSR1 drops it and keeps the mount. Metadata passes through.")
    parser.add_argument("backing", type=Path, help="directory that holds the durable data")
    parser.add_argument("mountpoint", type=Path, help="empty directory to mount on")
    parser.add_argument("--debug", action="store_true", help="log every FUSE request (libfuse -d)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if not args.backing.is_dir():
        parser.error(f"{args.backing} is not a directory")
    try:
        serve(args.backing, args.mountpoint, debug=args.debug)
    except RuntimeError as e:
        sys.exit(f"lazyfs: libfuse ended with code {e}")


if __name__ == "__main__":
    main()
