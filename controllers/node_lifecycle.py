"""The node lifecycle controller: notice nodes that stopped heartbeating, taint them, evict their pods.

Each node agent renews a Lease named after its node in `kube-node-lease` (`spec.renewTime`).
This controller remembers, per node, the last `renewTime` it saw and *its own monotonic time*
when it saw it change; the value of `renewTime` itself is another machine's clock and is only
compared for change. From that:

- **renewed** (a change was observed within `node_monitor_grace_period`): the node is reachable.
  Unreachable taints are removed, and a Ready condition this controller had set to Unknown is
  set back to True. The agent normally rewrites Ready itself on its next status update; the
  controller only restores it when the condition still carries our `NodeStatusUnknown` reason,
  i.e. the agent has not written since.
- **first sighting** (no change observed yet, e.g. right after this master became leader):
  nothing is decided until a renewal is seen or the grace period passes, as in Kubernetes,
  where a fresh controller gives every node a full grace period.
- **silent** for the grace period: Ready becomes `Unknown` (`NodeStatusUnknown`, "Kubelet
  stopped posting node status."), the node gets `node.kubernetes.io/unreachable` taints with
  effects NoSchedule and NoExecute, and an Event `NodeNotReady` is recorded. Once a pod has
  been on the unreachable node for its eviction delay (`pod_eviction_timeout`, or its own
  `tolerationSeconds` for that taint; forever if it tolerates the taint without a limit), it is
  deleted. Pods bound to a node are deleted gracefully by the API server (marked with a
  `deletionTimestamp`; the node agent, or a forced delete, removes them), and an Event
  `TaintManagerEviction` "Marking for deletion Pod ns/name" is recorded per pod.

Simplifications: only the Lease counts as a heartbeat (not the node's `lastHeartbeatTime`);
only the Ready condition is set to Unknown; there are no `not-ready` taints, no zone-aware
eviction rate limits and no pod Ready=False marking.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from minik8s.api import errors
from minik8s.api.client import ApiClient, ensure_type_meta
from minik8s.api.events import EventRecorder
from minik8s.api.informer import Informer, Obj
from minik8s.api.kinds import resolve
from minik8s.api.timefmt import format_time
from minik8s.api.reconcile import Controller, Result
from minik8s.controllers.node_taints import (
    UNREACHABLE_EFFECTS, eviction_delay, ready_condition, unreachable_effects, with_ready, with_unreachable_taints,
    without_unreachable_taints,
)

NODE_LEASE_NAMESPACE = "kube-node-lease"
COMPONENT = "node-controller"
NODE_STATUS_UNKNOWN = "NodeStatusUnknown"
NODE_STATUS_UNKNOWN_MESSAGE = "Kubelet stopped posting node status."
LEASE_RENEWED = "NodeLeaseRenewed"
LEASE_RENEWED_MESSAGE = "The node agent renews its lease again."

_PODS = resolve("pods")


@dataclass
class _Health:
    """What this controller observed about one node's heartbeat (local monotonic times)."""

    renew_time: str | None  # the lease's spec.renewTime last seen (compared, never used as a time)
    observed_at: float  # when that value was first seen, or when the node was first seen
    renewed: bool = False  # a renewal (a change of renew_time) has been observed
    unreachable_since: float | None = None  # when this controller marked the node unreachable


