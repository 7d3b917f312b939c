"""The pysyncobj Raft member that applies store commands, made durable.

pysyncobj is used as it is, with six hooks (it is pinned to 0.3.17 for them):

- its journal factory returns our `DurableJournal` (fsync, crash-safe rewrites);
- `_onTick` syncs the journal first, so a leader's own entries are durable before the commit
  index it computes at the start of the tick counts them;
- the name-mangled `__sendNextNodeIdx` (a follower's reply to append_entries) syncs the
  journal before the reply leaves, so a follower never acknowledges what it could lose, and a
  refusal sends the leader back to the commit index (`retry_from`), not one entry back;
- the name-mangled `__applyLogEntries` first sends a leader's new commit index to its followers,
  so they apply while it applies;
- its serializer's rename of a snapshot file (`atomicReplace`) is `replace_durably`: fsync first;
- its transport is `HardenedTCPTransport` (transport.py): bounded, linear framing and a
  handshake deadline, so a stranger on the Raft port cannot stall or exhaust the member.

Entries applied during one tick go into the store's open batch, published at the end of the tick;
completion callbacks are held until then, so a caller is answered only once its write is visible
to readers of this member. The batch reaches the disk every few ticks (the journal, fsynced before
any entry is committed, is what makes acknowledged writes durable), and before a snapshot or a stop.

This is the Raft boundary of the typed store commands: a log entry is the command's bytes
(`minik8s.store.encode_command`), decoded on every member right before it is applied. The few
pysyncobj internals the facade reports (role, leader) are read here and nowhere else.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

import pysyncobj.serializer as _serializer
import pysyncobj.syncobj as _syncobj
from pysyncobj import SyncObj, SyncObjConf, replicated
from pysyncobj.pipe_notifier import PipeNotifier

from minik8s.store import Result, Store, decode_command

from .journal import DurableJournal, replace_durably
from .transport import HardenedTCPTransport, PeerLimits

log = logging.getLogger(__name__)

# pysyncobj writes a snapshot received from the leader to a temporary file and renames it over the
# last one without fsync: after a power loss the rename could survive and the data not, leaving an
# empty snapshot (and a journal already cleared for it), and the member would not start again.
_serializer.atomicReplace = replace_durably

Callback = Callable[[Any, int], None]

ROLES = {0: "follower", 1: "candidate", 2: "leader"}  # pysyncobj's raft states

_journal_lock = threading.Lock()  # the journal factory is module-global in pysyncobj


class RaftMember(SyncObj):
    """A Raft member whose replicated state is a `Store`."""

    def __init__(self, self_addr: str, peers: list[str], conf: SyncObjConf, store: Store,
                 peer_limits: PeerLimits | None = None, *, journal_fsync: bool = True) -> None:
        self.peer_limits = peer_limits or PeerLimits()  # read by HardenedTCPTransport during super().__init__
        self._store = store
        self._pending: list[tuple[Callback, Any, int]] = []
        self._pending_lock = threading.Lock()
        self.journal = DurableJournal(conf.journalFile, fsync=journal_fsync)
        with _journal_lock:
            _syncobj.createJournal = lambda _path: self.journal
            super().__init__(self_addr, peers, conf, transportClass=HardenedTCPTransport)
        self._last_sent: tuple[int, int] = (0, 0)
        # pysyncobj only wakes its tick thread on new commands when not batching; we batch.
        self._notifier = PipeNotifier(self._poller)
        self.addOnTickCallback(self._end_of_tick)

    @replicated
    def apply_command(self, entry: bytes) -> Result:
        """The replicated method: runs on every member for every committed entry (an encoded command)."""
        # raftLastApplied is bumped only after this returns, so this entry's index is +1.
        self._store.begin_batch()
        return self._store.apply(decode_command(entry), self.raftLastApplied + 1)

    def submit(self, entry: bytes, callback: Callback) -> None:
        """Propose an encoded command; `callback(result, fail_reason)` runs once it is applied and committed here."""

        def deferred(result: Any, reason: int) -> None:
            with self._pending_lock:
                self._pending.append((callback, result, reason))

        self.apply_command(entry, callback=deferred)
        self._notifier.notify()  # wake the tick thread now rather than at its next poll timeout

    def _end_of_tick(self) -> None:
        self._replicate_new_entries()
        self.flush_applied()
        if self.journal.unsynced:
            # Entries appended this tick count toward the commit index only after the next tick's
            # sync: run that tick now instead of after the poll timeout (50 ms). A leader alone
            # would otherwise wait it out on every write, and a leader with followers would sync
            # only after their answers instead of while they write.
            self._notifier.notify()

    def _replicate_new_entries(self) -> None:
        """As leader, send one append_entries per follower for everything this tick added or committed.

        pysyncobj either sends on every single command (quadratic re-sends under load) or only
        every appendEntriesPeriod (slow); we run it in batch mode and send once per tick.
        """
        if not self._isLeader():
            return
        marker = (self._SyncObj__getCurrentLogIndex(), self.raftCommitIndex)  # type: ignore[attr-defined]
        if marker != self._last_sent:
            self._last_sent = marker
            self._SyncObj__sendAppendEntries()  # type: ignore[attr-defined]

    def flush_applied(self, *, durable: bool = False) -> None:
        """Publish this tick's store batch (to disk as well when `durable` or when it is due),
        then answer the callers whose entries it holds."""
        if durable:
            self._store.commit_batch()
        else:
            self._store.publish_batch()
        with self._pending_lock:
            pending, self._pending = self._pending, []
        for callback, result, reason in pending:
            try:
                callback(result, reason)
            except Exception:
                log.exception("write callback failed")

    def _doDestroy(self) -> None:  # noqa: N802 (pysyncobj's name; runs on the tick thread, which owns the batch)
        self.flush_applied(durable=True)
        super()._doDestroy()

    def _onTick(self, timeToWait: float = 0.0) -> None:  # noqa: N802, N803 (pysyncobj's names)
        self.journal.sync()
        super()._onTick(timeToWait)
        self._end_of_tick()  # also covers ticks that return before the on-tick callbacks

    def _SyncObj__applyLogEntries(self) -> bool:  # noqa: N802 (pysyncobj's mangled name)
        # A leader tells its followers about a new commit index before applying it itself, so they
        # apply (and answer the clients that wrote through them) while it does, not after.
        self._replicate_new_entries()
        return bool(SyncObj._SyncObj__applyLogEntries(self))  # type: ignore[attr-defined]

    def _SyncObj__sendNextNodeIdx(self, node: Any, reset: bool = False, nextNodeIdx: int | None = None,  # noqa: N802,N803
                                  success: bool = False) -> None:
        self.journal.sync()
        if reset and not success:
            nextNodeIdx = self.retry_from(nextNodeIdx)
        SyncObj._SyncObj__sendNextNodeIdx(self, node, reset=reset, nextNodeIdx=nextNodeIdx,  # type: ignore[attr-defined]
                                          success=success)

    def retry_from(self, suggested: int | None) -> int:
        """The index a follower asks the leader to resend from after refusing its append_entries.

        pysyncobj answers a mismatch at prevLogIdx with prevLogIdx (one step back), and a later
        batch of the same flight, whose prevLogIdx it does not have, with its own last index + 1;
        the leader takes the last answer. A follower with a long divergent tail (an old leader cut
        off by a partition) so kept sending the leader back to an index above the divergence, and
        the leader re-sent its whole tail forever. Everything up to this member's commit index is
        in every later leader's log: every refusal points there, so one round trip repairs it.
        """
        last = self._SyncObj__getCurrentLogIndex()  # type: ignore[attr-defined]
        return min(suggested if suggested is not None else last + 1, self.raftCommitIndex + 1)

    @property
    def role(self) -> str:
        """follower, candidate or leader."""
        return ROLES.get(self._SyncObj__raftState, "follower")  # type: ignore[attr-defined]

    @property
    def leader(self) -> str | None:
        """The address of the last known leader (None while unknown)."""
        node = self._getLeader()
        return str(node.id if hasattr(node, "id") else node) if node is not None else None

    @property
    def is_leader(self) -> bool:
        """Whether this member is the leader now (another may already have been elected)."""
        return bool(self._isLeader())

    @property
    def leader_commit_index(self) -> int | None:
        """The commit index last heard from the leader (None before any)."""
        return self._SyncObj__leaderCommitIndex  # type: ignore[attr-defined]


class _OverlapResendFilter(logging.Filter):
    """Drop pysyncobj's 'truncating already-applied log entries' alarm.

    With appendEntriesUseBatch=False the leader re-sends overlapping entries and pysyncobj
    truncates and re-adds them; our journal matches identical re-adds (same index, term and
    bytes) and logs a real truncation itself, so this alarm is noise here.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("truncating already-applied log entries")


logging.getLogger("pysyncobj.syncobj").addFilter(_OverlapResendFilter())
