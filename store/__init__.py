"""LMDB object store: the replicated state machine (pure: no networking, no Raft)."""

from .store import CompactedError, Event, Store, StoreSettings

__all__ = ["CompactedError", "Event", "Store", "StoreSettings"]
