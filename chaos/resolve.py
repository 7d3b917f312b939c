"""Settle the outcome of writes that got no answer, from what the watches saw (as etcd's robustness
tests patch their history with watch events).

A write with no answer may have taken effect or not, and a linearizability search must try both:
with many of them (a whole-cluster crash leaves one per client) the search grows exponentially.
When the watches are known complete (the watch validator found no gap and no watcher had to
relist), they are the committed history, so:

- a create or update whose value (unique per write) a watch saw took effect at that revision: it
  becomes "ok" with that resourceVersion, answered at the end of the history (some time after it
  was sent);
- a create or update no watch saw never took effect and leaves the history;
- a delete stays unknown: it names no value, so which DELETED event is its own cannot be told
  (attributing one to the wrong delete, say one with another precondition, would make up a
  violation); `unexplained_deletes` gives the revisions of the DELETED events no answered delete
  explains, which the watch validator then takes as uncertain.
"""

from __future__ import annotations

from dataclasses import replace

from .history import Op
from .watchcheck import DELETED, CommittedChange


def resolve_unknowns(history: list[Op], seen: list[CommittedChange]) -> tuple[list[Op], int, int]:
    """The history with unknown-outcome creates and updates settled; how many became ok, how many were dropped."""
    end = max((op.complete for op in history if op.complete is not None), default=0.0)
    end = max(end, max((op.invoke for op in history), default=0.0)) + 1.0
    by_value = {(c.key, c.value): c.revision for c in seen if c.type != DELETED and c.value is not None}
    settled, happened, dropped = [], 0, 0
    for op in history:
        if op.outcome != "unknown" or op.kind not in ("create", "update"):
            settled.append(op)
            continue
        revision = by_value.get((op.key, op.value))
        if revision is None:
            dropped += 1
            continue
        happened += 1
        settled.append(replace(op, outcome="ok", complete=end, result_version=str(revision), error=None))
    return settled, happened, dropped


def unexplained_deletes(history: list[Op], seen: list[CommittedChange]) -> set[int]:
    """Revisions of DELETED events no answered delete explains, on keys that had a delete with no answer."""
    explained = {int(op.result_version) for op in history
                 if op.kind == "delete" and op.outcome == "ok" and (op.result_version or "").isdigit()}
    keys = {op.key for op in history if op.kind == "delete" and op.outcome == "unknown"}
    return {c.revision for c in seen if c.type == DELETED and c.key in keys and c.revision not in explained}
