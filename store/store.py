"""The LMDB object store: objects, one global revision, an event log and its compaction.

This is the replicated state machine. `apply(command, raft_index)` takes a typed command
(`commands.py`) and is a pure function of (state, command): the API server fixes uids, timestamps
and names before proposing, and the clock used for age-based compaction is the command's own
`now`. Apply never raises and never blocks; failures are `Rejected` results, because an
exception inside a pysyncobj apply would block the Raft log forever.

Idempotence: the Raft index of the last applied entry is written in the same LMDB transaction
as its effects, so entries replayed after a restart are skipped; and every write carries a
request id whose first result is remembered, so a retried proposal returns that result instead
of applying twice.

A `Txn` applies several creates, updates and deletes all or none: each takes its own revision
and event, inside one nested LMDB transaction that is dropped at the first rejection.

Group commit: the consensus layer opens a batch, applies every entry of one Raft tick inside it
(each in a nested transaction) and commits once, so a tick costs one fsync whatever its size.
Listeners run after each commit with the new revision (the API server's watch hub).
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import lmdb

from .codec import decode_revision, dump_json, encode_revision, load_json
from .command_codec import decode_result, encode_result
from .commands import (
    Applied, Command, Create, Delete, Noop, Op, Reason, Rejected, Result, Txn, Undecodable, Update, Write,
)

log = logging.getLogger(__name__)

_META_REVISION = b"revision"
_META_FLOOR = b"compacted_floor"
_META_APPLIED = b"applied_index"
_META_CLUSTER = b"cluster_id"
_META_REQUEST_SEQ = b"request_seq"

_TABLES = (b"objects", b"events", b"meta", b"requests", b"request_order")


class CompactedError(Exception):
    """The asked-for revision is below the compacted floor: the events are gone."""

    def __init__(self, revision: int, floor: int) -> None:
        super().__init__(f"revision {revision} is compacted (oldest available: {floor})")
        self.revision = revision
        self.floor = floor


@dataclass(frozen=True)
class StoreSettings:
    """Tuning that must be the same on every replica (compaction is part of apply)."""

    event_window_count: int = 10_000  # events kept at least this many
    event_window_seconds: float = 3600.0  # events older than this are dropped
    request_window: int = 20_000  # request ids remembered for de-duplication
    max_compaction_per_apply: int = 1_000  # bound the work one apply may do
    map_size: int = 16 << 30  # virtual; LMDB only uses what it writes


@dataclass(frozen=True)
class Event:
    """One entry of the event log."""

    revision: int
    type: str  # ADDED | MODIFIED | DELETED
    key: str
    object: dict[str, Any]
    previous: dict[str, Any] | None = None  # the state before a MODIFIED (for selector transitions)


class Store:
    """LMDB-backed object store with a revisioned event log."""

    def __init__(self, path: str, settings: StoreSettings | None = None) -> None:
        self.path = path
        self.settings = settings or StoreSettings()
        os.makedirs(path, mode=0o700, exist_ok=True)
        os.chmod(path, 0o700)  # every object (tokens in Secrets-to-be, node addresses) is in here
        # sync=True + metasync=False: one fdatasync per commit, crash-safe (ACI kept; a crash may
        # undo the last commits, which the durable Raft journal replays).
        self._env = lmdb.open(
            path, map_size=self.settings.map_size, max_dbs=len(_TABLES), sync=True, metasync=False,
            max_readers=4096, readahead=False, mode=0o600,
        )
        for name in ("data.mdb", "lock.mdb"):  # files of stores created before they were private
            os.chmod(os.path.join(path, name), 0o600)
        self._db = {name: self._env.open_db(name) for name in _TABLES}
        self._batch: lmdb.Transaction | None = None
        self._batch_lock = threading.Lock()
        self._listeners: list[Callable[[int], None]] = []

    # ---- lifecycle -------------------------------------------------------------------------

    def close(self) -> None:
        """Close the environment (no reader may be active)."""
        self._env.close()

    def add_listener(self, listener: Callable[[int], None]) -> None:
        """Call `listener(revision)` after every commit that changed something."""
        self._listeners.append(listener)

    # ---- reads -------------------------------------------------------------------------------

    @contextmanager
    def _read(self) -> Iterator[lmdb.Transaction]:
        with self._env.begin(buffers=True) as txn:
            yield txn

    def _meta_int(self, txn: lmdb.Transaction, name: bytes) -> int:
        raw = txn.get(name, db=self._db[b"meta"])
        return int(bytes(raw)) if raw is not None else 0

    @property
    def revision(self) -> int:
        """The global revision: bumped by every applied write."""
        with self._read() as txn:
            return self._meta_int(txn, _META_REVISION)

    @property
    def compacted_floor(self) -> int:
        """Events at or below this revision are gone; a watch may start from it or later."""
        with self._read() as txn:
            return self._meta_int(txn, _META_FLOOR)

    @property
    def applied_index(self) -> int:
        """Raft index of the last applied entry (0 when none)."""
        with self._read() as txn:
            return self._meta_int(txn, _META_APPLIED)

    @property
    def cluster_id(self) -> str | None:
        """The cluster this store belongs to, once recorded."""
        with self._read() as txn:
            raw = txn.get(_META_CLUSTER, db=self._db[b"meta"])
            return bytes(raw).decode() if raw is not None else None

    def set_cluster_id(self, cluster_id: str) -> None:
        """Record the cluster id (outside Raft: it is a local sanity check)."""
        with self._env.begin(write=True) as txn:
            txn.put(_META_CLUSTER, cluster_id.encode(), db=self._db[b"meta"])

    def get(self, key: str) -> dict[str, Any] | None:
        """The object stored at `key`, or None."""
        with self._read() as txn:
            raw = txn.get(key.encode(), db=self._db[b"objects"])
            return load_json(raw) if raw is not None else None

    def list(self, prefix: str) -> tuple[list[dict[str, Any]], int]:
        """Every object whose key starts with `prefix`, and the revision they were read at."""
        items: list[dict[str, Any]] = []
        raw_prefix = prefix.encode()
        with self._read() as txn:
            revision = self._meta_int(txn, _META_REVISION)
            cursor = txn.cursor(db=self._db[b"objects"])
            if cursor.set_range(raw_prefix):
                for key, value in cursor:
                    if not bytes(key).startswith(raw_prefix):
                        break
                    items.append(load_json(value))
        return items, revision

    def events_since(self, revision: int, *, limit: int = 10_000) -> tuple[list[Event], int]:
        """Events after `revision` (at most `limit`), and the store revision they were read at.

        Raises CompactedError when events after `revision` were compacted away.
        """
        events: list[Event] = []
        with self._read() as txn:
            floor = self._meta_int(txn, _META_FLOOR)
            current = self._meta_int(txn, _META_REVISION)
            if revision < floor:
                raise CompactedError(revision, floor)
            if revision >= current:
                return events, current
            cursor = txn.cursor(db=self._db[b"events"])
            if cursor.set_range(encode_revision(revision + 1)):
                for key, value in cursor:
                    entry = load_json(value)
                    events.append(Event(decode_revision(bytes(key)), entry["type"], entry["key"], entry["object"],
                                        entry.get("previous")))
                    if len(events) >= limit:
                        break
        return events, current

    # ---- writes ------------------------------------------------------------------------------

    def begin_batch(self) -> None:
        """Start a group commit: later applies share one transaction until `commit_batch`."""
        with self._batch_lock:
            if self._batch is None:
                self._batch = self._env.begin(write=True)

    def commit_batch(self) -> None:
        """Commit the open batch (one fsync) and notify listeners."""
        with self._batch_lock:
            txn, self._batch = self._batch, None
        if txn is None:
            return
        revision = self._meta_int(txn, _META_REVISION)
        txn.commit()
        self._notify(revision)

    def _notify(self, revision: int) -> None:
        for listener in self._listeners:
            try:
                listener(revision)
            except Exception:  # a listener must never break the apply path
                log.exception("store listener failed")

    def apply(self, command: Command | Undecodable, raft_index: int | None = None) -> Result:
        """Apply one command; never raises. `raft_index` enables the replay guard."""
        try:
            if self._batch is not None:
                child = self._env.begin(write=True, parent=self._batch)
                try:
                    result = self._apply_in(child, command, raft_index)
                    child.commit()
                except BaseException:
                    child.abort()
                    raise
                return result
            txn = self._env.begin(write=True)
            try:
                result = self._apply_in(txn, command, raft_index)
                revision = self._meta_int(txn, _META_REVISION)
                txn.commit()
            except BaseException:
                txn.abort()
                raise
            self._notify(revision)
            return result
        except Exception as exc:  # deterministic inputs; this is a bug or a full disk
            log.exception("apply failed for %s", type(command).__name__)
            return Rejected(Reason.INTERNAL, f"apply failed: {exc}")

    def _apply_in(self, txn: lmdb.Transaction, command: Command | Undecodable, raft_index: int | None) -> Result:
        if raft_index is not None:
            if raft_index <= self._meta_int(txn, _META_APPLIED):
                return Rejected(Reason.ALREADY_APPLIED, f"raft entry {raft_index} was applied before")
            txn.put(_META_APPLIED, str(raft_index).encode(), db=self._db[b"meta"])
        if isinstance(command, Undecodable):
            return Rejected(Reason.BAD_COMMAND, command.problem)
        if isinstance(command, Noop):
            return Applied(self._meta_int(txn, _META_REVISION))
        return self._apply_write(txn, command)

    def _apply_write(self, txn: lmdb.Transaction, command: Write) -> Result:
        """Run the command's apply function once per request id; compact after a change."""
        if command.request_id:
            previous = txn.get(command.request_id.encode(), db=self._db[b"requests"])
            if previous is not None:
                return decode_result(previous)
        if isinstance(command, Txn):
            result = self._txn(txn, command)
        else:
            result = self._apply_op(txn, command)
        if command.request_id:
            self._remember_request(txn, command.request_id, result)
        if isinstance(result, Applied):
            self._compact(txn, command.now)
        return result

    def _apply_op(self, txn: lmdb.Transaction, command: Op) -> Result:
        match command:  # one apply function per command type
            case Create():
                return self._create(txn, command)
            case Update():
                return self._update(txn, command)
            case Delete():
                return self._delete(txn, command)

    def _txn(self, txn: lmdb.Transaction, command: Txn) -> Result:
        """Every op in a nested transaction, committed only when none is rejected."""
        ops = command.ops
        if not ops or any(type(op) not in (Create, Update, Delete) or op.request_id or op.now for op in ops):
            return Rejected(Reason.BAD_COMMAND, "a txn holds one or more creates, updates and deletes, without "
                                                "request ids or times of their own")
        child = self._env.begin(write=True, parent=txn)
        results: list[Applied] = []
        try:
            for op in ops:
                result = self._apply_op(child, dataclasses.replace(op, now=command.now))
                if isinstance(result, Rejected):
                    child.abort()
                    return Rejected(result.reason, result.message, key=op.key)
                results.append(result)
            child.commit()
        except BaseException:
            child.abort()
            raise
        return Applied(results[-1].revision, results[0].object)

    def _create(self, txn: lmdb.Transaction, command: Create) -> Result:
        key = command.key
        if txn.get(key.encode(), db=self._db[b"objects"]) is not None:
            return Rejected(Reason.ALREADY_EXISTS, f"{key} already exists")
        return self._write(txn, "ADDED", key, command.object, command.now)

    def _update(self, txn: lmdb.Transaction, command: Update) -> Result:
        current = self._check_preconditions(txn, command)
        if isinstance(current, Rejected):
            return current
        return self._write(txn, "MODIFIED", command.key, command.object, command.now, previous=current)

    def _delete(self, txn: lmdb.Transaction, command: Delete) -> Result:
        current = self._check_preconditions(txn, command)
        if isinstance(current, Rejected):
            return current
        txn.delete(command.key.encode(), db=self._db[b"objects"])
        return self._write(txn, "DELETED", command.key, current, command.now, store_object=False)

    def _check_preconditions(self, txn: lmdb.Transaction, command: Update | Delete) -> dict[str, Any] | Rejected:
        """The current object at the command's key, or why the command may not change it."""
        key = command.key
        raw = txn.get(key.encode(), db=self._db[b"objects"])
        if raw is None:
            return Rejected(Reason.NOT_FOUND, f"{key} not found")
        current: dict[str, Any] = load_json(raw)
        metadata = current.get("metadata", {})
        expected_revision = command.expected_revision
        if expected_revision is not None and int(metadata.get("resourceVersion", 0)) != expected_revision:
            return Rejected(
                Reason.CONFLICT,
                f"the object has been modified; please apply your changes to the latest version and try again "
                f"(expected resourceVersion {expected_revision}, current {metadata.get('resourceVersion')})",
            )
        expected_uid = command.expected_uid
        if expected_uid is not None and metadata.get("uid") != expected_uid:
            return Rejected(
                Reason.CONFLICT, f"precondition failed: UID in precondition: {expected_uid}, UID in object meta: "
                f"{metadata.get('uid')}",
            )
        return current

    def _write(
        self, txn: lmdb.Transaction, event_type: str, key: str, obj: dict[str, Any], now: float,
        *, store_object: bool = True, previous: dict[str, Any] | None = None,
    ) -> Applied:
        meta = self._db[b"meta"]
        revision = self._meta_int(txn, _META_REVISION) + 1
        txn.put(_META_REVISION, str(revision).encode(), db=meta)
        stamped = copy.deepcopy(obj)
        stamped.setdefault("metadata", {})["resourceVersion"] = str(revision)
        if store_object:
            txn.put(key.encode(), dump_json(stamped), db=self._db[b"objects"])
        event = {"type": event_type, "key": key, "object": stamped, "ts": float(now)}
        if previous is not None:
            event["previous"] = previous
        txn.put(encode_revision(revision), dump_json(event), db=self._db[b"events"])
        return Applied(revision, stamped)

    def _remember_request(self, txn: lmdb.Transaction, request_id: str, result: Result) -> None:
        meta, order = self._db[b"meta"], self._db[b"request_order"]
        seq = self._meta_int(txn, _META_REQUEST_SEQ) + 1
        txn.put(_META_REQUEST_SEQ, str(seq).encode(), db=meta)
        txn.put(request_id.encode(), encode_result(result), db=self._db[b"requests"])
        txn.put(encode_revision(seq), request_id.encode(), db=order)
        oldest = seq - self.settings.request_window
        if oldest > 0:
            old_id = txn.pop(encode_revision(oldest), db=order)
            if old_id is not None:
                txn.delete(bytes(old_id), db=self._db[b"requests"])

    def _compact(self, txn: lmdb.Transaction, now: float) -> None:
        """Drop events beyond the count window or older than the age window (bounded work)."""
        meta, events = self._db[b"meta"], self._db[b"events"]
        revision = self._meta_int(txn, _META_REVISION)
        floor = self._meta_int(txn, _META_FLOOR)
        oldest_allowed = now - self.settings.event_window_seconds
        cursor = txn.cursor(db=events)
        removed = 0
        while removed < self.settings.max_compaction_per_apply and cursor.first():
            event_revision = decode_revision(bytes(cursor.key()))
            if event_revision >= revision:
                break  # always keep the newest event
            too_many = revision - floor > self.settings.event_window_count
            too_old = now > 0 and load_json(cursor.value())["ts"] < oldest_allowed
            if not (too_many or too_old):
                break
            cursor.delete()
            floor = event_revision
            removed += 1
        if removed:
            txn.put(_META_FLOOR, str(floor).encode(), db=meta)

    # ---- snapshots ----------------------------------------------------------------------------

    def copy_to(self, fd: int) -> None:
        """Write a compacted, consistent copy of the whole LMDB file to an open file descriptor."""
        self._env.copyfd(fd, compact=True)

    def install_from(self, lmdb_file: str) -> int:
        """Replace every table with the content of an LMDB file (a snapshot); returns its applied index.

        Done as one write transaction on the live environment, so concurrent readers keep
        their consistent view and never see a half-installed state.
        """
        source = lmdb.open(lmdb_file, subdir=False, readonly=True, lock=False, max_dbs=len(_TABLES))
        try:
            with source.begin() as src, self._env.begin(write=True) as dst:
                for name in _TABLES:
                    src_db = source.open_db(name, txn=src, create=False)
                    dst_db = self._db[name]
                    dst.drop(dst_db, delete=False)
                    for key, value in src.cursor(db=src_db):
                        dst.put(key, value, db=dst_db, append=True)
                applied = self._meta_int(dst, _META_APPLIED)
                revision = self._meta_int(dst, _META_REVISION)
        finally:
            source.close()
        self._notify(revision)
        return applied

    def sync(self) -> None:
        """Force LMDB data and meta pages to disk."""
        self._env.sync(True)
