"""A linearizability checker for Kubernetes objects used as compare-and-set registers.

Each key is checked alone (P-compositionality: a history is linearizable iff each key's
sub-history is). A key's check is the Wing & Gong search with Lowe's memoization, as in porcupine
(github.com/anishathalye/porcupine, checker.go): the calls and returns of the key's ops form a
time-ordered doubly linked list; the search repeatedly linearizes a pending call whose step the
model accepts (lifting it and its return out of the list) and backtracks when it reaches a return
whose call is still pending; a cache of (linearized ops as an int bitmask, model state) prunes
configurations already explored.

The model (a ConfigMap under create/read/update/delete with resourceVersion preconditions):
state None (absent) or (value, version).

- create ok: absent -> (value, result_version); create fail AlreadyExists: present;
- read ok: present with the value (and version) read; read not found: absent;
- update ok: present and (expect None or version == expect) -> (value, result_version);
  update fail Conflict: present and version != expect; fail NotFound: absent;
- delete ok: present and version matches -> absent; fail Conflict / NotFound as for update.

Ops whose outcome is unknown (no answer) may take effect at any time after their invocation, or
never: their returns are placed after every answered op's, and a search that reaches one has
placed every answered op, so the rest are left out. The version an unknown create/update wrote is
a wildcard (`UNKNOWN`): a later read binds it; a precondition `expect` matches it unless `expect` is
a version some answered write produced (versions are unique cluster-wide, so an unseen write's
version is none of them). Failed reads, unknown reads and refusals with other errors constrain
nothing and are not checked.

The search checks a deadline every few hundred steps and answers "unknown" when it passes. For a
violation, `check` shrinks the key's history by delta debugging (see `_shrink`) and reports the
smallest failing sub-history found plus the longest linearizable prefix the search reached.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal

from minik8s.chaos.history import Op, by_key

Verdict = Literal["ok", "violation", "unknown"]

_DEADLINE_EVERY = 256  # search steps between two looks at the clock
WINDOW_SECONDS = 2.0  # shrinking starts from the ops this close to where the search got stuck
SHRINK_LIMIT = 2000  # ops beyond which a failing window is shown unshrunk (shrinking is quadratic)


class _Sentinel:
    def __init__(self, name: str) -> None:
        self.name = name

    def __repr__(self) -> str:
        return self.name


UNKNOWN = _Sentinel("UNKNOWN")  # the version written by an op whose answer never came
_OPAQUE = _Sentinel("OPAQUE")   # a value no op in the (sub-)history wrote: matches no read
_ANY = _Sentinel("ANY")         # the initial state of a shrunk sub-history: absent or (_OPAQUE, UNKNOWN)
_WILD = _Sentinel("WILD")       # a precondition naming a version whose writer was dropped: may or may not match
_FAIL = _Sentinel("FAIL")       # the step is not allowed

State = object  # None | tuple[value, version] | _ANY

# The step codes of the model; the first three need the key absent, the others present.
CREATE_OK, READ_ABSENT, NOT_FOUND, CREATE_EXISTS, READ_VALUE, UPDATE_OK, DELETE_OK, CONFLICT = range(8)
_NEEDS_ABSENT = (CREATE_OK, READ_ABSENT, NOT_FOUND)


@dataclass(frozen=True)
class _Step:
    """An op as the model sees it: its step code and the fields that step compares."""

    code: int
    value: str | None
    version: object        # what it writes or read: a version string, UNKNOWN, or None (not said)
    expect: object         # None (unconditional), a version string or _WILD
    expect_written: bool   # `expect` is a version some answered write of this history produced
    version_written: bool  # (reads) `version` is a version some answered write produced


def _code(op: Op) -> int | None:
    """The op's step code, or None when the op constrains nothing (it is then not checked)."""
    definite = op.outcome == "ok"
    if op.kind == "read":
        if not definite:
            return None
        return READ_ABSENT if op.value is None else READ_VALUE
    if op.outcome in ("ok", "unknown"):
        return {"create": CREATE_OK, "update": UPDATE_OK, "delete": DELETE_OK}[op.kind]
    if op.error == "NotFound" and op.kind != "create":
        return NOT_FOUND
    if op.error == "Conflict" and op.kind != "create":
        return CONFLICT
    if op.error == "AlreadyExists" and op.kind == "create":
        return CREATE_EXISTS
    return None


def checked_ops(ops: Iterable[Op]) -> list[Op]:
    """The ops the model constrains: answered reads, writes ok or unknown, definite refusals."""
    return [op for op in ops if _code(op) is not None]


