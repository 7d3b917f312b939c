"""Pod garbage collection: remove pods nobody else will (kube-controller-manager's `pkg/controller/podgc`).

Every `period` seconds (20 s in Kubernetes) one pass over the cached pods and nodes:

- **terminated**: beyond `terminated_pod_threshold` pods in phase Succeeded or Failed (12500 by
  default, `--terminated-pod-gc-threshold`; 0 turns this off), the surplus is deleted, evicted
  pods first, then oldest first;
- **terminating on an out-of-service node**: a pod being deleted on a node that is not Ready and
  carries the `node.kubernetes.io/out-of-service` taint is force-deleted. As in Kubernetes, a
  pod stuck terminating on a node that merely stopped answering stays until the node returns,
  the node is deleted, or an administrator taints it out of service (the node might still run
  it, and only a person can vouch that it does not);
- **orphaned**: a pod bound to a node that does not exist is force-deleted. A node missing from
  the cache is first quarantined for `quarantine` seconds (40 s in Kubernetes) and then looked
  up with a fresh read, so a node that is just registering is not mistaken for a deleted one;
- **unscheduled and terminating**: a pod being deleted that was never bound is force-deleted.

A pod is deleted like Kubernetes' `markFailedAndDeletePod`: first its status becomes phase
Failed (with a `DisruptionTarget` condition, reason `DeletionByPodGC`, for orphans), then it
is deleted with grace period 0. A pod bound to a deleted node has no kubelet left to finish its
graceful deletion: before this controller, `kubectl delete` of such a pod waited forever.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable

from minik8s.api import errors
from minik8s.api.client import ApiClient
from minik8s.api.informer import Informer, Obj
from minik8s.api.kinds import resolve
from minik8s.api.nodeendpoint import node_ready
from minik8s.api.reconcile import Controller, Result
from minik8s.api.timefmt import format_time, parse_time

from .batches import run_parallel
from .pods import is_terminated

log = logging.getLogger(__name__)

GC_KEY = "pod-gc"
OUT_OF_SERVICE_TAINT_KEY = "node.kubernetes.io/out-of-service"
DEFAULT_TERMINATED_THRESHOLD = 12500
DEFAULT_PERIOD = 20.0
DEFAULT_QUARANTINE = 40.0

_PODS = resolve("pods")
_NODES = resolve("nodes")


# -- pure selections ------------------------------------------------------------------------------


def _evicted(pod: Obj) -> bool:
    status = pod.get("status") or {}
    return status.get("phase") == "Failed" and status.get("reason") == "Evicted"


def _created(pod: Obj) -> float:
    stamp = parse_time((pod.get("metadata") or {}).get("creationTimestamp"))
    return stamp.timestamp() if stamp else 0.0


def _by_eviction_and_age(pods: list[Obj]) -> list[Obj]:
    """Evicted first, then oldest first, then by name (`byEvictionAndCreationTimestamp`)."""
    return sorted(pods, key=lambda p: (not _evicted(p), _created(p), p["metadata"].get("name", "")))


def terminated_to_delete(pods: list[Obj], threshold: int) -> list[Obj]:
    """The terminated pods beyond `threshold`, in the order they go (none when `threshold` is 0)."""
    terminated = [p for p in pods if is_terminated(p)]
    excess = len(terminated) - threshold
    if threshold <= 0 or excess <= 0:
        return []
    return _by_eviction_and_age(terminated)[:excess]


def _out_of_service(node: Obj) -> bool:
    return any(t.get("key") == OUT_OF_SERVICE_TAINT_KEY for t in (node.get("spec") or {}).get("taints") or [])


def terminating_on_out_of_service_nodes(pods: list[Obj], nodes: dict[str, Obj]) -> list[Obj]:
    """Pods being deleted on a node that is not Ready and is tainted out of service (`gcTerminating`)."""
    found = []
    for pod in pods:
        node = nodes.get((pod.get("spec") or {}).get("nodeName") or "")
        if pod["metadata"].get("deletionTimestamp") and node is not None and not node_ready(node) \
                and _out_of_service(node):
            found.append(pod)
    return _by_eviction_and_age(found)


def unscheduled_terminating(pods: list[Obj]) -> list[Obj]:
    """Pods being deleted that were never bound to a node (`gcUnscheduledTerminating`)."""
    return [p for p in pods if p["metadata"].get("deletionTimestamp") and not (p.get("spec") or {}).get("nodeName")]


class Quarantine:
    """Node names missing from the cache, each checked against the API once it has been missing
    for `quarantine` seconds (Kubernetes' delaying `nodeQueue`)."""

    def __init__(self, quarantine: float) -> None:
        self._quarantine = quarantine
        self._since: dict[str, float] = {}

    def due(self, missing: set[str], now: float) -> list[str]:
        """Record the names missing now; the ones due for a check (forgotten once returned)."""
        for name in [n for n in self._since if n not in missing]:
            del self._since[name]  # back in the cache
        for name in missing:
            self._since.setdefault(name, now)
        ready = sorted(n for n, since in self._since.items() if now - since >= self._quarantine)
        for name in ready:
            del self._since[name]
        return ready


# -- the controller -------------------------------------------------------------------------------


class PodGCController(Controller):
    """Deletes terminated pods beyond a threshold and pods no node will ever finish."""

    _pods: Informer
    _nodes: Informer

    def __init__(self, client: ApiClient, *, terminated_pod_threshold: int = DEFAULT_TERMINATED_THRESHOLD,
                 period: float = DEFAULT_PERIOD, quarantine: float = DEFAULT_QUARANTINE,
                 clock: Callable[[], float] = time.monotonic, wall_clock: Callable[[], float] = time.time) -> None:
        """`clock` times the quarantine; `wall_clock` stamps the conditions of the pods deleted."""
        super().__init__(client, name="pod-gc", workers=1, clock=clock)
        self._threshold = terminated_pod_threshold
        self._period = period
        self._quarantine_seconds = quarantine
        self._quarantine = Quarantine(quarantine)
        self._wall_clock = wall_clock

    def setup(self) -> None:
        self._quarantine = Quarantine(self._quarantine_seconds)
        self._pods = self.watch(_PODS, key=lambda _: None)
        self._nodes = self.watch(_NODES, key=lambda _: None)
        self.enqueue(GC_KEY)

    def reconcile(self, key: str) -> Result | None:
        pods = self._pods.list()
        nodes = {n["metadata"]["name"]: n for n in self._nodes.list()}
        if self._threshold > 0:
            self._delete_all(terminated_to_delete(pods, self._threshold), condition=None)
        self._delete_all(terminating_on_out_of_service_nodes(pods, nodes), condition=None)
        self._gc_orphaned(pods, nodes)
        self._delete_all(unscheduled_terminating(pods), condition=None)
        return Result(requeue_after=self._period)

    def _gc_orphaned(self, pods: list[Obj], nodes: dict[str, Obj]) -> None:
        missing = {name for p in pods if (name := (p.get("spec") or {}).get("nodeName")) and name not in nodes}
        deleted = {name for name in self._quarantine.due(missing, self.clock()) if not self._node_exists(name)}
        orphans = [p for p in pods if (p.get("spec") or {}).get("nodeName") in deleted]
        for pod in orphans:
            log.info("pod %s/%s is bound to node %s, which no longer exists: deleting it",
                     pod["metadata"].get("namespace"), pod["metadata"]["name"], pod["spec"]["nodeName"])
        self._delete_all(orphans, condition={"type": "DisruptionTarget", "status": "True",
                                             "reason": "DeletionByPodGC",
                                             "message": "PodGC: node no longer exists"})

    def _node_exists(self, name: str) -> bool:
        """A fresh read: True when the node exists, or when the answer is not a clear NotFound."""
        try:
            self.client.get(_NODES, name)
        except errors.NotFoundError:
            return False
        except errors.ApiError as exc:
            log.warning("pod-gc: could not look up node %s: %s", name, exc.message)
        return True

    def _delete_all(self, pods: list[Obj], *, condition: Obj | None) -> None:
        failures = [e for e in run_parallel([lambda p=p: self._fail_and_delete(p, condition) for p in pods])
                    if e is not None]
        for failure in failures:
            log.warning("pod-gc: %s", failure)

    def _fail_and_delete(self, pod: Obj, condition: Obj | None) -> None:
        """Kubernetes' `markFailedAndDeletePodWithCondition`: phase Failed first, then delete with grace 0."""
        meta = pod["metadata"]
        try:
            if not is_terminated(pod):
                self._mark_failed(pod, condition)
            self.client.delete(_PODS, meta["name"], namespace=meta.get("namespace"), grace_period_seconds=0)
        except errors.NotFoundError:
            return

    def _mark_failed(self, pod: Obj, condition: Obj | None) -> None:
        def failed(current: Obj) -> Obj:
            out = copy.deepcopy(current)
            status = out.setdefault("status", {})
            status["phase"] = "Failed"
            if condition is not None:
                stamped = {**condition, "lastTransitionTime": format_time(self._wall_clock())}
                status["conditions"] = [*[c for c in status.get("conditions") or []
                                          if c.get("type") != condition["type"]], stamped]
            return out

        try:
            self.client.update_status(failed(pod))
        except errors.ConflictError:
            meta = pod["metadata"]
            self.client.update_status(failed(self.client.get(_PODS, meta["name"], namespace=meta.get("namespace"))))

