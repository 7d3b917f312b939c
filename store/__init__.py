"""LMDB object store: the replicated state machine (pure: no networking, no Raft)."""

from .command_codec import UnencodableError, decode_command, encode_command
from .commands import (
    Applied, Command, Create, Delete, Noop, Op, Reason, Rejected, Result, Txn, Undecodable, Update, Write,
)
from .store import CompactedError, Event, Store, StoreSettings

__all__ = [
    "Applied", "Command", "CompactedError", "Create", "Delete", "Event", "Noop", "Op", "Reason", "Rejected", "Result",
    "Store", "StoreSettings", "Txn", "Undecodable", "UnencodableError", "Update", "Write", "decode_command",
    "encode_command",
]
