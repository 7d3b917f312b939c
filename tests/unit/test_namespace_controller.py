"""The namespace controller's pure parts: conditions like Kubernetes', discovery parsing, grace estimates."""

from __future__ import annotations

from typing import Any

import pytest

from minik8s.controllers.namespace import deletable_resources, parse_group_version, pod_grace_estimate
from minik8s.controllers.namespace_conditions import (
    CONDITION_TYPES, CONTENT_REMAINING, FINALIZERS_REMAINING, DeletionReport, updated_conditions,
)


def by_type(conditions: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in conditions}


def test_conditions_all_five_types_set_when_all_is_well() -> None:
    """Every condition type appears, False with its upstream 'all is well' reason and message."""
    conditions = updated_conditions([], DeletionReport(), now="t0")
    assert conditions is not None and [c["type"] for c in conditions] == list(CONDITION_TYPES)
    assert all(c["status"] == "False" and c["lastTransitionTime"] == "t0" for c in conditions)
    assert by_type(conditions)[CONTENT_REMAINING]["reason"] == "ContentRemoved"
    discovery = by_type(conditions)["NamespaceDeletionDiscoveryFailure"]
    assert discovery["message"] == "All resources successfully discovered"
    assert updated_conditions(conditions, DeletionReport(), now="t1") is None  # unchanged: nothing to write


def test_conditions_report_remaining_content_and_finalizers_like_kubernetes() -> None:
    """Remaining content and finalizers show as True with upstream's reasons and sorted messages."""
    report = DeletionReport(remaining={"pods.": 3, "configmaps.": 2}, finalizers_remaining={"example.com/f": 2})
    conditions = by_type(updated_conditions([], report, now="t0") or [])
    assert conditions[CONTENT_REMAINING] | {"lastTransitionTime": ""} == {
        "type": CONTENT_REMAINING, "status": "True", "reason": "SomeResourcesRemain", "lastTransitionTime": "",
        "message": "Some resources are remaining: configmaps. has 2 resource instances, pods. has 3 resource instances"}
    assert conditions[FINALIZERS_REMAINING]["reason"] == "SomeFinalizerRemain"
    assert conditions[FINALIZERS_REMAINING]["message"] == \
        "Some finalizers are remaining: example.com/f in 2 resource instances"


def test_conditions_keep_the_transition_time_unless_the_status_changes() -> None:
    """A new message with the same status keeps lastTransitionTime; a status flip stamps it."""
    first = updated_conditions([], DeletionReport(remaining={"pods.": 3}), now="t0") or []
    fewer = by_type(updated_conditions(first, DeletionReport(remaining={"pods.": 1}), now="t1") or [])
    assert fewer[CONTENT_REMAINING]["lastTransitionTime"] == "t0"
    assert "1 resource" in fewer[CONTENT_REMAINING]["message"]
    done = by_type(updated_conditions(list(fewer.values()), DeletionReport(), now="t2") or [])
    assert done[CONTENT_REMAINING] | {} == {"type": CONTENT_REMAINING, "status": "False", "lastTransitionTime": "t2",
                                          "reason": "ContentRemoved", "message": "All content successfully removed"}


def test_conditions_report_failures() -> None:
    """Discovery, parsing and deletion failures each set their condition True with upstream's wording."""
    report = DeletionReport(discovery_failures={"apps/v1": "boom"},
                            parse_errors=["unexpected GroupVersion string: a/b/c"],
                            content_errors=["z failed", "a failed"])
    conditions = by_type(updated_conditions([], report, now="t0") or [])
    assert conditions["NamespaceDeletionDiscoveryFailure"]["reason"] == "DiscoveryFailed"
    assert conditions["NamespaceDeletionDiscoveryFailure"]["message"] == (
        "Discovery failed for some groups, 1 failing: unable to retrieve the complete list of server APIs: "
        "apps/v1: boom")
    assert conditions["NamespaceDeletionGroupVersionParsingFailure"]["reason"] == "GroupVersionParsingFailed"
    assert conditions["NamespaceDeletionContentFailure"]["message"] == \
        "Failed to delete all resource types, 2 remaining: a failed, z failed"
    assert report.failed


@pytest.mark.parametrize(("text", "parsed"), [("v1", ("", "v1")), ("apps/v1", ("apps", "v1"))])
def test_parse_group_version(text: str, parsed: tuple[str, str]) -> None:
    """`v1` is the core group; `group/version` otherwise."""
    assert parse_group_version(text) == parsed


@pytest.mark.parametrize("text", ["", "a/b/c", "/v1", "apps/"])
def test_parse_group_version_refuses_malformed(text: str) -> None:
    """Anything else is a parsing failure, as upstream words it."""
    with pytest.raises(ValueError, match="unexpected GroupVersion string"):
        parse_group_version(text)


def test_deletable_resources_from_discovery() -> None:
    """Namespaced, deletable, top-level resources only; unknown kinds described from discovery."""
    report = DeletionReport()
    lists = [
        {"groupVersion": "v1", "resources": [
            {"name": "pods", "namespaced": True, "kind": "Pod", "verbs": ["delete", "list"]},
            {"name": "pods/log", "namespaced": True, "kind": "Pod", "verbs": ["get"]},
            {"name": "nodes", "namespaced": False, "kind": "Node", "verbs": ["delete", "list"]},
            {"name": "bindings", "namespaced": True, "kind": "Binding", "verbs": ["create"]}]},
        {"groupVersion": "example.com/v1", "resources": [
            {"name": "widgets", "namespaced": True, "kind": "Widget", "verbs": ["delete", "list"]}]},
        {"groupVersion": "a/b/c", "resources": []},
    ]
    found = deletable_resources(lists, report)
    assert [(rt.group, rt.plural, rt.kind) for rt in found] == [("", "pods", "Pod"),
                                                                ("example.com", "widgets", "Widget")]
    assert report.parse_errors == ["unexpected GroupVersion string: a/b/c"]


def test_pod_grace_estimate_is_the_longest_grace_of_running_pods() -> None:
    """Terminal pods take no time; the others their deletion grace period (else their spec's, else 30)."""
    pods = [
        {"metadata": {"deletionGracePeriodSeconds": 7}, "spec": {}},
        {"metadata": {}, "spec": {"terminationGracePeriodSeconds": 5}},
        {"metadata": {}, "spec": {"terminationGracePeriodSeconds": 99}, "status": {"phase": "Succeeded"}},
    ]
    assert pod_grace_estimate(pods) == 7
    assert pod_grace_estimate([{"metadata": {}, "spec": {}}]) == 30
    assert pod_grace_estimate([]) == 0