def _written_versions(ops: Iterable[Op]) -> dict[str, int]:
    """Version -> id of the answered create/update that produced it."""
    return {op.result_version: op.id for op in ops
            if op.outcome == "ok" and op.kind in ("create", "update") and op.result_version is not None}


def _prepare(ops: Sequence[Op], full: Sequence[Op], relaxed: bool) -> list[_Step]:
    """The model's view of each op of `ops`, a sub-history of `full`; `relaxed`: a precondition on a
    version whose writer is in `full` but not in `ops` is _WILD."""
    written = _written_versions(full)
    kept = {op.id for op in ops}
    steps = []
    for op in ops:
        code = _code(op)
        assert code is not None
        version: object = op.result_version
        if op.outcome == "unknown" or (version is None and code in (CREATE_OK, UPDATE_OK)):
            version = UNKNOWN
        expect: object = op.expect_version
        if relaxed and expect is not None and written.get(expect, -1) not in kept:
            expect = _WILD
        steps.append(_Step(code, op.value, version, expect, expect in written,
                           code == READ_VALUE and op.result_version in written))
    return steps


def _may_match(version: object, step: _Step) -> bool:
    """Whether the state's version may satisfy the step's precondition."""
    if step.expect is None or step.expect is _WILD:
        return True
    if version is UNKNOWN:
        return not step.expect_written
    return version == step.expect


def _may_differ(version: object, step: _Step) -> bool:
    """Whether the state's version may fail the step's precondition (a Conflict)."""
    if step.expect is None or step.expect is _WILD or version is UNKNOWN:
        return True
    return version != step.expect


def step_model(state: State, step: _Step) -> State:
    """The state after `step`, or _FAIL when the model does not allow it in `state`."""
    code = step.code
    if state is _ANY:
        state = None if code in _NEEDS_ABSENT else (_OPAQUE, UNKNOWN)
    if code in _NEEDS_ABSENT:
        if state is not None:
            return _FAIL
        return (step.value, step.version) if code == CREATE_OK else None
    if state is None:
        return _FAIL
    value, version = state  # type: ignore[misc]
    if code == READ_VALUE:
        return _read(value, version, step)
    if code == CREATE_EXISTS:
        return state
    if code == CONFLICT:
        return state if _may_differ(version, step) else _FAIL
    if not _may_match(version, step):
        return _FAIL
    return (step.value, step.version) if code == UPDATE_OK else None


def _read(value: object, version: object, step: _Step) -> State:
    if value != step.value:
        return _FAIL
    if step.version is None or version == step.version:
        return (value, version)
    if version is UNKNOWN and not step.version_written:
        return (value, step.version)  # the read tells the version the unanswered write produced
    return _FAIL


@dataclass
class _Outcome:
    verdict: Verdict
    steps: int
    longest: list[int]  # op indexes of the longest linearized prefix reached
    stuck_at: list[int]  # op indexes pending when that prefix could go no further
    state: State = None  # the model's state after `longest`


class _Entries:
    """The call/return entries of a history as a doubly linked list over arrays (head 0, tail 2n+1)."""

    def __init__(self, ops: Sequence[Op]) -> None:
        n = len(ops)
        events = []
        for i, op in enumerate(ops):
            events.append((op.invoke, 0, 0, i))
            unknown = op.outcome == "unknown"
            end = float("inf") if op.complete is None or unknown else op.complete
            # Calls sort before returns at the same time (they overlap); answered returns at +inf
            # (an "ok" without a time) before unknown ones: reaching an unknown return means done.
            events.append((end, 1, 1 if unknown else 0, i))
        events.sort()
        self.tail = 2 * n + 1
        self.op = [-1] * (2 * n + 2)
        self.is_call = [False] * (2 * n + 2)
        self.unknown = [False] * (2 * n + 2)
        self.match = [0] * (2 * n + 2)
        call_entry = [0] * n
        for pos, (_, ret, unknown, i) in enumerate(events, start=1):
            self.op[pos], self.is_call[pos], self.unknown[pos] = i, not ret, bool(unknown)
            if ret:
                self.match[call_entry[i]] = pos
            else:
                call_entry[i] = pos
        self.next = list(range(1, 2 * n + 2)) + [self.tail]
        self.prev = [0] + list(range(0, 2 * n + 1))

    def lift(self, call: int) -> None:
        """Take a call and its return out of the list."""
        nxt, prv = self.next, self.prev
        for e in (call, self.match[call]):
            nxt[prv[e]] = nxt[e]
            prv[nxt[e]] = prv[e]

    def unlift(self, call: int) -> None:
        """Put back what `lift(call)` took out (in the reverse order)."""
        nxt, prv = self.next, self.prev
        for e in (self.match[call], call):
            nxt[prv[e]] = e
            prv[nxt[e]] = e


