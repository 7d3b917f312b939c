"""Durability checker: no acknowledged write lost, none applied twice, no value out of nowhere.

Input is a chaos run's operation history (any objects with the attributes of `chaos.history.Op`:
`id, key, kind, value, invoke, complete, outcome, result_version`), the final state read back
after the run (`key -> (value, resourceVersion)`, None when the key is absent), and optionally
the committed changes seen by the watchers (`watchcheck.CommittedChange`). Values are unique per
write, so a value names the write that produced it.

Checks (`check_durability`):

- lost: an acknowledged create/update is the key's final value, or a change that may come after
  it replaced it; an acknowledged delete is not undone by an older value. Final state holding a
  value older than an acknowledged write is a lost write.
- applied_twice: a value appears at two different revisions (acknowledged answers, watched
  changes, final state).
- phantom: a final (or watched) value that no write with an ok or unknown outcome wrote to that key.

"Older" is by revision when both are known, else by real time (answered before the other was
sent); writes that overlap in time may be in either order, so they never count as lost. An
acknowledged write overwritten in the middle of the history and missing from the watch is not
detected here (the watch checker's gapless check finds it).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from minik8s.chaos.watchcheck import DELETED, CheckResult, CheckSet, CommittedChange

WRITE_KINDS = ("create", "update", "delete")
FinalState = Mapping[str, "tuple[str, int] | None"]


class OpLike(Protocol):
    """The attributes of a history operation (`chaos.history.Op`) this checker reads."""

    id: Any
    key: str
    kind: str
    value: str | None
    invoke: float
    complete: float | None
    outcome: str
    result_version: int | None


@dataclass
class DurabilityReport(CheckSet):
    """The three durability checks, plus how many acknowledged writes and keys were checked."""

    lost: CheckResult = field(default_factory=lambda: CheckResult("lost"))
    applied_twice: CheckResult = field(default_factory=lambda: CheckResult("applied_twice"))
    phantom: CheckResult = field(default_factory=lambda: CheckResult("phantom"))
    writes_checked: int = 0
    keys_checked: int = 0

    def checks(self) -> list[CheckResult]:
        return [self.lost, self.applied_twice, self.phantom]

    def to_json(self) -> dict[str, Any]:
        return {**self.checks_json(), "writes_checked": self.writes_checked, "keys_checked": self.keys_checked}


@dataclass
class _History:
    """The write operations of a history, indexed the ways the checks look them up."""

    writes: list[OpLike]
    watched: list[CommittedChange] | None
    by_key: dict[str, list[OpLike]] = field(default_factory=dict)
    writer: dict[str, OpLike] = field(default_factory=dict)  # value -> the ok/unknown write of it
    failed_values: set[str] = field(default_factory=set)
    watched_revision: dict[str, int] = field(default_factory=dict)  # value -> first watched revision
    watched_deletes: dict[str, list[int]] = field(default_factory=dict)  # key -> revisions of its deletes

    def __post_init__(self) -> None:
        for op in self.writes:
            self.by_key.setdefault(op.key, []).append(op)
            if op.kind == "delete" or op.value is None:
                continue
            if op.outcome in ("ok", "unknown"):
                self.writer.setdefault(op.value, op)
            else:
                self.failed_values.add(op.value)
        for change in sorted(self.watched or [], key=lambda c: c.revision):
            if change.type == DELETED:
                self.watched_deletes.setdefault(change.key, []).append(change.revision)
            elif change.value is not None:
                self.watched_revision.setdefault(change.value, change.revision)

    def revision(self, op: OpLike) -> int | None:
        """The revision a write took effect at, from its answer or else from the watch."""
        if op.outcome == "ok" and op.result_version is not None:
            return int(op.result_version)
        return self.watched_revision.get(op.value) if op.value is not None else None


def check_durability(
    history: Iterable[OpLike],
    final_state: FinalState,
    watched: list[CommittedChange] | None = None,
) -> DurabilityReport:
    """Check that acknowledged writes survived, none was applied twice, and no value is a phantom.

    Keys missing from `final_state` were not read back and are not checked for lost writes.
    With `watched`, a later change seen there (or an acknowledged one) may replace or delete an
    acknowledged write; without it, any unknown-outcome write to the key may too.
    """
    ops = [op for op in history if op.kind in WRITE_KINDS]
    hist = _History(ops, watched)
    report = DurabilityReport(keys_checked=len(final_state))
    for key, state in final_state.items():
        for op in hist.by_key.get(key, []):
            if op.outcome == "ok":
                report.writes_checked += 1
                _check_lost(op, state, hist, report.lost)
    _check_applied_twice(hist, final_state, report.applied_twice)
    _check_phantom(hist, final_state, report.phantom)
    return report


def _definitely_before(x: OpLike, rx: int | None, w: OpLike, rw: int | None) -> bool:
    """Whether write x certainly took effect before w: by revision, else by real time."""
    if rx is not None and rw is not None:
        return rx < rw
    return x.complete is not None and x.complete < w.invoke


def _check_lost(op: OpLike, state: tuple[str, int] | None, hist: _History, result: CheckResult) -> None:
    """An acknowledged write is still visible, or something that may come after it replaced it."""
    rw = hist.revision(op)
    example: dict[str, Any] = {"key": op.key, "op": op.id, "kind": op.kind, "value": op.value,
                               "revision": rw, "final": list(state) if state else None}
    if state is None:
        if op.kind != "delete" and not _deleted_after(op, rw, hist):
            result.add({**example, "reason": "key absent, but no delete after this acknowledged write"})
        return
    value, final_revision = state
    if op.kind != "delete" and value == op.value:
        return
    writer = hist.writer.get(value)
    if writer is None or writer.key != op.key:
        return  # a phantom final value: reported by the phantom check
    if _definitely_before(writer, final_revision, op, rw):
        reason = ("an older value came back after this acknowledged delete" if op.kind == "delete"
                  else "final state holds an older value than this acknowledged write")
        result.add({**example, "reason": reason, "final_writer": writer.id})


def _deleted_after(op: OpLike, rw: int | None, hist: _History) -> bool:
    """Whether a delete of op's key may have taken effect after op."""
    if rw is not None and any(rev > rw for rev in hist.watched_deletes.get(op.key, [])):
        return True
    for other in hist.by_key.get(op.key, []):
        if other.kind != "delete":
            continue
        if other.outcome == "ok" and not _definitely_before(other, hist.revision(other), op, rw):
            return True
        if other.outcome == "unknown" and hist.watched is None:
            return True
    return False


