"""The namespace controller: empties a terminating namespace, then lets the API server remove it.

Deleting a namespace only marks it (`deletionTimestamp`, `status.phase: Terminating`); its
`spec.finalizers` holds `kubernetes` until this controller is done, as Kubernetes' namespace
controller does (`pkg/controller/namespace/deletion/namespaced_resources_deleter.go`). For a
terminating namespace it:

1. makes sure the phase is Terminating;
2. finds every namespaced kind the servers serve and can delete (discovery, like the upstream
   controller, so kinds unknown to this master's own table are not left behind);
3. deletes the content of each kind with propagationPolicy Background, object by object, several
   at a time (a write waits for a Raft round; the collection DELETE of the API server writes one
   after the other): pods bound to a node are deleted gracefully, so their node stops them with
   SIGTERM and their grace period; everything else goes at once;
4. records the outcome in the namespace's conditions (`namespace_conditions`);
5. while content remains it looks again: after about half the longest grace period of the pods still
   terminating (15 s for objects held by finalizers), and whenever a pod of the namespace changes;
6. once the namespace is empty, removes `kubernetes` from `spec.finalizers` through the `finalize`
   subresource; the API server removes the namespace when no finalizer is left.

Failures are reported in the conditions and retried with back-off.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Callable
from typing import Any

from minik8s.api import errors, kinds
from minik8s.api.client import ApiClient
from minik8s.api.informer import Informer
from minik8s.api.kinds import ResourceType
from minik8s.api.ownership import NAMESPACE_FINALIZER, finalizers, is_deleting
from minik8s.api.reconcile import Controller, Result
from minik8s.api.timefmt import format_time
from minik8s.controllers.namespace_conditions import DeletionReport, updated_conditions

log = logging.getLogger(__name__)

Obj = dict[str, Any]

FINALIZER_ESTIMATE_SECONDS = 15  # how long objects held by finalizers are assumed to take (as upstream)
_NAMESPACES = kinds.resolve("namespaces")
_PODS = kinds.resolve("pods")


class ContentDeletionError(Exception):
    """A pass over a namespace's content failed, or left objects that nothing (no grace period, no
    finalizer) explains; the namespace is looked at again with back-off."""


def parse_group_version(group_version: str) -> tuple[str, str]:
    """`v1` → ("", "v1"), `apps/v1` → ("apps", "v1"); ValueError for anything else."""
    parts = group_version.split("/")
    if len(parts) == 1 and parts[0]:
        return "", parts[0]
    if len(parts) == 2 and all(parts):
        return parts[0], parts[1]
    raise ValueError(f"unexpected GroupVersion string: {group_version}")


def deletable_resources(lists: list[Obj], report: DeletionReport) -> list[ResourceType]:
    """The namespaced resources in discovery's `APIResourceList`s that can be deleted; group-versions
    that do not parse are reported in `report`. A resource this master's table does not know is
    described from discovery alone (enough to list and delete it)."""
    found: list[ResourceType] = []
    for listing in lists:
        try:
            group, version = parse_group_version(str(listing.get("groupVersion") or ""))
        except ValueError as exc:
            report.parse_errors.append(str(exc))
            continue
        for res in listing.get("resources") or []:
            name, verbs = res.get("name") or "", tuple(res.get("verbs") or ())
            if "/" in name or not res.get("namespaced") or "delete" not in verbs:
                continue
            known = kinds.by_path(group, version, name)
            found.append(known or ResourceType(group, version, name, res.get("kind") or "", True, verbs=verbs))
    return found


def pod_grace_estimate(pods: list[Obj]) -> int:
    """Seconds the still-present, still-running pods may take to stop: their longest grace period."""
    estimate = 0
    for pod in pods:
        if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        meta, spec = pod.get("metadata") or {}, pod.get("spec") or {}
        grace = meta.get("deletionGracePeriodSeconds")
        if grace is None:
            grace = spec.get("terminationGracePeriodSeconds", 30)
        if isinstance(grace, int) and not isinstance(grace, bool):
            estimate = max(estimate, grace)
    return estimate


class NamespaceController(Controller):
    """Deletes the content of terminating namespaces and finalizes them."""

    _namespaces: Informer

    def __init__(self, client: ApiClient, *, workers: int = 2, parallel_deletes: int = 16,
                 clock: Callable[[], float] = time.monotonic, wall_clock: Callable[[], float] = time.time) -> None:
        """`parallel_deletes`: DELETE requests in flight at once per namespace; `wall_clock` only
        stamps conditions."""
        super().__init__(client, name="namespace", workers=workers, clock=clock)
        self._parallel_deletes = parallel_deletes
        self._wall_clock = wall_clock

    def setup(self) -> None:
        self._namespaces = namespaces = self.watch(_NAMESPACES)

        def terminating_namespace(pod: Obj) -> str | None:
            name = (pod.get("metadata") or {}).get("namespace")
            ns = namespaces.get(name) if name else None
            return name if ns is not None and is_deleting(ns) else None

        self.watch(_PODS, key=terminating_namespace)

    def reconcile(self, key: str) -> Result | None:
        cached = self._namespaces.get(key)
        if cached is None or not is_deleting(cached):
            return None
        try:
            namespace = self.client.get(_NAMESPACES, key)  # other controllers may edit it meanwhile
        except errors.NotFoundError:
            return None
        if not is_deleting(namespace):
            return None
        namespace = self._ensure_terminating(namespace)
        if NAMESPACE_FINALIZER not in ((namespace.get("spec") or {}).get("finalizers") or []):
            return None
        estimate, namespace = self._delete_content(namespace)
        if estimate > 0:
            return Result(requeue_after=estimate / 2 + 1)
        self._finalize(namespace)
        return None

    def _ensure_terminating(self, namespace: Obj) -> Obj:
        if (namespace.get("status") or {}).get("phase") == "Terminating":
            return namespace
        status = {**(namespace.get("status") or {}), "phase": "Terminating"}
        return self.client.update_status({**namespace, "status": status})

    def _delete_content(self, namespace: Obj) -> tuple[int, Obj]:
        """One pass over the namespace's content; returns the seconds to wait for what remains
        (0: empty) and the namespace as now stored. Raises when something failed, after recording
        it in the conditions."""
        name = namespace["metadata"]["name"]
        report = DeletionReport()
        try:
            lists, failed = self.client.server_resources()
        except errors.ApiError as exc:
            lists, failed = [], {"": exc}
        report.discovery_failures = {gv: str(exc) for gv, exc in failed.items()}
        estimate = 0
        for rt in deletable_resources(lists, report):
            try:
                estimate = max(estimate, self._delete_all_of(rt, name, report))
            except (errors.ApiError, ContentDeletionError) as exc:
                report.content_errors.append(str(exc))
        namespace = self._record(namespace, report)
        if report.failed:
            raise ContentDeletionError(f"namespace {name}: " + "; ".join(
                [*report.discovery_failures.values(), *report.parse_errors, *report.content_errors]))
        return estimate, namespace

    def _delete_all_of(self, rt: ResourceType, namespace: str, report: DeletionReport) -> int:
        """Delete every `rt` in `namespace`; the seconds to wait for what is left (0: none left)."""
        if "list" not in rt.verbs:
            return 0  # nothing to find it by (as upstream, such content is not waited for)
        found = self.client.list(rt, namespace=namespace).get("items") or []
        if not found:
            return 0

        def delete(obj: Obj) -> None:
            if is_deleting(obj):
                return  # already marked: deleting again changes nothing
            try:
                self.client.delete(rt, obj["metadata"]["name"], namespace=namespace, propagation_policy="Background",
                                   uid=obj["metadata"].get("uid"))
            except (errors.NotFoundError, errors.ConflictError):
                pass  # gone, or replaced by a newer object the next look finds

        with ThreadPoolExecutor(max_workers=self._parallel_deletes, thread_name_prefix="namespace-delete") as pool:
            for _ in pool.map(delete, found):
                pass
        estimate = 0
        left = self.client.list(rt, namespace=namespace).get("items") or []
        if not left:
            return 0
        if rt.group == "" and rt.plural == "pods":
            estimate = pod_grace_estimate(left)
        report.remaining[f"{rt.plural}.{rt.group}"] = len(left)
        held = 0
        for obj in left:
            for finalizer in finalizers(obj):
                report.finalizers_remaining[finalizer] = report.finalizers_remaining.get(finalizer, 0) + 1
            held += bool(finalizers(obj))
        if estimate == 0:
            if not held:
                raise ContentDeletionError(f"unexpected items still remain in namespace: {namespace} for gvr: "
                                            f"{rt.group}/{rt.version}, Resource={rt.plural}")
            estimate = FINALIZER_ESTIMATE_SECONDS
        return estimate

    def _record(self, namespace: Obj, report: DeletionReport) -> Obj:
        """Write the conditions `report` calls for, when they changed (a failed write is only
        logged); returns the namespace as stored."""
        status = namespace.get("status") or {}
        conditions = updated_conditions(status.get("conditions") or [], report,
                                        now=format_time(self._wall_clock()))
        if conditions is None:
            return namespace
        try:
            return self.client.update_status({**namespace, "status": {**status, "conditions": conditions}})
        except errors.ApiError as exc:
            log.info("namespace %s: could not update its conditions: %s", namespace["metadata"]["name"], exc)
            return namespace

    def _finalize(self, namespace: Obj) -> None:
        """Take `kubernetes` out of `spec.finalizers` (retrying on conflicts while it is the same namespace)."""
        current = namespace
        for _ in range(10):
            spec = current.get("spec") or {}
            remaining = sorted({f for f in spec.get("finalizers") or [] if f != NAMESPACE_FINALIZER})
            try:
                self.client.finalize({**current, "spec": {**spec, "finalizers": remaining}})
                return
            except errors.NotFoundError:
                return
            except errors.ConflictError:
                latest = self.client.get(_NAMESPACES, current["metadata"]["name"])
                if latest["metadata"].get("uid") != current["metadata"].get("uid"):
                    return
                current = latest
        raise errors.ConflictError(f"namespace {namespace['metadata']['name']}: too many conflicting finalizes")
