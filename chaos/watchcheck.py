"""Watch history checker: did every watcher see the committed history, in order, once, and the same?

A chaos run records, per watcher, what it received (`WatchEvent`) and every (re)connection
(`Resume`), and, from the writers' answers, the committed history of the keys it wrote
(`CommittedChange`). `check_watches` then checks, in the spirit of etcd's robustness tests (which
found etcd #15271, "a watch travels back in time after a partition"):

- ordered: a watcher's revisions strictly increase, across reconnects too;
- unique: no (key, revision) twice within one connection;
- gapless: no committed change in the watcher's scope is skipped, except across a relist (410 Gone);
- agreement: watchers with the same selector saw the same events where both were watching;
- accuracy: every event is the committed change at its revision, and within the selector.

Each offending event is counted by one check only (see `check_watches` for the attribution), so a
single injected defect shows as a single failing check. Revisions are the cluster-wide revision:
one write, one revision, so a watcher's events never share one.

How to record a log: the synthetic ADDED events a fresh list+watch starts with are a snapshot,
not changes; record them not as `WatchEvent`s but as `Resume(from_revision=<the list's
resourceVersion>, relisted=True)`, and the watch events after it as they come.

Limits: changes after a watcher's last event or bookmark are not required (its end is unknown);
a fresh start (`Resume(0)`, or no Resume) has no baseline, so changes before its first event are
not required either; two changes at one revision (a multi-key transaction) are not supported.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

ADDED = "ADDED"
MODIFIED = "MODIFIED"
DELETED = "DELETED"
BOOKMARK = "BOOKMARK"
EVENT_TYPES = (ADDED, MODIFIED, DELETED, BOOKMARK)
MAX_EXAMPLES = 10

InScope = Callable[[str, str], bool]


@dataclass(frozen=True)
class WatchEvent:
    """One event a watcher received; `revision` is its resourceVersion as an int."""

    type: str
    key: str
    revision: int
    value: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"type": self.type, "key": self.key, "revision": self.revision, "value": self.value}


@dataclass(frozen=True)
class Resume:
    """The watcher (re)connected to `master`, asking for events after `from_revision`.

    `from_revision` 0 is a fresh start with no known revision; `relisted` marks a relist after
    410 Gone, before which a gap is allowed.
    """

    from_revision: int
    relisted: bool = False
    master: str = ""

    def to_json(self) -> dict[str, Any]:
        return {"resume": self.from_revision, "relisted": self.relisted, "master": self.master}


@dataclass
class WatcherLog:
    """Everything one watcher received, in order; equal `selector`s must see equal sequences."""

    watcher: str
    selector: str
    entries: list[WatchEvent | Resume] = field(default_factory=list)


@dataclass(frozen=True)
class CommittedChange:
    """A change known to be committed: `key` became `value` (None when DELETED) at `revision`."""

    revision: int
    key: str
    type: str
    value: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {"revision": self.revision, "key": self.key, "type": self.type, "value": self.value}


@dataclass
class CheckResult:
    """One check's outcome: how many violations (and unknowns), with the first few as examples."""

    name: str
    violations: int = 0
    examples: list[dict[str, Any]] = field(default_factory=list)
    unknown: int = 0
    unknown_examples: list[dict[str, Any]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.violations == 0

    def add(self, example: dict[str, Any]) -> None:
        """Count one violation, keeping it as an example while there are fewer than MAX_EXAMPLES."""
        self.violations += 1
        if len(self.examples) < MAX_EXAMPLES:
            self.examples.append(example)

    def add_unknown(self, example: dict[str, Any]) -> None:
        """Count an event that can be neither confirmed nor refuted (an unknown-outcome write)."""
        self.unknown += 1
        if len(self.unknown_examples) < MAX_EXAMPLES:
            self.unknown_examples.append(example)

    def to_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "violations": self.violations, "examples": list(self.examples),
            "unknown": self.unknown, "unknown_examples": list(self.unknown_examples),
        }


