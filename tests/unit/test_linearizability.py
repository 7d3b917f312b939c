"""The register linearizability checker: classic cases, shrinking, the time budget, simulated histories."""

from __future__ import annotations

import dataclasses
import random
import time

import pytest

from minik8s.chaos.history import Op, by_key, from_json, to_json
from minik8s.chaos.linearizability import check
from minik8s.chaos.register_sim import SimConfig, simulate

_ids = iter(range(10**9))


def op(kind: str, value: str | None, start: float, end: float | None, *, outcome: str = "ok",
       rv: str | None = None, expect: str | None = None, error: str | None = None, process: int = 0,
       key: str = "a") -> Op:
    """An op on key `a`; `end=None` with outcome "unknown" is an op whose answer never came."""
    if end is None:
        outcome = "unknown"
    return Op(next(_ids), process, key, kind, value, expect, start, end, outcome, rv, error)


def create(value: str, rv: str, start: float, end: float, **kw: object) -> Op:
    return op("create", value, start, end, rv=rv, **kw)  # type: ignore[arg-type]


def read(value: str | None, rv: str | None, start: float, end: float, **kw: object) -> Op:
    return op("read", value, start, end, rv=rv, **kw)  # type: ignore[arg-type]


def update(value: str, rv: str | None, start: float, end: float | None, expect: str | None = None,
           **kw: object) -> Op:
    return op("update", value, start, end, rv=rv, expect=expect, **kw)  # type: ignore[arg-type]


def delete(start: float, end: float | None, expect: str | None = None, **kw: object) -> Op:
    return op("delete", None, start, end, expect=expect, **kw)  # type: ignore[arg-type]


CASES = [
    pytest.param([create("v1", "1", 0, 1), update("v2", "2", 2, 3, "1"), read("v1", "1", 4, 5)],
                 "violation", id="stale-read-after-completed-write"),
    pytest.param([create("v1", "1", 0, 1), update("v2", "2", 2, 5, "1"), read("v1", "1", 3, 4)],
                 "ok", id="read-concurrent-with-write-sees-old"),
    pytest.param([create("v1", "1", 0, 1), update("v2", "2", 2, 5, "1"), read("v2", "2", 3, 4)],
                 "ok", id="read-concurrent-with-write-sees-new"),
    pytest.param([create("v1", "1", 0, 1), update("v2", "2", 2, 4, "1"), update("v3", "3", 2, 4, "1")],
                 "violation", id="lost-update-two-cas-same-expect"),
    pytest.param([create("v1", "1", 0, 1), update("v2", "2", 2, 4, "1"),
                  update("v3", None, 2, 4, "1", outcome="fail", error="Conflict")],
                 "ok", id="two-cas-same-expect-one-conflicts"),
    pytest.param([create("v1", "1", 0, 1), update("v2", None, 2, 3, "1", outcome="fail", error="Conflict")],
                 "violation", id="conflict-on-current-version"),
    pytest.param([create("v1", "1", 0, 1), delete(2, 3, "1"), update("v2", "3", 4, 5, "1")],
                 "violation", id="cas-after-delete-succeeds"),
    pytest.param([create("v1", "1", 0, 1), delete(2, 3, "1"),
                  update("v2", None, 4, 5, "1", outcome="fail", error="NotFound")],
                 "ok", id="cas-after-delete-not-found"),
    pytest.param([create("v1", "1", 0, 1), delete(2, 3, "1"), delete(4, 5, "1", outcome="fail", error="Conflict")],
                 "violation", id="delete-after-delete-conflict"),
    pytest.param([create("v1", "1", 0, 1), create("v2", "2", 0.5, 2)], "violation", id="create-twice-both-ok"),
    pytest.param([create("v1", "1", 0, 1), create("v2", None, 0.5, 2, outcome="fail", error="AlreadyExists")],
                 "ok", id="create-twice-second-exists"),
    pytest.param([create("v2", None, 0, 1, outcome="fail", error="AlreadyExists")],
                 "violation", id="already-exists-on-absent-key"),
    pytest.param([create("v1", "1", 0, 1), read("v9", "9", 2, 3)], "violation", id="read-value-never-written"),
    pytest.param([create("v1", "1", 0, 1), read("v1", "7", 2, 3)], "violation", id="read-wrong-version"),
    pytest.param([read(None, None, 0, 1), create("v1", "1", 2, 3), read(None, None, 4, 5)],
                 "violation", id="read-not-found-after-create"),
    pytest.param([create("v1", "1", 0, 1), update("v2", None, 2, None, "1"), read("v2", "5", 6, 7)],
                 "ok", id="unknown-write-observed-later"),
    pytest.param([create("v1", "1", 0, 1), update("v2", None, 2, None, "1"), read("v1", "1", 6, 7)],
                 "ok", id="unknown-write-never-observed"),
    pytest.param([create("v1", "1", 0, 1), update("v2", None, 2, None, "1"), read("v2", "5", 6, 7),
                  read("v1", "1", 8, 9)], "violation", id="unknown-write-observed-then-undone"),
    pytest.param([create("v1", "1", 0, 1), update("v2", None, 2, None, "1"), read("v2", "5", 6, 7),
                  read("v2", "6", 8, 9)], "violation", id="unknown-write-seen-with-two-versions"),
    pytest.param([create("v1", "1", 0, 1), update("v2", None, 2, None, "1"), update("v3", "4", 3, 4, "1"),
                  read("v3", "4", 5, 6)], "ok", id="unknown-write-then-cas-on-old-version"),
    pytest.param([create("v1", "1", 0, 1), update("v2", None, 2, None), update("v3", "4", 5, 6, "1"),
                  read("v2", "7", 7, 8)], "ok", id="unknown-write-may-land-after-a-later-write"),
    pytest.param([read("v1", "1", 0, 1), create("v1", None, 2, None)],
                 "violation", id="unknown-create-before-its-invocation"),
    pytest.param([create("v1", "1", 0, 1), update("v2", None, 2, None), update("v3", None, 3, 4, "2"),
                  read("v3", "3", 5, 6)], "ok", id="cas-on-version-read-from-nowhere-may-match-unknown"),
    pytest.param([create("v1", "1", 0, 1), delete(2, 3), read("v1", "1", 4, 5)],
                 "violation", id="deleted-key-read-as-present"),
    pytest.param([create("v1", "1", 0, 1), delete(2, 5), read("v1", "1", 3, 4)],
                 "ok", id="read-concurrent-with-delete"),
    pytest.param([create("v1", "1", 0, 1), delete(2, None), read(None, None, 3, 4), read("v1", "1", 5, 6)],
                 "violation", id="unknown-delete-observed-then-undone"),
    pytest.param([create("v1", "1", 0, 1), update("v2", None, 2, 3, outcome="fail", error="Forbidden"),
                  read("v1", "1", 4, 5)], "ok", id="other-refusals-constrain-nothing"),
]


