"""The ReplicaSet controller: keep `spec.replicas` pods matching the selector running.

Kubernetes' `pkg/controller/replicaset/replica_set.go`, on the controller library. One sync of a
ReplicaSet `ns/name`:

1. claim the active pods of its namespace (`claims.claim`): adopt matching orphans, release owned
   pods whose labels stopped matching;
2. unless the expectations of its last sync are still unmet (`expectations`) or it is being
   deleted, create the missing pods in slow-start batches (`batches`), or delete the surplus,
   chosen in Kubernetes' order (`ranking`); at most `burst_replicas` per sync;
3. write its status through `/status` when it changed (`replicaset_status`), including the
   `ReplicaFailure` condition while creating or deleting fails, and look again when a ready pod
   is due to become available after `minReadySeconds`.

Informer handlers only enqueue ReplicaSet keys and record what they observe for the
expectations: a pod added counts as a creation seen, a pod marked for deletion or gone as a
deletion seen (once). Pods are created with a controller `ownerReference` that blocks the
owner's foreground deletion, so the garbage collector deletes them with their ReplicaSet.
Events `SuccessfulCreate`/`FailedCreate`/`SuccessfulDelete`/`FailedDelete` are recorded on the
ReplicaSet, as Kubernetes' pod control does.

One difference: Kubernetes ranks pods by "more pods on the same node" only among ReplicaSets
sharing an owner (a Deployment's); a ReplicaSet without an owner here ranks by its own pods,
which is what that rule is meant to do.
"""

from __future__ import annotations

import copy
import functools
import logging
import time
from collections.abc import Callable

from minik8s.api import errors
from minik8s.api.client import ApiClient
from minik8s.api.events import EventRecorder
from minik8s.api.informer import Informer, Obj, object_key
from minik8s.api.kinds import resolve
from minik8s.api.reconcile import Controller, Result, TerminalError
from minik8s.api.workloads import controller_ref, new_controller_ref

from .batches import run_parallel, slow_start_batch
from .claims import (
    adopt_patch, cached_owner_key, check_owner_fresh, claim, patch_owner_refs, release_patch, selecting_owners,
    selector_of,
)
from .expectations import Expectations
from .pods import is_active, pod_key
from .ranking import pods_to_delete
from .replicaset_status import calculate_status, next_availability_check, status_changed
from .terms import Term

log = logging.getLogger(__name__)

COMPONENT = "replicaset-controller"
BURST_REPLICAS = 500  # pods created or deleted per sync at most (Kubernetes' BurstReplicas)

_PODS = resolve("pods")
_REPLICASETS = resolve("replicasets.apps")


