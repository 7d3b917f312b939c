"""LMDB object store: the replicated state machine (pure: no networking, no Raft)."""

from .command_codec import UnencodableError, decode_command, encode_command
from .commands import (
    Applied, Command, Create, Delete, Noop, Reason, Rejected, Result, Undecodable, Update, Write,
)
from .store import CompactedError, Event, Store, StoreSettings

__all__ = [
    "Applied", "Command", "CompactedError", "Create", "Delete", "Event", "Noop", "Reason", "Rejected", "Result",
    "Store", "StoreSettings", "Undecodable", "UnencodableError", "Update", "Write", "decode_command",
    "encode_command",
]
