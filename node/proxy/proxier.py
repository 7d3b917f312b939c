"""The node proxy: keeps the table `ip minik8s` in step with Services and EndpointSlices.

Informers on Services and EndpointSlices (all namespaces) only note which Services changed and
wake the sync thread; that thread (its own, so nothing here can delay the kubelet or the Lease
heartbeat) recomputes the rules of those Services only, diffs them against what the kernel was
last given and writes the difference as one atomic `nft -f -` transaction (`transaction`).

- The first sync waits until both informers have listed, and is a full one (a restarted agent
  rewrites the same table in one transaction; established connections live on in conntrack).
- Syncs are at least `min_sync_period` apart: changes arriving meanwhile are written together.
- A failed transaction is logged and retried as a full sync (1 s, doubling to 30 s); a full sync
  also runs every `full_sync_period`, repairing whatever changed the table behind the agent's back.
- Flushed chains are deleted `stale_chain_delay` later (see `transaction`), by a sync of their own.
- After a sync, UDP flows to endpoints that are gone are deleted from conntrack (`conntrack`).

Only errors of `nft` are survived here; anything else is a bug and takes the agent down
(`minik8s.api.threads`), as a dead proxy thread would silently leave stale rules behind.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from minik8s.api.client import ApiClient
from minik8s.api.informer import Informer, object_key
from minik8s.api.threads import start_thread

from .conntrack import Conntrack, udp_targets
from .model import ServicePortName, service_key, service_ports, slice_endpoints, slice_service_key
from .nft import Nft, NftError
from .rules import PortRules, port_rules
from .ruleset import Ruleset
from .transaction import Transaction, delete_chains, full_sync, partial_sync

log = logging.getLogger(__name__)

Obj = dict[str, Any]
RETRY_INITIAL = 1.0
RETRY_MAX = 30.0


@dataclass(frozen=True)
class ProxySettings:
    """How one node's proxy behaves."""

    node_name: str
    pod_cidr: str | None  # this node's pods: their ClusterIP traffic keeps its source
    min_sync_period: float = 0.1  # seconds between two syncs at least (changes meanwhile are batched)
    full_sync_period: float = 3600.0
    stale_chain_delay: float = 1.0


@dataclass(frozen=True)
class SyncResult:
    """What one sync did (for logs, tests and benchmarks)."""

    full: bool
    ports: int  # Service ports programmed
    changed: int  # Service ports rewritten
    seconds: float


