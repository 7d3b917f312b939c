"""Unit tests of the durable Raft journal and LMDB snapshots."""

from __future__ import annotations

import os
from pathlib import Path

from minik8s.consensus.journal import DurableJournal, read_entries
from minik8s.consensus.snapshot import install_snapshot, read_header, write_snapshot
from minik8s.store import Create, Noop, Store


def _journal(tmp_path: Path) -> DurableJournal:
    return DurableJournal(str(tmp_path / "journal"))


def test_journal_entries_survive_reopen(tmp_path: Path) -> None:
    """Synced entries, term and vote are read back after reopening."""
    j = _journal(tmp_path)
    for i in range(1, 4):
        j.add(b"cmd%d" % i, i, 1)
    j.setCurrentTerm(3, "127.0.0.1:7000")
    j.sync()
    j._destroy()
    again = _journal(tmp_path)
    assert [e[1] for e in again] == [1, 2, 3] and again[2][0] == b"cmd3"
    assert again.getCurrentTerm() == 3 and again.getVotedForNodeId() == "127.0.0.1:7000"


def test_journal_cuts_torn_tail(tmp_path: Path) -> None:
    """A half-written last record is cut off at start-up; earlier records stay."""
    j = _journal(tmp_path)
    j.add(b"a", 1, 1)
    j.add(b"b", 2, 1)
    j.sync()
    j._destroy()
    with open(tmp_path / "journal", "ab") as f:
        f.write(b"\x20\x00\x00\x00garbage")
    again = _journal(tmp_path)
    assert [e[1] for e in again] == [1, 2]
    assert os.path.getsize(tmp_path / "journal") == read_entries(str(tmp_path / "journal"))[2]


def test_journal_identical_readd_after_truncate_writes_nothing(tmp_path: Path) -> None:
    """pysyncobj's truncate-then-re-add of identical entries keeps the file as it was."""
    j = _journal(tmp_path)
    for i in range(1, 6):
        j.add(b"x%d" % i, i, 2)
    j.sync()
    size = os.path.getsize(tmp_path / "journal")
    j.deleteEntriesFrom(2)
    for i in range(3, 7):
        j.add(b"x%d" % i, i, 2)
    j.sync()
    assert [e[1] for e in j] == [1, 2, 3, 4, 5, 6]
    assert os.path.getsize(tmp_path / "journal") > size
    j._destroy()
    assert [e[1] for e in _journal(tmp_path)] == [1, 2, 3, 4, 5, 6]


def test_journal_conflicting_entry_replaces_tail(tmp_path: Path) -> None:
    """A re-add with another term truncates the old tail for good."""
    j = _journal(tmp_path)
    for i in range(1, 5):
        j.add(b"old", i, 1)
    j.deleteEntriesFrom(2)
    j.add(b"new", 3, 2)
    j.sync()
    j._destroy()
    again = _journal(tmp_path)
    assert [(e[1], e[2]) for e in again] == [(1, 1), (2, 1), (3, 2)]


def test_journal_delete_entries_to_keeps_the_rest(tmp_path: Path) -> None:
    """Compaction drops the head crash-safely and keeps later entries in order."""
    j = _journal(tmp_path)
    for i in range(1, 11):
        j.add(b"e", i, 1)
    j.deleteEntriesTo(7)
    j.add(b"f", 11, 1)
    j.sync()
    j._destroy()
    assert [e[1] for e in _journal(tmp_path)] == [8, 9, 10, 11]


def test_snapshot_installs_only_when_newer(tmp_path: Path) -> None:
    """A snapshot replaces the store only if it holds a later applied index."""
    source = Store(str(tmp_path / "src"))
    for i in range(1, 4):
        source.apply(Create(key=f"/registry/configmaps/default/c{i}", object={"metadata": {}}, request_id=str(i)), i)
    snap = str(tmp_path / "snap")
    write_snapshot(snap, ("last", "prev", "cluster"), source)
    header, _ = read_header(snap)
    assert header["applied_index"] == 3
    behind = Store(str(tmp_path / "behind"))
    assert install_snapshot(snap, behind) == ("last", "prev", "cluster")
    assert behind.revision == 3 and behind.applied_index == 3
    ahead = Store(str(tmp_path / "ahead"))
    for i in range(1, 6):
        ahead.apply(Noop(), i)
    install_snapshot(snap, ahead)
    assert ahead.applied_index == 5 and ahead.revision == 0
    for s in (source, behind, ahead):
        s.close()
