"""The consensus facade the API server uses: propose, read barrier, status.

pysyncobj may report a write as failed that was in fact applied (timeout, leader change), and
may never call back at all when a leader dies. So `propose` waits with its own deadline and
re-proposes the *same* command (same request id) until it gets a definite answer: the store's
de-duplication turns a repeat into the first result, so a client never sees a duplicate or a
lost acknowledged write.

Callers hand `propose` a typed store command and get a typed result; the command is encoded
once here, the only place it becomes bytes. Raft state is exposed as read-only properties
(`term`, `commit_index`, `applied_index`, `is_leader`, `role`, `leader`), so nothing outside
this package reads pysyncobj's attributes.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
import uuid
from dataclasses import dataclass, field, replace
from typing import Any

from pysyncobj import FAIL_REASON, SyncObjConf

from minik8s.store import Command, Noop, Reason, Rejected, Result, Store, encode_command

from .journal import read_entries
from .member import ROLES, RaftMember
from .snapshot import make_serializers, read_header
from .transport import PeerLimits

log = logging.getLogger(__name__)

READY_LAG = 1000  # entries a caught-up member may trail its leader's commit index and still be ready
_RETRY_WITH_SAME_ID = {
    FAIL_REASON.MISSING_LEADER, FAIL_REASON.NOT_LEADER, FAIL_REASON.QUEUE_FULL, FAIL_REASON.DISCARDED,
    FAIL_REASON.LEADER_CHANGED, FAIL_REASON.UNKNOWN_OUTCOME,
}


class ConsensusError(Exception):
    """The cluster could not give a definite answer in time (no quorum, no leader)."""


class StartupCheckError(Exception):
    """This member's data directory is inconsistent; starting it could lose or fork data."""


@dataclass(frozen=True)
class ConsensusSettings:
    """How one Raft member runs."""

    name: str
    data_dir: str
    raft_addr: str
    peers: tuple[str, ...] = ()
    cluster_secret: str = ""
    log_compaction_entries: int = 5000
    log_compaction_seconds: float = 300.0
    election_timeout: tuple[float, float] = (0.35, 1.0)
    leader_fallback_seconds: float = 5.0
    attempt_timeout: float = 2.0  # wait this long for one proposal before re-proposing it
    peer_limits: PeerLimits = PeerLimits()  # what one Raft peer connection may cost (frames, handshakes)
    journal_fsync: bool = True  # False only for the chaos self-test's `no-fsync` failpoint
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def raft_dir(self) -> str:
        return os.path.join(self.data_dir, "raft")

    @property
    def cluster_id(self) -> str:
        """Derived from the secret: members of one cluster share it, other clusters differ."""
        return hashlib.sha256(("minik8s-cluster:" + self.cluster_secret).encode()).hexdigest()[:16]


def check_startup(settings: ConsensusSettings, store: Store) -> None:
    """Refuse to start when the journal and the store disagree (raises StartupCheckError)."""
    recorded = store.cluster_id
    if recorded is not None and recorded != settings.cluster_id:
        raise StartupCheckError(
            f"{settings.data_dir} belongs to another cluster (cluster id {recorded}, this cluster's secret "
            f"gives {settings.cluster_id}); use the right --cluster-secret-file or an empty --data-dir"
        )
    journal_path = os.path.join(settings.raft_dir, "journal")
    entries, _, _ = read_entries(journal_path)
    log_end = entries[-1][1] if entries else 0
    snapshot_path = os.path.join(settings.raft_dir, "snapshot")
    if os.path.exists(snapshot_path):
        header, _ = read_header(snapshot_path)
        log_end = max(log_end, header["applied_index"])
    if store.applied_index > log_end:
        raise StartupCheckError(
            f"the store in {settings.data_dir} has applied Raft index {store.applied_index} but the Raft log "
            f"ends at {log_end}: the journal was lost or replaced. Starting would silently skip new writes. "
            f"Move {settings.data_dir} away and start with an empty data dir to rejoin from the other members"
        )
    if recorded is None:
        store.set_cluster_id(settings.cluster_id)


