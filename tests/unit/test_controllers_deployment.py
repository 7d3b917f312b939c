"""The Deployment controller against fake informers and a recording client: the new ReplicaSet it
creates, the revision it records, the rolling steps it takes, pause and Recreate."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

import pytest

from minik8s.api import errors
from minik8s.api.informer import object_key
from minik8s.api.timefmt import format_time
from minik8s.api.workloads import (
    DESIRED_REPLICAS_ANNOTATION, MAX_REPLICAS_ANNOTATION, POD_TEMPLATE_HASH_LABEL, REVISION_ANNOTATION,
)
from minik8s.controllers.deployment import DeploymentController
from minik8s.controllers.hashing import compute_hash
from tests.unit.test_controllers_replicaset import FakeInformer
from tests.unit.test_reconcile_workqueue import FakeClock

Obj = dict[str, Any]
NOW = 2_000_000_000.0


class FakeClient:
    """Records writes and answers them with the object as the server would store it."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, Any]] = []
        self.rv = 100

    def _stored(self, obj: Obj) -> Obj:
        self.rv += 1
        out = copy.deepcopy(obj)
        out["metadata"]["resourceVersion"] = str(self.rv)
        return out

    def create(self, obj: Obj, *, namespace: str | None = None) -> Obj:
        if obj["kind"] != "Event":
            self.calls.append(("create", copy.deepcopy(obj)))
        out = self._stored(obj)
        out["metadata"].setdefault("uid", f"uid-{out['metadata'].get('name')}")
        out["metadata"].setdefault("creationTimestamp", format_time(NOW))
        return out

    def replace(self, obj: Obj) -> Obj:
        self.calls.append(("replace", copy.deepcopy(obj)))
        return self._stored(obj)

    def update_status(self, obj: Obj) -> Obj:
        self.calls.append(("status", copy.deepcopy(obj["status"])))
        return self._stored(obj)

    def patch(self, resource: Any, name: str, patch: Any, **_: Any) -> Obj:
        self.calls.append(("patch", patch))
        return {"metadata": {"resourceVersion": str(self.rv)}}

    def delete(self, resource: Any, name: str, **_: Any) -> Obj:
        self.calls.append(("delete", name))
        return {}

    def kinds(self) -> list[str]:
        return [kind for kind, _ in self.calls]


class Harness(DeploymentController):
    def __init__(self) -> None:
        self.fake = FakeClient()
        self.caches = {"deployments": FakeInformer(), "replicasets": FakeInformer(), "pods": FakeInformer()}
        super().__init__(self.fake, clock=FakeClock(), wall_clock=lambda: NOW)  # type: ignore[arg-type]
        self.setup()

    def watch(self, resource: Any, **kw: Any) -> Any:  # type: ignore[override]
        return self.caches[resource.plural]

    def enqueue(self, key: str, *, after: float = 0.0) -> None:
        pass


@pytest.fixture
def harness() -> Iterator[Harness]:
    h = Harness()
    yield h
    h._events.stop(timeout=2)


def deployment(replicas: int = 10, image: str = "v1", *, kind: str = "RollingUpdate", paused: bool = False) -> Obj:
    strategy: Obj = {"type": kind}
    if kind == "RollingUpdate":
        strategy["rollingUpdate"] = {"maxSurge": 2, "maxUnavailable": 1}
    return {"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "web", "namespace": "default", "uid": "d-uid", "generation": 1,
                         "resourceVersion": "1"},
            "spec": {"replicas": replicas, "paused": paused, "strategy": strategy, "progressDeadlineSeconds": 600,
                     "revisionHistoryLimit": 10, "selector": {"matchLabels": {"app": "web"}},
                     "template": {"metadata": {"labels": {"app": "web"}},
                                  "spec": {"containers": [{"name": "c", "image": image}]}}},
            "status": {}}


