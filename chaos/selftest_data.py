"""Synthetic chaos runs for the history checkers: one clean run and variants with one defect each.

The issue's acceptance rule for the checkers is "each deliberately injected defect is reported
by its checker, and a clean run is reported clean". `watch_cases` and `durability_cases` build
those runs; `run_selftest` checks every case failed exactly the checks it was built to fail.

The base run writes keys a/x, a/y (selector "a/") and b/z (selector "b/"), 10 revisions:

    1 create a/x v1   2 create a/y v2   3 create b/z v3   4 update a/x v4   5 update b/z v5
    6 delete a/y      7 update a/x v7   8 create a/y v8   9 update a/x v9 (no answer)
    10 update a/y v10                   - update b/z vfail (failed)

Watchers w1 and w2 watch "a/", w3 everything, w4 "b/"; each reconnects or gets bookmarks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from minik8s.chaos.durability import DurabilityReport, check_durability
from minik8s.chaos.watchcheck import (
    BOOKMARK, CommittedChange, Resume, WatchEvent, WatcherLog, WatchReport, check_watches,
    committed_from_ops, prefix_scope, uncertain_values_from_ops,
)


@dataclass
class SynthOp:
    """A history operation with the attribute names of `chaos.history.Op`."""

    id: int
    process: int
    key: str
    kind: str
    value: str | None
    expect_version: int | None
    invoke: float
    complete: float | None
    outcome: str
    result_version: int | None
    error: str | None = None


def base_history() -> list[SynthOp]:
    """The writes of the base run; op i is invoked at time i and answered at i + 0.5."""
    rows = [
        ("a/x", "create", "v1", "ok", 1), ("a/y", "create", "v2", "ok", 2), ("b/z", "create", "v3", "ok", 3),
        ("a/x", "update", "v4", "ok", 4), ("b/z", "update", "v5", "ok", 5), ("a/y", "delete", None, "ok", 6),
        ("a/x", "update", "v7", "ok", 7), ("a/y", "create", "v8", "ok", 8), ("a/x", "update", "v9", "unknown", None),
        ("a/y", "update", "v10", "ok", 10), ("b/z", "update", "vfail", "fail", None),
    ]
    return [
        SynthOp(i, i % 3, key, kind, value, None, float(i), None if outcome == "unknown" else i + 0.5,
                outcome, rv, "conflict" if outcome == "fail" else None)
        for i, (key, kind, value, outcome, rv) in enumerate(rows, start=1)
    ]


def base_final_state() -> dict[str, tuple[str, int] | None]:
    """What reading the keys back after the base run shows (the unknown write to a/x took effect)."""
    return {"a/x": ("v9", 9), "a/y": ("v10", 10), "b/z": ("v5", 5)}


def base_changes() -> list[CommittedChange]:
    """Every change that took effect in the base run, the unknown write's included."""
    return sorted(committed_from_ops(base_history()) + [CommittedChange(9, "a/x", "MODIFIED", "v9")],
                  key=lambda c: c.revision)


def _events(selector: str, revisions: range | list[int]) -> list[WatchEvent | Resume]:
    by_rev = {c.revision: c for c in base_changes()}
    return [WatchEvent(by_rev[r].type, by_rev[r].key, r, by_rev[r].value)
            for r in revisions if r in by_rev and prefix_scope(selector, by_rev[r].key)]


def _bookmark(revision: int) -> WatchEvent:
    return WatchEvent(BOOKMARK, "", revision, None)


def base_logs() -> dict[str, WatcherLog]:
    """The clean watcher logs of the base run, by watcher name."""
    return {
        "w1": WatcherLog("w1", "a/", [Resume(0, False, "m1"), *_events("a/", range(1, 5)),
                                      Resume(4, False, "m2"), *_events("a/", range(5, 11))]),
        "w2": WatcherLog("w2", "a/", [Resume(0, False, "m2"), *_events("a/", range(1, 5)), _bookmark(5),
                                      _bookmark(5), *_events("a/", range(6, 11))]),
        "w3": WatcherLog("w3", "", [Resume(0, False, "m3"), *_events("", range(1, 4)),
                                    Resume(3, False, "m1"), *_events("", range(4, 11))]),
        "w4": WatcherLog("w4", "b/", [Resume(0, False, "m1"), *_events("b/", range(1, 11)), _bookmark(10)]),
    }


