"""A server-side apply that changes nothing is recognised, so it is not written (as in Kubernetes)."""

from __future__ import annotations

import copy
from typing import Any

from minik8s.api.server.managedfields import unchanged_apply
from minik8s.api.server.patching import server_side_apply

CONFIG: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cm", "namespace": "default"},
                          "data": {"a": "1"}}


def applied(live: dict[str, Any], config: dict[str, Any], manager: str = "kubectl") -> dict[str, Any]:
    """`live` after `manager` applies `config`, its entry stamped with a later time than any before."""
    result = server_side_apply(live, config, manager)
    for entry in result["metadata"]["managedFields"]:
        if entry["manager"] == manager:
            entry["time"] = "2099-01-01T00:00:00Z"
    return result


def test_managedfields_reapplying_the_same_config_is_unchanged() -> None:
    """The same manager applying the same configuration again differs only in its entry's time."""
    live = server_side_apply({}, CONFIG, "kubectl")
    live["metadata"].update(resourceVersion="5", uid="u")  # what the server adds when it stores it
    assert unchanged_apply(live, applied(copy.deepcopy(live), CONFIG), "kubectl")


def test_managedfields_a_changed_value_or_a_new_manager_is_a_change() -> None:
    """Another value, or the same fields claimed by a second manager, is a real change to write."""
    live = server_side_apply({}, CONFIG, "kubectl")
    edited = {**CONFIG, "data": {"a": "2"}}
    assert not unchanged_apply(live, applied(copy.deepcopy(live), edited), "kubectl")
    assert not unchanged_apply(live, applied(copy.deepcopy(live), CONFIG, "other"), "other")


def test_managedfields_objects_without_managed_fields() -> None:
    """Objects nobody applied compare as they are."""
    assert unchanged_apply({"data": {"a": "1"}}, {"data": {"a": "1"}}, "kubectl")
    assert not unchanged_apply({"data": {"a": "1"}}, {"data": {"a": "2"}}, "kubectl")
