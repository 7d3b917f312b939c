"""Histories of a simulated, correct (linearizable) ConfigMap store, for the checkers' tests and bench.

`simulate` runs clients against an in-memory store in simulated time: each op is applied
atomically at a random instant between its invocation and its answer, so every history it returns
is linearizable by construction. Some answers are lost (outcome "unknown"): such an op is applied
or not (even odds), and its client goes on after a timeout.
"""

from __future__ import annotations

import heapq
import random
from dataclasses import dataclass, field

from minik8s.chaos.history import Op

DEFAULT_MIX = {"read": 0.40, "update": 0.30, "create": 0.15, "delete": 0.15}


@dataclass(frozen=True)
class SimConfig:
    """The shape of a simulated history."""

    ops: int = 1000
    keys: int = 3
    processes: int = 8
    mix: dict[str, float] = field(default_factory=lambda: dict(DEFAULT_MIX))
    unknown: float = 0.02      # share of ops whose answer is lost
    cas: float = 1.0           # share of updates/deletes with a resourceVersion precondition (when known)
    max_delay: float = 0.010   # invocation -> effect, and effect -> answer: uniform in [0, max_delay]
    timeout: float = 0.050     # a client whose answer is lost goes on after this long


@dataclass
class _Pending:
    id: int
    process: int
    key: str
    kind: str
    value: str | None
    expect: str | None
    invoke: float
    lost: bool
    outcome: str = "ok"
    version: str | None = None
    error: str | None = None


class _Store:
    """The register store: key -> (value, version), one revision counter for all keys."""

    def __init__(self) -> None:
        self.objects: dict[str, tuple[str, str]] = {}
        self.revision = 0

    def apply(self, p: _Pending) -> None:
        current = self.objects.get(p.key)
        if p.kind == "read":
            p.value, p.version = current if current else (None, None)
        elif p.kind == "create":
            if current:
                p.outcome, p.error = "fail", "AlreadyExists"
            else:
                p.version = self._write(p.key, p.value)
        elif current is None:
            p.outcome, p.error = "fail", "NotFound"
        elif p.expect is not None and p.expect != current[1]:
            p.outcome, p.error = "fail", "Conflict"
        elif p.kind == "update":
            p.version = self._write(p.key, p.value)
        else:
            del self.objects[p.key]
            self.revision += 1

    def _write(self, key: str, value: str | None) -> str:
        assert value is not None
        self.revision += 1
        self.objects[key] = (value, str(self.revision))
        return str(self.revision)


def simulate(config: SimConfig, rng: random.Random) -> list[Op]:
    """A linearizable history of `config.ops` ops, ordered by id (= by invocation)."""
    keys = [f"cm-{i}" for i in range(config.keys)]
    kinds, weights = list(config.mix), list(config.mix.values())
    known: list[dict[str, str]] = [{} for _ in range(config.processes)]  # the versions each client saw
    store, history = _Store(), []
    events: list[tuple[float, int, str, object]] = [(rng.uniform(0, config.max_delay), p, "invoke", p)
                                                    for p in range(config.processes)]
    heapq.heapify(events)
    seq, issued = config.processes, 0

    def push(at: float, what: str, payload: object) -> None:
        nonlocal seq
        seq += 1
        heapq.heappush(events, (at, seq, what, payload))

    while events:
        now, _, what, payload = heapq.heappop(events)
        if what == "invoke" and issued < config.ops:
            p = _invoke(issued, payload, now, rng, config, keys, kinds, weights, known)  # type: ignore[arg-type]
            issued += 1
            if not p.lost or rng.random() < 0.5:
                push(now + rng.uniform(0, config.max_delay), "apply", p)
            if p.lost:
                history.append(_lost(p))
                push(now + config.timeout, "invoke", p.process)
        elif what == "apply":
            store.apply(payload)  # type: ignore[arg-type]
            if not payload.lost:  # type: ignore[attr-defined]
                push(now + rng.uniform(0, config.max_delay), "answer", payload)
        elif what == "answer":
            p = payload  # type: ignore[assignment]
            history.append(_answered(p, now))  # type: ignore[arg-type]
            _learn(known[p.process], p)  # type: ignore[attr-defined,arg-type]
            push(now + rng.uniform(0, config.max_delay), "invoke", p.process)  # type: ignore[attr-defined]
    return sorted(history, key=lambda op: op.id)


def _invoke(op_id: int, process: int, now: float, rng: random.Random, config: SimConfig, keys: list[str],
            kinds: list[str], weights: list[float], known: list[dict[str, str]]) -> _Pending:
    key, kind = rng.choice(keys), rng.choices(kinds, weights)[0]
    value = f"v{op_id}" if kind in ("create", "update") else None
    expect = None
    if kind in ("update", "delete") and rng.random() < config.cas:
        expect = known[process].get(key)
    return _Pending(op_id, process, key, kind, value, expect, now, lost=rng.random() < config.unknown)


def _lost(p: _Pending) -> Op:
    value = p.value if p.kind != "read" else None
    return Op(p.id, p.process, p.key, p.kind, value, p.expect, p.invoke, None, "unknown", None, "Timeout")


def _answered(p: _Pending, now: float) -> Op:
    return Op(p.id, p.process, p.key, p.kind, p.value, p.expect, p.invoke, now, p.outcome, p.version, p.error)


def _learn(known: dict[str, str], p: _Pending) -> None:
    """What a client remembers of a key's version after an answer (for its next precondition)."""
    if p.outcome == "ok" and p.version is not None:
        known[p.key] = p.version
    elif p.error == "NotFound" or (p.outcome == "ok" and p.kind in ("read", "delete")):
        known.pop(p.key, None)
