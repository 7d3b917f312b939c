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

Group commit, like etcd's backend: the consensus layer opens a batch and applies every entry
inside it (each in a nested transaction). At the end of each Raft tick the batch is *published*:
what it wrote becomes visible to readers of this member from memory (the overlay), listeners run
with the new revision (the API server's watch hub) and callers are answered; the batch reaches
the disk (one LMDB commit, one fsync) only every `commit_interval` seconds or `commit_changes`
writes. Nothing acknowledged depends on that commit: an entry is committed in the fsynced Raft
journal of a majority before it is applied anywhere, and after a crash the journal replays every
entry above the store's durable applied index (the replay guard below). A snapshot or a graceful
stop commits first.
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
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


class _RejectedOp(Exception):
    """One op of a Txn was rejected: the Txn's nested transaction is dropped."""

    def __init__(self, result: Rejected) -> None:
        super().__init__(result.message)
        self.result = result


def _event(revision: int, raw: Any) -> Event:
    entry = load_json(raw)
    return Event(revision, entry["type"], entry["key"], entry["object"], entry.get("previous"))


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
    commit_interval: float = 0.05  # a published batch reaches the disk within this many seconds...
    commit_changes: int = 2_000  # ...or once it holds this many written keys
    fsync: bool = True  # False only for the chaos self-test's `no-fsync` failpoint (a disk that lies)


@dataclass(frozen=True)
class Event:
    """One entry of the event log."""

    revision: int
    type: str  # ADDED | MODIFIED | DELETED
    key: str
    object: dict[str, Any]
    previous: dict[str, Any] | None = None  # the state before a MODIFIED (for selector transitions)


@dataclass
class _Changes:
    """What a write transaction put in the tables readers use (None: the object was deleted).

    Deleted events are not recorded: they are below the compacted floor, which readers check first.
    """

    objects: dict[bytes, bytes | None] = field(default_factory=dict)
    events: dict[int, bytes] = field(default_factory=dict)  # in revision order
    meta: dict[bytes, bytes] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.objects) + len(self.events) + len(self.meta)

    def absorb(self, newer: _Changes) -> None:
        """Add `newer`'s writes on top of these."""
        self.objects.update(newer.objects)
        self.events.update(newer.events)
        self.meta.update(newer.meta)

    def merged(self, newer: _Changes) -> _Changes:
        """A new record of these writes with `newer`'s on top (published overlays are never mutated)."""
        return _Changes({**self.objects, **newer.objects}, {**self.events, **newer.events}, {**self.meta, **newer.meta})


_NOTHING = _Changes()


