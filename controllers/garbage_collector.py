"""The garbage collector: ownerReference cascades, carried out by a controller, not by DELETE.

The API server only marks an owner (`orphan` / `foregroundDeletion` finalizer, `deletionTimestamp`)
or removes it (Background); this controller finishes the work, level-triggered, as Kubernetes'
garbage collector does (`pkg/controller/garbagecollector`):

- a dependent all of whose owners are gone is deleted, Background (or as its own finalizers ask),
  so a pod gets its grace period and SIGTERM from its node;
- an owner being deleted with `foregroundDeletion` has its dependents deleted (Foreground for those
  that own objects themselves) and loses the finalizer once no dependent with
  `blockOwnerDeletion: true` is left; the API server then removes it;
- an owner being deleted with `orphan` first has every reference to it removed from its
  dependents (each dependent's reconcile removes its own), then loses the finalizer.

It watches every served kind and keeps an `OwnerIndex` (objects by uid, dependents by owner uid).
An owner missing from the caches is looked up with a live GET before anything is deleted (a uid
found absent stays absent, so that verdict is remembered); owners of kinds minik8s does not serve
are left alone. Writes carry preconditions (the uid on deletes, the resourceVersion on updates)
and NotFound/Conflict are expected. Each leadership term starts from fresh caches, so whatever a
dead leader left half done is found again and finished. The decisions are `gc_policy`'s.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from minik8s.api import errors, kinds
from minik8s.api.client import ApiClient
from minik8s.api.informer import Informer
from minik8s.api.kinds import STORED, ResourceType
from minik8s.api.ownership import is_deleting, owner_references, without_finalizer, without_owner
from minik8s.api.reconcile import Controller, Result
from minik8s.controllers import gc_policy
from minik8s.controllers.gc_policy import Decision, OwnerState, Verb
from minik8s.controllers.owner_index import Entry, OwnerIndex, queue_key, split_key

Obj = dict[str, Any]

_REWRITE_ATTEMPTS = 3
# The collector watches every kind, so every write reaches it; no cascade needs a quicker start
# than this, and one poll per kind a tenth of a second is what it then costs the API server.
_BATCH_WINDOW = 0.1
_LETTING_GO = (OwnerState.ORPHANING, OwnerState.WAITING)  # owner states its dependents must act on


class AbsentOwners:
    """Uids verified absent by a live read (Kubernetes' `absentOwnerCache`): a uid never comes back,
    so the verdict holds; the oldest are forgotten beyond `size`. Thread-safe."""

    def __init__(self, size: int = 10_000) -> None:
        self._size = size
        self._uids: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def add(self, uid: str) -> None:
        """Remember `uid` as absent."""
        with self._lock:
            self._uids[uid] = None
            self._uids.move_to_end(uid)
            while len(self._uids) > self._size:
                self._uids.popitem(last=False)

    def __contains__(self, uid: object) -> bool:
        with self._lock:
            return uid in self._uids


def collected_resources() -> list[ResourceType]:
    """The served kinds the collector watches: every one that can be listed and watched."""
    return [rt for rt in STORED if {"list", "watch"} <= set(rt.verbs)]


class GarbageCollector(Controller):
    """Deletes dependents whose owners are gone; carries out Foreground and Orphan deletions."""

    def __init__(self, client: ApiClient, *, workers: int = 16, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(client, name="garbage-collector", workers=workers, clock=clock)
        self._resources = {rt.group_plural: rt for rt in collected_resources()}
        self._caches: dict[str, Informer] = {}
        self._index = OwnerIndex()
        self._absent = AbsentOwners()

    def setup(self) -> None:
        self._index, self._absent, self._caches = OwnerIndex(), AbsentOwners(), {}
        add = self.enqueuer()
        for resource, rt in self._resources.items():
            informer = self.watch(rt, key=_enqueued_by_the_index_handler, batch_window=_BATCH_WINDOW)
            informer.add_handler(*self._handlers(rt, self._index, add))
            self._caches[resource] = informer

    @staticmethod
    def _handlers(rt: ResourceType, index: OwnerIndex, add: Callable[[str], None]) -> tuple[
            Callable[[Obj], None], Callable[[Obj, Obj], None], Callable[[Obj], None]]:
        """Informer handlers that keep `index` current, then queue the object and those its change
        concerns: owners it stopped referencing; its dependents when it starts orphaning them or
        waiting for them; on deletion its dependents and its owners."""

        def queue_owner(uid: str) -> None:
            if (owner := index.get(uid)) is not None:
                add(owner.key)

        def queue_dependents_if_letting_go(obj: Obj, old: Obj | None) -> None:
            state = gc_policy.state_of(obj)
            if state in _LETTING_GO and (old is None or gc_policy.state_of(old) is not state):
                for dependent in index.dependents(obj["metadata"].get("uid") or ""):
                    add(dependent.key)

        def queue_if_concerned(obj: Obj) -> None:
            # reconcile acts only on objects that have owners or are being deleted: most objects
            # are neither, and queueing them would cost a worker wake-up per write for nothing
            if owner_references(obj) or is_deleting(obj):
                add(queue_key(rt, obj))

        def on_add(obj: Obj) -> None:
            index.upsert(rt, obj)
            queue_if_concerned(obj)
            queue_dependents_if_letting_go(obj, None)

        def on_update(old: Obj, new: Obj) -> None:
            for uid in index.upsert(rt, new):
                queue_owner(uid)
            queue_if_concerned(new)
            queue_dependents_if_letting_go(new, old)

        def on_delete(obj: Obj) -> None:
            index.remove(rt, obj)
            for dependent in index.dependents((obj.get("metadata") or {}).get("uid") or ""):
                add(dependent.key)
            for ref in owner_references(obj):
                queue_owner(ref["uid"])

        return on_add, on_update, on_delete

    # ---- reconcile ------------------------------------------------------------------------------

    def reconcile(self, key: str) -> Result | None:
        resource, cache_key = split_key(key)
        cache = self._caches.get(resource)
        obj = cache.get(cache_key) if cache is not None else None
        if obj is None:
            return None  # gone: its dependents were queued when it went
        rt = self._resources[resource]
        if is_deleting(obj):
            self._finish_owner(rt, obj)
            self._let_go_of_orphaning_owners(rt, obj)
            return None
        refs = owner_references(obj)
        if not refs:
            return None
        states = {ref["uid"]: self._owner_state(obj, ref) for ref in refs}
        decision = gc_policy.decide(obj, states, has_dependents=bool(self._dependents_of(obj)))
        self._carry_out(rt, obj, decision)
        return None

    def _dependents_of(self, owner: Obj) -> list[Entry]:
        uid = (owner.get("metadata") or {}).get("uid") or ""
        return [e for e in self._index.dependents(uid) if gc_policy.references_owner(e.obj, owner)]

    def _owner_state(self, dependent: Obj, ref: Obj) -> OwnerState:
        """What is known of the owner `ref` names: from the cache when it is there and not waiting,
        else from a live GET (a waiting owner is confirmed live before its dependents go)."""
        rt = kinds.by_kind(ref["apiVersion"], ref["kind"])
        if rt is None:
            return OwnerState.UNKNOWN_KIND
        uid = ref["uid"]
        if uid in self._absent:
            return OwnerState.ABSENT
        namespace = (dependent.get("metadata") or {}).get("namespace")
        if rt.namespaced and not namespace:
            return OwnerState.ABSENT  # a cluster-scoped object cannot have a namespaced owner
        cached = self._index.get(uid)
        if cached is not None and cached.rt == rt and gc_policy.references_owner(dependent, cached.obj):
            state = gc_policy.state_of(cached.obj)
            if state is not OwnerState.WAITING:
                return state  # nothing is deleted on these grounds
        try:
            live = self.client.get(rt, ref["name"], namespace=namespace if rt.namespaced else None)
        except errors.NotFoundError:
            live = None
        if live is None or (live.get("metadata") or {}).get("uid") != uid:
            self._absent.add(uid)
            return OwnerState.ABSENT
        return gc_policy.state_of(live)

    def _carry_out(self, rt: ResourceType, obj: Obj, decision: Decision) -> None:
        meta = obj["metadata"]
        if decision.verb is Verb.DELETE:
            try:
                self.client.delete(rt, meta["name"], namespace=meta.get("namespace"),
                                   propagation_policy=decision.policy, uid=meta.get("uid"))
            except errors.NotFoundError:
                pass
        elif decision.verb is Verb.REMOVE_REFERENCES:
            self._rewrite(rt, obj, lambda o: without_owner(o, set(decision.uids)))

    def _finish_owner(self, rt: ResourceType, owner: Obj) -> None:
        """An owner being deleted: drop `orphan` once no dependent references it any more, or
        `foregroundDeletion` once no dependent blocks its deletion. Its dependents do the work
        (queued when it started orphaning or waiting); it is queued again as they change or go."""
        finalizer = gc_policy.finalizer_to_drop(owner, [d.obj for d in self._dependents_of(owner)])
        if finalizer is not None:
            self._rewrite(rt, owner, lambda o: without_finalizer(o, finalizer))

    def _let_go_of_orphaning_owners(self, rt: ResourceType, obj: Obj) -> None:
        """An object being deleted still drops its references to owners that orphan it (as the
        cache shows them: removing a reference deletes nothing)."""
        uids = set()
        for ref in owner_references(obj):
            cached = self._index.get(ref["uid"])
            if cached is not None and gc_policy.state_of(cached.obj) is OwnerState.ORPHANING:
                uids.add(ref["uid"])
        if uids:
            self._rewrite(rt, obj, lambda o: without_owner(o, uids))

    def _rewrite(self, rt: ResourceType, obj: Obj, change: Callable[[Obj], Obj]) -> None:
        """PUT `change(obj)` with `obj`'s resourceVersion as precondition; on a conflict read it again
        and redo (a few times, then the key is retried). Done when the object is gone or replaced
        by another with the same name, or when the change changes nothing."""
        meta = obj["metadata"]
        current = obj
        for _ in range(_REWRITE_ATTEMPTS):
            wanted = change(current)
            if wanted == current:
                return
            try:
                self.client.replace(wanted)
                return
            except errors.NotFoundError:
                return
            except errors.ConflictError:
                try:
                    current = self.client.get(rt, meta["name"], namespace=meta.get("namespace"))
                except errors.NotFoundError:
                    return
                if current["metadata"].get("uid") != meta.get("uid"):
                    return
        raise errors.ConflictError(f"{rt.group_plural} {meta.get('namespace') or ''}/{meta['name']}: "
                                   f"still changing after {_REWRITE_ATTEMPTS} attempts")


def _enqueued_by_the_index_handler(_obj: Obj) -> None:
    """`watch()`'s own handler queues nothing: the collector's handlers queue after indexing."""
    return None