@dataclass
class WatchCase:
    """A watch run and the checks it must fail (none for a clean run)."""

    name: str
    logs: list[WatcherLog]
    expect: frozenset[str]
    uncertain_revisions: frozenset[int] = frozenset()

    def run(self) -> WatchReport:
        history = base_history()
        return check_watches(self.logs, committed_from_ops(history),
                             uncertain_revisions=self.uncertain_revisions,
                             uncertain_values=uncertain_values_from_ops(history))


def _watch_case(name: str, expect: set[str], edit: Callable[[dict[str, WatcherLog]], None] | None = None,
                uncertain_revisions: frozenset[int] = frozenset()) -> WatchCase:
    logs = base_logs()
    if edit:
        edit(logs)
    return WatchCase(name, list(logs.values()), frozenset(expect), uncertain_revisions)


def _set(watcher: str, entries: list[WatchEvent | Resume]) -> Callable[[dict[str, WatcherLog]], None]:
    def edit(logs: dict[str, WatcherLog]) -> None:
        logs[watcher].entries = entries
    return edit


def _drop(watcher: str, revision: int) -> Callable[[dict[str, WatcherLog]], None]:
    def edit(logs: dict[str, WatcherLog]) -> None:
        logs[watcher].entries = [e for e in logs[watcher].entries
                                 if not (isinstance(e, WatchEvent) and e.revision == revision)]
    return edit


def _replace(watcher: str, revision: int, event: WatchEvent) -> Callable[[dict[str, WatcherLog]], None]:
    def edit(logs: dict[str, WatcherLog]) -> None:
        logs[watcher].entries = [event if isinstance(e, WatchEvent) and e.revision == revision else e
                                 for e in logs[watcher].entries]
    return edit


def watch_cases() -> list[WatchCase]:
    """The clean watch run, clean variants (relist gap, bookmarks), and one defect per case."""
    a = "a/"
    return [
        _watch_case("clean", set()),
        _watch_case("relisted_gap_is_allowed", set(), _set("w1", [
            Resume(0, False, "m1"), *_events(a, range(1, 3)), Resume(6, True, "m3"), *_events(a, range(7, 11))])),
        _watch_case("bookmarks_only_advance", set(), _set("w4", [
            Resume(0, False, "m1"), _bookmark(2), *_events("b/", [3]), _bookmark(4), _bookmark(4),
            *_events("b/", [5]), _bookmark(9)])),
        _watch_case("dropped_event", {"gapless"}, _drop("w2", 6)),
        _watch_case("gap_after_relist", {"gapless"}, _set("w1", [
            Resume(0, False, "m1"), *_events(a, range(1, 3)), Resume(6, True, "m3"), *_events(a, [8, 9, 10])])),
        _watch_case("bookmark_skips_event", {"gapless"}, _replace("w2", 6, _bookmark(6))),
        _watch_case("duplicated_event", {"unique"}, _set("w3", [
            Resume(0, False, "m3"), *_events("", range(1, 6)), *_events("", [5]), *_events("", range(6, 11))])),
        _watch_case("back_in_time_after_resume", {"ordered"}, _set("w1", [
            Resume(0, False, "m1"), *_events(a, range(1, 9)), Resume(8, False, "m3-stale"),
            *_events(a, [6, 7, 8, 9, 10])])),
        _watch_case("reordered_events", {"ordered"}, _set("w3", [
            Resume(0, False, "m3"), *_events("", [1, 3, 2]), *_events("", range(4, 11))])),
        _watch_case("watchers_disagree_missing", {"agreement"}, _drop("w2", 9)),
        _watch_case("watchers_disagree_value", {"agreement"},
                    _replace("w2", 9, WatchEvent("MODIFIED", "a/x", 9, "v9-other")), frozenset({9})),
        _watch_case("wrong_value", {"accuracy"}, _replace("w4", 5, WatchEvent("MODIFIED", "b/z", 5, "v5-stale"))),
        _watch_case("event_outside_selector", {"accuracy"}, _set("w4", [
            Resume(0, False, "m1"), *_events("b/", [3]), *_events("", [4]), *_events("b/", [5])])),
        _watch_case("phantom_revision", {"accuracy"}, _set("w4", [
            Resume(0, False, "m1"), *_events("b/", [3, 5]), WatchEvent("MODIFIED", "b/z", 11, "v11")])),
    ]


