"""The Deployment controller: roll a Deployment's pods from one template to the next through ReplicaSets.

Kubernetes' `pkg/controller/deployment` on the controller library. A Deployment owns one
ReplicaSet per pod template it has had (named `<deployment>-<pod-template-hash>`, the hash in
its labels, selector and template); the one whose template equals the Deployment's is *new*,
the others *old*. One sync of a Deployment `ns/name`:

1. claim its ReplicaSets (adopt matching orphans, release ones that stopped matching);
2. being deleted: only the status is brought up to date;
3. record `DeploymentPaused`/`DeploymentResumed` when `spec.paused` flipped;
4. paused, or scaled (`replicas` differs from a ReplicaSet's `desired-replicas` annotation):
   resize the ReplicaSets (proportionally while several are active) and nothing else;
5. otherwise one step of the strategy: `RollingUpdate` (`deployment_rollout`: the new
   ReplicaSet up within `maxSurge`, old ones down within `maxUnavailable`) or `Recreate` (old
   ReplicaSets to 0, wait until their pods are gone, then the new one to `replicas`); a
   finished rollout deletes old ReplicaSets beyond `revisionHistoryLimit`;
6. write the status and conditions (`deployment_status`); a rollout making no progress is
   looked at again when its `progressDeadlineSeconds` pass.

The new ReplicaSet gets revision `max(old revisions) + 1` and the Deployment's annotations
(`kubernetes.io/change-cause` among them, which `rollout history` shows); the Deployment gets
the same `deployment.kubernetes.io/revision`. Kubernetes writes that annotation through
`/status`, whose strategy there keeps annotations; minik8s's `/status` keeps only the status,
so the annotation is a separate merge patch of the metadata (it changes no generation).
Rollbacks are client-side, as in kubectl 1.32: `rollout undo` puts an old ReplicaSet's
template back into the Deployment, which makes that ReplicaSet new again (its revision raised,
the old number kept in `revision-history`); the deprecated `rollbackTo` annotation is ignored.
Events `ScalingReplicaSet` are recorded on the Deployment.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable

from minik8s.api import errors
from minik8s.api.client import ApiClient
from minik8s.api.events import EventRecorder
from minik8s.api.informer import Informer, Obj, object_key
from minik8s.api.kinds import resolve
from minik8s.api.reconcile import Controller, Result, TerminalError
from minik8s.api.selectors import LabelSelector
from minik8s.api.workloads import (
    POD_TEMPLATE_HASH_LABEL, REVISION_ANNOTATION, controller_ref, equal_ignoring_hash, is_controlled_by,
    new_controller_ref,
)

from .claims import (
    adopt_patch, cached_owner_key, check_owner_fresh, claim, patch_owner_refs, release_patch, selecting_owners,
    selector_of,
)
from .deployment_rollout import (
    Scale, new_rs_target, old_pods_running, old_rs_targets, recreate_scale_down, replica_sets_to_clean_up,
)
from .deployment_status import (
    FAILED_RS_CREATE, FOUND_NEW_RS, NEW_RS_CREATED, PROGRESSING, calculate_status, get_condition, is_complete,
    new_condition, paused_condition, rollout_status, set_condition,
)
from .deployment_util import (
    active, desired_replicas, find_active_or_latest, find_old_rss, find_new_rs, has_progress_deadline,
    is_rolling_update, is_saturated, max_revision, max_surge, proportional_sizes, replicas_annotations_need_update,
    set_new_rs_annotations, set_replicas_annotations, spec_replicas,
)
from .hashing import compute_hash
from .terms import Term

log = logging.getLogger(__name__)

COMPONENT = "deployment-controller"

_PODS = resolve("pods")
_REPLICASETS = resolve("replicasets.apps")
_DEPLOYMENTS = resolve("deployments.apps")


class DeploymentController(Controller):
    """Rolls Deployments out through their ReplicaSets."""

    _deployments: Informer
    _rss: Informer
    _pods: Informer

    def __init__(self, client: ApiClient, *, workers: int = 5, clock: Callable[[], float] = time.monotonic,
                 wall_clock: Callable[[], float] = time.time) -> None:
        """`wall_clock` stamps conditions and measures progress deadlines (conditions carry wall time)."""
        super().__init__(client, name="deployment", workers=workers, clock=clock)
        self._wall_clock = wall_clock
        self._events = EventRecorder(client, component=COMPONENT)
        self._term = Term()

    def setup(self) -> None:
        only_now = self._term.begin()
        self._events = EventRecorder(self.client, component=COMPONENT, workers=1)
        self._events.start()
        self._deployments = self.watch(_DEPLOYMENTS)
        self._rss = self.watch(_REPLICASETS, key=lambda _: None)
        self._rss.add_handler(on_add=only_now(self._rs_added), on_update=only_now(self._rs_updated),
                              on_delete=only_now(self._rs_deleted))
        self._pods = self.watch(_PODS, key=lambda _: None)
        self._pods.add_handler(on_delete=only_now(self._pod_deleted))

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the workers, then send the events still queued."""
        super().stop(timeout)
        self._events.stop(timeout=2.0)

    # -- informer handlers ----------------------------------------------------------------------

    def _owner_key(self, obj: Obj, ref: Obj | None) -> str | None:
        """The key of the cached Deployment `ref` names (same uid), or None."""
        return cached_owner_key(self._deployments, "Deployment", obj, ref)

    def _enqueue_matching(self, rs: Obj) -> None:
        """Queue every Deployment whose selector matches an orphan ReplicaSet (one may adopt it)."""
        for owner in selecting_owners(self._deployments, rs):
            self.enqueue(object_key(owner))

    def _rs_added(self, rs: Obj) -> None:
        ref = controller_ref(rs)
        if ref is None:
            self._enqueue_matching(rs)
        elif (key := self._owner_key(rs, ref)) is not None:
            self.enqueue(key)

    def _rs_updated(self, old: Obj, new: Obj) -> None:
        if old["metadata"].get("resourceVersion") == new["metadata"].get("resourceVersion"):
            return
        old_ref, new_ref = controller_ref(old), controller_ref(new)
        if old_ref != new_ref and (old_key := self._owner_key(old, old_ref)) is not None:
            self.enqueue(old_key)
        if new_ref is not None:
            if (key := self._owner_key(new, new_ref)) is not None:
                self.enqueue(key)
        elif old_ref != new_ref or old["metadata"].get("labels") != new["metadata"].get("labels"):
            self._enqueue_matching(new)

    def _rs_deleted(self, rs: Obj) -> None:
        if (key := self._owner_key(rs, controller_ref(rs))) is not None:
            self.enqueue(key)

    def _pod_deleted(self, pod: Obj) -> None:
        """A Recreate rollout waits for the old pods to be gone: look again when one goes."""
        rs_ref = controller_ref(pod)
        if rs_ref is None or rs_ref.get("kind") != "ReplicaSet":
            return
        rs = self._rss.get(f"{pod['metadata'].get('namespace')}/{rs_ref.get('name')}")
        if rs is None or (key := self._owner_key(rs, controller_ref(rs))) is None:
            return
        d = self._deployments.get(key)
        if d is not None and not is_rolling_update(d):
            self.enqueue(key)

    # -- sync -----------------------------------------------------------------------------------

    def reconcile(self, key: str) -> Result | None:
        cached = self._deployments.get(key)
        if cached is None:
            return None
        d = copy.deepcopy(cached)
        selector = selector_of(d)
        if selector is None:
            raise TerminalError(f"Deployment {key} has no valid selector")
        rs_list = self._claim_replica_sets(d, selector)
        if d["metadata"].get("deletionTimestamp"):
            return self._sync_status_only(d, rs_list)
        if (status := paused_condition(d, now=self._wall_clock())) is not None:
            d["status"] = status
            self._update_status(d)
        if (d.get("spec") or {}).get("paused") or self._is_scaling_event(d, rs_list):
            return self._sync(d, rs_list)
        if is_rolling_update(d):
            return self._rollout_rolling(d, rs_list)
        return self._rollout_recreate(d, rs_list, self._pods_by_rs(d, selector, rs_list))

    def _claim_replica_sets(self, d: Obj, selector: LabelSelector) -> list[Obj]:
        namespace = d["metadata"].get("namespace")
        candidates = [copy.deepcopy(rs) for rs in self._rss.list() if rs["metadata"].get("namespace") == namespace]
        owned, problems = claim(
            d, selector, candidates,
            adopt=lambda rs: patch_owner_refs(self.client, _REPLICASETS, rs, adopt_patch(rs, d)),
            release=lambda rs: patch_owner_refs(self.client, _REPLICASETS, rs,
                                                release_patch(rs, d["metadata"]["uid"])),
            can_adopt=lambda: check_owner_fresh(self.client, _DEPLOYMENTS, d),
        )
        if problems:
            raise problems[0]
        return owned

    def _pods_by_rs(self, d: Obj, selector: LabelSelector, rs_list: list[Obj]) -> dict[str, list[Obj]]:
        """The Deployment's pods by the uid of the ReplicaSet controlling them."""
        by_rs: dict[str, list[Obj]] = {rs["metadata"]["uid"]: [] for rs in rs_list}
        namespace = d["metadata"].get("namespace")
        for pod in self._pods.list():
            meta = pod["metadata"]
            ref = controller_ref(pod)
            if meta.get("namespace") == namespace and ref is not None and ref.get("uid") in by_rs \
                    and selector.matches(meta.get("labels")):
                by_rs[ref["uid"]].append(pod)
        return by_rs

    def _new_and_old(self, d: Obj, rs_list: list[Obj], *, create: bool) -> tuple[Obj | None, list[Obj]]:
        """The new ReplicaSet (created when asked and missing) with up-to-date revisions, and all old ones."""
        _, all_old = find_old_rss(d, rs_list)
        return self._new_replica_set(d, rs_list, all_old, create=create), all_old

    def _new_replica_set(self, d: Obj, rs_list: list[Obj], old_rss: list[Obj], *, create: bool) -> Obj | None:
        """Kubernetes' `getNewReplicaSet`."""
        existing = find_new_rs(d, rs_list)
        new_revision = max_revision(old_rss) + 1
        now = self._wall_clock()
        if existing is not None:
            rs = copy.deepcopy(existing)
            annotations_changed = set_new_rs_annotations(d, rs, new_revision, exists=True)
            min_ready = (d.get("spec") or {}).get("minReadySeconds", 0)
            if annotations_changed or (rs.get("spec") or {}).get("minReadySeconds", 0) != min_ready:
                rs["spec"]["minReadySeconds"] = min_ready
                written = self.client.replace(rs)
                rs_list[rs_list.index(existing)] = written  # later steps of this sync see what was written
                return written
            self._set_revision(d, (rs["metadata"].get("annotations") or {}).get(REVISION_ANNOTATION))
            if has_progress_deadline(d) and get_condition(d.get("status") or {}, PROGRESSING) is None:
                set_condition(d.setdefault("status", {}), new_condition(
                    PROGRESSING, "True", FOUND_NEW_RS, f'Found new replica set "{rs["metadata"]["name"]}"', now=now))
                self._update_status(d)
            return rs
        if not create:
            return None
        rs = self._new_rs_object(d, old_rss, new_revision)
        already_existed = False
        try:
            created = self.client.create(rs)
        except errors.AlreadyExistsError:
            already_existed = True
            created = self._existing_new_rs(d, rs)
        except errors.ApiError as exc:
            message = f'Failed to create new replica set "{rs["metadata"]["name"]}": {exc.message}'
            if has_progress_deadline(d):
                set_condition(d.setdefault("status", {}),
                              new_condition(PROGRESSING, "False", FAILED_RS_CREATE, message, now=now))
                try:
                    self._update_status(d)
                except errors.ApiError:
                    pass  # the failure to report matters more
            self._events.record(d, reason=FAILED_RS_CREATE, message=message, event_type="Warning")
            raise
        if not already_existed and spec_replicas(created) > 0:
            self._events.record(d, reason="ScalingReplicaSet", message=(
                f"Scaled up replica set {created['metadata']['name']} from 0 to {spec_replicas(created)}"))
        self._set_revision(d, str(new_revision))
        if not already_existed and has_progress_deadline(d):
            set_condition(d.setdefault("status", {}), new_condition(
                PROGRESSING, "True", NEW_RS_CREATED, f'Created new replica set "{created["metadata"]["name"]}"',
                now=now))
            self._update_status(d)
        return created

    def _new_rs_object(self, d: Obj, old_rss: list[Obj], new_revision: int) -> Obj:
        """The ReplicaSet for the Deployment's current template, with its size and annotations."""
        spec = d.get("spec") or {}
        template = copy.deepcopy(spec.get("template") or {})
        pod_hash = compute_hash(template, (d.get("status") or {}).get("collisionCount"))
        template.setdefault("metadata", {})["labels"] = {**(template["metadata"].get("labels") or {}),
                                                         POD_TEMPLATE_HASH_LABEL: pod_hash}
        selector = copy.deepcopy(spec.get("selector") or {})
        selector["matchLabels"] = {**(selector.get("matchLabels") or {}), POD_TEMPLATE_HASH_LABEL: pod_hash}
        rs: Obj = {
            "apiVersion": _REPLICASETS.api_version, "kind": _REPLICASETS.kind,
            "metadata": {"name": f"{d['metadata']['name']}-{pod_hash}", "namespace": d["metadata"].get("namespace"),
                         "labels": template["metadata"]["labels"], "ownerReferences": [new_controller_ref(d)]},
            "spec": {"replicas": 0, "minReadySeconds": spec.get("minReadySeconds", 0), "selector": selector,
                     "template": template},
        }
        rs["spec"]["replicas"] = new_rs_target(d, [*old_rss, rs], rs) or 0
        set_new_rs_annotations(d, rs, new_revision, exists=False)
        return rs

    def _existing_new_rs(self, d: Obj, wanted: Obj) -> Obj:
        """After AlreadyExists: the ReplicaSet of that name when it is this Deployment's new one; else a
        hash collision: `collisionCount` goes up (a different name next time) and the sync is retried."""
        meta = wanted["metadata"]
        rs = self.client.get(_REPLICASETS, meta["name"], namespace=meta["namespace"])
        if is_controlled_by(rs, d) and equal_ignoring_hash((d.get("spec") or {}).get("template"),
                                                           (rs.get("spec") or {}).get("template")):
            return rs
        status = d.setdefault("status", {})
        status["collisionCount"] = int(status.get("collisionCount") or 0) + 1
        self._update_status(d)
        raise errors.ConflictError(f'replicasets.apps "{meta["name"]}" already exists with another template; '
                                   f"collisionCount is now {status['collisionCount']}")

    def _set_revision(self, d: Obj, value: str | None) -> bool:
        """Give the Deployment the revision annotation `value` (a metadata patch); whether it changed."""
        annotations = (d["metadata"].get("annotations") or {})
        if value is None or annotations.get(REVISION_ANNOTATION) == value:
            return False
        patched = self.client.patch(_DEPLOYMENTS, d["metadata"]["name"],
                                    {"metadata": {"annotations": {REVISION_ANNOTATION: value}}},
                                    namespace=d["metadata"].get("namespace"))
        d["metadata"]["annotations"] = {**annotations, REVISION_ANNOTATION: value}
        d["metadata"]["resourceVersion"] = patched["metadata"]["resourceVersion"]
        return True

    def _update_status(self, d: Obj) -> None:
        """PUT the Deployment's `/status`, keeping the resourceVersion written for the next write."""
        written = self.client.update_status(d)
        d["metadata"]["resourceVersion"] = written["metadata"]["resourceVersion"]

    # -- scaling ----------------------------------------------------------------------------------

    def _scale_rs(self, rs: Obj, replicas: int, d: Obj, *, annotations_too: bool = False) -> Obj:
        """Resize `rs` (and stamp the Deployment's replica annotations on it); the ReplicaSet as stored.

        Without `annotations_too` a ReplicaSet already at `replicas` is left alone
        (`scaleReplicaSetAndRecordEvent`); with it the annotations alone may be written (`scaleReplicaSet`).
        """
        current = spec_replicas(rs)
        desired, maximum = spec_replicas(d), spec_replicas(d) + max_surge(d)
        resize = current != replicas
        if not resize and not (annotations_too and replicas_annotations_need_update(rs, desired, maximum)):
            return rs
        body = copy.deepcopy(rs)
        body["spec"]["replicas"] = replicas
        set_replicas_annotations(body, desired, maximum)
        written = self.client.replace(body)
        if resize:
            direction = "up" if replicas > current else "down"
            self._events.record(d, reason="ScalingReplicaSet", message=(
                f"Scaled {direction} replica set {rs['metadata']['name']} from {current} to {replicas}"))
        return written

    def _apply(self, plan: list[Scale], d: Obj, all_rss: list[Obj | None]) -> list[Obj | None]:
        """Carry out `plan`; `all_rss` with the resized ReplicaSets as stored."""
        written = {s.rs["metadata"]["uid"]: self._scale_rs(s.rs, s.replicas, d) for s in plan}
        return [written.get(rs["metadata"]["uid"], rs) if rs is not None else None for rs in all_rss]

    def _is_scaling_event(self, d: Obj, rs_list: list[Obj]) -> bool:
        """An active ReplicaSet was sized for another `replicas` (`isScalingEvent`)."""
        new_rs, old_rss = self._new_and_old(d, rs_list, create=False)
        for rs in active([*old_rss, new_rs]):
            desired = desired_replicas(rs)
            if desired is not None and desired != spec_replicas(d):
                return True
        return False

    def _sync(self, d: Obj, rs_list: list[Obj]) -> Result | None:
        """Paused or scaled: resize the ReplicaSets, nothing else (Kubernetes' `sync`)."""
        new_rs, old_rss = self._new_and_old(d, rs_list, create=False)
        all_rss: list[Obj | None] = [*old_rss, new_rs]
        all_rss = self._scale(d, new_rs, old_rss, all_rss)
        if (d.get("spec") or {}).get("paused"):
            self._clean_up(d, old_rss)
        return self._sync_status(d, all_rss, new_rs)

    def _scale(self, d: Obj, new_rs: Obj | None, old_rss: list[Obj], all_rss: list[Obj | None]) -> list[Obj | None]:
        only = find_active_or_latest(new_rs, old_rss)
        if only is not None:
            if spec_replicas(only) == spec_replicas(d):
                return all_rss
            return self._apply([Scale(only, spec_replicas(d))], d, all_rss)
        if is_saturated(d, new_rs):
            return self._apply([Scale(rs, 0) for rs in active(old_rss)], d, all_rss)
        if not is_rolling_update(d):
            return all_rss
        written = {rs["metadata"]["uid"]: self._scale_rs(rs, size, d, annotations_too=True)
                   for rs, size in proportional_sizes(d, new_rs, old_rss)}
        return [written.get(rs["metadata"]["uid"], rs) if rs is not None else None for rs in all_rss]

    # -- strategies -------------------------------------------------------------------------------

    def _rollout_rolling(self, d: Obj, rs_list: list[Obj]) -> Result | None:
        new_rs, old_rss = self._new_and_old(d, rs_list, create=True)
        assert new_rs is not None  # created when missing
        all_rss: list[Obj | None] = [*old_rss, new_rs]
        target = new_rs_target(d, all_rss, new_rs)
        if target is not None:
            new_rs = self._scale_rs(new_rs, target, d)
            return self._sync_rollout(d, [*old_rss, new_rs], new_rs)
        plan = old_rs_targets(d, all_rss, active(old_rss), new_rs)
        if plan:
            return self._sync_rollout(d, self._apply(plan, d, all_rss), new_rs)
        if is_complete(d, d.get("status") or {}):
            self._clean_up(d, old_rss)
        return self._sync_rollout(d, all_rss, new_rs)

    def _rollout_recreate(self, d: Obj, rs_list: list[Obj], pods_by_rs: dict[str, list[Obj]]) -> Result | None:
        new_rs, old_rss = self._new_and_old(d, rs_list, create=False)
        all_rss: list[Obj | None] = [*old_rss, new_rs]
        plan = recreate_scale_down(old_rss)
        if plan:
            return self._sync_rollout(d, self._apply(plan, d, all_rss), new_rs)
        if old_pods_running(new_rs, old_rss, pods_by_rs):
            return self._sync_rollout(d, all_rss, new_rs)
        if new_rs is None:
            new_rs, old_rss = self._new_and_old(d, rs_list, create=True)
            assert new_rs is not None
        new_rs = self._scale_rs(new_rs, spec_replicas(d), d)
        all_rss = [*old_rss, new_rs]
        if is_complete(d, d.get("status") or {}):
            self._clean_up(d, old_rss)
        return self._sync_rollout(d, all_rss, new_rs)

    def _clean_up(self, d: Obj, old_rss: list[Obj]) -> None:
        """Delete old ReplicaSets beyond `revisionHistoryLimit`."""
        for rs in replica_sets_to_clean_up(d, old_rss):
            try:
                self.client.delete(_REPLICASETS, rs["metadata"]["name"], namespace=rs["metadata"].get("namespace"))
            except errors.NotFoundError:
                pass

    # -- status -----------------------------------------------------------------------------------

    def _sync_rollout(self, d: Obj, all_rss: list[Obj | None], new_rs: Obj | None) -> Result | None:
        """Write the status after a rollout step; look again when the progress deadline is due."""
        status, check_after = rollout_status(d, all_rss, new_rs, now=self._wall_clock())
        if status != (d.get("status") or {}):
            d["status"] = status
            self._update_status(d)
        return Result(requeue_after=check_after)

    def _sync_status(self, d: Obj, all_rss: list[Obj | None], new_rs: Obj | None) -> Result | None:
        """Write the counts and `Available` (no progress estimate: paused or scaling)."""
        status = calculate_status(all_rss, new_rs, d, now=self._wall_clock())
        if status != (d.get("status") or {}):
            d["status"] = status
            self._update_status(d)
        return None

    def _sync_status_only(self, d: Obj, rs_list: list[Obj]) -> Result | None:
        new_rs, old_rss = self._new_and_old(d, rs_list, create=False)
        return self._sync_status(d, [*old_rss, new_rs], new_rs)
