"""The watch history checker (`chaos.watchcheck`), table-driven over the synthetic runs of `chaos.selftest_data`."""

from __future__ import annotations

import json

import pytest

from minik8s.chaos import watchcheck
from minik8s.chaos.selftest_data import WatchCase, base_history, base_logs, run_selftest, watch_cases
from minik8s.chaos.watchcheck import (
    BOOKMARK, CommittedChange, Resume, WatchEvent, WatcherLog, check_watches, committed_from_ops,
    uncertain_values_from_ops,
)

CASES = {case.name: case for case in watch_cases()}


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_each_case_fails_exactly_its_check(case: WatchCase) -> None:
    report = case.run()
    assert set(report.failed()) == case.expect, json.dumps(report.to_json(), indent=1)
    assert report.ok == (not case.expect)


@pytest.mark.parametrize("name,check,count", [
    ("dropped_event", "gapless", 1),
    ("gap_after_relist", "gapless", 1),
    ("bookmark_skips_event", "gapless", 1),
    ("duplicated_event", "unique", 1),
    ("back_in_time_after_resume", "ordered", 3),
    ("reordered_events", "ordered", 1),
    ("watchers_disagree_missing", "agreement", 1),
    ("watchers_disagree_value", "agreement", 1),
    ("wrong_value", "accuracy", 1),
    ("event_outside_selector", "accuracy", 1),
    ("phantom_revision", "accuracy", 1),
])
def test_defect_is_counted_once(name: str, check: str, count: int) -> None:
    result = getattr(CASES[name].run(), check)
    assert result.violations == count
    assert len(result.examples) == count


def test_clean_run_totals_and_unknown_write() -> None:
    report = CASES["clean"].run()
    assert report.watchers == 4
    # w1, w2: a/ changes 1,2,4,6,7,8,9,10; w3: all 10; w4: b/ changes 3,5 (bookmarks are not events)
    assert report.events_checked == 8 + 8 + 10 + 2
    # revision 9 is the write with no answer: each watcher that saw it counts it as unknown, not wrong
    assert report.accuracy.unknown == 3
    assert {ex["watcher"] for ex in report.accuracy.unknown_examples} == {"w1", "w2", "w3"}


def test_back_in_time_example_names_the_resume() -> None:
    example = CASES["back_in_time_after_resume"].run().ordered.examples[0]
    assert "travelled back in time" in example["reason"]
    assert example["resume"] == {"resume": 8, "relisted": False, "master": "m3-stale"}
    assert example["event"]["revision"] == 6


def test_gap_example_names_the_missing_change() -> None:
    example = CASES["dropped_event"].run().gapless.examples[0]
    assert example["watcher"] == "w2"
    assert example["missing"] == {"revision": 6, "key": "a/y", "type": "DELETED", "value": None}
    assert (example["after"], example["next"]) == (5, 7)  # w2 had a bookmark at 5


def test_resume_below_its_own_revision_is_ordered_violation() -> None:
    log = WatcherLog("w", "", [Resume(5, False, "m"), WatchEvent("ADDED", "k", 5, "v5"),
                               WatchEvent("MODIFIED", "k", 6, "v6")])
    committed = [CommittedChange(5, "k", "ADDED", "v5"), CommittedChange(6, "k", "MODIFIED", "v6")]
    report = check_watches([log], committed)
    assert report.failed() == ["ordered"]


def test_fresh_start_has_no_baseline_but_a_resume_revision_is_one() -> None:
    committed = [CommittedChange(1, "k", "ADDED", "v1"), CommittedChange(2, "k", "MODIFIED", "v2"),
                 CommittedChange(3, "k", "MODIFIED", "v3")]
    fresh = WatcherLog("fresh", "", [Resume(0), WatchEvent("MODIFIED", "k", 2, "v2")])
    relisted = WatcherLog("relisted", "", [WatchEvent("ADDED", "k", 1, "v1"), Resume(0, True),
                                           WatchEvent("MODIFIED", "k", 3, "v3")])
    assert check_watches([fresh, relisted], committed).ok
    resumed = WatcherLog("resumed", "", [Resume(1), WatchEvent("MODIFIED", "k", 3, "v3")])
    report = check_watches([resumed], committed)
    assert report.failed() == ["gapless"]
    assert report.gapless.examples[0]["missing"]["revision"] == 2


def test_bookmark_back_in_time_is_ordered_and_bookmarks_are_not_events() -> None:
    log = WatcherLog("w", "", [WatchEvent("ADDED", "k", 1, "v1"), WatchEvent(BOOKMARK, "", 3),
                               WatchEvent(BOOKMARK, "", 2)])
    report = check_watches([log], [CommittedChange(1, "k", "ADDED", "v1")])
    assert report.failed() == ["ordered"]
    assert report.events_checked == 1


def test_custom_scope_function() -> None:
    committed = [CommittedChange(1, "pod-a", "ADDED", "v1"), CommittedChange(2, "svc-b", "ADDED", "v2")]
    log = WatcherLog("w", "kind=pod", [Resume(0), WatchEvent("ADDED", "pod-a", 1, "v1"), WatchEvent(BOOKMARK, "", 2)])

    def pods_only(selector: str, key: str) -> bool:
        return selector != "kind=pod" or key.startswith("pod-")

    assert check_watches([log], committed, in_scope=pods_only).ok
    assert check_watches([log], committed, in_scope=lambda selector, key: True).failed() == ["gapless"]


def test_examples_are_capped_and_report_is_json() -> None:
    committed = [CommittedChange(r, "k", "MODIFIED", f"v{r}") for r in range(1, 40)]
    log = WatcherLog("w", "", [WatchEvent("MODIFIED", "k", 1, "v1"), WatchEvent("MODIFIED", "k", 39, "v39")])
    report = check_watches([log], committed)
    assert report.gapless.violations == 37
    assert len(report.gapless.examples) == watchcheck.MAX_EXAMPLES
    data = json.loads(json.dumps(report.to_json()))
    assert data["checks"]["gapless"]["violations"] == 37 and data["ok"] is False


def test_deleted_event_may_carry_last_state() -> None:
    committed = [CommittedChange(1, "k", "ADDED", "v1"), CommittedChange(2, "k", "DELETED", None)]
    log = WatcherLog("w", "", [WatchEvent("ADDED", "k", 1, "v1"), WatchEvent("DELETED", "k", 2, "v1")])
    assert check_watches([log], committed).ok


def test_agreement_only_on_the_common_window() -> None:
    logs = base_logs()
    # w2 only watched revisions 1..4; w1 saw the unknown write at 9, which w2 cannot vouch for
    logs["w2"].entries = logs["w2"].entries[:4]
    history = base_history()
    report = check_watches(list(logs.values()), committed_from_ops(history),
                           uncertain_values=uncertain_values_from_ops(history))
    assert report.ok


def test_committed_from_ops_keeps_acknowledged_writes_only() -> None:
    changes = committed_from_ops(base_history())
    assert [c.revision for c in changes] == [1, 2, 3, 4, 5, 6, 7, 8, 10]
    assert changes[5] == CommittedChange(6, "a/y", "DELETED", None)
    assert uncertain_values_from_ops(base_history()) == {"v9"}


def test_selftest_passes() -> None:
    result = run_selftest()
    assert result["ok"], [c for c in result["cases"] if not c["ok"]]
