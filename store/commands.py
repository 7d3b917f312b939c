"""Typed replicated commands and their results: what the Raft log carries and what apply returns.

The store is the replicated state machine and these are its inputs and outputs, after Nomad's
`nomad/fsm.go`: one typed request per command, one apply function each, typed results whose
reasons are an enum. The API server builds a command with everything non-deterministic already
fixed (uids, timestamps, generated names, the request id, `now`), so apply stays a pure function
of (state, command). Commands cross the Raft boundary as bytes (`command_codec`); inside the
store, the consensus layer and the API server they are only ever these types.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]


class Reason(enum.Enum):
    """Why a command was rejected; the API server maps each one to an API error."""

    NOT_FOUND = "NotFound"  # update or delete of a missing key
    ALREADY_EXISTS = "AlreadyExists"  # create of an existing key
    CONFLICT = "Conflict"  # an expected revision or uid did not match
    ALREADY_APPLIED = "AlreadyApplied"  # the Raft entry was applied before (a replay)
    BAD_COMMAND = "BadCommand"  # the Raft entry is not a command this store understands
    INTERNAL = "Internal"  # a bug or a full disk


@dataclass(frozen=True, kw_only=True)
class Create:
    """Store `object` at `key`, which must not exist."""

    key: str
    object: Obj
    request_id: str = ""  # de-duplicates retries; the consensus layer fills an empty one
    now: float = 0.0  # the proposer's clock: event timestamps and age-based compaction


@dataclass(frozen=True, kw_only=True)
class Update:
    """Replace the object at `key`, which must exist and meet the expectations given."""

    key: str
    object: Obj
    expected_revision: int | None = None  # the object's current resourceVersion
    expected_uid: str | None = None
    request_id: str = ""
    now: float = 0.0


@dataclass(frozen=True, kw_only=True)
class Delete:
    """Remove the object at `key`, which must exist and meet the expectations given."""

    key: str
    expected_revision: int | None = None
    expected_uid: str | None = None
    request_id: str = ""
    now: float = 0.0


@dataclass(frozen=True, kw_only=True)
class Txn:
    """Apply `ops` in order, all or none, in one LMDB transaction (Nomad's multi-object requests,
    etcd's `Txn` without compares beyond the ops' own preconditions).

    Each op is checked and applied as it would be alone and takes its own revision, so a watcher
    sees one ordinary event per op, all committed together; the first op that is rejected
    rejects the whole transaction, which then changed nothing. The ops' own `request_id` and
    `now` must be left empty: the transaction's count. The API server uses it to write a Service
    and the index keys of the addresses and ports it holds in one step.
    """

    ops: tuple[Create | Update | Delete, ...]
    request_id: str = ""
    now: float = 0.0


@dataclass(frozen=True)
class Noop:
    """Change nothing: once applied here, every write committed before it is visible (read barrier)."""


@dataclass(frozen=True)
class Undecodable:
    """A Raft entry that is not a command; apply rejects it (BadCommand) instead of raising.

    Only `decode_command` makes one, so a corrupt or foreign entry is applied alike on every member.
    """

    problem: str


Op = Create | Update | Delete
Write = Create | Update | Delete | Txn
Command = Create | Update | Delete | Txn | Noop


@dataclass(frozen=True)
class Applied:
    """The command took effect at `revision`; `object` is what it stored (or last held, for a delete).

    For a `Txn`, `revision` is that of its last op and `object` what its first op stored.
    """

    revision: int
    object: Obj | None = None  # None for Noop


@dataclass(frozen=True)
class Rejected:
    """The command changed nothing, for `reason`."""

    reason: Reason
    message: str
    key: str = ""  # in a rejected Txn: the key of the op that was refused


Result = Applied | Rejected
