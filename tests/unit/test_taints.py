"""One toleration rule for everybody: `minik8s.api.taints` and its two users agree on every case.

The cases are the scheduler's (taints with values, NoSchedule) and the node lifecycle
controller's (the `node.kubernetes.io/unreachable:NoExecute` taint), including the ones the two
former copies of the rule answered differently (an empty key with `Equal`, an unknown operator).
"""

from __future__ import annotations

from typing import Any

import pytest

from minik8s.api.taints import matching_tolerations, tolerated, tolerates
from minik8s.controllers.node_taints import UNREACHABLE_NO_EXECUTE, UNREACHABLE_TAINT_KEY, eviction_delay
from minik8s.scheduler.framework import PodInfo
from minik8s.scheduler.plugins import TaintToleration

from .test_scheduler_plugins import make_node, make_pod

GPU = {"key": "gpu", "value": "true", "effect": "NoSchedule"}
UNREACHABLE = dict(UNREACHABLE_NO_EXECUTE)
DEFAULT_DELAY = 300.0

CASES = [
    # the scheduler's cases
    pytest.param({"key": "gpu", "operator": "Equal", "value": "true", "effect": "NoSchedule"}, GPU, True,
                 id="equal-value-and-effect"),
    pytest.param({"key": "gpu", "value": "true"}, GPU, True, id="default-operator-is-equal-any-effect"),
    pytest.param({"key": "gpu", "operator": "Equal", "value": "false"}, GPU, False, id="value-differs"),
    pytest.param({"key": "gpu", "operator": "Exists"}, GPU, True, id="exists-any-value"),
    pytest.param({"key": "gpu", "operator": "Exists", "effect": "NoExecute"}, GPU, False, id="effect-differs"),
    pytest.param({"key": "other", "operator": "Exists"}, GPU, False, id="key-differs"),
    pytest.param({"operator": "Exists"}, GPU, True, id="empty-key-exists-tolerates-everything"),
    pytest.param({"operator": "Exists", "effect": "NoExecute"}, GPU, False, id="empty-key-other-effect"),
    # the node lifecycle controller's cases
    pytest.param({"key": UNREACHABLE_TAINT_KEY, "operator": "Exists", "effect": "NoExecute", "tolerationSeconds": 10},
                 UNREACHABLE, True, id="unreachable-exists-no-execute"),
    pytest.param({"key": UNREACHABLE_TAINT_KEY, "operator": "Exists", "effect": "NoSchedule"}, UNREACHABLE, False,
                 id="unreachable-other-effect"),
    pytest.param({"key": UNREACHABLE_TAINT_KEY}, UNREACHABLE, True, id="unreachable-equal-no-value"),
    pytest.param({"key": UNREACHABLE_TAINT_KEY, "value": "x"}, UNREACHABLE, False, id="unreachable-equal-other-value"),
    pytest.param({"key": UNREACHABLE_TAINT_KEY, "operator": "Exists", "value": "ignored"}, UNREACHABLE, True,
                 id="unreachable-exists-ignores-value"),
    pytest.param({"operator": "Exists"}, UNREACHABLE, True, id="unreachable-empty-key-exists"),
    pytest.param({"operator": "Exists", "effect": "NoExecute"}, UNREACHABLE, True, id="unreachable-any-key-no-execute"),
    # where the two former copies disagreed: Kubernetes' answer
    pytest.param({"key": "", "operator": "Equal"}, UNREACHABLE, True, id="empty-key-equal-matches-equal-value"),
    pytest.param({"key": "", "operator": "Equal", "value": "x"}, UNREACHABLE, False, id="empty-key-equal-other-value"),
    pytest.param({"key": UNREACHABLE_TAINT_KEY, "operator": "Bogus"}, UNREACHABLE, False, id="unknown-operator"),
]


@pytest.mark.parametrize(("toleration", "taint", "expected"), CASES)
def test_taints_tolerates_follows_kubernetes(toleration: dict[str, Any], taint: dict[str, Any], expected: bool) -> None:
    """`tolerates` answers as Kubernetes' `Toleration.ToleratesTaint`."""
    assert tolerates(toleration, taint) is expected
    assert tolerated(taint, [{"key": "unrelated", "operator": "Exists"}, toleration]) is expected
    assert matching_tolerations(taint, [toleration]) == ([toleration] if expected else [])


@pytest.mark.parametrize(("toleration", "taint", "expected"), CASES)
def test_taints_scheduler_and_eviction_agree(toleration: dict[str, Any], taint: dict[str, Any], expected: bool) -> None:
    """The scheduler's filter and the eviction delay both follow `tolerates` for the same case."""
    pod = make_pod(tolerations=[toleration])
    rejected = TaintToleration().filter(PodInfo.of(pod), make_node(taints=[taint]))
    assert (rejected == ()) is expected
    if taint == UNREACHABLE:
        delay = eviction_delay(pod, DEFAULT_DELAY)
        assert (delay != DEFAULT_DELAY) is expected
