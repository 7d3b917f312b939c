"""The ReplicaSet controller against fake informers and a recording client: expectations, slow start,
deletion order, adoption and release, status."""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from minik8s.api import errors
from minik8s.api.informer import object_key
from minik8s.api.timefmt import format_time
from minik8s.controllers.replicaset import ReplicaSetController, pod_from_template
from minik8s.controllers.replicaset_status import calculate_status
from tests.unit.test_reconcile_workqueue import FakeClock

Obj = dict[str, Any]
NOW = 2_000_000_000.0


class FakeInformer:
    """An informer cache whose events the test delivers by hand (so it can lag the client's writes)."""

    def __init__(self) -> None:
        self.objects: dict[str, Obj] = {}
        self.handlers: list[dict[str, Callable[..., None] | None]] = []

    def add_handler(self, on_add: Any = None, on_update: Any = None, on_delete: Any = None) -> None:
        self.handlers.append({"add": on_add, "update": on_update, "delete": on_delete})

    def get(self, key: str) -> Obj | None:
        return self.objects.get(key)

    def list(self) -> list[Obj]:
        return list(self.objects.values())

    def put(self, obj: Obj) -> None:
        old = self.objects.get(object_key(obj))
        self.objects[object_key(obj)] = obj
        for h in self.handlers:
            if old is None and h["add"]:
                h["add"](obj)
            elif old is not None and h["update"]:
                h["update"](old, obj)

    def remove(self, obj: Obj) -> None:
        self.objects.pop(object_key(obj), None)
        for h in self.handlers:
            if h["delete"]:
                h["delete"](obj)


class FakeClient:
    """Records writes; created pods get names and uids but reach the cache only when the test says."""

    def __init__(self) -> None:
        self.created: list[Obj] = []
        self.deleted: list[str] = []
        self.statuses: list[Obj] = []
        self.patches: list[tuple[str, Any]] = []
        self.events: list[str] = []
        self.refuse_creates = False
        self._names = itertools.count()
        self.rv = itertools.count(100)

    def create(self, obj: Obj, *, namespace: str | None = None) -> Obj:
        if obj["kind"] == "Event":
            self.events.append(obj["reason"])
            return obj
        if self.refuse_creates:
            raise errors.ForbiddenError("exceeded quota")
        n = next(self._names)
        pod = copy.deepcopy(obj)
        pod["metadata"].update(name=f"{obj['metadata']['generateName']}{n}", uid=f"pod-uid-{n}",
                               resourceVersion=str(next(self.rv)), creationTimestamp=format_time(NOW))
        pod["status"] = {"phase": "Pending"}
        self.created.append(pod)
        return pod

    def delete(self, resource: Any, name: str, *, namespace: str | None = None, **_: Any) -> Obj:
        self.deleted.append(name)
        return {}

    def update_status(self, obj: Obj) -> Obj:
        self.statuses.append(copy.deepcopy(obj["status"]))
        return obj

    def patch(self, resource: Any, name: str, patch: Any, **kw: Any) -> Obj:
        self.patches.append((name, patch))
        return {}

    def get(self, resource: Any, name: str, *, namespace: str | None = None) -> Obj:
        return {"metadata": {"name": name, "uid": "rs-uid"}}


class Harness(ReplicaSetController):
    """The controller with fake informers; events recorded synchronously."""

    def __init__(self) -> None:
        self.fake = FakeClient()
        self.rs_cache, self.pod_cache = FakeInformer(), FakeInformer()
        self.enqueued: list[str] = []
        super().__init__(self.fake, clock=FakeClock(), wall_clock=lambda: NOW)  # type: ignore[arg-type]
        self.setup()

    def watch(self, resource: Any, **kw: Any) -> Any:  # type: ignore[override]
        return self.rs_cache if resource.plural == "replicasets" else self.pod_cache

    def enqueue(self, key: str, *, after: float = 0.0) -> None:
        self.enqueued.append(key)

    def deliver_created(self) -> None:
        """The informer catches up with every pod created so far."""
        for pod in self.fake.created:
            if object_key(pod) not in self.pod_cache.objects:
                self.pod_cache.put(copy.deepcopy(pod))


@pytest.fixture
def harness() -> Iterator[Harness]:
    h = Harness()
    yield h
    h._events.stop(timeout=2)


def replicaset(replicas: int, *, labels: dict[str, str] | None = None) -> Obj:
    return {"apiVersion": "apps/v1", "kind": "ReplicaSet",
            "metadata": {"name": "web", "namespace": "default", "uid": "rs-uid", "generation": 1,
                         "resourceVersion": "1"},
            "spec": {"replicas": replicas, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": labels or {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": "i"}]}}},
            "status": {}}


def running(pod: Obj, *, node: str, ready_ago: float = 100.0) -> Obj:
    out = copy.deepcopy(pod)
    out["metadata"]["resourceVersion"] = str(int(out["metadata"]["resourceVersion"]) + 1000)
    out["spec"]["nodeName"] = node
    out["status"] = {"phase": "Running", "conditions": [
        {"type": "Ready", "status": "True", "lastTransitionTime": format_time(NOW - ready_ago)}]}
    return out