class ReplicaSetController(Controller):
    """Creates and deletes pods so that every ReplicaSet has `spec.replicas` of them."""

    _rss: Informer
    _pods: Informer

    def __init__(self, client: ApiClient, *, workers: int = 5, burst_replicas: int = BURST_REPLICAS,
                 clock: Callable[[], float] = time.monotonic, wall_clock: Callable[[], float] = time.time) -> None:
        """`wall_clock` reads pods' Ready times and stamps conditions; `clock` times expectations."""
        super().__init__(client, name="replicaset", workers=workers, clock=clock)
        self._burst = burst_replicas
        self._wall_clock = wall_clock
        self._expectations = Expectations(clock=clock)
        self._events = EventRecorder(client, component=COMPONENT)
        self._term = Term()

    def setup(self) -> None:
        only_now = self._term.begin()
        self._expectations = Expectations(clock=self.clock)
        self._events = EventRecorder(self.client, component=COMPONENT, workers=1)
        self._events.start()
        self._rss = self.watch(_REPLICASETS)
        self._rss.add_handler(on_delete=only_now(lambda rs: self._expectations.delete(object_key(rs))))
        self._pods = self.watch(_PODS, key=lambda _: None)
        self._pods.add_handler(on_add=only_now(self._pod_added),
                               on_update=only_now(self._pod_updated),
                               on_delete=only_now(self._pod_deleted))

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the workers, then send the events still queued."""
        super().stop(timeout)
        self._events.stop(timeout=2.0)

    # -- informer handlers: enqueue keys, observe expectations ---------------------------------

    def _owner_key(self, obj: Obj, ref: Obj | None) -> str | None:
        """The key of the cached ReplicaSet `ref` names (same uid), or None."""
        return cached_owner_key(self._rss, "ReplicaSet", obj, ref)

    def _enqueue_matching(self, pod: Obj) -> None:
        """Queue every ReplicaSet whose selector matches an orphan pod (one may adopt it)."""
        for owner in selecting_owners(self._rss, pod):
            self.enqueue(object_key(owner))

    def _pod_added(self, pod: Obj) -> None:
        if (pod.get("metadata") or {}).get("deletionTimestamp"):
            self._pod_deleted(pod)  # seen for the first time already being deleted: not a creation
            return
        ref = controller_ref(pod)
        if ref is None:
            self._enqueue_matching(pod)
        elif (key := self._owner_key(pod, ref)) is not None:
            self._expectations.creation_observed(key)
            self.enqueue(key)

    def _pod_updated(self, old: Obj, new: Obj) -> None:
        old_meta, new_meta = old.get("metadata") or {}, new.get("metadata") or {}
        if old_meta.get("resourceVersion") == new_meta.get("resourceVersion"):
            return
        labels_changed = old_meta.get("labels") != new_meta.get("labels")
        if new_meta.get("deletionTimestamp"):
            self._pod_deleted(new)
            if labels_changed:
                self._pod_deleted(old)
            return
        old_ref, new_ref = controller_ref(old), controller_ref(new)
        if old_ref != new_ref and (old_key := self._owner_key(old, old_ref)) is not None:
            self.enqueue(old_key)
        if new_ref is not None:
            if (key := self._owner_key(new, new_ref)) is not None:
                self.enqueue(key)
        elif labels_changed or old_ref != new_ref:
            self._enqueue_matching(new)

    def _pod_deleted(self, pod: Obj) -> None:
        if (key := self._owner_key(pod, controller_ref(pod))) is not None:
            self._expectations.deletion_observed(key, pod_key(pod))
            self.enqueue(key)

    # -- sync ---------------------------------------------------------------------------------

    def reconcile(self, key: str) -> Result | None:
        rs = self._rss.get(key)
        if rs is None:
            self._expectations.delete(key)
            return None
        needs_sync = self._expectations.satisfied(key)
        selector = selector_of(rs)
        if selector is None:
            raise TerminalError(f"ReplicaSet {key} has no valid selector")
        namespace = rs["metadata"].get("namespace")
        candidates = [p for p in self._pods.list() if p["metadata"].get("namespace") == namespace and is_active(p)]
        pods, problems = claim(
            rs, selector, candidates,
            adopt=lambda pod: patch_owner_refs(self.client, _PODS, pod, adopt_patch(pod, rs)),
            release=lambda pod: patch_owner_refs(self.client, _PODS, pod, release_patch(pod, rs["metadata"]["uid"])),
            can_adopt=lambda: check_owner_fresh(self.client, _REPLICASETS, rs),
        )
        if problems:
            raise problems[0]
        manage_error = None
        if needs_sync and not rs["metadata"].get("deletionTimestamp"):
            manage_error = self._manage_replicas(key, rs, pods)
        now = self._wall_clock()
        status = calculate_status(rs, pods, manage_error, now=now)
        if status_changed(rs, status):
            self._write_status(rs, status)
        if manage_error is not None:
            raise manage_error
        return Result(requeue_after=next_availability_check(rs, pods, now=now))

    def _manage_replicas(self, key: str, rs: Obj, pods: list[Obj]) -> Exception | None:
        """Create or delete pods towards `spec.replicas`; the first error met (None: all went well)."""
        wanted = (rs.get("spec") or {}).get("replicas")
        diff = len(pods) - (1 if wanted is None else wanted)
        if diff < 0:
            count = min(-diff, self._burst)
            self._expectations.expect_creations(key, count)
            log.debug("replicaset %s: too few replicas, creating %d", key, count)
            created, error = slow_start_batch(count, functools.partial(self._create_pod, rs))
            for _ in range(count - created):  # failed or never tried: the informer will not see them
                self._expectations.creation_observed(key)
            return None if _namespace_terminating(error) else error
        if diff > 0:
            count = min(diff, self._burst)
            doomed = pods_to_delete(pods, self._related_pods(rs, pods), count, now=self._wall_clock())
            self._expectations.expect_deletions(key, [pod_key(p) for p in doomed])
            log.debug("replicaset %s: too many replicas, deleting %d", key, count)
            outcomes = run_parallel([functools.partial(self._delete_pod, rs, p) for p in doomed])
            first: Exception | None = None
            for pod, error in zip(doomed, outcomes):
                if error is None:
                    continue
                self._expectations.deletion_observed(key, pod_key(pod))
                if not isinstance(error, errors.NotFoundError) and first is None:
                    first = error
            return first
        return None

    def _related_pods(self, rs: Obj, own: list[Obj]) -> list[Obj]:
        """The pods of every ReplicaSet sharing `rs`'s controller (its own pods when it has none)."""
        owner = controller_ref(rs)
        if owner is None:
            return own
        namespace = rs["metadata"].get("namespace")
        siblings = [r for r in self._rss.list() if r["metadata"].get("namespace") == namespace
                    and (controller_ref(r) or {}).get("uid") == owner.get("uid")]
        seen: dict[str, Obj] = {}
        for sibling in siblings:
            if (selector := selector_of(sibling)) is None:
                continue
            for pod in self._pods.list():
                meta = pod["metadata"]
                if meta.get("namespace") == namespace and selector.matches(meta.get("labels")):
                    seen.setdefault(meta.get("uid", ""), pod)
        return list(seen.values())

    def _create_pod(self, rs: Obj) -> None:
        """Create one pod from `rs`'s template, controlled by `rs`."""
        try:
            pod = self.client.create(pod_from_template(rs))
        except errors.ApiError as exc:
            self._events.record(rs, reason="FailedCreate", message=f"Error creating: {exc.message}",
                                event_type="Warning")
            raise
        self._events.record(rs, reason="SuccessfulCreate", message=f"Created pod: {pod['metadata']['name']}")

    def _delete_pod(self, rs: Obj, pod: Obj) -> None:
        """Delete one pod of `rs` (gracefully, with the pod's own grace period)."""
        meta = pod["metadata"]
        try:
            self.client.delete(_PODS, meta["name"], namespace=meta.get("namespace"))
        except errors.NotFoundError:
            raise
        except errors.ApiError as exc:
            self._events.record(rs, reason="FailedDelete", message=f"Error deleting: {exc.message}",
                                event_type="Warning")
            raise
        self._events.record(rs, reason="SuccessfulDelete", message=f"Deleted pod: {meta['name']}")

    def _write_status(self, rs: Obj, status: Obj) -> None:
        """PUT `/status` from the cached version; after a conflict, once more on a fresh read."""
        body = {**copy.deepcopy(rs), "status": status}
        try:
            self.client.update_status(body)
        except errors.ConflictError:
            meta = rs["metadata"]
            fresh = self.client.get(_REPLICASETS, meta["name"], namespace=meta.get("namespace"))
            self.client.update_status({**fresh, "status": status})


