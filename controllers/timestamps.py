"""Wall-clock timestamps in the two wire formats controllers write.

`Time` (conditions, taints) has second precision; `MicroTime` (Lease `acquireTime` and
`renewTime`) has microseconds. Both are UTC with a `Z`. Controllers only *write* these: what
they decide by is their own monotonic clock, never another machine's wall clock.
"""

from __future__ import annotations

from datetime import datetime, timezone


def rfc3339(ts: float) -> str:
    """Kubernetes `Time`: `2026-11-26T23:00:00Z`."""
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def micro_time(ts: float) -> str:
    """Kubernetes `MicroTime`: `2026-11-26T23:00:00.123456Z`."""
    return datetime.fromtimestamp(ts, timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
