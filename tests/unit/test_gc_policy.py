"""The garbage collector's decisions (`gc_policy`), its owner index, and its reconcile against a fake client."""

from __future__ import annotations

from typing import Any

import pytest

from minik8s.api import errors
from minik8s.api.kinds import resolve
from minik8s.controllers import gc_policy
from minik8s.controllers.garbage_collector import GarbageCollector
from minik8s.controllers.gc_policy import Decision, OwnerState, Verb, decide, finalizer_to_drop
from minik8s.controllers.owner_index import OwnerIndex, queue_key, split_key

CM = resolve("configmaps")
RS = resolve("replicasets.apps")


def ref(uid: str, name: str | None = None, *, kind: str = "ConfigMap", api_version: str = "v1",
        block: bool | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"apiVersion": api_version, "kind": kind, "name": name or f"owner-{uid}", "uid": uid}
    if block is not None:
        out["blockOwnerDeletion"] = block
    return out


def obj(name: str, uid: str, *refs: dict[str, Any], namespace: str | None = "ns", **meta: Any) -> dict[str, Any]:
    metadata: dict[str, Any] = {"name": name, "uid": uid, "resourceVersion": "1", **meta}
    if namespace:
        metadata["namespace"] = namespace
    if refs:
        metadata["ownerReferences"] = list(refs)
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": metadata}


P, A, W, O, U = (OwnerState.PRESENT, OwnerState.ABSENT, OwnerState.WAITING, OwnerState.ORPHANING,
                 OwnerState.UNKNOWN_KIND)


@pytest.mark.parametrize(("states", "has_dependents", "finalizers", "expected"), [
    pytest.param({}, False, [], Decision(Verb.NOTHING), id="all-owners-present"),
    pytest.param({"a": A}, False, [], Decision(Verb.DELETE, policy="Background"), id="owner-gone-background"),
    pytest.param({"a": A, "b": A}, False, [], Decision(Verb.DELETE, policy="Background"), id="all-owners-gone"),
    pytest.param({"a": A, "b": P}, False, [], Decision(Verb.REMOVE_REFERENCES, frozenset({"a"})),
                 id="one-owner-left-drops-the-dangling-reference"),
    pytest.param({"a": A, "b": U}, False, [], Decision(Verb.REMOVE_REFERENCES, frozenset({"a"})),
                 id="unserved-owner-counts-as-present"),
    pytest.param({"a": U, "b": U}, False, [], Decision(Verb.NOTHING), id="unserved-owners-left-alone"),
    pytest.param({"a": W}, False, [], Decision(Verb.DELETE, policy="Background"), id="waiting-owner-leaf"),
    pytest.param({"a": W}, True, [], Decision(Verb.DELETE, policy="Foreground"), id="waiting-owner-cascades-on"),
    pytest.param({"a": W, "b": P}, True, [], Decision(Verb.REMOVE_REFERENCES, frozenset({"a"})),
                 id="waiting-owner-with-another-owner-left"),
    pytest.param({"a": A}, False, ["orphan"], Decision(Verb.DELETE, policy="Orphan"), id="own-orphan-finalizer"),
    pytest.param({"a": A}, False, ["foregroundDeletion"], Decision(Verb.DELETE, policy="Foreground"),
                 id="own-foreground-finalizer"),
    pytest.param({"a": O, "b": A}, False, [], Decision(Verb.REMOVE_REFERENCES, frozenset({"a"})),
                 id="orphaning-owner-let-go-first"),
])
def test_decide_dependent(states: dict[str, OwnerState], has_dependents: bool, finalizers: list[str],
                          expected: Decision) -> None:
    """A dependent goes only when no owner is left; with some left it drops the dangling references."""
    refs = [ref(uid) for uid in states] or [ref("a")]
    dependent = obj("d", "d1", *refs, **({"finalizers": finalizers} if finalizers else {}))
    assert decide(dependent, states, has_dependents=has_dependents) == expected


def test_decide_without_references_does_nothing() -> None:
    """An object nobody owns is never the collector's business."""
    assert decide(obj("d", "d1"), {}, has_dependents=True) == Decision(Verb.NOTHING)