@pytest.mark.parametrize(("history", "verdict"), CASES)
def test_classic_cases(history: list[Op], verdict: str) -> None:
    result = check(history, budget_seconds=5)
    assert result.verdict == verdict, result.report()
    assert result.keys["a"].verdict == verdict
    if verdict == "violation":
        assert result.keys["a"].minimal and result.keys["a"].shrunk
        assert "longest linearizable prefix" in result.report()


def test_keys_are_checked_alone() -> None:
    history = [create("v1", "1", 0, 1), create("w1", "2", 0, 1, key="b"), update("v2", "3", 2, 3, "1"),
               read("w1", "2", 4, 5, key="b"), read("v1", "1", 4, 5)]
    result = check(history)
    assert result.verdict == "violation" and result.ops == 5
    assert {k: r.verdict for k, r in result.keys.items()} == {"a": "violation", "b": "ok"}
    assert [v.key for v in result.violations()] == ["a"]


def test_json_round_trip_and_by_key() -> None:
    history = [create("v1", "1", 0, 1), update("v2", None, 2, None, "1", process=3), read(None, None, 4, 5, key="b")]
    assert from_json(to_json(history, indent=1)) == history
    assert list(by_key(history)) == ["a", "b"] and len(by_key(history)["a"]) == 2
    with pytest.raises(ValueError):
        dataclasses.replace(history[0], kind="patch")


def inject_stale_read(history: list[Op], rng: random.Random) -> tuple[list[Op], Op] | None:
    """The history with one ok read made to return a value overwritten before that read began."""
    ok = [o for o in history if o.outcome == "ok" and o.complete is not None]
    writes = [o for o in ok if o.kind in ("create", "update")]
    mutations = [o for o in ok if o.kind in ("update", "delete")]
    choices = []
    for r in (o for o in ok if o.kind == "read"):
        for w in writes:
            if w.key == r.key and w.complete < r.invoke and any(  # type: ignore[operator]
                    m.key == w.key and m.invoke > w.complete and m.complete < r.invoke for m in mutations):  # type: ignore[operator]
                choices.append((r, w))
    if not choices:
        return None
    r, w = rng.choice(choices)
    stale = dataclasses.replace(r, value=w.value, result_version=w.result_version)
    return [stale if o is r else o for o in history], stale


@pytest.mark.parametrize("seed", range(3))
def test_minimal_sub_history_of_a_violation_buried_in_200_ops(seed: int) -> None:
    """The core of a stale read: the write it saw, what overwrote it (a create/delete pair when the
    overwrite was a delete and a re-create), and the read itself."""
    rng = random.Random(seed)
    history = simulate(SimConfig(ops=200, keys=1, processes=2, unknown=0.0), rng)
    faulty, stale = inject_stale_read(history, rng)  # type: ignore[misc]
    result = check(faulty, budget_seconds=5)
    assert result.verdict == "violation"
    violation = result.violations()[0]
    assert violation.shrunk and 2 <= len(violation.minimal) <= 4, result.report()
    assert stale in violation.minimal


def test_budget_exhausted_answers_unknown() -> None:
    """Many concurrent unanswered writes and a read nothing can explain: exponential for the search."""
    history = [create("v0", "1", 0, 1)] + [update(f"v{i}", None, 2 + i / 1000, None, process=i) for i in range(1, 41)]
    history.append(read("nowhere", "99", 3, 4, process=99))
    start = time.monotonic()
    result = check(history, budget_seconds=1.0)
    assert time.monotonic() - start < 1.0 + 1.0
    assert result.verdict == "unknown" and result.keys["a"].verdict == "unknown"


@pytest.mark.parametrize("seed", range(8))
def test_simulated_histories_ok_then_one_stale_read_violates(seed: int) -> None:
    rng = random.Random(seed)
    config = SimConfig(ops=150, keys=2, processes=6, unknown=0.05, max_delay=rng.choice([0.001, 0.01, 0.05]))
    history = simulate(config, rng)
    result = check(history, budget_seconds=5)
    assert result.verdict == "ok", result.report()
    injected = inject_stale_read(history, rng)
    assert injected is not None
    faulty, stale = injected
    result = check(faulty, budget_seconds=5)
    assert result.verdict == "violation"
    assert [r.key for r in result.violations()] == [stale.key]
