"""Failpoints: deliberate defects a master can be started with, for the chaos suite's self-test only.

    MINIK8S_FAILPOINTS=stale-reads,drop-watch-events minik8s master ...

- `stale-reads`: a GET of one object answers, every other time, the copy this master served
  before instead of the current one (a follower serving stale data): linearizability must catch it;
- `drop-watch-events`: watches on this master skip every event whose revision is a multiple of 5
  (a lost event): the watch validator must catch it;
- `no-fsync`: neither the Raft journal nor the store ever fsyncs (a disk that acknowledges what it
  has not written): after a power loss of every member (the chaos suite's lazyfs) acknowledged
  writes are gone, and the durability checker must catch it.

Nothing is active unless the variable names it; a master with any failpoint active says so in its
log at start. These exist so that the checkers are shown to catch real defects of a real server,
as etcd's robustness tests use gofail.
"""

from __future__ import annotations

import os
import threading
from typing import Any

KNOWN = frozenset({"stale-reads", "drop-watch-events", "no-fsync"})
ACTIVE: frozenset[str] = frozenset(n.strip() for n in os.environ.get("MINIK8S_FAILPOINTS", "").split(",")
                                   if n.strip() in KNOWN)
DROPPED_EVERY = 5


def active(name: str) -> bool:
    """Whether the failpoint `name` was switched on for this process."""
    return name in ACTIVE


class StaleReads:
    """Remembers what each GET answered; with `stale-reads` on, every other GET of an object gets that."""

    def __init__(self) -> None:
        self._served: dict[tuple[str, str | None, str], dict[str, Any]] = {}
        self._turn: dict[tuple[str, str | None, str], int] = {}
        self._lock = threading.Lock()

    def filter(self, key: tuple[str, str | None, str], fresh: dict[str, Any]) -> dict[str, Any]:
        if not active("stale-reads"):
            return fresh
        with self._lock:
            turn = self._turn[key] = self._turn.get(key, 0) + 1
            old = self._served.get(key)
            if old is not None and turn % 2 == 0:
                return old
            self._served[key] = fresh
            return fresh


def drops(revision: int) -> bool:
    """Whether `drop-watch-events` hides the event at `revision` from watchers."""
    return active("drop-watch-events") and revision % DROPPED_EVERY == 0