class CheckSet:
    """Several named checks (a report): ok when every one is; the names of those that failed."""

    def checks(self) -> list[CheckResult]:
        raise NotImplementedError

    @property
    def ok(self) -> bool:
        return all(check.ok for check in self.checks())

    def failed(self) -> list[str]:
        """Names of the checks with at least one violation."""
        return [check.name for check in self.checks() if not check.ok]

    def checks_json(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": {check.name: check.to_json() for check in self.checks()}}


@dataclass
class WatchReport(CheckSet):
    """The five watch checks, plus how many events and watchers were checked."""

    ordered: CheckResult = field(default_factory=lambda: CheckResult("ordered"))
    unique: CheckResult = field(default_factory=lambda: CheckResult("unique"))
    gapless: CheckResult = field(default_factory=lambda: CheckResult("gapless"))
    agreement: CheckResult = field(default_factory=lambda: CheckResult("agreement"))
    accuracy: CheckResult = field(default_factory=lambda: CheckResult("accuracy"))
    events_checked: int = 0
    watchers: int = 0

    def checks(self) -> list[CheckResult]:
        return [self.ordered, self.unique, self.gapless, self.agreement, self.accuracy]

    def to_json(self) -> dict[str, Any]:
        return {**self.checks_json(), "events_checked": self.events_checked, "watchers": self.watchers}


def prefix_scope(selector: str, key: str) -> bool:
    """The default scope: a selector is a key prefix, and "" or "*" selects every key."""
    return selector in ("", "*") or key.startswith(selector)


class OpLike(Protocol):
    """The attributes of a history operation (`chaos.history.Op`) these helpers read."""

    key: str
    kind: str
    value: str | None
    outcome: str
    result_version: int | None


_CHANGE_TYPE = {"create": ADDED, "update": MODIFIED, "delete": DELETED}


def committed_from_ops(history: Iterable[OpLike]) -> list[CommittedChange]:
    """The committed changes the acknowledged writes of a history prove, sorted by revision."""
    out = [
        CommittedChange(int(op.result_version), op.key, _CHANGE_TYPE[op.kind],
                        None if op.kind == "delete" else op.value)
        for op in history
        if op.outcome == "ok" and op.kind in _CHANGE_TYPE and op.result_version is not None
    ]
    return sorted(out, key=lambda change: change.revision)


def uncertain_values_from_ops(history: Iterable[OpLike]) -> set[str]:
    """The values written by writes with no answer: they may or may not have been committed."""
    return {op.value for op in history
            if op.outcome == "unknown" and op.kind in ("create", "update") and op.value is not None}


@dataclass
class _Segment:
    """Revisions (lo, hi] a watcher saw continuously; lo None until its first event sets it."""

    lo: int | None
    hi: int | None = None

    def extend(self, revision: int) -> None:
        if self.lo is None:
            self.lo = revision - 1
        self.hi = revision

    def bounds(self) -> tuple[int, int] | None:
        if self.lo is None or self.hi is None or self.hi <= self.lo:
            return None
        return self.lo, self.hi


@dataclass
class _Scan:
    """What one watcher's log yields for the cross-watcher checks."""

    log: WatcherLog
    events: dict[int, WatchEvent] = field(default_factory=dict)  # accepted (advancing) events by revision
    segments: list[_Segment] = field(default_factory=list)


class _Committed:
    """The committed history indexed by revision, for range and point look-ups."""

    def __init__(self, changes: Iterable[CommittedChange]) -> None:
        self.by_revision: dict[int, CommittedChange] = {}
        for change in changes:
            self.by_revision[change.revision] = change
        self.revisions = sorted(self.by_revision)

    def between(self, lo: int, hi: int, include_hi: bool) -> list[CommittedChange]:
        """Changes with lo < revision < hi (<= hi when include_hi)."""
        start = bisect.bisect_right(self.revisions, lo)
        end = bisect.bisect_right(self.revisions, hi) if include_hi else bisect.bisect_left(self.revisions, hi)
        return [self.by_revision[rev] for rev in self.revisions[start:end]]


def check_watches(
    logs: Sequence[WatcherLog],
    committed: Iterable[CommittedChange],
    *,
    in_scope: InScope = prefix_scope,
    uncertain_revisions: Collection[int] = (),
    uncertain_values: Collection[str] = (),
) -> WatchReport:
    """Check the watcher logs against each other and against the committed history.

    `in_scope(selector, key)` says whether a watcher with that selector must see changes to the
    key. `uncertain_revisions` / `uncertain_values` are the revisions / values of writes with an
    unknown outcome: an event for one that `committed` lacks is counted as unknown, not wrong.

    Attribution, so that one defect fails one check: an event at or below what the watcher had
    seen before its latest reconnect (or at or below the resume revision) is `ordered`; a repeat of
    a (key, revision) already received on the same connection is `unique`; any other
    non-increasing event is `ordered`. Rejected events neither advance the watcher nor count for
    `agreement`; a change received, if only out of order, is no `gapless` violation. `agreement`
    reports only differences at revisions the committed history does not settle (absent or
    uncertain); elsewhere `gapless` and `accuracy` already name the watcher that is wrong.
    `accuracy` checks every event, rejected ones included.
    """
    index = _Committed(committed)
    uncertain_revs = set(uncertain_revisions)
    uncertain_vals = set(uncertain_values)
    report = WatchReport(watchers=len(logs))
    scans = [_scan_watcher(log, index, in_scope, report) for log in logs]
    for scan in scans:
        _check_accuracy(scan.log, index, in_scope, uncertain_revs, uncertain_vals, report.accuracy)
    _check_agreement(scans, index, uncertain_revs, report.agreement)
    return report


def _scan_watcher(log: WatcherLog, index: _Committed, in_scope: InScope, report: WatchReport) -> _Scan:
    """Walk one log for ordered, unique and gapless; return its accepted events and coverage."""
    scan = _Scan(log, segments=[_Segment(None)])
    high = 0  # the highest revision the watcher has advanced to (event, bookmark or resume floor)
    floor = 0  # what it had reached before its current connection began
    resume: Resume | None = None
    baseline: int | None = None  # lower end of the next gap window; None = unknown (fresh start)
    seen: set[tuple[str, int]] = set()  # (key, revision) received on the current connection
    received = {(e.key, e.revision) for e in log.entries if isinstance(e, WatchEvent) and e.type != BOOKMARK}
    for entry in log.entries:
        if isinstance(entry, Resume):
            if entry.relisted or entry.from_revision == 0:
                baseline = entry.from_revision or None
                scan.segments.append(_Segment(baseline))
            elif baseline is None:  # nothing received yet: the resume revision is the baseline
                baseline = scan.segments[-1].lo = entry.from_revision
            high = max(high, entry.from_revision)
            floor, resume, seen = high, entry, set()
            continue
        if entry.type != BOOKMARK:
            report.events_checked += 1
        is_bookmark = entry.type == BOOKMARK
        advances = entry.revision > high or (is_bookmark and entry.revision == high)
        if not advances:
            _reject(log, entry, floor, resume, seen, report)
            continue
        if baseline is not None:
            _report_gaps(log, baseline, entry, index, in_scope, received, report.gapless)
        baseline = high = entry.revision
        scan.segments[-1].extend(entry.revision)
        if not is_bookmark:
            seen.add((entry.key, entry.revision))
            scan.events[entry.revision] = entry
    return scan


def _report_gaps(log: WatcherLog, baseline: int, entry: WatchEvent, index: _Committed, in_scope: InScope,
                 received: set[tuple[str, int]], result: CheckResult) -> None:
    """Committed in-scope changes after `baseline` and before the event (up to a bookmark) are missing."""
    for change in index.between(baseline, entry.revision, include_hi=entry.type == BOOKMARK):
        # A change received out of order was not missed: `ordered` reports it.
        if in_scope(log.selector, change.key) and (change.key, change.revision) not in received:
            result.add({"watcher": log.watcher, "after": baseline, "next": entry.revision,
                        "missing": change.to_json()})


def _reject(log: WatcherLog, event: WatchEvent, floor: int, resume: Resume | None,
            seen: set[tuple[str, int]], report: WatchReport) -> None:
    """File a non-advancing event under `ordered` or `unique`."""
    example: dict[str, Any] = {"watcher": log.watcher, "event": event.to_json()}
    if resume is not None and event.revision <= floor:
        example.update(reason=f"travelled back in time: at or below revision {floor}, reached before reconnecting",
                       resume=resume.to_json())
        report.ordered.add(example)
    elif (event.key, event.revision) in seen:
        example["reason"] = "received twice"
        report.unique.add(example)
    else:
        example["reason"] = "revision not above the previous one"
        report.ordered.add(example)


def _check_accuracy(log: WatcherLog, index: _Committed, in_scope: InScope, uncertain_revs: set[int],
                    uncertain_vals: set[str], result: CheckResult) -> None:
    """Every event is the committed change at its revision and within the watcher's selector."""
    for event in log.entries:
        if isinstance(event, Resume) or event.type == BOOKMARK:
            continue
        example: dict[str, Any] = {"watcher": log.watcher, "event": event.to_json()}
        change = index.by_revision.get(event.revision)
        if change is None:
            if event.revision in uncertain_revs or event.value in uncertain_vals:
                result.add_unknown(example)
            else:
                result.add({**example, "reason": "no committed change at this revision"})
        elif not _same_change(event, change):
            result.add({**example, "reason": "differs from the committed change", "committed": change.to_json()})
        elif not in_scope(log.selector, event.key):
            result.add({**example, "reason": f"key outside the selector {log.selector!r}"})


def _same_change(event: WatchEvent, change: CommittedChange) -> bool:
    # A DELETED event may carry the object's last state; only the key and type matter then.
    if event.key != change.key or event.type != change.type:
        return False
    return event.type == DELETED or event.value == change.value


def _check_agreement(scans: list[_Scan], index: _Committed, uncertain_revs: set[int],
                     result: CheckResult) -> None:
    """Watchers of one selector saw equal events on every revision window both covered."""
    groups: dict[str, list[_Scan]] = {}
    for scan in scans:
        groups.setdefault(scan.log.selector, []).append(scan)
    for group in groups.values():
        for i, first in enumerate(group):
            for second in group[i + 1:]:
                _compare_pair(first, second, index, uncertain_revs, result)


def _compare_pair(a: _Scan, b: _Scan, index: _Committed, uncertain_revs: set[int], result: CheckResult) -> None:
    for lo, hi in _common_windows(a, b):
        revisions = sorted({rev for rev in (*a.events, *b.events) if lo < rev <= hi})
        for rev in revisions:
            ea, eb = a.events.get(rev), b.events.get(rev)
            if ea == eb:
                continue
            if rev in index.by_revision and rev not in uncertain_revs:
                continue  # gapless or accuracy names the wrong watcher
            result.add({
                "selector": a.log.selector, "revision": rev, "window": [lo, hi],
                a.log.watcher: ea.to_json() if ea else None, b.log.watcher: eb.to_json() if eb else None,
            })


def _common_windows(a: _Scan, b: _Scan) -> list[tuple[int, int]]:
    """The (lo, hi] revision windows both watchers covered without a relist."""
    out = []
    for sa in filter(None, (s.bounds() for s in a.segments)):
        for sb in filter(None, (s.bounds() for s in b.segments)):
            lo, hi = max(sa[0], sb[0]), min(sa[1], sb[1])
            if lo < hi:
                out.append((lo, hi))
    return out
