"""Cascading deletion and namespace termination, carried out by controllers, on three real masters.

The API server only marks (finalizers, deletionTimestamp); the garbage collector and namespace
controller, running in whichever master holds the controller-manager Lease, finish the work. Each
cascade has 500 dependents (ConfigMaps owned by a ConfigMap) and is checked through the API (on
other masters than kubectl's) and with the real kubectl's `delete --cascade=...`. The last test
kills the Lease holder with SIGKILL in the middle of a cascade: the next holder finishes it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from minik8s.api import errors
from minik8s.api.client import ApiClient

from .cluster import TOKEN, Cluster, running, wait_for
from .kubectl_support import Kubectl, finish_module, ph

DEPENDENTS = 500
LEASE = ("kube-system", "minik8s-controller-manager")
FAST_LEASE = ["--leader-elect-lease-duration", "4", "--leader-elect-renew-deadline", "3",
              "--leader-elect-retry-period", "0.5"]


@pytest.fixture(scope="module", autouse=True)
def _record_calls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    yield
    finish_module(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Three HTTPS masters with control loops and a short controller-manager Lease."""
    with running(tmp_path_factory.mktemp("gc") / "cluster", 3, tls=True, extra_args=FAST_LEASE) as c:
        yield c


@pytest.fixture(scope="module")
def api(cluster: Cluster) -> ApiClient:
    """The test's own client: masters 1 and 2 (kubectl talks to master 0)."""
    return ApiClient([cluster.masters[1].url, cluster.masters[2].url], token=TOKEN, ca_file=cluster.ca_file,
                     timeout=20)


@pytest.fixture(scope="module")
def kubectl(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    assert cluster.ca_file is not None
    return Kubectl(tmp_path_factory.mktemp("gc-kubectl"), cluster.masters[0].url, TOKEN, ca_file=Path(cluster.ca_file),
                   namespace="gc")


@pytest.fixture(scope="module", autouse=True)
def _namespace(api: ApiClient) -> None:
    api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "gc"}})


def configmap(name: str, namespace: str = "gc", *, owner: dict[str, Any] | None = None, block: bool = False,
              **meta: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, **meta}
    if owner is not None:
        metadata["ownerReferences"] = [{"apiVersion": "v1", "kind": "ConfigMap", "name": owner["metadata"]["name"],
                                        "uid": owner["metadata"]["uid"], "blockOwnerDeletion": block}]
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata, "data": {"k": "v"}}


def create_all(api: ApiClient, objects: list[dict[str, Any]]) -> None:
    """Create `objects` 16 at a time (each write waits for a Raft round)."""
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(api.create, objects))


def owner_with_dependents(api: ApiClient, prefix: str, *, block: bool = False) -> dict[str, Any]:
    owner = api.create(configmap(f"{prefix}-owner"))
    create_all(api, [configmap(f"{prefix}-{i}", owner=owner, block=block) for i in range(DEPENDENTS)])
    return owner


def dependents(api: ApiClient, prefix: str) -> list[dict[str, Any]]:
    return [o for o in api.list("configmaps", namespace="gc")["items"]
            if o["metadata"]["name"].startswith(f"{prefix}-") and o["metadata"]["name"] != f"{prefix}-owner"]


def gone(api: ApiClient, resource: str, name: str, namespace: str | None = "gc") -> bool:
    try:
        api.get(resource, name, namespace=namespace)
    except errors.NotFoundError:
        return True
    return False


def test_background_deletes_the_owner_at_once_and_the_collector_its_dependents(api: ApiClient) -> None:
    """Background: the owner is gone when DELETE returns; the collector deletes all 500 dependents."""
    owner_with_dependents(api, "bg")
    started = time.monotonic()
    api.delete("configmaps", "bg-owner", namespace="gc", propagation_policy="Background")
    assert gone(api, "configmaps", "bg-owner")
    wait_for(lambda: not dependents(api, "bg"), timeout=60, interval=0.1, what="500 dependents collected")
    print(f"\nBackground cascade of {DEPENDENTS} dependents: {time.monotonic() - started:.1f}s")


