"""The two wire formats of Kubernetes timestamps, written and read in one place.

`Time` (creation and deletion timestamps, conditions, taints, events) is RFC 3339 with second
precision; `MicroTime` (Lease `acquireTime`/`renewTime`) has microseconds. Both are UTC with a
`Z`, as the Kubernetes API server writes them. Every part (API server, scheduler, controllers,
node agent, tables) formats and parses through these functions, so they cannot drift apart.

Timestamps are for people and for other machines to read: decisions that need a clock use the
caller's own monotonic clock, never another machine's wall clock.
"""

from __future__ import annotations

import time
from datetime import datetime, timezone

__all__ = ["LAST_SECOND", "format_micro_time", "format_time", "now_micro_time", "now_time", "parse_time"]

LAST_SECOND = 253402300799.0  # 9999-12-31T23:59:59Z, the last moment RFC 3339 can write
_TIME = "%Y-%m-%dT%H:%M:%SZ"
_MICRO_TIME = "%Y-%m-%dT%H:%M:%S.%fZ"


def format_time(seconds: float) -> str:
    """Kubernetes `Time` for epoch `seconds`: `2026-11-26T23:00:00Z`, clamped to years 1970..9999."""
    return datetime.fromtimestamp(_clamp(seconds), timezone.utc).strftime(_TIME)


def format_micro_time(seconds: float) -> str:
    """Kubernetes `MicroTime` for epoch `seconds`: `2026-11-26T23:00:00.123456Z` (clamped like `format_time`)."""
    return datetime.fromtimestamp(_clamp(seconds), timezone.utc).strftime(_MICRO_TIME)


def now_time() -> str:
    """The current wall-clock time as a Kubernetes `Time`."""
    return format_time(time.time())


def now_micro_time() -> str:
    """The current wall-clock time as a Kubernetes `MicroTime`."""
    return format_micro_time(time.time())


def parse_time(value: str | None) -> datetime | None:
    """An RFC 3339 timestamp (`Time` or `MicroTime`) as an aware datetime; None when missing or malformed.

    A timestamp without a zone is taken as UTC.
    """
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _clamp(seconds: float) -> float:
    """`seconds` within what RFC 3339 can write (and `datetime` can hold): 1970-01-01 .. 9999-12-31."""
    return min(max(seconds, 0.0), LAST_SECOND)