def pod_from_template(rs: Obj) -> Obj:
    """The pod `rs` creates: its template's metadata and spec, a generated name, a controller reference
    (Kubernetes' `GetPodFromTemplate`)."""
    meta = rs["metadata"]
    template = copy.deepcopy((rs.get("spec") or {}).get("template") or {})
    template_meta = template.get("metadata") or {}
    labels = template_meta.get("labels") or {}
    if not labels:
        raise TerminalError(f"ReplicaSet {meta.get('namespace')}/{meta['name']}: unable to create pods, no labels")
    pod_meta: Obj = {"generateName": f"{meta['name']}-", "namespace": meta.get("namespace"), "labels": labels,
                     "ownerReferences": [new_controller_ref(_typed(rs))]}
    for key in ("annotations", "finalizers"):
        if template_meta.get(key):
            pod_meta[key] = template_meta[key]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": pod_meta, "spec": template.get("spec") or {}}


def _typed(rs: Obj) -> Obj:
    return {**rs, "apiVersion": rs.get("apiVersion") or _REPLICASETS.api_version,
            "kind": rs.get("kind") or _REPLICASETS.kind}



def _namespace_terminating(error: Exception | None) -> bool:
    """A create refused because the namespace is being deleted: nothing to retry (as in Kubernetes)."""
    return isinstance(error, errors.ForbiddenError) and "being terminated" in error.message
