"""Settle the outcome of writes that got no answer, from what the watches saw (as etcd's robustness
tests patch their history with watch events).

A write with no answer may have taken effect or not, and a linearizability search must try both:
with many of them (a whole-cluster crash leaves one per client) the search grows exponentially.
When the watches are known complete (the watch validator found no gap and no watcher had to
relist), they are the committed history, so:

- a create or update whose value (unique per write) a watch saw took effect at that revision: it
  becomes "ok" with that resourceVersion, answered at the end of the history (some time after it
  was sent);
- a delete: a DELETED event of its key that no answered delete explains is attributed to it (the
  oldest such delete first); it becomes "ok" likewise;
- a write no watch saw never took effect and leaves the history.
"""

from __future__ import annotations

from dataclasses import replace

from .history import Op
from .watchcheck import DELETED, CommittedChange


def resolve_unknowns(history: list[Op], seen: list[CommittedChange]) -> tuple[list[Op], int, int]:
    """The history with unknown-outcome writes settled; and how many became ok and how many were dropped."""
    end = max((op.complete for op in history if op.complete is not None), default=0.0)
    end = max(end, max((op.invoke for op in history), default=0.0)) + 1.0
    by_value = {(c.key, c.value): c.revision for c in seen if c.type != DELETED and c.value is not None}
    explained = {int(op.result_version) for op in history
                 if op.kind == "delete" and op.outcome == "ok" and (op.result_version or "").isdigit()}
    deletes: dict[str, list[int]] = {}
    for change in seen:
        if change.type == DELETED and change.revision not in explained:
            deletes.setdefault(change.key, []).append(change.revision)
    settled, happened, dropped = [], 0, 0
    for op in sorted(history, key=lambda o: o.invoke):
        if op.outcome != "unknown" or op.kind == "read":
            settled.append(op)
            continue
        if op.kind in ("create", "update"):
            revision = by_value.get((op.key, op.value))
        else:
            pending = deletes.get(op.key) or []
            revision = pending.pop(0) if pending else None
        if revision is None:
            dropped += 1
            continue
        happened += 1
        settled.append(replace(op, outcome="ok", complete=end, result_version=str(revision), error=None))
    return sorted(settled, key=lambda o: o.id), happened, dropped
