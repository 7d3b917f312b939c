"""Answers kept by call id, so that a call sent twice runs once.

A caller that may send the same call again (the workflow runner after a leader change, the schedule
controller) names it with the header `X-Minik8s-Call-Id`. The masters send every call with the same
id to the same node (`api/server/invoke.py` picks the node by rendezvous hashing of the id), and
that node's router keeps the call here: a repeat while the first is running waits for its answer, a
repeat afterwards gets the kept answer. Only calls that reached the function are kept: one that
never started (no instance became ready) may run when it is sent again.

Bounded: answers are kept `ttl` seconds, at most `max_entries` of them and `max_bytes` of bodies in
all (oldest dropped first); an id is at most `MAX_ID_LENGTH` characters from a small alphabet.
"""

from __future__ import annotations

import re
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from minik8s.api import errors
from minik8s.api.client import CALL_ID_HEADER

MAX_ID_LENGTH = 253
_VALID_ID = re.compile(r"[A-Za-z0-9._:/@+=-]{1,%d}" % MAX_ID_LENGTH)

Answer = tuple[int, str, bytes]  # status code, content type, body


def check_call_id(call_id: str) -> str:
    """`call_id` if it is a valid id, else a BadRequestError that says what one looks like."""
    if not _VALID_ID.fullmatch(call_id):
        raise errors.BadRequestError(f"{CALL_ID_HEADER} must be 1 to {MAX_ID_LENGTH} characters of letters, "
                                     "digits and . _ : / @ + = -")
    return call_id


class NoInstanceInTime(errors.TimeoutError_):
    """No instance of the function became ready before the call's deadline: it never ran."""


@dataclass
class _Entry:
    done: threading.Event = field(default_factory=threading.Event)
    answer: Answer | None = None
    error: errors.ApiError | None = None
    finished_at: float = 0.0
    size: int = 0


class CallCache:
    """Calls by (namespace, function, call id): the first runs, repeats share its answer."""

    def __init__(self, *, ttl: float = 900.0, max_entries: int = 10_000, max_bytes: int = 64 * 1024 * 1024,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.ttl = ttl
        self.max_entries = max_entries
        self.max_bytes = max_bytes
        self.clock = clock
        self._lock = threading.Lock()
        self._running: dict[tuple[str, str, str], _Entry] = {}
        self._done: OrderedDict[tuple[str, str, str], _Entry] = OrderedDict()  # oldest answer first
        self._bytes = 0

    def run(self, key: tuple[str, str, str], call: Callable[[], Answer], timeout: float) -> Answer:
        """The answer of the call `key`: `call()` the first time, the same answer (or error) after.

        A repeat that arrives while the first runs waits at most `timeout` seconds for it. A call that
        did not reach the function (see `keeps`) is forgotten, so it may run when sent again.
        """
        with self._lock:
            self._expire_locked()
            entry = self._done.get(key) or self._running.get(key)
            owner = entry is None
            if entry is None:
                entry = self._running[key] = _Entry()
        if not owner:
            if not entry.done.wait(timeout):
                raise errors.TimeoutError_(f"call {key[2]} is still running (sent before, not answered "
                                           f"within {timeout:.0f}s)")
            if entry.error is not None:
                raise entry.error
            assert entry.answer is not None
            return entry.answer
        try:
            answer = call()
        except errors.ApiError as exc:
            self._finish(key, entry, None, exc)
            raise
        except BaseException as exc:
            self._finish(key, entry, None, errors.InternalError(f"the call failed: {type(exc).__name__}"))
            raise
        self._finish(key, entry, answer, None)
        return answer

    def __len__(self) -> int:
        with self._lock:
            return len(self._done) + len(self._running)

    def _finish(self, key: tuple[str, str, str], entry: _Entry, answer: Answer | None,
                error: errors.ApiError | None) -> None:
        entry.answer, entry.error = answer, error
        with self._lock:
            del self._running[key]
            if error is None or keeps(error):
                entry.size = len(answer[2]) if answer else len(error.message) if error else 0
                entry.finished_at = self.clock()
                self._done[key] = entry
                self._bytes += entry.size
                self._expire_locked()
        entry.done.set()

    def _expire_locked(self) -> None:
        now = self.clock()
        while self._done:
            key, entry = next(iter(self._done.items()))
            if len(self._done) <= self.max_entries and self._bytes <= self.max_bytes \
                    and now - entry.finished_at <= self.ttl:
                return
            del self._done[key]
            self._bytes -= entry.size


def keeps(error: errors.ApiError) -> bool:
    """Whether a failed call's error is its answer for good: not when the call never reached the
    function (no instance ready in time, a router busy or stopping): it may run when sent again."""
    return not isinstance(error, (NoInstanceInTime, errors.ServiceUnavailableError, errors.TooManyRequestsError))
