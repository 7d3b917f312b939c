"""What cluster DNS answers from: Services, their ready endpoints, pods, namespaces, Ingress hosts.

Informer handlers hand API objects to `ClusterRecords`, which keeps only what DNS needs, in the
shape CoreDNS' kubernetes plugin reduces them to (`object.Service`, `object.Endpoints`): a
Service's cluster IPs, ports, headless flag and ExternalName; an EndpointSlice's ports and its
*ready* endpoints (`conditions.ready` unset counts as ready) with their hostname, or the dashed
IP when they have none; a pod's IPs. A change that alters nothing DNS answers (a pod's status
heartbeat, a label) leaves `generation` alone, so the server's answer cache survives it; any
other change bumps it.

Readers and writers share one lock: resolving a query holds it for a few microseconds, and
every update is a handful of dict operations.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

Obj = dict[str, Any]
Key = tuple[str, str]  # (namespace, name)

SERVICE_NAME_LABEL = "kubernetes.io/service-name"


@dataclass(frozen=True)
class Port:
    """A Service or EndpointSlice port: SRV records are made from these."""

    name: str
    protocol: str
    port: int


@dataclass(frozen=True)
class Service:
    """A Service as DNS sees it."""

    namespace: str
    name: str
    cluster_ips: tuple[str, ...]  # IPv4 cluster IPs (none for headless and ExternalName services)
    headless: bool
    external_name: str | None
    ports: tuple[Port, ...]


@dataclass(frozen=True)
class Endpoint:
    """A ready endpoint: its IPv4 address and hostname (its own, else its dashed address)."""

    ip: str
    hostname: str


@dataclass(frozen=True)
class Slice:
    """An EndpointSlice as DNS sees it: the Service it belongs to, its ports, its ready endpoints."""

    service: str
    ports: tuple[Port, ...]
    endpoints: tuple[Endpoint, ...]


def _meta(obj: Obj) -> tuple[str, str] | None:
    meta = obj.get("metadata") if isinstance(obj, dict) else None
    if not isinstance(meta, dict):
        return None
    namespace, name = meta.get("namespace") or "default", meta.get("name")
    if not isinstance(namespace, str) or not isinstance(name, str) or not name:
        return None
    return namespace.lower(), name.lower()


def _ipv4(value: Any) -> str | None:
    try:
        return str(ipaddress.IPv4Address(value)) if isinstance(value, str) else None
    except ValueError:
        return None


def _ports(items: Any) -> tuple[Port, ...]:
    ports = []
    for item in items if isinstance(items, list) else []:
        if not isinstance(item, dict):
            continue
        number = item.get("port")
        if isinstance(number, int) and not isinstance(number, bool) and 0 <= number <= 65535:
            ports.append(Port(str(item.get("name") or "").lower(), str(item.get("protocol") or "TCP").lower(),
                              number))
    return tuple(ports)


def service_from(obj: Obj) -> Service | None:
    """The DNS view of a Service object (None when it has no usable name)."""
    key = _meta(obj)
    if key is None:
        return None
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    ips = spec.get("clusterIPs") if isinstance(spec.get("clusterIPs"), list) else [spec.get("clusterIP")]
    external = spec.get("externalName") if spec.get("type") == "ExternalName" else None
    headless = spec.get("clusterIP") == "None"
    cluster_ips = () if headless or external else tuple(ip for ip in map(_ipv4, ips) if ip)
    return Service(key[0], key[1], cluster_ips, headless,
                   external.lower().rstrip(".") if isinstance(external, str) and external else None,
                   _ports(spec.get("ports")))


def dashed(ip: str) -> str:
    """`10.244.1.5` -> `10-244-1-5`: the hostname of an endpoint without one, the label of a pod record."""
    return ip.replace(".", "-")


def slice_from(obj: Obj) -> Slice | None:
    """The DNS view of an EndpointSlice (None without a Service label or outside IPv4)."""
    labels = (obj.get("metadata") or {}).get("labels") if isinstance(obj.get("metadata"), dict) else None
    service = labels.get(SERVICE_NAME_LABEL) if isinstance(labels, dict) else None
    if not isinstance(service, str) or not service or obj.get("addressType") != "IPv4":
        return None
    endpoints = []
    for item in obj.get("endpoints") if isinstance(obj.get("endpoints"), list) else []:
        if not isinstance(item, dict):
            continue
        conditions = item.get("conditions") if isinstance(item.get("conditions"), dict) else {}
        if conditions.get("ready") is False:  # unset means ready (the API's documented reading)
            continue
        hostname = item.get("hostname") if isinstance(item.get("hostname"), str) else ""
        for address in item.get("addresses") if isinstance(item.get("addresses"), list) else []:
            if (ip := _ipv4(address)) is not None:
                endpoints.append(Endpoint(ip, hostname.lower() or dashed(ip)))
    return Slice(service.lower(), _ports(obj.get("ports")), tuple(endpoints))


def pod_ips_from(obj: Obj) -> tuple[str, ...]:
    """The IPv4 addresses of a pod that has its own (not host network), unless it finished."""
    spec = obj.get("spec") if isinstance(obj.get("spec"), dict) else {}
    status = obj.get("status") if isinstance(obj.get("status"), dict) else {}
    if spec.get("hostNetwork") or status.get("phase") in ("Succeeded", "Failed"):
        return ()
    listed = status.get("podIPs") if isinstance(status.get("podIPs"), list) else []
    values = [p.get("ip") for p in listed if isinstance(p, dict)] or [status.get("podIP")]
    return tuple(ip for ip in map(_ipv4, values) if ip)


class ClusterRecords:
    """The cache DNS answers from (see the module docstring). Thread-safe."""

    def __init__(self, *, clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.Lock()
        self._clock = clock
        self.generation = 0
        self.serial = int(clock()) & 0xFFFFFFFF  # the SOA serial: when the records last changed
        self.synced = False  # every feeding informer has listed once (until then unknown names get SERVFAIL)
        self._namespaces: set[str] = set()
        self._services: dict[Key, Service] = {}
        self._service_ips: dict[str, set[Key]] = {}
        self._slices: dict[Key, Slice] = {}  # (namespace, slice name)
        self._slices_of: dict[Key, set[str]] = {}  # (namespace, service) -> slice names
        self._endpoint_ips: dict[str, set[tuple[str, str, str]]] = {}  # ip -> (hostname, namespace, service)
        self._pods: dict[Key, tuple[str, ...]] = {}
        self._pod_ips: dict[str, set[Key]] = {}
        self._ingress_hosts: frozenset[str] = frozenset()

    @contextmanager
    def reading(self) -> Iterator[ClusterRecords]:
        """Hold the records still while one query is answered from them."""
        with self._lock:
            yield self

    def _changed(self) -> None:
        self.generation += 1
        self.serial = int(self._clock()) & 0xFFFFFFFF

    def mark_synced(self) -> None:
        """Every informer feeding these records has delivered its first list."""
        with self._lock:
            if not self.synced:
                self.synced = True
                self._changed()

    # ---- namespaces ------------------------------------------------------------------------

    def set_namespace(self, obj: Obj) -> None:
        """A Namespace was added or changed."""
        name = ((obj.get("metadata") or {}).get("name") or "").lower() if isinstance(obj, dict) else ""
        with self._lock:
            if name and name not in self._namespaces:
                self._namespaces.add(name)
                self._changed()

    def delete_namespace(self, obj: Obj) -> None:
        """A Namespace is gone."""
        name = ((obj.get("metadata") or {}).get("name") or "").lower() if isinstance(obj, dict) else ""
        with self._lock:
            if name in self._namespaces:
                self._namespaces.discard(name)
                self._changed()

    # ---- services --------------------------------------------------------------------------

    def set_service(self, obj: Obj) -> None:
        """A Service was added or changed."""
        service = service_from(obj)
        if service is None:
            return
        key = (service.namespace, service.name)
        with self._lock:
            old = self._services.get(key)
            if old == service:
                return
            if old is not None:
                _unindex(self._service_ips, old.cluster_ips, key)
            self._services[key] = service
            _index(self._service_ips, service.cluster_ips, key)
            self._changed()

    def delete_service(self, obj: Obj) -> None:
        """A Service is gone."""
        key = _meta(obj)
        with self._lock:
            old = self._services.pop(key, None) if key else None
            if old is not None:
                _unindex(self._service_ips, old.cluster_ips, key)
                self._changed()

    # ---- endpoint slices -------------------------------------------------------------------

    def set_slice(self, obj: Obj) -> None:
        """An EndpointSlice was added or changed."""
        key = _meta(obj)
        if key is None:
            return
        new = slice_from(obj)
        with self._lock:
            old = self._slices.get(key)
            if old == new:
                return
            self._drop_slice(key)
            if new is not None:
                self._slices[key] = new
                self._slices_of.setdefault((key[0], new.service), set()).add(key[1])
                for endpoint in new.endpoints:
                    self._endpoint_ips.setdefault(endpoint.ip, set()).add((endpoint.hostname, key[0], new.service))
            self._changed()

    def delete_slice(self, obj: Obj) -> None:
        """An EndpointSlice is gone."""
        key = _meta(obj)
        with self._lock:
            if key is not None and key in self._slices:
                self._drop_slice(key)
                self._changed()

    def _drop_slice(self, key: Key) -> None:
        old = self._slices.pop(key, None)
        if old is None:
            return
        names = self._slices_of.get((key[0], old.service))
        if names is not None:
            names.discard(key[1])
            if not names:
                del self._slices_of[(key[0], old.service)]
        for endpoint in old.endpoints:
            entries = self._endpoint_ips.get(endpoint.ip)
            if entries is None:
                continue
            if not any(e.ip == endpoint.ip and e.hostname == endpoint.hostname
                       for name in self._slices_of.get((key[0], old.service), ())
                       for e in self._slices[(key[0], name)].endpoints):
                entries.discard((endpoint.hostname, key[0], old.service))
            if not entries:
                del self._endpoint_ips[endpoint.ip]

    # ---- pods ------------------------------------------------------------------------------

    def set_pod(self, obj: Obj) -> None:
        """A Pod was added or changed (only its IPs matter)."""
        key = _meta(obj)
        if key is None:
            return
        ips = pod_ips_from(obj)
        with self._lock:
            old = self._pods.get(key, ())
            if old == ips:
                return
            _unindex(self._pod_ips, old, key)
            if ips:
                self._pods[key] = ips
                _index(self._pod_ips, ips, key)
            else:
                self._pods.pop(key, None)
            self._changed()

    def delete_pod(self, obj: Obj) -> None:
        """A Pod is gone."""
        key = _meta(obj)
        with self._lock:
            old = self._pods.pop(key, None) if key else None
            if old:
                _unindex(self._pod_ips, old, key)
                self._changed()

    # ---- ingress hosts ---------------------------------------------------------------------

    def set_ingress_hosts(self, hosts: Iterable[str]) -> None:
        """The host names of the Ingresses this node's proxy serves (`*.example.com` wildcards allowed)."""
        fresh = frozenset(h.lower().rstrip(".") for h in hosts if h)
        with self._lock:
            if fresh != self._ingress_hosts:
                self._ingress_hosts = fresh
                self._changed()

    # ---- reading (call within `reading()`) -------------------------------------------------

    def namespace_exists(self, namespace: str) -> bool:
        """Whether a Namespace of that name exists."""
        return namespace in self._namespaces

    def service(self, namespace: str, name: str) -> Service | None:
        """The Service `namespace/name`, if any."""
        return self._services.get((namespace, name))

    def slices(self, namespace: str, service: str) -> list[Slice]:
        """The EndpointSlices of a Service, in a stable order."""
        names = sorted(self._slices_of.get((namespace, service), ()))
        return [self._slices[(namespace, name)] for name in names]

    def services_at(self, ip: str) -> list[Key]:
        """The Services whose cluster IP is `ip`."""
        return sorted(self._service_ips.get(ip, ()))

    def endpoints_at(self, ip: str) -> list[tuple[str, str, str]]:
        """(hostname, namespace, service) of every ready endpoint with address `ip`."""
        return sorted(self._endpoint_ips.get(ip, ()))

    def pods_at(self, ip: str) -> list[Key]:
        """The pods that have address `ip`."""
        return sorted(self._pod_ips.get(ip, ()))

    def ingress_host(self, name: str) -> bool:
        """Whether `name` is the host (or matches the one-label wildcard) of a served Ingress."""
        hosts = self._ingress_hosts
        if name in hosts:
            return True
        _, dot, parent = name.partition(".")
        return bool(dot) and f"*.{parent}" in hosts


def _index(index: dict[str, set[Key]], ips: Iterable[str], key: Key) -> None:
    for ip in ips:
        index.setdefault(ip, set()).add(key)


def _unindex(index: dict[str, set[Key]], ips: Iterable[str], key: Key | None) -> None:
    for ip in ips:
        keys = index.get(ip)
        if keys is not None:
            keys.discard(key)  # type: ignore[arg-type]
            if not keys:
                del index[ip]
