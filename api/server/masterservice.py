"""The `kubernetes` Service in `default`, kept by the masters (kube-apiserver's lease endpoint reconciler).

Every master, every `period` seconds:

- renews its own Lease `kube-system/apiserver-<name>` (label `apiserver.kubernetes.io/identity:
  kube-apiserver`, as kube-apiserver's), whose annotation `minik8s.io/advertise-address` is the
  `IP:PORT` this master serves its API on;
- creates the `kubernetes` Service when it is missing (ClusterIP: the first address of the
  service range; port 443 named `https`, target port this master's);
- writes its Endpoints and EndpointSlices from the masters whose Lease has not expired: the
  masters of one cluster may listen on one IP with different ports, so the addresses are grouped
  by port, one Endpoints subset and one EndpointSlice (`kubernetes`, `kubernetes-<port>`) per port.

Every master writes the same content, so their writes agree; a write that changes nothing is not
made (`--endpoint-reconciler-type=none` leaves the endpoints and Leases out, as kube-apiserver's
does). The Raft leader also runs the repair pass of the allocation index (`servicerepair`).
"""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from minik8s.api import errors
from minik8s.api.kinds import ResourceType, resolve
from minik8s.api.timefmt import format_micro_time, parse_time

from .registry import Registry

Obj = dict[str, Any]
log = logging.getLogger(__name__)

SERVICE_NAME = "kubernetes"
NAMESPACE = "default"
LEASE_NAMESPACE = "kube-system"
IDENTITY_LABEL = "apiserver.kubernetes.io/identity"
ADDRESS_ANNOTATION = "minik8s.io/advertise-address"
SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
MANAGED_BY = "minik8s-apiserver"  # not the EndpointSlice controller's: it leaves these alone
LEASE_SECONDS = 30


def advertise_address(api_addr: str) -> tuple[str, int]:
    """The `(IP, port)` other parts reach this master at (`0.0.0.0`/`::`/a name: 127.0.0.1)."""
    host, _, port = api_addr.rpartition(":")
    host = host.strip("[]")
    try:
        ip = ipaddress.ip_address(host)
        text = "127.0.0.1" if ip.is_unspecified else str(ip)
    except ValueError:
        text = "127.0.0.1"
    return text, int(port)


def endpoints_for(addresses: list[tuple[str, int]]) -> tuple[Obj, list[Obj]]:
    """The `kubernetes` Endpoints and EndpointSlices for the masters at `addresses` (IP, port)."""
    by_port: dict[int, list[str]] = {}
    for ip, port in sorted(set(addresses), key=lambda a: (a[1], a[0])):
        by_port.setdefault(port, []).append(ip)
    subsets = [{"addresses": [{"ip": ip} for ip in ips], "ports": [{"name": "https", "port": port, "protocol": "TCP"}]}
               for port, ips in by_port.items()]
    endpoints = {"apiVersion": "v1", "kind": "Endpoints",
                 "metadata": {"name": SERVICE_NAME, "namespace": NAMESPACE,
                              "labels": {"endpointslice.kubernetes.io/skip-mirror": "true"}},
                 "subsets": subsets}
    slices = []
    for i, (port, ips) in enumerate(by_port.items()):
        family = "IPv6" if ":" in ips[0] else "IPv4"
        slices.append({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
            "metadata": {"name": SERVICE_NAME if i == 0 else f"{SERVICE_NAME}-{port}", "namespace": NAMESPACE,
                         "labels": {SERVICE_NAME_LABEL: SERVICE_NAME, MANAGED_BY_LABEL: MANAGED_BY}},
            "addressType": family,
            "endpoints": [{"addresses": [ip], "conditions": {"ready": True}} for ip in ips if
                          ("IPv6" if ":" in ip else "IPv4") == family],
            "ports": [{"name": "https", "port": port, "protocol": "TCP"}],
        })
    return endpoints, slices