def stored_rs(created: Obj, *, available: int) -> Obj:
    """A ReplicaSet as the cache shows it once created and its pods run."""
    rs = copy.deepcopy(created)
    replicas = rs["spec"]["replicas"]
    rs["metadata"].update(uid=f"uid-{rs['metadata']['name']}", creationTimestamp=format_time(NOW - 100),
                          resourceVersion="50", generation=1)
    rs["status"] = {"replicas": replicas, "readyReplicas": available, "availableReplicas": available,
                    "observedGeneration": 1}
    return rs


def test_deployment_creates_its_first_replica_set(harness: Harness) -> None:
    """Name web-<hash>, hash in labels/selector/template, owner reference, revision 1, Progressing NewReplicaSetCreated."""
    harness.caches["deployments"].put(deployment())
    harness.reconcile("default/web")
    kind, rs = harness.fake.calls[0]
    pod_hash = compute_hash(deployment()["spec"]["template"])
    assert kind == "create" and rs["metadata"]["name"] == f"web-{pod_hash}"
    assert rs["spec"]["selector"]["matchLabels"] == {"app": "web", POD_TEMPLATE_HASH_LABEL: pod_hash}
    assert rs["spec"]["template"]["metadata"]["labels"][POD_TEMPLATE_HASH_LABEL] == pod_hash
    assert rs["metadata"]["ownerReferences"][0]["uid"] == "d-uid"
    assert rs["spec"]["replicas"] == 10
    assert rs["metadata"]["annotations"] == {REVISION_ANNOTATION: "1", DESIRED_REPLICAS_ANNOTATION: "10",
                                             MAX_REPLICAS_ANNOTATION: "12"}
    assert ("patch", {"metadata": {"annotations": {REVISION_ANNOTATION: "1"}}}) in harness.fake.calls
    statuses = [s for k, s in harness.fake.calls if k == "status"]
    assert any(c["reason"] == "NewReplicaSetCreated" for s in statuses for c in s.get("conditions", []))


def test_deployment_rolls_by_surge_then_unavailability(harness: Harness) -> None:
    """A new template: the new RS starts at maxSurge (2); once those are available the old RS drops by 3."""
    harness.caches["deployments"].put(deployment())
    harness.reconcile("default/web")
    old = stored_rs(harness.fake.calls[0][1], available=10)
    harness.caches["replicasets"].put(old)
    harness.caches["deployments"].put({**deployment(image="v2"), "metadata": {**deployment()["metadata"],
                                                                              "generation": 2}})
    harness.fake.calls.clear()
    harness.reconcile("default/web")
    new = next(obj for kind, obj in harness.fake.calls if kind == "create")
    assert new["spec"]["replicas"] == 2 and new["metadata"]["annotations"][REVISION_ANNOTATION] == "2"
    harness.caches["replicasets"].put(stored_rs(new, available=2))
    harness.fake.calls.clear()
    harness.reconcile("default/web")
    scaled = [obj for kind, obj in harness.fake.calls if kind == "replace"]
    assert [(rs["metadata"]["name"], rs["spec"]["replicas"]) for rs in scaled] == [(old["metadata"]["name"], 7)]


def test_deployment_paused_does_not_roll(harness: Harness) -> None:
    """Paused with a new template: no new ReplicaSet, Progressing DeploymentPaused."""
    harness.caches["deployments"].put(deployment())
    harness.reconcile("default/web")
    harness.caches["replicasets"].put(stored_rs(harness.fake.calls[0][1], available=10))
    harness.caches["deployments"].put(deployment(image="v2", paused=True))
    harness.fake.calls.clear()
    harness.reconcile("default/web")
    assert "create" not in harness.fake.kinds()
    statuses = [s for k, s in harness.fake.calls if k == "status"]
    assert statuses[0]["conditions"][-1]["reason"] == "DeploymentPaused"