class Consensus:
    """One Raft member of the replicated store, with the calls the API server needs."""

    def __init__(self, settings: ConsensusSettings, store: Store) -> None:
        self.settings = settings
        self.store = store
        self._member: RaftMember | None = None
        self._barrier = threading.Condition()
        self._caught_up = False  # is_ready's latch: applied all the leader had committed, and not fallen far behind
        self._barrier_started = 0
        self._barrier_done = 0
        self._barrier_in_flight = False

    def start(self) -> None:
        """Check the data directory, then join the cluster."""
        if not self.settings.cluster_secret:
            raise ValueError("a cluster secret is required: Raft peers authenticate with it (without one, "
                             "anyone who reaches the Raft port could run code in this member)")
        os.makedirs(self.settings.raft_dir, exist_ok=True)
        check_startup(self.settings, self.store)
        serializer, deserializer = make_serializers(self.store, before=self._flush)
        s = self.settings
        conf = SyncObjConf(
            journalFile=os.path.join(s.raft_dir, "journal"),
            fullDumpFile=os.path.join(s.raft_dir, "snapshot"),
            serializer=serializer,
            deserializer=deserializer,
            password=s.cluster_secret or None,
            bindAddress=s.raft_addr,
            appendEntriesUseBatch=True,  # RaftMember sends once per tick
            raftMinTimeout=s.election_timeout[0],
            raftMaxTimeout=s.election_timeout[1],
            connectionTimeout=max(3.5, s.election_timeout[1]),
            # Reconnect quickly: followers that are not yet connected to each other when the
            # leader dies cannot hold an election (pysyncobj's default retry is every 5 s).
            connectionRetryTime=0.5,
            leaderFallbackTimeout=s.leader_fallback_seconds,
            logCompactionMinEntries=s.log_compaction_entries,
            logCompactionMinTime=s.log_compaction_seconds,
            dynamicMembershipChange=False,
            onStateChanged=self._log_role,
            **s.extra,
        )
        self._member = RaftMember(s.raft_addr, list(s.peers), conf, self.store, peer_limits=s.peer_limits,
                                  journal_fsync=s.journal_fsync)

    def _log_role(self, old: int, new: int) -> None:
        term = self._member.raftCurrentTerm if self._member is not None else "?"
        log.info("raft: %s -> %s (term %s)", ROLES.get(old, old), ROLES.get(new, new), term)

    def _flush(self) -> None:
        if self._member is not None:
            self._member.flush_applied(durable=True)

    def stop(self) -> None:
        """Leave the cluster and close the journal."""
        if self._member is not None:
            self._member.destroy_synchronous()
            self._member = None

    @property
    def _started(self) -> RaftMember:
        if self._member is None:
            raise ConsensusError("consensus is not started")
        return self._member

    # ---- writes -----------------------------------------------------------------------------

    def propose(self, command: Command, *, timeout: float = 10.0) -> Result:
        """Replicate `command` and return the store's result as applied on this member.

        A write without a request id gets one. Re-proposes the same command (same request id)
        after an unclear failure, until `timeout`; raises ConsensusError when no definite answer
        came by then, and `minik8s.store.UnencodableError` (before proposing anything) when the
        command cannot be encoded.
        """
        if not isinstance(command, Noop) and not command.request_id:
            command = replace(command, request_id=uuid.uuid4().hex)
        entry = encode_command(command)
        deadline = time.monotonic() + timeout
        last_problem = "no answer"
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ConsensusError(f"write not confirmed within {timeout:.0f}s ({last_problem})")
            outcome = self._propose_once(entry, min(remaining, self.settings.attempt_timeout))
            if outcome is None:
                last_problem = "timed out waiting for the cluster"
                continue
            result, reason = outcome
            if reason == FAIL_REASON.SUCCESS and not _already_applied(result):
                return result
            last_problem = f"raft: {_reason_name(reason)}"
            if reason not in _RETRY_WITH_SAME_ID and reason != FAIL_REASON.SUCCESS:
                raise ConsensusError(f"write refused ({last_problem})")
            time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))

    def _propose_once(self, entry: bytes, wait: float) -> tuple[Any, int] | None:
        done = threading.Event()
        box: list[tuple[Any, int]] = []

        def on_done(result: Any, reason: int) -> None:
            box.append((result, reason))
            done.set()

        member = self._started
        leader = member.leader
        member.submit(entry, on_done)
        deadline = time.monotonic() + wait
        # pysyncobj never answers a command forwarded to a leader that died; re-propose as soon
        # as another leader is known instead of waiting out the whole attempt.
        while not done.wait(min(0.05, max(0.0, deadline - time.monotonic()))):
            if time.monotonic() >= deadline:
                return None
            current = member.leader
            if current is not None and current != leader:
                return None
        return box[0]

    # ---- reads ------------------------------------------------------------------------------

    def barrier(self, *, timeout: float = 10.0) -> None:
        """Return once this member has applied every write acknowledged before the call.

        Concurrent readers share barriers: a reader waits for the first barrier proposed
        after it arrived (an earlier one might not cover writes acknowledged just before).
        """
        deadline = time.monotonic() + timeout
        with self._barrier:
            target = self._barrier_started + 1
            while self._barrier_done < target:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise ConsensusError("read barrier not confirmed in time (no quorum?)")
                if self._barrier_in_flight:
                    self._barrier.wait(remaining)
                    continue
                self._barrier_in_flight = True
                self._barrier_started += 1
                generation = self._barrier_started
                self._barrier.release()
                try:
                    self.propose(Noop(), timeout=remaining)
                    succeeded = True
                except ConsensusError:
                    succeeded = False
                finally:
                    self._barrier.acquire()
                    self._barrier_in_flight = False
                    self._barrier.notify_all()
                if succeeded:
                    self._barrier_done = max(self._barrier_done, generation)
                else:
                    raise ConsensusError("read barrier not confirmed in time (no quorum?)")

    # ---- status -----------------------------------------------------------------------------

    @property
    def term(self) -> int:
        """The current Raft term as this member knows it."""
        return int(self._started.raftCurrentTerm)

    @property
    def commit_index(self) -> int:
        """The highest log index this member knows to be committed."""
        return int(self._started.raftCommitIndex)

    @property
    def applied_index(self) -> int:
        """The highest log index applied to this member's store."""
        return int(self._started.raftLastApplied)

    @property
    def is_leader(self) -> bool:
        """Whether this member leads now (another may already have been elected)."""
        return self._started.is_leader

    @property
    def role(self) -> str:
        """follower, candidate or leader."""
        return self._started.role

    @property
    def leader(self) -> str | None:
        """The Raft address of the last known leader (None while unknown)."""
        return self._started.leader

    @property
    def has_quorum(self) -> bool:
        """Whether this member hears from a majority of the cluster."""
        return bool(self._started.hasQuorum)

    def status(self) -> dict[str, Any]:
        """This member's view: role, leader, term, indices, revision, members."""
        return {
            "name": self.settings.name,
            "raftAddr": self.settings.raft_addr,
            "role": self.role,
            "leader": self.leader,
            "term": self.term,
            "commitIndex": self.commit_index,
            "appliedIndex": self.applied_index,
            "revision": self.store.revision,
            "members": sorted([self.settings.raft_addr, *self.settings.peers]),
            "hasQuorum": self.has_quorum,
        }

    def digest(self) -> dict[str, Any]:
        """This member's store digest and the revision it was taken at (see `Store.digest`)."""
        value, revision = self.store.digest()
        return {"name": self.settings.name, "digest": value, "revision": revision,
                "appliedIndex": self.applied_index}

    def is_ready(self) -> bool:
        """A leader is known and this member has caught up with what the leader reported committed.

        Under a steady write load a healthy member trails the leader's newest commit index by the
        entries in flight (it applies them a tick later), so an exact comparison made /readyz flap:
        each member answered "not ready" to a fifth of the polls, and all three were ready at once
        in only half of them. A member is ready once it has applied everything the leader reported
        committed, and stays ready while it trails by at most `READY_LAG` entries.
        """
        member = self._member
        leader_commit = member.leader_commit_index if member is not None and member.leader is not None else None
        if member is None or leader_commit is None:
            self._caught_up = False
            return False
        lag = leader_commit - member.raftLastApplied
        self._caught_up = lag <= 0 or (self._caught_up and lag <= READY_LAG)
        return self._caught_up


def _already_applied(result: Result) -> bool:
    """The entry was a replay of one applied before: its own result is unknown here, so propose again."""
    return isinstance(result, Rejected) and result.reason is Reason.ALREADY_APPLIED


def _reason_name(reason: int) -> str:
    for name in dir(FAIL_REASON):
        if not name.startswith("_") and getattr(FAIL_REASON, name) == reason:
            return name
    return str(reason)