@dataclass
class DurabilityCase:
    """A run's history, final state and watched changes, and the checks it must fail."""

    name: str
    history: list[SynthOp]
    final_state: dict[str, tuple[str, int] | None]
    watched: list[CommittedChange] | None
    expect: frozenset[str]

    def run(self) -> DurabilityReport:
        return check_durability(self.history, self.final_state, self.watched)


def _durability_case(name: str, expect: set[str], *, watched: bool = True,
                     final: dict[str, tuple[str, int] | None] | None = None,
                     extra_ops: list[SynthOp] | None = None,
                     extra_changes: list[CommittedChange] | None = None) -> DurabilityCase:
    history = base_history() + (extra_ops or [])
    changes = base_changes() + (extra_changes or [])
    return DurabilityCase(name, history, {**base_final_state(), **(final or {})},
                          changes if watched else None, frozenset(expect))


def _op(i: int, key: str, kind: str, value: str | None, rv: int) -> SynthOp:
    return SynthOp(i, 0, key, kind, value, None, float(i), i + 0.5, "ok", rv)


def durability_cases() -> list[DurabilityCase]:
    """The clean run with and without watched changes, and one defect per case."""
    return [
        _durability_case("clean", set()),
        _durability_case("clean_without_watch", set(), watched=False),
        _durability_case("deleted_key_is_absent", set(), final={"b/z": None},
                         extra_ops=[_op(12, "b/z", "delete", None, 11)],
                         extra_changes=[CommittedChange(11, "b/z", "DELETED", None)]),
        _durability_case("lost_write", {"lost"}, final={"b/z": ("v3", 3)}),
        _durability_case("lost_write_without_watch", {"lost"}, watched=False, final={"b/z": ("v3", 3)}),
        _durability_case("vanished_key", {"lost"}, final={"b/z": None}),
        _durability_case("delete_undone", {"lost"}, extra_ops=[_op(12, "b/z", "delete", None, 11)]),
        _durability_case("applied_twice", {"applied_twice"}, final={"b/z": ("v5", 11)},
                         extra_changes=[CommittedChange(11, "b/z", "MODIFIED", "v5")]),
        _durability_case("phantom_failed_write", {"phantom"}, final={"b/z": ("vfail", 11)}),
        _durability_case("phantom_never_written", {"phantom"}, watched=False, final={"b/z": ("v-nobody", 11)}),
    ]


def run_selftest() -> dict[str, Any]:
    """Run every case; a case passes when exactly the checks it expects fail."""
    results: list[dict[str, Any]] = []
    for case in [*watch_cases(), *durability_cases()]:
        failed = sorted(case.run().failed())
        results.append({"case": case.name, "expected": sorted(case.expect), "failed": failed,
                        "ok": set(failed) == case.expect})
    return {"ok": all(r["ok"] for r in results), "cases": results}


__all__ = ["SynthOp", "WatchCase", "DurabilityCase", "watch_cases", "durability_cases", "run_selftest",
           "base_history", "base_final_state", "base_changes", "base_logs"]