def test_deployment_recreate_scales_old_to_zero_first(harness: Harness) -> None:
    """Recreate: the old RS goes to 0 and no new RS exists until its pods are gone."""
    harness.caches["deployments"].put(deployment(kind="Recreate"))
    harness.reconcile("default/web")
    old = stored_rs(harness.fake.calls[0][1], available=10)
    harness.caches["replicasets"].put(old)
    harness.caches["deployments"].put(deployment(image="v2", kind="Recreate"))
    harness.fake.calls.clear()
    harness.reconcile("default/web")
    assert [(k, o["spec"]["replicas"]) for k, o in harness.fake.calls if k in ("replace", "create")] == \
        [("replace", 0)]
    emptied = {**old, "spec": {**old["spec"], "replicas": 0}, "status": {**old["status"], "replicas": 0,
                                                                           "availableReplicas": 0}}
    harness.caches["replicasets"].put(emptied)
    harness.fake.calls.clear()
    harness.reconcile("default/web")
    created = [o for k, o in harness.fake.calls if k == "create"]
    assert len(created) == 1 and created[0]["spec"]["replicas"] == 10
    assert object_key(created[0]) != object_key(old)


def test_deployment_hash_collision_bumps_collision_count(harness: Harness) -> None:
    """The hashed name taken by a ReplicaSet with another template: collisionCount + 1, and another name next."""
    taken = f"web-{compute_hash(deployment()['spec']['template'])}"
    foreign = {"metadata": {"name": taken, "namespace": "default", "uid": "other"},
               "spec": {"template": {"metadata": {"labels": {"app": "web"}},
                                     "spec": {"containers": [{"name": "c", "image": "other"}]}}}}

    def create(obj: Obj, *, namespace: str | None = None) -> Obj:
        if obj["kind"] == "ReplicaSet" and obj["metadata"]["name"] == taken:
            raise errors.AlreadyExistsError(f'replicasets.apps "{taken}" already exists')
        return FakeClient.create(harness.fake, obj, namespace=namespace)

    harness.fake.create = create  # type: ignore[method-assign]
    harness.fake.get = lambda *a, **kw: foreign  # type: ignore[attr-defined]
    harness.caches["deployments"].put(deployment())
    with pytest.raises(errors.ConflictError):
        harness.reconcile("default/web")
    statuses = [s for k, s in harness.fake.calls if k == "status"]
    assert statuses[-1]["collisionCount"] == 1
    bumped = deployment()
    bumped["status"] = {"collisionCount": 1}
    harness.caches["deployments"].put(bumped)
    harness.reconcile("default/web")
    created = [o for k, o in harness.fake.calls if k == "create"]
    assert created[-1]["metadata"]["name"] == f"web-{compute_hash(deployment()['spec']['template'], 1)}"


def test_deployment_undo_reuses_the_old_replica_set_once(harness: Harness) -> None:
    """Back to revision 1's template: that ReplicaSet becomes revision 3 (history "1"), written once per sync."""
    harness.caches["deployments"].put(deployment())
    harness.reconcile("default/web")
    v1 = stored_rs(harness.fake.calls[0][1], available=10)
    harness.caches["replicasets"].put(v1)
    harness.caches["deployments"].put(deployment(image="v2"))
    harness.reconcile("default/web")
    v2 = next(o for k, o in reversed(harness.fake.calls) if k == "create")
    harness.caches["replicasets"].put({**stored_rs(v2, available=10),
                                       "metadata": {**stored_rs(v2, available=10)["metadata"],
                                                    "creationTimestamp": format_time(NOW - 50)}})
    back = deployment()
    back["metadata"]["annotations"] = {REVISION_ANNOTATION: "2"}
    harness.caches["deployments"].put(back)
    harness.fake.calls.clear()
    harness.reconcile("default/web")
    rewrites = [o for k, o in harness.fake.calls if k == "replace" and o["metadata"]["name"] == v1["metadata"]["name"]
                and o["metadata"]["annotations"].get(REVISION_ANNOTATION) == "3"]
    assert len(rewrites) == 1
    assert rewrites[0]["metadata"]["annotations"]["deployment.kubernetes.io/revision-history"] == "1"