class NodeLifecycleController(Controller):
    """Marks silent nodes Unknown + unreachable-tainted and evicts their pods; undoes it when they return."""

    _nodes: Informer
    _leases: Informer

    def __init__(
        self,
        client: ApiClient,
        *,
        node_monitor_grace_period: float = 50.0,
        pod_eviction_timeout: float = 300.0,
        node_monitor_period: float = 5.0,
        workers: int = 2,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        """`node_monitor_period` bounds how long an unreachable node goes without a look (new pods
        bound to it are found within that time); `wall_clock` only stamps conditions and taints."""
        super().__init__(client, name="node-lifecycle", workers=workers, clock=clock)
        self._grace = node_monitor_grace_period
        self._eviction_timeout = pod_eviction_timeout
        self._period = node_monitor_period
        self._wall_clock = wall_clock
        self._events = EventRecorder(client, component=COMPONENT)
        self._health: dict[str, _Health] = {}

    def setup(self) -> None:
        self._health = {}
        self._nodes = self.watch("nodes")
        self._leases = self.watch("leases.coordination.k8s.io", namespace=NODE_LEASE_NAMESPACE,
                                  key=lambda lease: lease["metadata"]["name"])

    def reconcile(self, key: str) -> Result | None:
        node = self._nodes.get(key)
        if node is None:
            self._health.pop(key, None)
            return None
        now = self.clock()
        health = self._observe(key, now)
        silent_for = now - health.observed_at
        if silent_for < self._grace:
            if health.renewed:
                self._mark_reachable(node, health)
            return Result(requeue_after=self._grace - silent_for)
        unreachable_since = self._mark_unreachable(node, health, now)
        next_due = self._evict_pods(key, now - unreachable_since)
        return Result(requeue_after=self._period if next_due is None else min(self._period, next_due))

    def _observe(self, name: str, now: float) -> _Health:
        """Update and return the node's health record from its lease as cached now."""
        lease = self._leases.get(f"{NODE_LEASE_NAMESPACE}/{name}")
        renew_time = ((lease or {}).get("spec") or {}).get("renewTime")
        health = self._health.get(name)
        if health is None:
            health = self._health[name] = _Health(renew_time, now)
        elif renew_time is not None and renew_time != health.renew_time:
            health.renew_time, health.observed_at, health.renewed = renew_time, now, True
        return health

    def _mark_reachable(self, node: Obj, health: _Health) -> None:
        health.unreachable_since = None
        ready = ready_condition(node) or {}
        if ready.get("status") == "Unknown" and ready.get("reason") == NODE_STATUS_UNKNOWN:
            node = self.client.update_status(with_ready(
                node, status="True", reason=LEASE_RENEWED, message=LEASE_RENEWED_MESSAGE,
                now=format_time(self._wall_clock()),
            ))
        if unreachable_effects(node):
            self.client.replace(without_unreachable_taints(node))

    def _mark_unreachable(self, node: Obj, health: _Health, now: float) -> float:
        """Make sure the node is marked Unknown and tainted; return since when it counts as unreachable."""
        name = node["metadata"]["name"]
        stamp = format_time(self._wall_clock())
        if (ready_condition(node) or {}).get("status") != "Unknown":
            node = self.client.update_status(with_ready(
                node, status="Unknown", reason=NODE_STATUS_UNKNOWN, message=NODE_STATUS_UNKNOWN_MESSAGE, now=stamp,
            ))
            self._events.record(node, reason="NodeNotReady", message=f"Node {name} status is now: NodeNotReady")
        if not unreachable_effects(node) >= set(UNREACHABLE_EFFECTS):
            self.client.replace(with_unreachable_taints(node, now=stamp))
        if health.unreachable_since is None:
            health.unreachable_since = now
        return health.unreachable_since

    def _evict_pods(self, node_name: str, unreachable_for: float) -> float | None:
        """Delete the node's pods whose eviction delay has passed; seconds until the next is due (None: none)."""
        pods = self.client.list(_PODS, field_selector=f"spec.nodeName={node_name}").get("items") or []
        next_due: float | None = None
        for pod in pods:
            delay = eviction_delay(pod, self._eviction_timeout)
            if pod["metadata"].get("deletionTimestamp") or delay is None:
                continue
            if unreachable_for < delay:
                remaining = delay - unreachable_for
                next_due = remaining if next_due is None else min(next_due, remaining)
                continue
            self._evict(ensure_type_meta(_PODS, pod))
        return next_due

    def _evict(self, pod: Obj) -> None:
        meta = pod["metadata"]
        try:
            self.client.delete(_PODS, meta["name"], namespace=meta["namespace"])
        except errors.NotFoundError:
            return
        self._events.record(pod, reason="TaintManagerEviction",
                            message=f"Marking for deletion Pod {meta['namespace']}/{meta['name']}")
