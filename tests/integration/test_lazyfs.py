"""The power-loss file system (`chaos.lazyfs`) on a real FUSE mount: what was fsynced survives a
power loss, nothing else does; LMDB and the Raft journal reopen cleanly on what is left."""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import lmdb
import pytest

from minik8s.chaos.lazyfs import LazyMount, is_mounted
from minik8s.consensus.journal import DurableJournal

pytestmark = pytest.mark.skipif(
    not os.path.exists("/dev/fuse") or shutil.which("fusermount3") is None,
    reason="needs /dev/fuse and fusermount3 (Debian package fuse3) for a real FUSE mount")


@pytest.fixture
def lazy(tmp_path: Path) -> Iterator[LazyMount]:
    """A started lazyfs over tmp_path/backing at tmp_path/mnt; unmounted afterwards, whatever happened."""
    mount = LazyMount(tmp_path / "backing", tmp_path / "mnt")
    mount.start()
    try:
        yield mount
    finally:
        mount.stop()
        assert not is_mounted(mount.mountpoint)


def reboot(mount: LazyMount) -> None:
    """Power loss, then a fresh daemon over the same backing directory."""
    mount.power_loss()
    mount.start()


def write(path: Path, data: bytes, *, offset: int = 0, sync: bool = False) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        os.pwrite(fd, data, offset)
        if sync:
            os.fsync(fd)
    finally:
        os.close(fd)


def fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fdatasync(fd)
    finally:
        os.close(fd)