def test_kubectl_cascade_background(api: ApiClient, kubectl: Kubectl) -> None:
    """`kubectl delete --cascade=background` returns with the owner gone; its dependents follow."""
    owner_with_dependents(api, "kbg")
    out = kubectl.run("delete", "configmap", ph("kbg-owner", "NAME"), "--cascade=background").stdout
    assert out.strip() == 'configmap "kbg-owner" deleted'
    wait_for(lambda: not dependents(api, "kbg"), timeout=60, interval=0.2, what="dependents collected")


def test_kubectl_cascade_foreground_keeps_the_owner_until_blocking_dependents_are_gone(
        api: ApiClient, kubectl: Kubectl) -> None:
    """Foreground: the owner stays (deletionTimestamp, foregroundDeletion) while dependents remain;
    kubectl returns once it is gone, and by then no dependent is left."""
    owner_with_dependents(api, "fg", block=True)
    result: dict[str, Any] = {}
    deleting = threading.Thread(target=lambda: result.update(proc=kubectl.run(
        "delete", "configmap", ph("fg-owner", "NAME"), "--cascade=foreground", check=False, timeout=90)))
    deleting.start()
    marked = wait_for(lambda: (o := api.get("configmaps", "fg-owner", namespace="gc"))["metadata"].get(
        "deletionTimestamp") and o, timeout=30, interval=0.05, what="owner marked")
    assert marked["metadata"]["finalizers"] == ["foregroundDeletion"]
    wait_for(lambda: gone(api, "configmaps", "fg-owner"), timeout=90, interval=0.05, what="owner gone")
    assert dependents(api, "fg") == []  # listed after the owner was seen gone: it outlived them all
    deleting.join(timeout=90)
    assert result["proc"].returncode == 0, result["proc"].stderr
    assert result["proc"].stdout.strip() == 'configmap "fg-owner" deleted'


def test_kubectl_cascade_orphan_keeps_the_dependents_without_references(api: ApiClient, kubectl: Kubectl) -> None:
    """Orphan: kubectl returns once the owner is gone; all 500 dependents stay, none references it."""
    owner_with_dependents(api, "or", block=True)
    kubectl.run("delete", "configmap", ph("or-owner", "NAME"), "--cascade=orphan", timeout=90)
    assert gone(api, "configmaps", "or-owner")
    left = dependents(api, "or")
    assert len(left) == DEPENDENTS
    assert [o["metadata"]["name"] for o in left if o["metadata"].get("ownerReferences")] == []


def test_namespace_deletion_removes_its_content_then_the_namespace(api: ApiClient, kubectl: Kubectl) -> None:
    """`kubectl delete ns` returns when the namespace is gone: its 200 objects of 5 kinds are deleted,
    creates are Forbidden meanwhile, and the conditions show what remains (an object held by a finalizer)."""
    api.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "doomed"}})
    objects: list[dict[str, Any]] = []
    for i in range(40):
        objects += [
            configmap(f"c{i}", "doomed"),
            {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": f"s{i}", "namespace": "doomed"},
             "stringData": {"k": "v"}},
            {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"p{i}", "namespace": "doomed"},
             "spec": {"containers": [{"name": "c", "image": "busybox"}]}},
            {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
             "metadata": {"name": f"l{i}", "namespace": "doomed"}, "spec": {"holderIdentity": "x"}},
            {"apiVersion": "v1", "kind": "Service", "metadata": {"name": f"svc{i}", "namespace": "doomed"},
             "spec": {"ports": [{"port": 80}], "clusterIP": "None"}},
        ]
    create_all(api, objects)
    api.create(configmap("held", "doomed", finalizers=["example.com/hold"]))

    result: dict[str, Any] = {}
    deleting = threading.Thread(target=lambda: result.update(proc=kubectl.run(
        "delete", "namespace", ph("doomed", "NAME"), check=False, timeout=120)))
    deleting.start()
    try:
        check_terminating(api, kubectl)
        assert deleting.is_alive()  # kubectl still waits for the namespace
    finally:  # let the namespace go, so kubectl returns whatever happened
        held = api.get("configmaps", "held", namespace="doomed")
        held["metadata"]["finalizers"] = []
        api.replace(held)
        deleting.join(timeout=60)
    assert result["proc"].returncode == 0, result["proc"].stderr
    assert result["proc"].stdout.strip() == 'namespace "doomed" deleted'
    assert gone(api, "namespaces", "doomed", None)


