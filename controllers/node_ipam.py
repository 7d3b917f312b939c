"""Node IPAM: give every Node a pod CIDR out of the cluster CIDR (kube-controller-manager's range allocator).

A Node without `spec.podCIDR` gets the lowest free subnet of `cluster_cidr` with prefix
`node_mask_size` (10.244.0.0/16 split into /24s by default), written to `spec.podCIDR` and
`spec.podCIDRs`. The node agents route pod traffic by these (host-gw).

A subnet is free when it overlaps no CIDR that a cached Node carries and none this
controller has just handed out but does not yet see in its cache (a reservation, kept until
the node shows a podCIDR or is deleted, so a lagging cache cannot cause a double allocation).
The write is a PUT with the cached resourceVersion: if the node changed meanwhile (say
another writer set a CIDR) the server answers 409 and the key is retried on the fresh cache.
A node's CIDR is never changed once set; a deleted node's CIDR becomes free again. When the
range is exhausted, an Event `CIDRNotAvailable` is recorded and the node is retried later.
"""

from __future__ import annotations

import copy
import ipaddress
import logging
import threading
from collections.abc import Iterator

from minik8s.api.client import ApiClient
from minik8s.api.events import EventRecorder
from minik8s.api.informer import Informer, Obj
from minik8s.api.reconcile import Controller, Result

log = logging.getLogger(__name__)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

COMPONENT = "node-ipam-controller"
RETRY_WHEN_FULL = 30.0  # seconds between attempts for a node waiting for a CIDR to be freed


class NodeIpamController(Controller):
    """Assigns each Node a distinct pod CIDR from the cluster CIDR."""

    _nodes: Informer

    def __init__(self, client: ApiClient, *, cluster_cidr: str = "10.244.0.0/16", node_mask_size: int = 24) -> None:
        """One worker: allocations are serialised anyway; `node_mask_size` must lie within the cluster prefix."""
        super().__init__(client, name="node-ipam", workers=1)
        self._cluster = ipaddress.ip_network(cluster_cidr)
        if not self._cluster.prefixlen <= node_mask_size <= self._cluster.max_prefixlen:
            raise ValueError(f"node mask /{node_mask_size} does not fit in cluster CIDR {cluster_cidr}")
        self._mask = node_mask_size
        self._events = EventRecorder(client, component=COMPONENT)
        self._reserved: dict[str, Network] = {}  # node -> CIDR handed out, until the cache shows it
        self._lock = threading.Lock()

    def setup(self) -> None:
        with self._lock:
            self._reserved = {}
        self._nodes = self.watch("nodes")

    def reconcile(self, key: str) -> Result | None:
        node = self._nodes.get(key)
        if node is None or (node.get("spec") or {}).get("podCIDR"):
            with self._lock:
                self._reserved.pop(key, None)
            return None
        with self._lock:
            cidr = self._lowest_free(exclude=key)
            if cidr is None:
                self._reserved.pop(key, None)
            else:
                self._reserved[key] = cidr
        if cidr is None:
            log.warning("no pod CIDR left in %s for node %s", self._cluster, key)
            self._events.record(node, reason="CIDRNotAvailable", event_type="Warning",
                                message=f"Node {key} status is now: CIDRNotAvailable")
            return Result(requeue_after=RETRY_WHEN_FULL)
        updated = copy.deepcopy(node)
        spec = updated["spec"] = updated.get("spec") or {}
        spec["podCIDR"], spec["podCIDRs"] = str(cidr), [str(cidr)]
        self.client.replace(updated)  # carries the cached resourceVersion: 409 if the node changed
        log.info("node %s: podCIDR %s", key, cidr)
        return None

    def _lowest_free(self, *, exclude: str) -> Network | None:
        """The lowest subnet overlapping nothing used by nodes other than `exclude` (lock held)."""
        used = [net for name, net in self._reserved.items() if name != exclude]
        used += [net for node in self._nodes.list() if node["metadata"]["name"] != exclude for net in _cidrs_of(node)]
        for subnet in self._cluster.subnets(new_prefix=self._mask):
            if not any(subnet.overlaps(net) for net in used):
                return subnet
        return None


def _cidrs_of(node: Obj) -> Iterator[Network]:
    """The networks in a node's `spec.podCIDR`/`spec.podCIDRs` (malformed values are skipped)."""
    spec = node.get("spec") if isinstance(node.get("spec"), dict) else {}
    extra = spec.get("podCIDRs") if isinstance(spec.get("podCIDRs"), list) else []
    # Values of any other type are ignored (a dict keeps the order and drops the duplicate podCIDRs[0]).
    for text in dict.fromkeys(t for t in [spec.get("podCIDR"), *extra] if isinstance(t, str)):
        if not text:
            continue
        try:
            yield ipaddress.ip_network(text, strict=False)
        except ValueError:
            log.warning("node %s has a malformed pod CIDR %r", node["metadata"]["name"], text)
