"""The operation record shared by the chaos suite's history checkers.

A history is a list of `Op`: what each client asked (`kind`, `key`, `value`, `expect_version`),
when (`invoke`, `complete`, monotonic seconds) and what it was answered (`outcome`,
`result_version`, `error`). Each key is a register (a ConfigMap name); `value` is unique per write
so a read names the write it saw. `to_json`/`from_json` round-trip a history for reports;
`by_key` splits it per register (the checkers check each key alone).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, fields

KINDS = ("create", "read", "update", "delete")
OUTCOMES = ("ok", "fail", "unknown")


@dataclass(frozen=True)
class Op:
    """One client operation on one key, with its invocation and (when there was one) its answer.

    `outcome` is "ok", "fail" (a definite refusal: `error` says which, e.g. "Conflict",
    "NotFound", "AlreadyExists") or "unknown" (no answer: `complete` is None, the operation may
    or may not have taken effect). For a read, `value` is the value read (None = not found).
    """

    id: int
    process: int
    key: str
    kind: str
    value: str | None
    expect_version: str | None
    invoke: float
    complete: float | None
    outcome: str
    result_version: str | None
    error: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"op {self.id}: kind {self.kind!r} is not one of {KINDS}")
        if self.outcome not in OUTCOMES:
            raise ValueError(f"op {self.id}: outcome {self.outcome!r} is not one of {OUTCOMES}")
        if self.complete is not None and self.complete < self.invoke:
            raise ValueError(f"op {self.id}: completes ({self.complete}) before it is invoked ({self.invoke})")

    def describe(self) -> str:
        """One line for reports: `op 7 p2 update a='v7' if rv=12 [1.000..1.250] ok rv=15`."""
        what = f"{self.kind} {self.key}"
        if self.kind in ("create", "update"):
            what += f"={self.value!r}"
        if self.expect_version is not None:
            what += f" if rv={self.expect_version}"
        end = "?" if self.complete is None else f"{self.complete:.3f}"
        answer = self.outcome
        if self.kind == "read" and self.outcome == "ok":
            answer += f" {self.value!r}" if self.value is not None else " not found"
        if self.result_version is not None:
            answer += f" rv={self.result_version}"
        if self.error:
            answer += f" ({self.error})"
        return f"op {self.id} p{self.process} {what} [{self.invoke:.3f}..{end}] {answer}"


def to_json(history: Iterable[Op], *, indent: int | None = None) -> str:
    """A JSON array of objects, one per op, with every field of `Op`."""
    return json.dumps([asdict(op) for op in history], indent=indent)


def from_json(text: str) -> list[Op]:
    """The history `to_json` wrote; unknown fields are refused, missing `error` defaults to None."""
    names = {f.name for f in fields(Op)}
    ops = []
    for record in json.loads(text):
        extra = set(record) - names
        if extra:
            raise ValueError(f"unknown op fields: {sorted(extra)}")
        ops.append(Op(**record))
    return ops


def by_key(history: Iterable[Op]) -> dict[str, list[Op]]:
    """The ops of each key, in the order of the history, keys in order of first appearance."""
    out: dict[str, list[Op]] = {}
    for op in history:
        out.setdefault(op.key, []).append(op)
    return out