def check_terminating(api: ApiClient, kubectl: Kubectl) -> None:
    """While `held` keeps namespace `doomed` from going: the rest of its content is gone, the
    conditions say what remains, and creates in it are Forbidden."""

    def remaining_condition() -> dict[str, Any] | None:
        ns = api.get("namespaces", "doomed")
        conditions = {c["type"]: c for c in (ns.get("status") or {}).get("conditions") or []}
        found = conditions.get("NamespaceFinalizersRemaining")
        return conditions if found and found["status"] == "True" else None

    conditions = wait_for(remaining_condition, timeout=60, interval=0.2, what="conditions while content remains")
    assert conditions["NamespaceContentRemaining"] | {"lastTransitionTime": ""} == {
        "type": "NamespaceContentRemaining", "status": "True", "lastTransitionTime": "",
        "reason": "SomeResourcesRemain", "message": "Some resources are remaining: configmaps. has 1 resource instances"}
    assert conditions["NamespaceFinalizersRemaining"]["message"] == \
        "Some finalizers are remaining: example.com/hold in 1 resource instances"
    assert conditions["NamespaceDeletionContentFailure"]["status"] == "False"
    namespace = api.get("namespaces", "doomed")
    assert namespace["status"]["phase"] == "Terminating" and namespace["spec"]["finalizers"] == ["kubernetes"]
    assert [o["metadata"]["name"] for o in api.list("configmaps", namespace="doomed")["items"]] == ["held"]
    for kind in ("secrets", "pods", "leases.coordination.k8s.io", "services"):
        assert api.list(kind, namespace="doomed")["items"] == []

    forbidden = ('configmaps "late" is forbidden: unable to create new content in namespace doomed because it is '
                 'being terminated')
    with pytest.raises(errors.ForbiddenError) as refused:
        api.create(configmap("late", "doomed"))
    assert refused.value.message == forbidden
    manifest = kubectl.workdir / "late.yaml"
    manifest.write_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: late, namespace: doomed}\n")
    err = kubectl.fails("create", "-f", ph(str(manifest), "FILE"))
    assert err.strip() == f'Error from server (Forbidden): error when creating "{manifest}": {forbidden}'


def lease_holder(cluster: Cluster, api: ApiClient) -> int:
    holder = api.get("leases.coordination.k8s.io", LEASE[1], namespace=LEASE[0])["spec"]["holderIdentity"]
    return next(i for i, m in enumerate(cluster.masters) if m.name == holder)


def test_cascade_completes_after_the_lease_holder_is_killed(cluster: Cluster, api: ApiClient) -> None:
    """kill -9 of the master running the collector in the middle of a 500-dependent cascade: the
    next Lease holder finishes it, nothing is orphaned."""
    owner_with_dependents(api, "ko")
    holder = lease_holder(cluster, api)
    survivors = [m.url for i, m in enumerate(cluster.masters) if i != holder]
    client = ApiClient(survivors, token=TOKEN, ca_file=cluster.ca_file, timeout=20)
    client.delete("configmaps", "ko-owner", namespace="gc")
    left = wait_for(lambda: [n] if (n := len(dependents(client, "ko"))) < DEPENDENTS else None, timeout=30,
                    interval=0.02, what="the cascade under way")[0]
    cluster.kill(holder)
    killed = time.monotonic()
    assert left > 0, "the cascade finished before the Lease holder could be killed"
    wait_for(lambda: not dependents(client, "ko"), timeout=90, interval=0.2, what="cascade finished by the next leader")
    print(f"\nkilled the Lease holder {cluster.masters[holder].name} with {left} of {DEPENDENTS} dependents left; "
          f"the next one finished {time.monotonic() - killed:.1f}s later")
    assert lease_holder(cluster, client) != holder