def _pending(entries: _Entries) -> list[int]:
    """Op indexes of the calls before the first return (that return's call is one of them)."""
    out, e = [], entries.next[0]
    while e != entries.tail and entries.is_call[e]:
        out.append(entries.op[e])
        e = entries.next[e]
    return out


def _search(ops: Sequence[Op], steps: Sequence[_Step], initial: State, deadline: float) -> _Outcome:
    """Wing & Gong with Lowe's cache over one key's ops; "unknown" once `deadline` passes."""
    entries = _Entries(ops)
    nxt, is_call, op_of = entries.next, entries.is_call, entries.op
    tail = entries.tail
    cache: set[tuple[int, State]] = set()
    stack: list[tuple[int, State]] = []  # (call entry, state before it)
    linearized, state, count = 0, initial, 0
    best = _Outcome("violation", 0, [], _pending(entries), initial)
    entry = nxt[0]
    while entry != tail:
        count += 1
        if count % _DEADLINE_EVERY == 0 and time.monotonic() > deadline:
            best.verdict, best.steps = "unknown", count
            return best
        if is_call[entry]:
            i = op_of[entry]
            new_state = step_model(state, steps[i])
            if new_state is not _FAIL:
                new_linearized = linearized | (1 << i)
                if (new_linearized, new_state) not in cache:
                    cache.add((new_linearized, new_state))
                    stack.append((entry, state))
                    linearized, state = new_linearized, new_state
                    entries.lift(entry)
                    entry = nxt[0]
                    continue
            entry = nxt[entry]
            continue
        if entries.unknown[entry]:
            break  # every answered op is placed; the unanswered ones left may never have happened
        if len(stack) > len(best.longest):
            best = _Outcome("violation", 0, [op_of[e] for e, _ in stack], _pending(entries), state)
        if not stack:
            best.steps = count
            return best
        entry, state = stack.pop()
        linearized &= ~(1 << op_of[entry])
        entries.unlift(entry)
        entry = nxt[entry]
    return _Outcome("ok", count, [op_of[e] for e, _ in stack], [], state)


def _check_ops(ops: Sequence[Op], deadline: float, *, full: Sequence[Op] | None = None,
               relaxed: bool = False) -> _Outcome:
    """Check one key's (already filtered) ops, a sub-history of `full` (default: all of them);
    `relaxed` is the shrinking model (see `_shrink`)."""
    steps = _prepare(ops, ops if full is None else full, relaxed)
    return _search(ops, steps, _ANY if relaxed else None, deadline)


@dataclass
class KeyResult:
    """The verdict on one key's sub-history.

    For a violation, `minimal` is the smallest failing sub-history shrinking found (the whole
    key's checked ops when there was no time to shrink), `shrunk` whether shrinking ran to the end,
    and `partial` the longest linearizable prefix of the key's history in text form.
    """

    key: str
    verdict: Verdict
    ops: int
    elapsed: float
    minimal: list[Op] = field(default_factory=list)
    shrunk: bool = False
    partial: str = ""


@dataclass
class CheckResult:
    """The verdict on a whole history: "violation" if any key has one, else "unknown" if any key
    ran out of time, else "ok"."""

    verdict: Verdict
    keys: dict[str, KeyResult]
    ops: int
    elapsed: float

    def violations(self) -> list[KeyResult]:
        """The keys whose history is not linearizable."""
        return [r for r in self.keys.values() if r.verdict == "violation"]

    def report(self) -> str:
        """A text report: the verdict, counts, and for each violation its minimal sub-history."""
        lines = [f"linearizability: {self.verdict} ({self.ops} ops, {len(self.keys)} keys, {self.elapsed:.2f} s)"]
        unknown = [k for k, r in self.keys.items() if r.verdict == "unknown"]
        if unknown:
            lines.append(f"out of time on {len(unknown)} keys: {', '.join(unknown[:10])}")
        for r in self.violations():
            label = "minimal failing sub-history" if r.shrunk else "failing sub-history (not fully shrunk)"
            lines.append(f"key {r.key}: violation; {label}, {len(r.minimal)} ops:")
            lines += [f"  {op.describe()}" for op in r.minimal]
            lines.append(r.partial)
        return "\n".join(lines)