@pytest.mark.parametrize(("finalizers", "dependents", "expected"), [
    pytest.param(["orphan"], [], "orphan", id="orphan-done"),
    pytest.param(["orphan"], [obj("d", "d1", ref("o1"))], None, id="orphan-still-referenced"),
    pytest.param(["foregroundDeletion"], [obj("d", "d1", ref("o1", block=False))], "foregroundDeletion",
                 id="foreground-only-non-blocking-left"),
    pytest.param(["foregroundDeletion"], [obj("d", "d1", ref("o1", block=True))], None, id="foreground-blocked"),
    pytest.param(["foregroundDeletion"], [], "foregroundDeletion", id="foreground-done"),
    pytest.param(["other"], [], None, id="not-the-collectors-finalizer"),
])
def test_finalizer_to_drop(finalizers: list[str], dependents: list[dict[str, Any]], expected: str | None) -> None:
    """orphan goes when nothing references the owner; foregroundDeletion when nothing blocking is left."""
    owner = obj("owner-o1", "o1", deletionTimestamp="t", finalizers=finalizers)
    assert finalizer_to_drop(owner, dependents) == expected


@pytest.mark.parametrize(("meta", "state"), [
    pytest.param({}, P, id="alive"),
    pytest.param({"deletionTimestamp": "t", "finalizers": ["foregroundDeletion"]}, W, id="foreground"),
    pytest.param({"deletionTimestamp": "t", "finalizers": ["orphan"]}, O, id="orphan"),
    pytest.param({"deletionTimestamp": "t", "finalizers": ["x"]}, P, id="other-finalizer"),
])
def test_state_of_an_existing_owner(meta: dict[str, Any], state: OwnerState) -> None:
    """Only a deleting owner with a GC finalizer changes what its dependents do."""
    assert gc_policy.state_of(obj("o", "o1", **meta)) is state


@pytest.mark.parametrize(("dependent", "resolves"), [
    pytest.param(obj("d", "d1", ref("o1", "o")), True, id="same-namespace"),
    pytest.param(obj("d", "d1", ref("o1", "other-name")), False, id="name-differs"),
    pytest.param(obj("d", "d1", ref("o1", "o"), namespace="elsewhere"), False, id="other-namespace"),
])
def test_references_owner_resolves_in_the_dependents_namespace(dependent: dict[str, Any], resolves: bool) -> None:
    """A reference resolves to an owner by uid and name, in the dependent's namespace."""
    assert gc_policy.references_owner(dependent, obj("o", "o1")) is resolves


def test_owner_index_follows_references() -> None:
    """Dependents are found by owner uid; a dropped reference is reported and unlinked; deletes unlink."""
    index = OwnerIndex()
    owner, dependent = obj("o", "o1"), obj("d", "d1", ref("o1", "o"), ref("o2"))
    index.upsert(CM, owner)
    assert index.upsert(CM, dependent) == set()
    assert [e.obj for e in index.dependents("o1")] == [dependent]
    assert index.get("o1") is not None and index.get("o1").obj is owner  # type: ignore[union-attr]
    assert index.upsert(CM, obj("d", "d1", ref("o2"))) == {"o1"}
    assert index.dependents("o1") == [] and len(index.dependents("o2")) == 1
    index.remove(CM, obj("d", "d1"))
    assert index.dependents("o2") == [] and index.get("d1") is None


def test_queue_keys_name_the_kind() -> None:
    """Keys carry the resource (with group) and the cache key, and split back."""
    key = queue_key(RS, {"metadata": {"name": "web", "namespace": "prod"}})
    assert key == "replicasets.apps/prod/web" and split_key(key) == ("replicasets.apps", "prod/web")
    assert split_key(queue_key(resolve("nodes"), {"metadata": {"name": "n1"}})) == ("nodes", "n1")


# ---- reconcile against a fake client -----------------------------------------------------------

