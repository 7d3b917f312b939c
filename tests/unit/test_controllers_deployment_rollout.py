"""Which ReplicaSet a rollout step scales: Kubernetes' rolling_test.go cases, a simulated rollout, clean-up."""

from __future__ import annotations

from typing import Any

import pytest

from minik8s.api.timefmt import format_time
from minik8s.api.workloads import REVISION_ANNOTATION
from minik8s.controllers.deployment_rollout import (
    new_rs_target, old_pods_running, old_rs_targets, recreate_scale_down, replica_sets_to_clean_up,
)
from minik8s.controllers.deployment_util import active

Obj = dict[str, Any]


def deployment(replicas: int, surge: Any, unavailable: Any, *, history: int | None = 10) -> Obj:
    spec: Obj = {"replicas": replicas, "strategy": {"type": "RollingUpdate",
                                                    "rollingUpdate": {"maxSurge": surge, "maxUnavailable": unavailable}}}
    if history is not None:
        spec["revisionHistoryLimit"] = history
    return {"metadata": {"name": "web", "generation": 1}, "spec": spec}


def rs(name: str, replicas: int, *, available: int = 0, pods: int | None = None, created: float = 0,
       revision: int = 1, generation: int = 1, observed: int = 1) -> Obj:
    return {"metadata": {"name": name, "uid": name, "creationTimestamp": format_time(1.9e9 + created),
                         "annotations": {REVISION_ANNOTATION: str(revision)}, "generation": generation},
            "spec": {"replicas": replicas},
            "status": {"replicas": replicas if pods is None else pods, "availableReplicas": available,
                       "observedGeneration": observed}}


@pytest.mark.parametrize(("replicas", "surge", "old", "new", "expected"), [
    # Kubernetes' TestDeploymentController_reconcileNewReplicaSet
    pytest.param(10, 0, 10, 0, None, id="no-surge-no-scale-up"),
    pytest.param(10, 2, 10, 0, 2, id="surge-2"),
    pytest.param(10, 2, 5, 0, 7, id="old-half-gone"),
    pytest.param(10, 2, 10, 2, None, id="surge-used-up"),
    pytest.param(2, 2, 2, 4, 2, id="new-above-replicas-scales-down"),
    # and a few more
    pytest.param(10, "25%", 10, 0, 3, id="surge-percent-rounds-up"),
    pytest.param(10, 2, 0, 8, 10, id="old-gone-fill-up"),
    pytest.param(0, 2, 0, 3, 0, id="scaled-to-zero"),
])
def test_rollout_new_rs_target(replicas: int, surge: Any, old: int, new: int, expected: int | None) -> None:
    """How far the new ReplicaSet is scaled up (or down to `replicas`)."""
    d = deployment(replicas, surge, 1)
    old_rs, new_rs = rs("old", old, available=old), rs("new", new)
    assert new_rs_target(d, [old_rs, new_rs], new_rs) == expected


def test_rollout_new_rs_waits_for_old_pods_still_being_deleted() -> None:
    """An old RS scaled to 8 whose status still shows 10 pods holds the surge (minik8s' stricter count)."""
    d = deployment(10, 2, 1)
    old_rs, new_rs = rs("old", 8, available=10, pods=10), rs("new", 2)
    assert new_rs_target(d, [old_rs, new_rs], new_rs) is None
    old_rs["status"]["replicas"] = 8
    assert new_rs_target(d, [old_rs, new_rs], new_rs) == 4


@pytest.mark.parametrize(("replicas", "unavailable", "old", "new", "old_ready", "new_ready", "expected"), [
    # Kubernetes' TestDeploymentController_reconcileOldReplicaSets (maxSurge 0)
    pytest.param(10, 0, 10, 0, 10, 0, 9, id="zero-unavailable-means-one"),
    pytest.param(10, 2, 10, 0, 10, 0, 8, id="two-unavailable"),
    pytest.param(10, 2, 10, 0, 8, 0, 8, id="unhealthy-cleaned-up"),
    pytest.param(10, 2, 10, 0, 9, 0, 8, id="one-unhealthy-one-ready"),
    pytest.param(10, 2, 8, 2, 8, 0, None, id="new-unavailable-blocks"),
    # and more
    pytest.param(10, 1, 10, 2, 10, 2, 7, id="new-available-lets-old-go"),
    pytest.param(10, 1, 9, 3, 9, 3, 6, id="three-above-the-minimum"),
    pytest.param(10, 1, 1, 10, 1, 10, 0, id="last-old-pod"),
    pytest.param(10, 1, 10, 0, 12, 0, None, id="stale-status-above-spec-waits"),
])
def test_rollout_old_rs_targets(replicas: int, unavailable: int, old: int, new: int, old_ready: int, new_ready: int,
                                expected: int | None) -> None:
    """How far an old ReplicaSet is scaled down within maxUnavailable."""
    d = deployment(replicas, 0, unavailable)
    old_rs, new_rs = rs("old", old, available=old_ready), rs("new", new, available=new_ready)
    plan = old_rs_targets(d, [old_rs, new_rs], [old_rs], new_rs)
    assert (plan[0].replicas if plan else None) == expected