def check(history: Iterable[Op], *, budget_seconds: float = 10.0) -> CheckResult:
    """Check that `history` is linearizable for the ConfigMap-as-register model, key by key.

    Keys are first checked with a fair share of the budget each, then the keys that ran out get
    the time left; violations are then shrunk with what remains. Never runs much past the budget.
    """
    start = time.monotonic()
    deadline = start + budget_seconds
    keys = {key: checked_ops(ops) for key, ops in by_key(history).items()}
    outcomes: dict[str, _Outcome] = {}
    elapsed: dict[str, float] = {}
    for share_all in (False, True):
        todo = [k for k in keys if k not in outcomes or outcomes[k].verdict == "unknown"]
        for n, key in enumerate(todo):
            now = time.monotonic()
            key_deadline = deadline if share_all else now + max(0.0, deadline - now) / (len(todo) - n)
            outcomes[key] = _check_ops(keys[key], key_deadline)
            elapsed[key] = elapsed.get(key, 0.0) + time.monotonic() - now
    results = {key: KeyResult(key, outcomes[key].verdict, len(keys[key]), elapsed[key]) for key in keys}
    for key, result in results.items():
        if result.verdict == "violation":
            _explain(result, keys[key], outcomes[key], deadline)
    verdicts = {r.verdict for r in results.values()}
    verdict: Verdict = "violation" if "violation" in verdicts else "unknown" if "unknown" in verdicts else "ok"
    return CheckResult(verdict, results, sum(len(ops) for ops in keys.values()), time.monotonic() - start)


def _explain(result: KeyResult, ops: list[Op], outcome: _Outcome, deadline: float) -> None:
    """Fill in a violation's minimal sub-history and partial linearization."""
    now = time.monotonic()
    stuck = [ops[i] for i in outcome.stuck_at]
    around = _window(ops, stuck)
    if len(around) < len(ops) and not _check_ops(around, deadline, full=ops, relaxed=True).verdict == "violation":
        around = ops  # the violation needs more than the ops around where the search got stuck
    if len(around) > SHRINK_LIMIT or time.monotonic() > deadline:  # too long to shrink in time: show the window
        result.minimal, result.shrunk = around[:SHRINK_LIMIT], False
    else:
        result.minimal, result.shrunk = _shrink(around, stuck, deadline)
    result.elapsed += time.monotonic() - now
    result.partial = describe_partial(ops, outcome)


def _window(ops: list[Op], stuck: list[Op], seconds: float = WINDOW_SECONDS) -> list[Op]:
    """The ops that overlap `seconds` either side of the ops the search got stuck on (in history order):
    shrinking is quadratic, so it starts from the part of a long history where the violation shows."""
    if not stuck:
        return ops
    start = min(op.invoke for op in stuck) - seconds
    end = max(_end(op) for op in stuck) + seconds
    return [op for op in ops if op.invoke <= end and _end(op) >= start]


def describe_partial(ops: Sequence[Op], outcome: _Outcome, *, last: int = 20) -> str:
    """The longest linearizable prefix the search reached (its `last` ops), and the ops that could
    not follow it."""
    lines = [f"longest linearizable prefix: {len(outcome.longest)} of {len(ops)} ops"]
    skipped = max(0, len(outcome.longest) - last)
    if skipped:
        lines.append(f"  ... {skipped} earlier ops")
    lines += [f"  {n}. {ops[i].describe()}" for n, i in enumerate(outcome.longest[skipped:], start=skipped + 1)]
    lines.append(f"then, from state {_show_state(outcome.state)}, none of these can be next:")
    lines += [f"  {ops[i].describe()}" for i in outcome.stuck_at]
    return "\n".join(lines)


def _show_state(state: State) -> str:
    if state is None:
        return "absent"
    if isinstance(state, tuple):
        return f"{state[0]!r} rv={state[1]}"
    return repr(state)


