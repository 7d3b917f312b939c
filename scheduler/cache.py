"""The scheduler's view of the cluster: every node and the pods bound or assumed on it.

Informer handlers keep it current (nodes, and pods that have a node). A pod the scheduler has
just placed is *assumed* on its node at once, before the binding request is even sent, so the
next cycle already counts its requests; otherwise a burst of pending pods would all see the
same empty node. The assigned-pod informer later confirms the assumption; a binding that fails
undoes it (`forget`), and one that succeeded but is never confirmed (the pod vanished while the
informer was relisting) expires `assume_ttl` seconds after the binding finished.

One lock guards everything; the scheduling loop holds it (`lock`) for a whole filter-and-score
pass, so a cycle sees one consistent state.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

from minik8s.api.informer import object_key

from .framework import NodeInfo, Obj, PodInfo


def node_fingerprint(node: Mapping[str, Any]) -> tuple[Any, ...]:
    """The parts of a Node that filters and scores read; heartbeats leave it unchanged."""
    metadata, spec, status = (node.get(k) or {} for k in ("metadata", "spec", "status"))
    ready = [c.get("status") for c in status.get("conditions") or [] if c.get("type") == "Ready"]
    return (metadata.get("labels"), spec.get("taints"), spec.get("unschedulable"),
            status.get("allocatable"), status.get("capacity"), ready)


class Cache:
    """Nodes and pod placements, including assumed pods, behind one re-entrant lock."""

    def __init__(self, *, assume_ttl: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.lock = threading.RLock()
        self._assume_ttl = assume_ttl
        self._clock = clock
        self._nodes: dict[str, NodeInfo] = {}
        self._placement: dict[str, str] = {}  # pod key -> node name
        self._assumed: dict[str, float | None] = {}  # pod key -> expiry (None while binding)

    # -- nodes ---------------------------------------------------------------------------------

    def update_node(self, node: Obj) -> bool:
        """Add or update a Node; True when it is new or changed in a way scheduling can notice."""
        name = node["metadata"]["name"]
        with self.lock:
            info = self._nodes.setdefault(name, NodeInfo(name))
            changed = info.node is None or node_fingerprint(info.node) != node_fingerprint(node)
            info.set_node(node)
            return changed

    def remove_node(self, name: str) -> None:
        """Forget a Node; pods still bound to it keep counting until they are removed."""
        with self.lock:
            info = self._nodes.get(name)
            if info is None:
                return
            info.set_node(None)
            if not info.pods:
                del self._nodes[name]

    def nodes(self) -> list[NodeInfo]:
        """The nodes whose Node object is known (call with `lock` held while using them)."""
        with self.lock:
            return [info for info in self._nodes.values() if info.node is not None]

    # -- pods ----------------------------------------------------------------------------------

    def add_pod(self, pod: Obj) -> None:
        """Record a pod bound to `spec.nodeName`; confirms it if it was assumed."""
        with self.lock:
            info = PodInfo.of(pod)
            self._assumed.pop(info.key, None)
            self._place(info, pod["spec"]["nodeName"])

    def remove_pod(self, pod: Obj) -> None:
        """A pod that no longer occupies its node (deleted or finished)."""
        with self.lock:
            key = object_key(pod)
            self._assumed.pop(key, None)
            self._unplace(key)

    def assume(self, pod: PodInfo, node: str) -> None:
        """Count `pod` on `node` now, ahead of its binding."""
        with self.lock:
            self._assumed[pod.key] = None
            self._place(pod, node)

    def finish_binding(self, key: str) -> None:
        """The binding succeeded: the assumption now waits (up to the TTL) for confirmation."""
        with self.lock:
            if key in self._assumed:
                self._assumed[key] = self._clock() + self._assume_ttl

    def forget(self, key: str) -> None:
        """Undo an assumption whose binding failed; a confirmed pod is left alone."""
        with self.lock:
            if self._assumed.pop(key, False) is not False:
                self._unplace(key)

    def holds(self, pod: Obj) -> bool:
        """Whether this very pod (same uid) is counted on a node, assumed or bound."""
        key, uid = object_key(pod), (pod.get("metadata") or {}).get("uid")
        with self.lock:
            node = self._placement.get(key)
            placed = self._nodes[node].pods[key] if node is not None else None
            return placed is not None and (placed.pod.get("metadata") or {}).get("uid") == uid

    def expire(self) -> list[str]:
        """Drop assumptions bound more than the TTL ago and never confirmed; their keys."""
        with self.lock:
            now = self._clock()
            expired = [key for key, deadline in self._assumed.items() if deadline is not None and deadline < now]
            for key in expired:
                del self._assumed[key]
                self._unplace(key)
            return expired

    def _place(self, pod: PodInfo, node: str) -> None:
        self._unplace(pod.key)
        self._nodes.setdefault(node, NodeInfo(node)).add_pod(pod)
        self._placement[pod.key] = node

    def _unplace(self, key: str) -> None:
        node = self._placement.pop(key, None)
        info = self._nodes.get(node) if node is not None else None
        if info is None:
            return
        info.remove_pod(key)
        if info.node is None and not info.pods:
            del self._nodes[info.name]
