"""The scheduler's view of the cluster: every node and the pods bound or assumed on it.

Informer handlers keep it current (nodes, and pods that have a node). A pod the scheduler has
just placed is *assumed* on its node at once, before the binding request is even sent, so the
next cycle already counts its requests; otherwise a burst of pending pods would all see the
same empty node. The assigned-pod informer later confirms the assumption; a binding that fails
undoes it (`forget`), and one that succeeded but is never confirmed (the pod vanished while the
informer was relisting) expires `assume_ttl` seconds after the binding finished.

Threading: only the scheduling thread reads or changes the node infos. Other threads (informer
handlers, binders) hand their changes in through a queue that the scheduling thread applies
(`apply`) before each cycle. So a cycle needs no lock, binders never wait for one, and every
cycle sees one consistent state.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable, Mapping
from functools import partial
from typing import Any

from minik8s.api.informer import object_key

from .framework import NodeInfo, Obj, PodInfo


_EXPIRY_CHECK_SECONDS = 1.0


def node_fingerprint(node: Mapping[str, Any]) -> tuple[Any, ...]:
    """The parts of a Node that filters and scores read; heartbeats leave it unchanged."""
    metadata, spec, status = (node.get(k) or {} for k in ("metadata", "spec", "status"))
    ready = [c.get("status") for c in status.get("conditions") or [] if c.get("type") == "Ready"]
    return (metadata.get("labels"), spec.get("taints"), spec.get("unschedulable"),
            status.get("allocatable"), status.get("capacity"), ready)


class Cache:
    """Nodes and pod placements, including assumed pods; see the module doc for who may call what."""

    def __init__(self, *, assume_ttl: float = 30.0, clock: Callable[[], float] = time.monotonic) -> None:
        self._assume_ttl = assume_ttl
        self._clock = clock
        self._inbox: deque[Callable[[], None]] = deque()  # changes from other threads, in order
        self._nodes: dict[str, NodeInfo] = {}
        self._placement: dict[str, str] = {}  # pod key -> node name
        self._assumed: dict[str, float | None] = {}  # pod key -> expiry (None while binding)
        self._next_expiry_check = 0.0

    # -- from any thread: queued until the next `apply` ------------------------------------------

    def update_node(self, node: Obj) -> None:
        """Add or update a Node."""
        self._inbox.append(partial(self._set_node, node["metadata"]["name"], node))

    def remove_node(self, name: str) -> None:
        """Forget a Node; pods still bound to it keep counting until they are removed."""
        self._inbox.append(partial(self._set_node, name, None))

    def add_pod(self, pod: Obj) -> None:
        """Record a pod bound to `spec.nodeName`; confirms it if it was assumed."""
        self._inbox.append(partial(self._confirm, PodInfo.of(pod), pod["spec"]["nodeName"]))

    def remove_pod(self, pod: Obj) -> None:
        """A pod that no longer occupies its node (deleted or finished)."""
        self._inbox.append(partial(self._remove, object_key(pod)))

    def finish_binding(self, key: str) -> None:
        """The binding succeeded: the assumption now waits (up to the TTL) for confirmation."""
        self._inbox.append(partial(self._bound, key, self._clock() + self._assume_ttl))

    def forget(self, key: str) -> None:
        """Undo an assumption whose binding failed; a confirmed pod is left alone."""
        self._inbox.append(partial(self._forget, key))

    # -- the scheduling thread only ----------------------------------------------------------------

    def apply(self) -> None:
        """Apply the changes other threads handed in, oldest first."""
        while self._inbox:
            self._inbox.popleft()()

    def nodes(self) -> list[NodeInfo]:
        """The nodes whose Node object is known."""
        return [info for info in self._nodes.values() if info.node is not None]

    def holds(self, pod: Obj) -> bool:
        """Whether this very pod (same uid) is counted on a node, assumed or bound."""
        node = self._placement.get(object_key(pod))
        if node is None:
            return False
        placed = self._nodes[node].pods[object_key(pod)]
        return (placed.pod.get("metadata") or {}).get("uid") == (pod.get("metadata") or {}).get("uid")

    def assume(self, pod: PodInfo, node: str) -> None:
        """Count `pod` on `node` now, ahead of its binding."""
        self._assumed[pod.key] = None
        self._place(pod, node)

    def expire(self) -> list[str]:
        """Drop assumptions bound more than the TTL ago and never confirmed; their keys.

        Looks at most once a second, so calling it every cycle stays cheap during a burst.
        """
        now = self._clock()
        if now < self._next_expiry_check:
            return []
        self._next_expiry_check = now + _EXPIRY_CHECK_SECONDS
        expired = [key for key, deadline in self._assumed.items() if deadline is not None and deadline < now]
        for key in expired:
            del self._assumed[key]
            self._unplace(key)
        return expired

    # -- changes, applied on the scheduling thread -------------------------------------------------

    def _set_node(self, name: str, node: Obj | None) -> None:
        info = self._nodes.setdefault(name, NodeInfo(name))
        info.set_node(node)
        if node is None and not info.pods:
            del self._nodes[name]

    def _confirm(self, pod: PodInfo, node: str) -> None:
        self._assumed.pop(pod.key, None)
        self._place(pod, node)

    def _remove(self, key: str) -> None:
        self._assumed.pop(key, None)
        self._unplace(key)

    def _bound(self, key: str, deadline: float) -> None:
        if key in self._assumed:
            self._assumed[key] = deadline

    def _forget(self, key: str) -> None:
        if self._assumed.pop(key, False) is not False:
            self._unplace(key)

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
