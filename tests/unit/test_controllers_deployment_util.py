"""Deployment arithmetic against Kubernetes' deployment util: fenceposts, proportions, revisions, new/old."""

from __future__ import annotations

from typing import Any

import pytest

from minik8s.api.timefmt import format_time
from minik8s.api.workloads import (
    DESIRED_REPLICAS_ANNOTATION, MAX_REPLICAS_ANNOTATION, POD_TEMPLATE_HASH_LABEL, REVISION_ANNOTATION,
    REVISION_HISTORY_ANNOTATION,
)
from minik8s.controllers.deployment_util import (
    by_revision, by_size_newer, by_size_older, find_active_or_latest, find_new_rs, find_old_rss, is_saturated,
    max_revision, max_surge, max_unavailable, proportional_sizes, resolve_fenceposts, scaled_value,
    set_new_rs_annotations,
)

Obj = dict[str, Any]
TEMPLATE = {"metadata": {"labels": {"app": "web"}}, "spec": {"containers": [{"name": "c", "image": "v1"}]}}


def deployment(replicas: int = 10, surge: Any = "25%", unavailable: Any = "25%", *, kind: str = "RollingUpdate",
               template: Obj | None = None, annotations: dict[str, str] | None = None,
               status_replicas: int = 0) -> Obj:
    strategy: Obj = {"type": kind}
    if kind == "RollingUpdate":
        strategy["rollingUpdate"] = {"maxSurge": surge, "maxUnavailable": unavailable}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "uid": "d-uid", "annotations": annotations or {}},
            "spec": {"replicas": replicas, "strategy": strategy, "template": template or TEMPLATE,
                     "selector": {"matchLabels": {"app": "web"}}},
            "status": {"replicas": status_replicas}}


def rs(name: str, replicas: int, *, created: float = 0.0, image: str = "v1", revision: int | None = None,
       available: int = 0, annotations: dict[str, str] | None = None) -> Obj:
    notes = dict(annotations or {})
    if revision is not None:
        notes[REVISION_ANNOTATION] = str(revision)
    template = {"metadata": {"labels": {"app": "web", POD_TEMPLATE_HASH_LABEL: name}},
                "spec": {"containers": [{"name": "c", "image": image}]}}
    return {"metadata": {"name": name, "uid": f"uid-{name}", "creationTimestamp": format_time(1.9e9 + created),
                         "annotations": notes},
            "spec": {"replicas": replicas, "template": template},
            "status": {"availableReplicas": available}}


# Kubernetes' ResolveFenceposts: maxSurge rounds up, maxUnavailable rounds down, 0/0 becomes 0/1.
@pytest.mark.parametrize(("surge", "unavailable", "desired", "expected"), [
    pytest.param("25%", "25%", 10, (3, 2), id="defaults-10"),
    pytest.param("25%", "25%", 4, (1, 1), id="defaults-4"),
    pytest.param("25%", "25%", 1, (1, 0), id="defaults-1"),
    pytest.param("25%", "25%", 0, (0, 1), id="defaults-0"),
    pytest.param(2, 1, 10, (2, 1), id="ints"),
    pytest.param("10%", "10%", 5, (1, 0), id="10pct-of-5-surge-up-unavailable-down"),
    pytest.param("0%", "0%", 10, (0, 1), id="zero-percent-both"),
    pytest.param(0, "30%", 3, (0, 1), id="floor-zero-unavailable-becomes-one"),
    pytest.param("50%", 0, 3, (2, 0), id="ceil"),
    pytest.param("100%", "100%", 7, (7, 7), id="all"),
    pytest.param("33%", "33%", 100, (33, 33), id="exact"),
    pytest.param("1%", "1%", 150, (2, 1), id="ceil-floor-split"),
    pytest.param(None, None, 5, (0, 1), id="unset"),
])
def test_deployment_util_fenceposts(surge: Any, unavailable: Any, desired: int, expected: tuple[int, int]) -> None:
    """(surge, unavailable) as Kubernetes resolves them."""
    assert resolve_fenceposts(surge, unavailable, desired) == expected


@pytest.mark.parametrize(("d", "surge", "unavailable"), [
    pytest.param(deployment(10, 2, 1), 2, 1, id="rolling"),
    pytest.param(deployment(0, "25%", "25%"), 0, 0, id="zero-replicas-no-unavailable"),
    pytest.param(deployment(3, 0, 5), 0, 3, id="unavailable-capped-at-replicas"),
    pytest.param(deployment(10, kind="Recreate"), 0, 0, id="recreate"),
])
def test_deployment_util_max_surge_and_unavailable(d: Obj, surge: int, unavailable: int) -> None:
    """MaxSurge/MaxUnavailable of a Deployment (Recreate: none; unavailable never above replicas)."""
    assert (max_surge(d), max_unavailable(d)) == (surge, unavailable)


def test_deployment_util_scaled_value_rejects_non_percent_strings() -> None:
    """A string must be a percentage."""
    with pytest.raises(ValueError):
        scaled_value("5", 10, round_up=True)