@dataclass
class _View:
    """A reader's consistent view: an LMDB read transaction and the published writes above it."""

    txn: lmdb.Transaction
    overlay: _Changes


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
            path, map_size=self.settings.map_size, max_dbs=len(_TABLES), sync=self.settings.fsync, metasync=False,
            max_readers=4096, readahead=False, mode=0o600,
        )
        for name in ("data.mdb", "lock.mdb"):  # files of stores created before they were private
            os.chmod(os.path.join(path, name), 0o600)
        self._db = {name: self._env.open_db(name) for name in _TABLES}
        self._batch: lmdb.Transaction | None = None
        self._batch_lock = threading.Lock()
        self._batch_started = 0.0  # monotonic time of the batch's first publish
        self._written: list[_Changes] = []  # one record per open write transaction, innermost last
        self._unpublished = _Changes()  # what the open batch wrote since its last publish
        self._overlay = _NOTHING  # published writes not yet committed to LMDB (never mutated)
        self._overlay_lock = threading.Lock()
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
    def _read(self) -> Iterator[_View]:
        # Taken together under the lock that a commit holds while it drops the overlay, so the
        # LMDB snapshot never holds writes newer than the overlay beside it.
        with self._overlay_lock:
            overlay = self._overlay
            txn = self._env.begin(buffers=True)
        with txn:
            yield _View(txn, overlay)

    def _meta_int(self, txn: lmdb.Transaction, name: bytes) -> int:
        raw = txn.get(name, db=self._db[b"meta"])
        return int(bytes(raw)) if raw is not None else 0

    def _view_meta_int(self, view: _View, name: bytes) -> int:
        raw = view.overlay.meta.get(name)
        return int(raw) if raw is not None else self._meta_int(view.txn, name)

    @property
    def revision(self) -> int:
        """The global revision: bumped by every applied write."""
        with self._read() as view:
            return self._view_meta_int(view, _META_REVISION)

    @property
    def compacted_floor(self) -> int:
        """Events at or below this revision are gone; a watch may start from it or later."""
        with self._read() as view:
            return self._view_meta_int(view, _META_FLOOR)

    @property
    def applied_index(self) -> int:
        """Raft index of the last applied entry (0 when none)."""
        with self._read() as view:
            return self._view_meta_int(view, _META_APPLIED)

    @property
    def cluster_id(self) -> str | None:
        """The cluster this store belongs to, once recorded."""
        with self._read() as view:
            raw = view.txn.get(_META_CLUSTER, db=self._db[b"meta"])
            return bytes(raw).decode() if raw is not None else None

    def set_cluster_id(self, cluster_id: str) -> None:
        """Record the cluster id (outside Raft: it is a local sanity check)."""
        with self._env.begin(write=True) as txn:
            txn.put(_META_CLUSTER, cluster_id.encode(), db=self._db[b"meta"])

    def get(self, key: str) -> dict[str, Any] | None:
        """The object stored at `key`, or None."""
        raw_key = key.encode()
        with self._read() as view:
            if raw_key in view.overlay.objects:
                raw = view.overlay.objects[raw_key]
            else:
                raw = view.txn.get(raw_key, db=self._db[b"objects"])
            return load_json(raw) if raw is not None else None

    def list(self, prefix: str) -> tuple[list[dict[str, Any]], int]:
        """Every object whose key starts with `prefix`, and the revision they were read at."""
        raw_prefix = prefix.encode()
        with self._read() as view:
            revision = self._view_meta_int(view, _META_REVISION)
            newer = {k: v for k, v in view.overlay.objects.items() if k.startswith(raw_prefix)}
            found: list[tuple[bytes, Any]] = []
            cursor = view.txn.cursor(db=self._db[b"objects"])
            if cursor.set_range(raw_prefix):
                for key, value in cursor:
                    key = bytes(key)
                    if not key.startswith(raw_prefix):
                        break
                    if key not in newer:
                        found.append((key, value))
            if newer:
                found += [(k, v) for k, v in newer.items() if v is not None]
                found.sort(key=lambda item: item[0])
            items = [load_json(value) for _, value in found]
        return items, revision

    def digest(self) -> tuple[str, int]:
        """A SHA-256 of every stored object (keys and bytes, in key order) and the revision it was taken
        at: members that applied the same writes give the same digest at the same revision."""
        digest = hashlib.sha256()
        with self._read() as view:
            revision = self._view_meta_int(view, _META_REVISION)
            newer = view.overlay.objects
            found: dict[bytes, bytes] = {}
            for key, value in view.txn.cursor(db=self._db[b"objects"]):
                found[bytes(key)] = bytes(value)
            for key, value in newer.items():
                if value is None:
                    found.pop(key, None)
                else:
                    found[key] = value
            for key in sorted(found):
                digest.update(len(key).to_bytes(4, "big") + key + len(found[key]).to_bytes(8, "big") + found[key])
        return digest.hexdigest(), revision

    def events_since(self, revision: int, *, limit: int = 10_000) -> tuple[list[Event], int]:
        """Events after `revision` (at most `limit`), and the store revision they were read at.

        Raises CompactedError when events after `revision` were compacted away.
        """
        events: list[Event] = []
        with self._read() as view:
            floor = self._view_meta_int(view, _META_FLOOR)
            current = self._view_meta_int(view, _META_REVISION)
            if revision < floor:
                raise CompactedError(revision, floor)
            if revision >= current:
                return events, current
            on_disk = self._meta_int(view.txn, _META_REVISION)
            if revision < on_disk:
                cursor = view.txn.cursor(db=self._db[b"events"])
                if cursor.set_range(encode_revision(revision + 1)):
                    for key, value in cursor:
                        events.append(_event(decode_revision(bytes(key)), value))
                        if len(events) >= limit:
                            return events, current
            for event_revision, value in view.overlay.events.items():
                if event_revision > revision and event_revision > on_disk:
                    events.append(_event(event_revision, value))
                    if len(events) >= limit:
                        break
        return events, current

    # ---- writes ------------------------------------------------------------------------------

    def begin_batch(self) -> None:
        """Start a group commit: later applies share one transaction until it is committed
        (`publish_batch` when due, or `commit_batch`). Only the thread that began it may use it."""
        with self._batch_lock:
            if self._batch is None:
                self._batch = self._env.begin(write=True)
                self._written = [_Changes()]

    def publish_batch(self) -> None:
        """Make what the batch applied visible to readers and notify listeners; commit it to disk
        when it is `commit_interval` old or holds `commit_changes` writes."""
        if self._batch is None:
            return
        fresh, self._unpublished = self._unpublished, _Changes()
        now = time.monotonic()
        if fresh:
            if not self._overlay:
                self._batch_started = now
            with self._overlay_lock:
                self._overlay = self._overlay.merged(fresh)
            revision = fresh.meta.get(_META_REVISION)
            if revision is not None:
                self._notify(int(revision))
        if self._overlay and (now - self._batch_started >= self.settings.commit_interval
                              or len(self._overlay) >= self.settings.commit_changes):
            self.commit_batch()

    def commit_batch(self) -> None:
        """Publish the open batch, then commit it to LMDB (one fsync)."""
        if self._batch is None:
            return
        if self._unpublished:
            self.publish_batch()  # commits by itself when due
            if self._batch is None:
                return
        with self._batch_lock:
            txn, self._batch = self._batch, None
            self._written = []
        txn.commit()
        with self._overlay_lock:
            self._overlay = _NOTHING

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
                with self._nested(self._batch) as child:
                    result = self._apply_in(child, command, raft_index)
                self._unpublished.absorb(self._written[0])
                self._written[0] = _Changes()
                return result
            txn = self._env.begin(write=True)  # holding LMDB's write lock from here...
            self._written = [_Changes()]  # (what it wrote is on disk at once: nobody reads this record)
            try:
                result = self._apply_in(txn, command, raft_index)
                revision = self._meta_int(txn, _META_REVISION)
            except BaseException:
                self._written = []
                txn.abort()
                raise
            self._written = []
            txn.commit()  # ...to here: another writer may start at once
            self._notify(revision)
            return result
        except Exception as exc:  # deterministic inputs; this is a bug or a full disk
            log.exception("apply failed for %s", type(command).__name__)
            return Rejected(Reason.INTERNAL, f"apply failed: {exc}")

    @contextmanager
    def _nested(self, parent: lmdb.Transaction) -> Iterator[lmdb.Transaction]:
        """A child write transaction whose writes (and their record for readers) count only if
        the block ends without an exception."""
        child = self._env.begin(write=True, parent=parent)
        self._written.append(_Changes())
        try:
            yield child
        except BaseException:
            child.abort()
            self._written.pop()
            raise
        child.commit()
        written = self._written.pop()
        self._written[-1].absorb(written)

    def _put(self, txn: lmdb.Transaction, table: bytes, key: bytes, value: bytes) -> None:
        """Write a value, recording it for readers when the table is one they read."""
        txn.put(key, value, db=self._db[table])
        if table == b"objects":
            self._written[-1].objects[key] = value
        elif table == b"meta":
            self._written[-1].meta[key] = value
        elif table == b"events":
            self._written[-1].events[decode_revision(key)] = value

    def _apply_in(self, txn: lmdb.Transaction, command: Command | Undecodable, raft_index: int | None) -> Result:
        if raft_index is not None:
            if raft_index <= self._meta_int(txn, _META_APPLIED):
                return Rejected(Reason.ALREADY_APPLIED, f"raft entry {raft_index} was applied before")
            self._put(txn, b"meta", _META_APPLIED, str(raft_index).encode())
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
        results: list[Applied] = []
        try:
            with self._nested(txn) as child:
                for op in ops:
                    result = self._apply_op(child, dataclasses.replace(op, now=command.now))
                    if isinstance(result, Rejected):
                        raise _RejectedOp(Rejected(result.reason, result.message, key=op.key))
                    results.append(result)
        except _RejectedOp as rejected:
            return rejected.result
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
        self._written[-1].objects[command.key.encode()] = None
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
        revision = self._meta_int(txn, _META_REVISION) + 1
        self._put(txn, b"meta", _META_REVISION, str(revision).encode())
        # Only metadata.resourceVersion changes: copy that level, share the rest (a command's object
        # is decoded afresh on every member and written out as JSON right here).
        stamped = {**obj, "metadata": {**(obj.get("metadata") or {}), "resourceVersion": str(revision)}}
        if store_object:
            self._put(txn, b"objects", key.encode(), dump_json(stamped))
        event = {"type": event_type, "key": key, "object": stamped, "ts": float(now)}
        if previous is not None:
            event["previous"] = previous
        self._put(txn, b"events", encode_revision(revision), dump_json(event))
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
        events = self._db[b"events"]
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
            self._put(txn, b"meta", _META_FLOOR, str(floor).encode())

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
