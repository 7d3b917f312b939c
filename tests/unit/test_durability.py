"""The durability checker (`chaos.durability`), table-driven over the synthetic runs of `chaos.selftest_data`."""

from __future__ import annotations

import json

import pytest

from minik8s.chaos.durability import check_durability
from minik8s.chaos.selftest_data import DurabilityCase, SynthOp, base_changes, base_history, durability_cases
from minik8s.chaos.watchcheck import CommittedChange

CASES = {case.name: case for case in durability_cases()}


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
def test_each_case_fails_exactly_its_check(case: DurabilityCase) -> None:
    report = case.run()
    assert set(report.failed()) == case.expect, json.dumps(report.to_json(), indent=1)
    assert report.ok == (not case.expect)


def test_clean_totals() -> None:
    report = CASES["clean"].run()
    assert report.keys_checked == 3
    assert report.writes_checked == 9  # the acknowledged writes; the unknown and the failed one are not
    assert json.loads(json.dumps(report.to_json()))["ok"] is True


def test_lost_write_names_the_write_and_the_older_value() -> None:
    report = CASES["lost_write"].run()
    assert report.lost.violations == 1
    example = report.lost.examples[0]
    assert (example["key"], example["value"], example["revision"]) == ("b/z", "v5", 5)
    assert example["final"] == ["v3", 3] and example["final_writer"] == 3
    assert "older value" in example["reason"]


def test_applied_twice_lists_both_revisions() -> None:
    example = CASES["applied_twice"].run().applied_twice.examples[0]
    assert example["value"] == "v5"
    assert sorted(example["revisions"]) == ["11", "5"]


@pytest.mark.parametrize("name,reason", [
    ("phantom_failed_write", "written only by a write that failed"),
    ("phantom_never_written", "never written"),
])
def test_phantom_reason(name: str, reason: str) -> None:
    report = CASES[name].run()
    assert report.phantom.violations == 1
    assert report.phantom.examples[0]["reason"] == reason


def test_value_written_to_another_key_is_phantom() -> None:
    report = check_durability(base_history(), {"a/x": ("v9", 9), "a/y": ("v10", 10), "b/z": ("v7", 7)})
    assert report.failed() == ["phantom"]
    assert report.phantom.examples[0]["reason"] == "written to key 'a/x'"


def test_phantom_watched_change() -> None:
    watched = base_changes() + [CommittedChange(11, "b/z", "MODIFIED", "ghost")]
    report = check_durability(base_history(), {"a/x": ("v9", 9), "a/y": ("v10", 10), "b/z": ("ghost", 11)}, watched)
    assert report.failed() == ["phantom"]
    assert report.phantom.violations == 2  # the final state and the watched change


def test_unread_key_is_not_checked_for_lost_writes() -> None:
    report = check_durability(base_history(), {"a/x": ("v9", 9)})
    assert report.ok and report.keys_checked == 1 and report.writes_checked == 3


def test_unknown_delete_explains_an_absent_key_only_without_a_watch() -> None:
    history = base_history() + [SynthOp(12, 0, "b/z", "delete", None, None, 12.0, None, "unknown", None)]
    assert check_durability(history, {"b/z": None}).ok
    # the watch saw no delete of b/z: the acknowledged v5 is lost
    assert check_durability(history, {"b/z": None}, base_changes()).failed() == ["lost"]


def test_concurrent_writes_without_revisions_are_not_lost() -> None:
    # neither answer carries a revision and the two overlap in time: either order is possible
    history = [SynthOp(1, 0, "k", "create", "a", None, 0.0, 2.0, "ok", None),
               SynthOp(2, 1, "k", "update", "b", None, 1.0, 3.0, "ok", None)]
    assert check_durability(history, {"k": ("a", 7)}).ok
    # b answered before a was sent: b is older, so a final b loses the acknowledged a
    history[0] = SynthOp(1, 0, "k", "create", "a", None, 4.0, 5.0, "ok", None)
    assert check_durability(history, {"k": ("a", 7)}).ok
    report = check_durability(history, {"k": ("b", 7)})
    assert report.failed() == ["lost"] and report.lost.examples[0]["value"] == "a"
