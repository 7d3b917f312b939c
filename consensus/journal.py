"""A durable Raft journal for pysyncobj, with group commit.

pysyncobj 0.3.17's `FileJournal` writes into an mmap and never fsyncs, and stores term and vote
without fsync: it survives a process kill but not an OS crash. This journal appends records with
`os.write`, and `sync()` makes every appended record durable with one `fdatasync`. The Raft
member calls `sync()` before it acknowledges entries to a leader and before a leader counts its
own log towards a commit, so everything appended in one tick shares one fsync (group commit).

Record layout: u32 length | u32 crc32 | u64 index | u64 term | command bytes (length covers
index, term and command). A torn or corrupt tail found at start-up is cut off: those entries
were never acknowledged. Term, vote and commit index live in a small JSON file replaced
atomically (write, fsync, rename, fsync the directory).
"""

from __future__ import annotations

import json
import logging
import os
import struct
import zlib
from typing import Any

from pysyncobj.journal import Journal

log = logging.getLogger(__name__)
_INDEX_TERM = struct.Struct("<QQ")

Entry = tuple[bytes, int, int]  # (command, raft index, term), as pysyncobj stores them


def fsync_dir(path: str) -> None:
    """Make a rename or file creation inside `path` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_file_atomically(path: str, data: bytes) -> None:
    """Replace `path` with `data` so that a crash leaves either the old or the new content."""
    tmp = path + ".tmp"
    with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as f:
        f.write(data)
    replace_durably(tmp, path)


def replace_durably(source: str, target: str) -> None:
    """Rename `source` over `target` so that a power loss leaves either the old file or the whole
    new one: the data is fsynced before the rename, and the directory after it."""
    fd = os.open(source, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(source, target)
    fsync_dir(os.path.dirname(os.path.abspath(target)))


def _encode(entry: Entry) -> bytes:
    command, index, term = entry
    body = _INDEX_TERM.pack(index, term) + bytes(command)
    return struct.pack("<II", len(body), zlib.crc32(body)) + body


def read_entries(path: str) -> tuple[list[Entry], list[int], int]:
    """Entries of a journal file, their offsets, and the offset where the valid part ends."""
    entries: list[Entry] = []
    offsets: list[int] = []
    if not os.path.exists(path):
        return entries, offsets, 0
    with open(path, "rb") as f:
        data = f.read()
    pos = 0
    while pos + 8 <= len(data):
        length, crc = struct.unpack_from("<II", data, pos)
        body = data[pos + 8: pos + 8 + length]
        if length < _INDEX_TERM.size or len(body) != length or zlib.crc32(body) != crc:
            break
        index, term = _INDEX_TERM.unpack_from(body)
        entries.append((body[_INDEX_TERM.size:], index, term))
        offsets.append(pos)
        pos += 8 + length
    return entries, offsets, pos


class DurableJournal(Journal):
    """pysyncobj `Journal` that fsyncs (batched) before anything is acknowledged."""

    def __init__(self, path: str, *, fsync: bool = True) -> None:
        self._path = path
        self._fsync = fsync  # False only for the chaos self-test's `no-fsync` failpoint
        self._meta_path = path + ".meta"
        self._dir = os.path.dirname(os.path.abspath(path))
        os.makedirs(self._dir, mode=0o700, exist_ok=True)
        self._entries, self._offsets, end = read_entries(path)
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
        os.fchmod(self._fd, 0o600)  # journals created before they were private
        if os.fstat(self._fd).st_size != end:  # cut a torn tail
            os.ftruncate(self._fd, end)
            os.fsync(self._fd)
        os.lseek(self._fd, end, os.SEEK_SET)
        self._end = end
        self._dirty = False
        # Entries logically deleted by deleteEntriesFrom but still in the file: pysyncobj
        # re-sends overlapping entries and truncates before re-adding them, so identical
        # re-adds are matched against these instead of being rewritten (no window in which
        # acknowledged entries exist only in the page cache).
        self._shadow: list[tuple[Entry, int]] = []
        self._meta = self._load_meta()
        self._meta_unsaved = False
        self.fsync_count = 0

    # ---- durability -------------------------------------------------------------------------

    @property
    def unsynced(self) -> bool:
        """Whether records were appended or truncated since the last `sync`."""
        return self._dirty

    def sync(self) -> None:
        """Make every appended or truncated record durable (no-op when nothing changed)."""
        self._drop_shadow()
        if self._dirty:
            if self._fsync:
                os.fdatasync(self._fd)
            self._dirty = False
            self.fsync_count += 1

    def _load_meta(self) -> dict[str, Any]:
        try:
            with open(self._meta_path, "rb") as f:
                return json.loads(f.read())
        except (OSError, ValueError):
            return {}

    def _store_meta(self) -> None:
        write_file_atomically(self._meta_path, json.dumps(self._meta).encode())

    # ---- pysyncobj Journal interface -------------------------------------------------------

    def _drop_shadow(self) -> None:
        """Physically cut the entries a truncation removed and no re-add restored."""
        if self._shadow:
            first_entry, _ = self._shadow[0]
            log.info("raft log truncated from index %d (term %d)", first_entry[1], first_entry[2])
            self._shadow = []
            os.ftruncate(self._fd, self._end)
            os.lseek(self._fd, self._end, os.SEEK_SET)
            self._dirty = True

    def add(self, command: bytes, idx: int, term: int) -> None:
        if self._shadow:
            (old, offset) = self._shadow[0]
            if old[1] == idx and old[2] == term and bytes(old[0]) == bytes(command):
                self._shadow.pop(0)
                self._entries.append(old)
                self._offsets.append(offset)
                self._end = offset + 8 + _INDEX_TERM.size + len(old[0])
                return
            self._drop_shadow()
        record = _encode((command, idx, term))
        os.write(self._fd, record)
        self._entries.append((command, idx, term))
        self._offsets.append(self._end)
        self._end += len(record)
        self._dirty = True

    def clear(self) -> None:
        self._rewrite([])

    def deleteEntriesFrom(self, entryFrom: int) -> None:  # noqa: N802 (pysyncobj's name)
        if entryFrom >= len(self._entries):
            return
        removed = list(zip(self._entries[entryFrom:], self._offsets[entryFrom:]))
        self._shadow = removed + self._shadow
        self._end = self._offsets[entryFrom]
        del self._entries[entryFrom:]
        del self._offsets[entryFrom:]

    def deleteEntriesTo(self, entryTo: int) -> None:  # noqa: N802
        # Called after a snapshot was renamed into place: make that rename durable first, so
        # the entries dropped here are never needed again.
        fsync_dir(self._dir)
        self._rewrite(self._entries[entryTo:])

    def _rewrite(self, entries: list[Entry]) -> None:
        """Replace the file with `entries`, crash-safely (new file, fsync, rename)."""
        self._shadow = []
        data = b"".join(_encode(e) for e in entries)
        write_file_atomically(self._path, data)
        os.close(self._fd)
        self._fd = os.open(self._path, os.O_RDWR)
        os.lseek(self._fd, len(data), os.SEEK_SET)
        self._entries = list(entries)
        self._offsets = []
        pos = 0
        for e in entries:
            self._offsets.append(pos)
            pos += 8 + _INDEX_TERM.size + len(e[0])
        self._end = pos
        self._dirty = False

    def __getitem__(self, item: int | slice) -> Any:
        return self._entries[item]

    def __len__(self) -> int:
        return len(self._entries)

    def _destroy(self) -> None:
        self.sync()
        if self._meta_unsaved:
            self._store_meta()
        os.close(self._fd)

    def setRaftCommitIndex(self, raftCommitIndex: int) -> None:  # noqa: N802, N803
        if self._meta.get("raftCommitIndex") != raftCommitIndex:
            self._meta["raftCommitIndex"] = raftCommitIndex
            self._meta_unsaved = True

    def getRaftCommitIndex(self) -> int:  # noqa: N802
        return int(self._meta.get("raftCommitIndex", 1))

    def setCurrentTerm(self, term: int, votedForNodeId: Any) -> None:  # noqa: N802, N803
        # Raft: term and vote must be durable before any message reflecting them is sent.
        self._meta["currentTerm"] = term
        self._meta["votedForNodeId"] = votedForNodeId
        self._store_meta()
        self._meta_unsaved = False

    def getCurrentTerm(self) -> int:  # noqa: N802
        return int(self._meta.get("currentTerm", 0))

    def getVotedForNodeId(self) -> Any:  # noqa: N802
        return self._meta.get("votedForNodeId")

    def onOneSecondTimer(self) -> None:  # noqa: N802
        # The commit index need not be durable (Raft re-learns it); saving it once a second only
        # shortens the replay after a restart.
        if self._meta_unsaved:
            self._store_meta()
            self._meta_unsaved = False

    # ---- inspection ---------------------------------------------------------------------------

    @property
    def last_index(self) -> int:
        """Raft index of the last entry (0 when empty)."""
        return self._entries[-1][1] if self._entries else 0