def _check_applied_twice(hist: _History, final_state: FinalState, result: CheckResult) -> None:
    """A value (one write) appears at a single revision across answers, watch and final state."""
    seen: dict[str, dict[int, list[str]]] = {}

    def note(value: str | None, revision: int | None, source: str) -> None:
        if value is not None and revision is not None:
            seen.setdefault(value, {}).setdefault(int(revision), []).append(source)

    for op in hist.writes:
        if op.kind != "delete" and op.outcome == "ok":
            note(op.value, op.result_version, f"answer to {op.id}")
    for change in hist.watched or []:
        if change.type != DELETED:
            note(change.value, change.revision, f"watched change to {change.key}")
    for key, state in final_state.items():
        if state is not None:
            note(state[0], state[1], f"final state of {key}")
    for value, revisions in seen.items():
        if len(revisions) > 1:
            result.add({"value": value, "revisions": {str(rev): srcs for rev, srcs in sorted(revisions.items())}})


def _check_phantom(hist: _History, final_state: FinalState, result: CheckResult) -> None:
    """Every final or watched value was written, to that key, by a write that may have succeeded."""
    for key, state in final_state.items():
        if state is not None:
            _phantom_value(key, state[0], state[1], "final state", hist, result)
    for change in hist.watched or []:
        if change.type != DELETED and change.value is not None:
            _phantom_value(change.key, change.value, change.revision, "watched change", hist, result)


def _phantom_value(key: str, value: str, revision: int, source: str, hist: _History, result: CheckResult) -> None:
    writer = hist.writer.get(value)
    if writer is not None and writer.key == key:
        return
    if writer is not None:
        reason = f"written to key {writer.key!r}"
    elif value in hist.failed_values:
        reason = "written only by a write that failed"
    else:
        reason = "never written"
    result.add({"source": source, "key": key, "value": value, "revision": revision, "reason": reason})