def _shrink(ops: list[Op], stuck: list[Op], deadline: float) -> tuple[list[Op], bool]:
    """A small sub-history of `ops` that is still not linearizable, and whether shrinking finished
    before `deadline`: the smaller of what delta debugging finds and of the failing pairs of an op
    the search got stuck on (`stuck`) with one of the 64 ops nearest in time to it or to the ops it
    depends on (the pairs catch the common small cores that ddmin, not monotone here, can miss).

    Dropping ops from a register history can make it fail for reasons of its own (an update whose
    create was dropped, a read of a value whose write was dropped), so a sub-history is checked
    with a relaxed model: it starts in an unknown state (absent, or holding a value no read names),
    a precondition on a version whose writer was dropped may match or not, and each kept op keeps
    the ops it depends on (see `_dependencies`; the closure runs to a fixpoint, which stops at the
    earliest op kept). When the whole history passes that relaxed model
    (its violation needs its start, e.g. an update before any create), the strict model is used.
    """
    relaxed = _check_ops(ops, deadline, relaxed=True).verdict == "violation"
    deps = _dependencies(ops)
    tried: dict[frozenset[int], bool] = {}

    def close(subset: Iterable[Op]) -> list[Op]:
        kept = list(subset)
        while True:
            ids = {op.id for op in kept}
            for op in kept:
                always, latest = deps[op.id]
                ids |= always
                if latest and any(o.invoke < _end(op) and o is not op for o in kept):
                    ids |= latest
            if len(ids) == len(kept):
                return kept
            kept = [op for op in ops if op.id in ids]

    def fails(subset: list[Op]) -> bool:
        ids = frozenset(op.id for op in subset)
        if ids not in tried:
            tried[ids] = _check_ops(subset, deadline, full=ops, relaxed=relaxed).verdict == "violation"
        return tried[ids]

    smallest, done = _ddmin(ops, close, fails, deadline)
    for core in stuck:
        base = close([core])
        near = sorted(ops, key=lambda o: min(abs(o.invoke - b.invoke) for b in base))[:64]
        for pair in ([core], *([core, o] for o in near if o is not core)):
            if time.monotonic() > deadline:
                return smallest, False
            candidate = close(pair)
            if len(candidate) < len(smallest) and fails(candidate):
                smallest = candidate
    return smallest, done


def _dependencies(ops: Sequence[Op]) -> dict[int, tuple[set[int], set[int]]]:
    """For each op, what a sub-history keeps with it, as (always, when preceded):

    - always: the write a read saw; for a Conflict, the writes that may have moved the key past the
      version it names (preconditions on it or unconditional, since that version was written);
    - when the sub-history holds another op invoked before this one completed: for an op that needs
      the key absent (present), the latest deletes (creates) before it (see `_latest`). Where the op
      comes first they are left out: a sub-history starts in an unknown state.

    Unknown-outcome ops need nothing: they may never have happened."""
    writer = {op.value: op.id for op in ops if op.kind in ("create", "update") and op.value is not None}
    produced = {op.result_version: op.invoke for op in ops if op.outcome == "ok" and op.kind in ("create", "update")}
    creates = [op for op in ops if op.kind == "create" and _code(op) == CREATE_OK]
    deletes = [op for op in ops if op.kind == "delete" and _code(op) == DELETE_OK]
    deps: dict[int, tuple[set[int], set[int]]] = {}
    for op in ops:
        code = _code(op)
        if op.outcome == "unknown":
            deps[op.id] = (set(), set())  # it may never have happened: it needs nothing
        elif code == READ_VALUE and op.value in writer:
            deps[op.id] = ({writer[op.value]}, set())
        elif code in _NEEDS_ABSENT:
            deps[op.id] = (set(), _latest(deletes, op))
        else:
            deps[op.id] = (set(), _latest(creates, op))
        if code == CONFLICT:
            since = produced.get(op.expect_version, float("-inf"))  # type: ignore[arg-type]
            deps[op.id][0].update(o.id for o in ops if o.expect_version in (op.expect_version, None)
                                  and _code(o) in (UPDATE_OK, DELETE_OK) and since < _end(o)
                                  and o.invoke < _end(op))
    return deps


def _end(op: Op) -> float:
    return float("inf") if op.complete is None else op.complete


def _latest(candidates: Sequence[Op], op: Op) -> set[int]:
    """The candidates invoked before `op` completed that no other one surely between them and `op`
    (invoked after the first completed, completed before `op` was invoked) follows."""
    before = [c for c in candidates if c.invoke < _end(op) and c.id != op.id]
    return {c.id for c in before
            if not any(c.complete is not None and d.invoke > c.complete and _end(d) < op.invoke for d in before)}


def _ddmin(items: list[Op], close: Callable[[Iterable[Op]], list[Op]], fails: Callable[[list[Op]], bool],
           deadline: float) -> tuple[list[Op], bool]:
    """Zeller's ddmin: try each chunk alone, then each complement; finer chunks when none fails."""
    chunks = 2
    while len(items) >= 2:
        if time.monotonic() > deadline:
            return items, False
        size = -(-len(items) // chunks)
        parts = [items[i:i + size] for i in range(0, len(items), size)]
        candidates = [close(p) for p in parts] + [close(x for q in parts if q is not p for x in q) for p in parts]
        smaller = next((c for c in candidates if len(c) < len(items) and fails(c)), None)
        if smaller is not None:
            items = smaller
            chunks = 2 if len(smaller) <= size else max(chunks - 1, 2)
        elif chunks >= len(items):
            break
        else:
            chunks = min(len(items), 2 * chunks)
    return items, time.monotonic() <= deadline