class FakeClient:
    """Records deletes and replaces; GET answers from `objects` (name -> object)."""

    def __init__(self, objects: dict[str, dict[str, Any]]) -> None:
        self.objects = objects
        self.gets: list[str] = []
        self.deletes: list[tuple[str, str | None, str | None]] = []
        self.replaced: list[dict[str, Any]] = []

    def get(self, resource: Any, name: str, *, namespace: str | None = None) -> dict[str, Any]:
        self.gets.append(name)
        if name not in self.objects:
            raise errors.NotFoundError(f'"{name}" not found')
        return self.objects[name]

    def delete(self, resource: Any, name: str, *, namespace: str | None = None, propagation_policy: str | None = None,
               uid: str | None = None) -> dict[str, Any]:
        self.deletes.append((name, propagation_policy, uid))
        return {}

    def replace(self, body: dict[str, Any]) -> dict[str, Any]:
        self.replaced.append(body)
        return body


class FakeCache:
    def __init__(self, objects: list[dict[str, Any]]) -> None:
        self.objects = {f"{o['metadata']['namespace']}/{o['metadata']['name']}": o for o in objects}

    def get(self, key: str) -> dict[str, Any] | None:
        return self.objects.get(key)


def collector(live: dict[str, dict[str, Any]], cached: list[dict[str, Any]]) -> tuple[GarbageCollector, FakeClient]:
    """A collector whose caches (set directly, as `setup()` would fill them) hold `cached`."""
    client = FakeClient(live)
    gc = GarbageCollector(client)  # type: ignore[arg-type]
    gc._caches = {"configmaps": FakeCache(cached)}  # type: ignore[dict-item]
    for item in cached:
        gc._index.upsert(CM, item)
    return gc, client


def test_reconcile_verifies_a_missing_owner_live_before_deleting() -> None:
    """An owner absent from the caches is looked up live; only a live 404 (or another uid) deletes."""
    dependent = obj("d", "d1", ref("o1", "o"))
    gc, client = collector({"o": obj("o", "o1")}, [dependent])
    gc.reconcile("configmaps/ns/d")
    assert client.gets == ["o"] and client.deletes == []  # the cache lagged: the owner is there

    gc, client = collector({"o": obj("o", "other-uid")}, [dependent])
    gc.reconcile("configmaps/ns/d")
    assert client.deletes == [("d", "Background", "d1")]  # same name, another object: the owner is gone
    gc.reconcile("configmaps/ns/d")
    assert client.gets == ["o"]  # a uid found absent is remembered


def test_reconcile_leaves_owners_of_unserved_kinds_alone() -> None:
    """A reference to a kind minik8s does not serve is never resolved, so nothing is deleted."""
    dependent = obj("d", "d1", ref("x1", kind="Widget", api_version="example.com/v1"))
    gc, client = collector({}, [dependent])
    gc.reconcile("configmaps/ns/d")
    assert (client.gets, client.deletes, client.replaced) == ([], [], [])


def test_reconcile_drops_the_foreground_finalizer_when_no_blocking_dependent_is_left() -> None:
    """The owner's finalizer goes by a resourceVersion-guarded PUT once its blocking dependents are gone."""
    owner = obj("o", "o1", deletionTimestamp="t", finalizers=["foregroundDeletion"])
    gc, client = collector({}, [owner, obj("d", "d1", ref("o1", "o", block=False))])
    gc.reconcile("configmaps/ns/o")
    assert len(client.replaced) == 1
    assert "finalizers" not in client.replaced[0]["metadata"] and client.replaced[0]["metadata"]["resourceVersion"]


def test_reconcile_confirms_a_waiting_owner_live_and_deletes_the_dependent() -> None:
    """A dependent of a foreground-deleting owner deletes itself once the owner is confirmed live."""
    owner = obj("o", "o1", deletionTimestamp="t", finalizers=["foregroundDeletion"])
    gc, client = collector({"o": owner}, [owner, obj("d", "d1", ref("o1", "o", block=True))])
    gc.reconcile("configmaps/ns/d")
    assert client.gets == ["o"] and client.deletes == [("d", "Background", "d1")]