def test_replicaset_creates_missing_pods_once_despite_a_lagging_cache(harness: Harness) -> None:
    """3 wanted: 3 created; a second sync before the informer saw them creates nothing more."""
    harness.rs_cache.put(replicaset(3))
    harness.reconcile("default/web")
    assert len(harness.fake.created) == 3
    harness.reconcile("default/web")
    assert len(harness.fake.created) == 3
    harness.deliver_created()
    harness.reconcile("default/web")
    assert len(harness.fake.created) == 3
    assert harness.fake.statuses[-1]["replicas"] == 3
    pod = harness.fake.created[0]
    assert pod["metadata"]["ownerReferences"][0]["uid"] == "rs-uid"
    assert pod["metadata"]["generateName"] == "web-"


def test_replicaset_scale_down_deletes_by_rank_and_waits_for_the_deletions(harness: Harness) -> None:
    """Down from 3 to 1: the two pods sharing a node go first; nothing more until their deletion is seen."""
    harness.rs_cache.put(replicaset(3))
    harness.reconcile("default/web")
    harness.deliver_created()
    pods = harness.fake.created
    for pod, node, ago in zip(pods, ["n1", "n2", "n2"], [100.0, 100.0, 5000.0]):
        harness.pod_cache.put(running(pod, node=node, ready_ago=ago))
    harness.rs_cache.put(replicaset(1))
    harness.reconcile("default/web")
    assert sorted(harness.fake.deleted) == sorted([pods[1]["metadata"]["name"], pods[2]["metadata"]["name"]])
    harness.reconcile("default/web")
    assert len(harness.fake.deleted) == 2  # expectations: not again
    for pod in pods[1:]:
        harness.pod_cache.remove(harness.pod_cache.objects[object_key(pod)])
    harness.reconcile("default/web")
    assert len(harness.fake.deleted) == 2 and harness.fake.statuses[-1]["replicas"] == 1


def test_replicaset_failed_creates_set_replica_failure_and_slow_start(harness: Harness) -> None:
    """A refused create stops the slow start at the first call and sets ReplicaFailure (FailedCreate)."""
    harness.fake.refuse_creates = True
    harness.rs_cache.put(replicaset(50))
    with pytest.raises(errors.ForbiddenError):
        harness.reconcile("default/web")
    status = harness.fake.statuses[-1]
    assert status["conditions"][0]["type"] == "ReplicaFailure"
    assert status["conditions"][0]["reason"] == "FailedCreate"
    assert harness._expectations.satisfied("default/web")  # failed creates are not waited for


def test_replicaset_adopts_orphans_and_releases_mismatches(harness: Harness) -> None:
    """A matching orphan is adopted, an owned pod whose labels changed is released (JSON patches with preconditions)."""
    rs = replicaset(2)
    harness.rs_cache.put(rs)
    orphan = {"metadata": {"name": "orphan", "namespace": "default", "uid": "o", "resourceVersion": "5",
                           "labels": {"app": "web"}}, "spec": {}, "status": {"phase": "Running"}}
    stray = {"metadata": {"name": "stray", "namespace": "default", "uid": "s", "resourceVersion": "6",
                          "labels": {"app": "other"},
                          "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "web",
                                               "uid": "rs-uid", "controller": True}]},
             "spec": {}, "status": {"phase": "Running"}}
    harness.pod_cache.put(orphan)
    harness.pod_cache.put(stray)
    harness.reconcile("default/web")
    patched = dict(harness.fake.patches)
    assert patched["orphan"][-1]["value"][0]["uid"] == "rs-uid"
    assert patched["stray"][-1]["value"] == []
    assert {"op": "test", "path": "/metadata/resourceVersion", "value": "5"} in patched["orphan"]
    assert len(harness.fake.created) == 1  # the orphan counts towards the 2


def test_replicaset_status_counts_and_min_ready_seconds() -> None:
    """fullyLabeled needs every template label; available needs Ready for minReadySeconds."""
    rs = replicaset(3, labels={"app": "web", "tier": "x"})
    rs["spec"]["minReadySeconds"] = 30
    template_pod = pod_from_template({**rs, "metadata": {**rs["metadata"]}})
    base = {**template_pod, "metadata": {**template_pod["metadata"], "resourceVersion": "1"}, "spec": {}}
    pods = [running(base, node="n", ready_ago=60), running(base, node="n", ready_ago=10),
            {**base, "metadata": {**base["metadata"], "labels": {"app": "web"}}, "status": {"phase": "Pending"}}]
    status = calculate_status(rs, pods, None, now=NOW)
    assert {k: status[k] for k in ("replicas", "fullyLabeledReplicas", "readyReplicas", "availableReplicas")} == {
        "replicas": 3, "fullyLabeledReplicas": 2, "readyReplicas": 2, "availableReplicas": 1}
    assert status["observedGeneration"] == 1 and "conditions" not in status