def test_rollout_old_rs_targets_scale_the_oldest_first() -> None:
    """Available pods above the minimum come off the oldest ReplicaSet first."""
    d = deployment(10, 0, 3)
    older, old, new = rs("older", 2, available=2, created=0), rs("old", 8, available=8, created=1), rs("new", 0)
    plan = old_rs_targets(d, [older, old, new], [older, old], new)
    assert [(s.rs["metadata"]["name"], s.replicas) for s in plan] == [("older", 0), ("old", 7)]


def simulate(replicas: int, surge: Any, unavailable: Any, *, delay: int = 1) -> list[tuple[int, int]]:
    """A rollout where pods start at once and become available `delay` steps later; (pods, available) per step."""
    d = deployment(replicas, surge, unavailable)
    old_rs, new_rs = rs("old", replicas, available=replicas, created=0), rs("new", 0, created=1)
    started: list[int] = []  # the step each new pod started at
    seen = []
    for step in range(200):
        for r in (old_rs, new_rs):  # the ReplicaSet controllers act: status follows spec
            r["status"]["replicas"] = r["spec"]["replicas"]
        while len(started) < new_rs["spec"]["replicas"]:
            started.append(step)
        del started[new_rs["spec"]["replicas"]:]
        new_rs["status"]["availableReplicas"] = sum(1 for s in started if step - s >= delay)
        old_rs["status"]["availableReplicas"] = old_rs["spec"]["replicas"]
        pods = old_rs["spec"]["replicas"] + new_rs["spec"]["replicas"]
        seen.append((pods, old_rs["status"]["availableReplicas"] + new_rs["status"]["availableReplicas"]))
        if new_rs["status"]["availableReplicas"] == replicas and old_rs["spec"]["replicas"] == 0:
            return seen
        all_rss = [old_rs, new_rs]  # the Deployment controller acts: one move per sync
        target = new_rs_target(d, all_rss, new_rs)
        if target is not None:
            new_rs["spec"]["replicas"] = target
            continue
        for scale in old_rs_targets(d, all_rss, active([old_rs]), new_rs):
            scale.rs["spec"]["replicas"] = scale.replicas
    raise AssertionError(f"the rollout did not finish: {seen[-5:]}")


@pytest.mark.parametrize(("replicas", "surge", "unavailable"), [
    pytest.param(10, 2, 1, id="10-surge2-unavail1"),
    pytest.param(10, "25%", "25%", id="10-defaults"),
    pytest.param(50, "25%", "25%", id="50-defaults"),
    pytest.param(5, 0, 1, id="5-no-surge"),
    pytest.param(5, 1, 0, id="5-no-unavailable"),
    pytest.param(3, "100%", 0, id="3-blue-green"),
])
def test_rollout_simulated_rollout_keeps_the_fenceposts(replicas: int, surge: Any, unavailable: Any) -> None:
    """Step by step, pods stay within replicas + maxSurge and available pods within replicas - maxUnavailable."""
    from minik8s.controllers.deployment_util import resolve_fenceposts
    max_surge, max_unavailable = resolve_fenceposts(surge, unavailable, replicas)
    seen = simulate(replicas, surge, unavailable)
    assert max(pods for pods, _ in seen) <= replicas + max_surge
    assert min(available for _, available in seen) >= replicas - max_unavailable


def test_rollout_recreate_and_old_pods() -> None:
    """Recreate scales every active old RS to 0 and waits while any old pod has not finished."""
    a, b, new = rs("a", 3), rs("b", 0), rs("new", 0)
    assert [(s.rs["metadata"]["name"], s.replicas) for s in recreate_scale_down([a, b])] == [("a", 0)]
    a["spec"]["replicas"], a["status"]["replicas"] = 0, 0
    running = {"metadata": {"name": "p"}, "status": {"phase": "Running"}}
    done = {"metadata": {"name": "q"}, "status": {"phase": "Succeeded"}}
    assert old_pods_running(new, [a, b], {"a": [running], "new": []})
    assert not old_pods_running(new, [a, b], {"a": [done], "new": [running]})


def test_rollout_clean_up_beyond_the_history_limit() -> None:
    """Old RSs beyond revisionHistoryLimit go, lowest revision first, only when empty and observed."""
    d = deployment(3, 1, 0, history=1)
    old = [rs("r1", 0, revision=1), rs("r2", 0, revision=2, pods=1), rs("r3", 0, revision=3),
           rs("r4", 0, revision=4, generation=2, observed=1), rs("r5", 0, revision=5)]
    assert [r["metadata"]["name"] for r in replica_sets_to_clean_up(d, old)] == ["r1", "r3"]
    assert replica_sets_to_clean_up(deployment(3, 1, 0, history=None), old) == []