class MasterServiceReconciler:
    """Keeps the `kubernetes` Service, its endpoints and this master's Lease (see the module docstring)."""

    def __init__(self, registry: Registry, *, name: str, api_addr: str, cluster_ip: str,
                 is_leader: Callable[[], bool], repair: Callable[[], None] | None = None,
                 reconcile_endpoints: bool = True, period: float = 10.0,
                 clock: Callable[[], float] = time.time) -> None:
        """`reconcile_endpoints=False` is kube-apiserver's `--endpoint-reconciler-type=none`: the
        Service is created, its endpoints and this master's Lease are not written."""
        self.registry = registry
        self.name = name
        self.address = advertise_address(api_addr)
        self.cluster_ip = cluster_ip
        self.is_leader = is_leader
        self.repair = repair
        self.reconcile_endpoints = reconcile_endpoints
        self.period = period
        self.clock = clock
        self._leases: ResourceType = resolve("leases")
        self._services: ResourceType = resolve("services")
        self._endpoints: ResourceType = resolve("endpoints")
        self._slices: ResourceType = resolve("endpointslices")
        self._stopped = threading.Event()
        self.first_pass = threading.Event()  # set once the first pass ran (well or not): /readyz waits for it
        self._last_repair = 0.0

    def run(self, ready: Callable[[], bool]) -> None:
        """Loop until `stop()`: once `ready()`, one pass every `period` seconds (sooner after an error)."""
        while not self._stopped.is_set():
            wait = self.period
            if ready():
                try:
                    self.sync()
                except errors.ApiError as exc:
                    log.warning("kubernetes service: %s (retrying)", exc.message)
                    wait = 1.0
                except Exception:  # the loop must outlive anything one pass meets
                    log.exception("kubernetes service: pass failed (retrying)")
                    wait = 1.0
                self.first_pass.set()
            else:
                wait = 0.2
            self._stopped.wait(wait)

    def stop(self) -> None:
        """End `run()` after its current pass."""
        self._stopped.set()

    def sync(self) -> None:
        """One pass: renew the Lease, ensure the Service, write the endpoints; the leader repairs."""
        if self.reconcile_endpoints:
            self._renew_lease()
        self._ensure_service()
        if self.reconcile_endpoints:
            self._write_endpoints(self._live_addresses())
        if self.repair is not None and self.is_leader() and self.clock() - self._last_repair >= 60.0:
            self.repair()
            self._last_repair = self.clock()

    # ---- pieces ---------------------------------------------------------------------------------

    def _renew_lease(self) -> None:
        ip, port = self.address
        lease = {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                 "metadata": {"name": f"apiserver-{self.name}", "namespace": LEASE_NAMESPACE,
                              "labels": {IDENTITY_LABEL: "kube-apiserver"},
                              "annotations": {ADDRESS_ANNOTATION: f"{ip}:{port}"}},
                 "spec": {"holderIdentity": self.name, "leaseDurationSeconds": LEASE_SECONDS,
                          "renewTime": format_micro_time(self.clock())}}
        self._put(self._leases, lease, LEASE_NAMESPACE, always=True)

    def _ensure_service(self) -> None:
        try:
            self.registry.get(self._services, SERVICE_NAME, NAMESPACE)
            return
        except errors.NotFoundError:
            pass
        service = {"apiVersion": "v1", "kind": "Service",
                   "metadata": {"name": SERVICE_NAME, "namespace": NAMESPACE,
                                "labels": {"component": "apiserver", "provider": "kubernetes"}},
                   "spec": {"type": "ClusterIP", "clusterIP": self.cluster_ip, "sessionAffinity": "None",
                            "ports": [{"name": "https", "port": 443, "protocol": "TCP",
                                       "targetPort": self.address[1]}]}}
        try:
            self.registry.create(self._services, service, NAMESPACE)
            log.info("created the kubernetes Service (%s)", self.cluster_ip)
        except errors.AlreadyExistsError:
            pass

    def _live_addresses(self) -> list[tuple[str, int]]:
        leases, _ = self.registry.list(self._leases, LEASE_NAMESPACE)
        now = self.clock()
        live = [self.address]
        for lease in leases:
            meta = lease.get("metadata") or {}
            if (meta.get("labels") or {}).get(IDENTITY_LABEL) != "kube-apiserver":
                continue
            spec = lease.get("spec") or {}
            try:
                renewed_at = parse_time(spec.get("renewTime"))
                if renewed_at is None:
                    continue
                renewed = renewed_at.timestamp()
                duration = float(spec.get("leaseDurationSeconds") or LEASE_SECONDS)
                ip, port = advertise_address(str((meta.get("annotations") or {}).get(ADDRESS_ANNOTATION)))
            except (TypeError, ValueError):
                continue
            if renewed + duration >= now:
                live.append((ip, port))
        return live

    def _write_endpoints(self, addresses: list[tuple[str, int]]) -> None:
        endpoints, slices = endpoints_for(addresses)
        self._put(self._endpoints, endpoints, NAMESPACE)
        wanted = {s["metadata"]["name"] for s in slices}
        for piece in slices:
            self._put(self._slices, piece, NAMESPACE)
        existing, _ = self.registry.list(self._slices, NAMESPACE)
        for piece in existing:
            labels = (piece.get("metadata") or {}).get("labels") or {}
            name = piece["metadata"]["name"]
            if labels.get(MANAGED_BY_LABEL) == MANAGED_BY and labels.get(SERVICE_NAME_LABEL) == SERVICE_NAME \
                    and name not in wanted:
                try:
                    self.registry.delete(self._slices, name, NAMESPACE, {})
                except errors.NotFoundError:
                    pass

    def _put(self, rt: ResourceType, obj: Obj, namespace: str, *, always: bool = False) -> None:
        """Create `obj` or update it to this content (nothing when equal, unless `always`)."""
        name = obj["metadata"]["name"]
        for _ in range(5):
            try:
                current = self.registry.get(rt, name, namespace)
            except errors.NotFoundError:
                try:
                    self.registry.create(rt, obj, namespace)
                    return
                except errors.AlreadyExistsError:
                    continue
            if not always and _same(current, obj):
                return
            body = {**obj, "metadata": {**obj["metadata"], "resourceVersion": current["metadata"]["resourceVersion"]}}
            try:
                self.registry.update(rt, name, namespace, body)
                return
            except errors.ConflictError:
                continue


def _same(current: Obj, wanted: Obj) -> bool:
    """Whether `current` already has `wanted`'s content (its labels, annotations and other fields)."""
    meta, wanted_meta = current.get("metadata") or {}, wanted["metadata"]
    for field in ("labels", "annotations"):
        if (meta.get(field) or {}) != (wanted_meta.get(field) or {}):
            return False
    return all(current.get(k) == v for k, v in wanted.items() if k not in ("metadata", "apiVersion", "kind"))