class Writer:
    """A child process that runs `code` on the mount, says "ready" and waits to be killed."""

    def __init__(self, code: str, **names: object) -> None:
        prelude = "".join(f"{k} = {v!r}\n" for k, v in names.items())
        script = prelude + textwrap.dedent(code) + "\nprint('ready', flush=True)\nsys.stdin.read()\n"
        self.process = subprocess.Popen([sys.executable, "-c", "import sys\n" + script], stdin=subprocess.PIPE,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert self.process.stdout is not None
        line = self.process.stdout.readline()  # the child exits (EOF) if its code fails
        if line != b"ready\n":
            self.kill()
            raise AssertionError(self.process.communicate()[1].decode(errors="replace"))

    def kill(self) -> None:
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        for stream in (self.process.stdin, self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def test_lazyfs_keeps_only_fsynced_data_across_power_loss(lazy: LazyMount) -> None:
    """Per file, exactly the bytes present at its last fsync survive; reads before the loss see every write."""
    mnt = lazy.mountpoint
    synced, grown = os.urandom(3 * 4096 + 100), os.urandom(5000)
    write(mnt / "extended", synced, sync=True)
    write(mnt / "extended", grown, offset=len(synced) - 10)  # overwrites a tail and extends, unsynced
    write(mnt / "never", b"lost")
    write(mnt / "other", b"durable", sync=True)
    expected = synced[:-10] + grown
    assert (mnt / "extended").read_bytes() == expected
    assert os.stat(mnt / "extended").st_size == len(expected)
    assert (lazy.backing / "extended").read_bytes() == synced  # nothing reached the disk yet
    reboot(lazy)
    assert (mnt / "extended").read_bytes() == synced
    assert (mnt / "never").read_bytes() == b""  # the create passed through, its data did not
    assert (mnt / "other").read_bytes() == b"durable"


def test_lazyfs_truncation_is_lazy_and_reads_zeros_past_it(lazy: LazyMount) -> None:
    """A shrink then a write past the end reads as zeros between; unsynced it is undone, fsynced it stays."""
    path = lazy.mountpoint / "f"
    original = os.urandom(2 * 4096 + 300)
    write(path, original, sync=True)
    os.truncate(path, 5000)
    write(path, b"B" * 10, offset=9000)
    expected = original[:5000] + bytes(4000) + b"B" * 10
    assert path.read_bytes() == expected
    reboot(lazy)
    assert path.read_bytes() == original
    os.truncate(path, 5000)
    write(path, b"B" * 10, offset=9000)
    fsync(path)
    os.truncate(path, 100)  # unsynced again: lost
    reboot(lazy)
    assert path.read_bytes() == expected


def test_lazyfs_rename_keeps_dirty_pages_and_only_fsync_makes_them_durable(lazy: LazyMount) -> None:
    """Renames pass through at once; the renamed file keeps its unsynced data, lost unless fsynced;
    a file unlinked while open leaves nothing behind."""
    mnt = lazy.mountpoint
    held = os.open(mnt / "c", os.O_RDWR | os.O_CREAT, 0o600)
    os.unlink(mnt / "c")  # libfuse keeps it as .fuse_hidden* while it is open
    write(mnt / "a.tmp", b"synced after rename")
    os.replace(mnt / "a.tmp", mnt / "a")
    fsync(mnt / "a")
    write(mnt / "b.tmp", b"never synced")
    os.replace(mnt / "b.tmp", mnt / "b")
    assert (mnt / "b").read_bytes() == b"never synced"
    reboot(lazy)
    assert (mnt / "a").read_bytes() == b"synced after rename"
    assert (mnt / "b").read_bytes() == b""  # the classic: rename without fsync leaves an empty file
    assert sorted(os.listdir(mnt)) == ["a", "b"]
    with contextlib.suppress(OSError):  # its mount is gone
        os.close(held)


def test_lazyfs_clear_cache_drops_unsynced_pages_and_counts_them(lazy: LazyMount) -> None:
    """SIGUSR1 drops dirty pages without unmounting; an unlinked file's pages were already gone."""
    mnt = lazy.mountpoint
    write(mnt / "kept", b"x" * 5000)  # 2 dirty pages
    write(mnt / "gone", b"y" * 100)
    os.unlink(mnt / "gone")
    lazy.clear_cache()
    deadline = time.monotonic() + 5
    while "clear-cache dropped" not in lazy.log_tail():
        assert time.monotonic() < deadline, lazy.log_tail()
        time.sleep(0.02)
    assert "clear-cache dropped 2 dirty pages of 1 files" in lazy.log_tail()
    assert (mnt / "kept").read_bytes() == b""  # a new open: the kernel's cached pages are invalidated


def test_lazyfs_lmdb_keeps_synced_transactions(lazy: LazyMount) -> None:
    """LMDB with sync=True, metasync=False loses only its last synced commit's meta page and what was
    never synced; it reopens cleanly."""
    path = str(lazy.mountpoint / "db")
    writer = Writer("""
        import lmdb
        env = lmdb.open(path, map_size=1 << 24, sync=True, metasync=False)
        for i in range(20):
            with env.begin(write=True) as txn:
                txn.put(b"k%03d" % i, bytes(3000))
        env.close()
        env = lmdb.open(path, map_size=1 << 24, sync=False, metasync=False)
        for i in range(20, 40):
            with env.begin(write=True) as txn:
                txn.put(b"k%03d" % i, bytes(3000))
        with env.begin() as txn:
            assert txn.stat()["entries"] == 40
    """, path=path)
    reboot(lazy)
    writer.kill()
    env = lmdb.open(path, map_size=1 << 24)
    try:
        with env.begin() as txn:
            keys = [key for key, _ in txn.cursor()]
        # The 20th commit's meta page is written after its fdatasync and synced only by the next
        # commit's: metasync=False gives up exactly that commit on a power loss.
        assert keys == [b"k%03d" % i for i in range(19)]
        assert env.info()["last_txnid"] == 19
    finally:
        env.close()


def test_lazyfs_journal_keeps_synced_entries_and_cuts_a_torn_tail(lazy: LazyMount) -> None:
    """DurableJournal: entries up to the last sync() survive; a synced torn record is cut at reopen."""
    path = str(lazy.mountpoint / "raft" / "journal")
    writer = Writer("""
        import os
        from minik8s.consensus.journal import DurableJournal
        j = DurableJournal(path)
        for i in range(1, 11):
            j.add(b"cmd%d" % i, i, 1)
        j.sync()
        j.setCurrentTerm(2, "m1")
        with open(path, "ab") as f:  # a record cut short, and synced
            f.write(b"\\x30\\x00\\x00\\x00torn")
            f.flush()
            os.fdatasync(f.fileno())
        for i in range(11, 16):
            j.add(b"cmd%d" % i, i, 2)
    """, path=path)
    reboot(lazy)
    writer.kill()
    assert Path(path).read_bytes().endswith(b"torn")  # the unsynced entries that overwrote it are gone
    journal = DurableJournal(path)
    assert [entry[1] for entry in journal] == list(range(1, 11))
    assert not Path(path).read_bytes().endswith(b"torn")
    assert (journal.getCurrentTerm(), journal.getVotedForNodeId()) == (2, "m1")
    journal.add(b"cmd11", 11, 2)
    journal.sync()
    journal._destroy()
    reboot(lazy)
    journal = DurableJournal(path)
    assert [entry[1] for entry in journal] == list(range(1, 12))
    journal._destroy()


def test_lazyfs_a_process_crash_is_not_a_power_loss(lazy: LazyMount, tmp_path: Path) -> None:
    """Negative control: kill -9 of a writer keeps its unsynced writes (on disk and on lazyfs);
    only the lazyfs power loss drops them."""
    code = """
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, b"unsynced")
    """
    plain, lazy_file = tmp_path / "plain", lazy.mountpoint / "lazy"
    for path in (plain, lazy_file):
        Writer("import os\n" + textwrap.dedent(code), path=str(path)).kill()
    assert plain.read_bytes() == b"unsynced"
    assert lazy_file.read_bytes() == b"unsynced"
    reboot(lazy)
    assert lazy_file.read_bytes() == b""


def test_a_snapshot_received_from_the_leader_survives_a_power_loss(lazy: LazyMount) -> None:
    """pysyncobj writes a snapshot sent by the leader to a temporary file and renames it over the
    last one; minik8s makes that rename durable (fsync before, directory after). Without it the
    rename survives a power loss and the data does not: an empty snapshot, and a member that no
    longer starts (found by the chaos suite's power-loss nemesis)."""
    importlib.import_module("minik8s.consensus.member")  # installs the durable rename into pysyncobj
    from pysyncobj.serializer import Serializer

    snapshot = lazy.mountpoint / "snapshot"
    write(snapshot, b"old snapshot", sync=True)
    receiver = Serializer(str(snapshot), 1 << 16, False, None, None, None)
    assert not receiver.setTransmissionData((b"new ", True, False))
    assert receiver.setTransmissionData((b"snapshot", False, True))
    assert snapshot.read_bytes() == b"new snapshot"
    reboot(lazy)
    assert snapshot.read_bytes() == b"new snapshot"