def test_deployment_util_new_rs_is_the_oldest_equal_template_ignoring_hash() -> None:
    """The new ReplicaSet's template equals the Deployment's but for the hash label; the oldest wins."""
    d = deployment()
    old, newer, newest = rs("a", 1, created=0, image="v0"), rs("b", 1, created=1), rs("c", 1, created=2)
    assert find_new_rs(d, [newest, old, newer]) is newer
    required, every = find_old_rss(d, [newest, old, newer, rs("z", 0, image="v9")])
    assert [r["metadata"]["name"] for r in required] == ["c", "a"]
    assert len(every) == 3


def test_deployment_util_semantic_equality_ignores_go_zero_values() -> None:
    """A template kubectl sent back through Go structs (null creationTimestamp, empty resources) is the same."""
    roundtripped = {"metadata": {"labels": {"app": "web"}, "creationTimestamp": None},
                    "spec": {"containers": [{"name": "c", "image": "v1", "resources": {}}]}}
    assert find_new_rs(deployment(template=roundtripped), [rs("a", 1)]) is not None


def test_deployment_util_revision_annotations_of_a_new_and_a_reused_rs() -> None:
    """A new RS gets revision max+1 and replica annotations; a reused one keeps its old number in the history."""
    d = deployment(10, 2, 1, annotations={"kubernetes.io/change-cause": "v2", REVISION_ANNOTATION: "1"})
    fresh = rs("n", 0)
    assert set_new_rs_annotations(d, fresh, 3, exists=False)
    notes = fresh["metadata"]["annotations"]
    assert notes == {"kubernetes.io/change-cause": "v2", REVISION_ANNOTATION: "3",
                     DESIRED_REPLICAS_ANNOTATION: "10", MAX_REPLICAS_ANNOTATION: "12"}
    reused = rs("o", 0, revision=1, annotations={REVISION_HISTORY_ANNOTATION: "0"})
    assert set_new_rs_annotations(d, reused, 4, exists=True)
    assert reused["metadata"]["annotations"][REVISION_ANNOTATION] == "4"
    assert reused["metadata"]["annotations"][REVISION_HISTORY_ANNOTATION] == "0,1"
    assert not set_new_rs_annotations(d, reused, 4, exists=True)  # nothing left to change
    assert max_revision([rs("x", 0, revision=7), rs("y", 0, annotations={REVISION_ANNOTATION: "bad"})]) == 7


def test_deployment_util_orders() -> None:
    """Scale-up order: larger then newer; scale-down order: larger then older; clean-up: lowest revision."""
    a, b, c = rs("a", 3, created=0, revision=3), rs("b", 3, created=1, revision=1), rs("c", 5, created=2, revision=2)
    assert [r["metadata"]["name"] for r in by_size_newer([a, b, c])] == ["c", "b", "a"]
    assert [r["metadata"]["name"] for r in by_size_older([a, b, c])] == ["c", "a", "b"]
    assert [r["metadata"]["name"] for r in by_revision([a, b, c])] == ["b", "c", "a"]


def test_deployment_util_active_or_latest() -> None:
    """One active RS: it; none: the newest; several: None (proportional scaling)."""
    new, old = rs("new", 0, created=5), rs("old", 4, created=1)
    assert find_active_or_latest(new, [old]) is old
    assert find_active_or_latest(rs("n2", 0, created=9), [rs("o2", 0, created=1)])["metadata"]["name"] == "n2"
    assert find_active_or_latest(rs("n3", 1), [rs("o3", 1)]) is None


def test_deployment_util_saturation() -> None:
    """Saturated: the new RS has all replicas, sized for this count, all available."""
    d = deployment(5)
    assert is_saturated(d, rs("n", 5, available=5, annotations={DESIRED_REPLICAS_ANNOTATION: "5"}))
    assert not is_saturated(d, rs("n", 5, available=4, annotations={DESIRED_REPLICAS_ANNOTATION: "5"}))
    assert not is_saturated(d, rs("n", 5, available=5))


@pytest.mark.parametrize(("replicas", "sizes", "expected"), [
    # Kubernetes' TestScale cases: a scaling event while two ReplicaSets are active.
    pytest.param(20, {"new": 5, "old": 5}, {"new": 10, "old": 10}, id="double"),
    pytest.param(5, {"new": 5, "old": 5}, {"new": 3, "old": 2}, id="halve-newer-keeps-more"),
    pytest.param(12, {"new": 6, "old": 4}, {"new": 7, "old": 5}, id="grow-by-two"),
    pytest.param(0, {"new": 6, "old": 4}, {"new": 0, "old": 0}, id="to-zero"),
])
def test_deployment_util_proportional_scaling(replicas: int, sizes: dict[str, int], expected: dict[str, int]) -> None:
    """Scaling with several active ReplicaSets keeps their proportions (maxSurge 0 here)."""
    total = sum(sizes.values())
    new = rs("new", sizes["new"], created=2, annotations={MAX_REPLICAS_ANNOTATION: str(total)})
    old = rs("old", sizes["old"], created=1, annotations={MAX_REPLICAS_ANNOTATION: str(total)})
    d = deployment(replicas, 0, 1)
    result = {r["metadata"]["name"]: size for r, size in proportional_sizes(d, new, [old])}
    assert result == expected
    assert sum(result.values()) == replicas