class Proxier:
    """One node's Service proxy (kube-proxy in nftables mode)."""

    def __init__(self, services: Informer, slices: Informer, settings: ProxySettings, *, nft: Nft,
                 conntrack: Conntrack, clock: Callable[[], float] = time.monotonic) -> None:
        """`services` and `slices`: informers on every Service and EndpointSlice (`new_proxier`)."""
        self.settings = settings
        self._nft = nft
        self._conntrack = conntrack
        self._clock = clock
        self.services = services
        self.slices = slices
        self._lock = threading.Lock()
        self._dirty: set[str] = set()  # Services (namespace/name) whose rules must be recomputed
        self._slices_of: dict[str, dict[str, Obj]] = {}  # Service -> its slices by slice key
        self._service_of_slice: dict[str, str] = {}
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._applied = Ruleset()  # what the kernel was last given
        self._need_full = True
        self._last_full = 0.0
        self._stale: dict[str, float] = {}  # flushed chain -> when
        self._failures = 0
        self._reported_conflicts: dict[str, str] = {}
        self.synced = threading.Event()  # set after the first successful sync
        self.last_sync: SyncResult | None = None
        self.services.add_handler(on_add=self._service_changed, on_update=lambda _o, new: self._service_changed(new),
                                  on_delete=self._service_changed)
        self.slices.add_handler(on_add=self._slice_changed, on_update=self._slice_updated,
                                on_delete=self._slice_deleted)

    # ---- informer handlers: note and wake, nothing else ---------------------------------------

    def _mark(self, key: str | None) -> None:
        if key is None:
            return
        with self._lock:
            self._dirty.add(key)
            self._wake.set()

    def _service_changed(self, service: Obj) -> None:
        self._mark(service_key(service))

    def _slice_changed(self, item: Obj) -> None:
        key, service = object_key(item), slice_service_key(item)
        with self._lock:
            previous = self._service_of_slice.pop(key, None)
            if previous is not None:
                self._slices_of.get(previous, {}).pop(key, None)
                self._dirty.add(previous)
            if service is not None:
                self._slices_of.setdefault(service, {})[key] = item
                self._service_of_slice[key] = service
                self._dirty.add(service)
            self._wake.set()

    def _slice_updated(self, _old: Obj, new: Obj) -> None:
        self._slice_changed(new)

    def _slice_deleted(self, item: Obj) -> None:
        key = object_key(item)
        with self._lock:
            service = self._service_of_slice.pop(key, None)
            if service is not None:
                slices = self._slices_of.get(service, {})
                slices.pop(key, None)
                if not slices:
                    self._slices_of.pop(service, None)
                self._dirty.add(service)
                self._wake.set()

    # ---- computing rules ----------------------------------------------------------------------

    def _service_rules(self, key: str) -> dict[ServicePortName, PortRules]:
        """The rules of one Service from the informer caches (empty when it is gone or not proxied)."""
        service = self.services.get(key)
        if service is None:
            return {}
        with self._lock:
            slices = list(self._slices_of.get(key, {}).values())
        endpoints = slice_endpoints(slices, self.settings.node_name)
        return {port.name: port_rules(port, endpoints.get((port.name.port, port.name.protocol), []),
                                      self.settings.pod_cidr)
                for port in service_ports(service)}

    def _desired(self, dirty: set[str], full: bool) -> Ruleset:
        if full:
            ports: dict[ServicePortName, PortRules] = {}
            for service in self.services.list():
                key = service_key(service)
                if key is not None:
                    ports.update(self._service_rules(key))
            return Ruleset(ports)
        ports = {name: rules for name, rules in self._applied.ports.items() if name.service not in dirty}
        for key in dirty:
            ports.update(self._service_rules(key))
        return Ruleset(ports)

    # ---- syncing ------------------------------------------------------------------------------

    def sync(self) -> SyncResult:
        """Write what changed since the last sync (everything when a full sync is due); NftError
        when the kernel refused the transaction (the next sync is then a full one)."""
        start = self._clock()
        with self._lock:
            dirty, self._dirty = self._dirty, set()
            self._wake.clear()
        full = self._need_full or start - self._last_full >= self.settings.full_sync_period
        new = self._desired(dirty, full)
        try:
            if full:
                tx = full_sync(new, self._nft.kernel_state())
            else:
                tx = partial_sync(self._applied, new)
            if not tx.empty:
                self._nft.apply(tx.text)
        except NftError:
            self._need_full = True
            raise
        old, self._applied = self._applied, new
        if full:
            self._need_full, self._last_full = False, start
        self._note_stale(tx, new)
        self._report_conflicts(new)
        for target in udp_targets(old, new):
            deleted = self._conntrack.clean(target)
            if deleted:
                log.info("deleted %d UDP conntrack entries of %s:%d", deleted, target.cluster_ip, target.port)
        changed = len(new.ports) if full else len({n for n in new.ports if n.service in dirty})
        result = SyncResult(full, len(new.ports), changed, self._clock() - start)
        self.last_sync = result
        self.synced.set()
        return result

    def _note_stale(self, tx: Transaction, new: Ruleset) -> None:
        now = self._clock()
        for chain in tx.stale_chains:
            self._stale.setdefault(chain, now)
        if self._stale:
            wanted = new.chains()
            for chain in [c for c in self._stale if c in wanted]:
                del self._stale[chain]  # wanted again before it was deleted: it was re-added

    def delete_stale_chains(self) -> int:
        """Delete the chains flushed at least `stale_chain_delay` ago; how many."""
        due = [c for c, when in self._stale.items() if self._clock() - when >= self.settings.stale_chain_delay]
        if not due:
            return 0
        self._nft.apply(delete_chains(due))
        for chain in due:
            del self._stale[chain]
        return len(due)

    def _report_conflicts(self, new: Ruleset) -> None:
        for service, why in new.conflicts.items():
            if self._reported_conflicts.get(service) != why:
                log.warning("Service %s: not fully programmed: %s", service, why)
        self._reported_conflicts = dict(new.conflicts)

    # ---- the thread ---------------------------------------------------------------------------

    def start(self) -> None:
        """Start the informers and the sync thread; returns at once."""
        self.services.start()
        self.slices.start()
        start_thread(self._run, name="proxy")

    def stop(self) -> None:
        """Stop syncing (the table stays: a restarted agent takes it over; `minik8s down` removes it)."""
        self._stop.set()
        self._wake.set()
        self.services.stop(timeout=0)
        self.slices.stop(timeout=0)

    def _next_wait(self) -> float:
        """Seconds until a deadline (stale chains to delete, the periodic full sync) needs a sync."""
        now = self._clock()
        waits = [self._last_full + self.settings.full_sync_period - now]
        if self._stale:
            waits.append(min(self._stale.values()) + self.settings.stale_chain_delay - now)
        return max(0.0, min(waits))

    def _run(self) -> None:
        while not (self.services.has_synced() and self.slices.has_synced()):
            if self._stop.wait(0.05):
                return
        while not self._stop.is_set():
            try:
                result = self.sync()
                self.delete_stale_chains()
            except NftError as exc:
                self._failures += 1
                log.warning("proxy rules sync failed (attempt %d; the next is a full sync): %s", self._failures, exc)
                self._stop.wait(min(RETRY_MAX, RETRY_INITIAL * 2 ** (self._failures - 1)))
                continue
            if self._failures:
                log.info("proxy rules synced again after %d failed attempts", self._failures)
                self._failures = 0
            if result.full:
                log.info("proxy rules: full sync of %d Service ports in %.3f s", result.ports, result.seconds)
            if self._stop.wait(self.settings.min_sync_period):
                return
            self._wake.wait(self._next_wait())


def new_proxier(client: ApiClient, settings: ProxySettings) -> Proxier:
    """A proxier on this machine's `nft` and `conntrack`, watching through `client` (give it a client
    of its own: its long polls then never queue behind the kubelet's requests)."""
    return Proxier(Informer(client, "services"), Informer(client, "endpointslices"), settings, nft=Nft(),
                   conntrack=Conntrack())
