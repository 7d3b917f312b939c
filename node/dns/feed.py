"""Informers feeding `ClusterRecords`, and `NodeDns`: the whole node-local DNS of one node agent.

Every node agent watches Services, EndpointSlices, Pods, Namespaces and Ingresses (each an
informer: one list, then long-poll watches, so a new Service is answerable as soon as its watch
event arrives) and hands each change to the records; queries never reach the API. Until every
informer has listed once, unknown cluster names get SERVFAIL rather than a false NXDOMAIN.

Ingress rule hosts are checked to be DNS names (the API takes any string there) before they
become answerable names.
"""

from __future__ import annotations

import logging
import os
import re
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from minik8s.api.client import ApiClient
from minik8s.api.informer import Informer
from minik8s.api.threads import start_thread

from .forward import Forwarder, read_nameservers
from .interface import DEFAULT_INTERFACE, Placed, ensure_address, undo
from .records import ClusterRecords
from .resolver import ZoneSettings
from .server import DnsServer, ServerSettings

log = logging.getLogger(__name__)

NETNS_DIR = "/var/run/netns"

Obj = dict[str, Any]

_LABEL = re.compile(r"^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$")


def ingress_host(value: Any) -> str | None:
    """`value` as a lower-case DNS name (`*.` wildcard allowed), None when it is none."""
    if not isinstance(value, str) or not value or len(value) > 253:
        return None
    host = value.lower().rstrip(".")
    labels = host.split(".")
    if labels[0] == "*":
        labels = labels[1:]
    if len(labels) < 1 or not all(_LABEL.match(label) for label in labels):
        return None
    return host


def ingress_hosts(ingresses: Iterable[Obj]) -> set[str]:
    """Every valid rule host of the given Ingresses."""
    hosts = set()
    for ingress in ingresses:
        spec = ingress.get("spec") if isinstance(ingress.get("spec"), dict) else {}
        for rule in spec.get("rules") if isinstance(spec.get("rules"), list) else []:
            if isinstance(rule, dict) and (host := ingress_host(rule.get("host"))) is not None:
                hosts.add(host)
    return hosts


class RecordsFeed:
    """The informers that keep `records` current (see the module docstring)."""

    def __init__(self, client: ApiClient, records: ClusterRecords, *, pods: bool = True,
                 ingresses: bool = True) -> None:
        self.records = records
        self._informers: list[Informer] = []
        self._stopped = threading.Event()

        def informer(resource: str, on_set: Callable[[Obj], None], on_delete: Callable[[Obj], None]) -> Informer:
            watched = Informer(client, resource)
            watched.add_handler(on_add=on_set, on_update=lambda _old, new: on_set(new), on_delete=on_delete)
            self._informers.append(watched)
            return watched

        informer("namespaces", records.set_namespace, records.delete_namespace)
        informer("services", records.set_service, records.delete_service)
        informer("endpointslices", records.set_slice, records.delete_slice)
        if pods:
            informer("pods", records.set_pod, records.delete_pod)
        if ingresses:
            self._ingresses = informer("ingresses", self._ingress_changed, self._ingress_changed)

    def _ingress_changed(self, _obj: Obj) -> None:
        self.records.set_ingress_hosts(ingress_hosts(self._ingresses.list()))

    def start(self) -> None:
        """Start the informers; the records are marked synced once each has listed."""
        for informer in self._informers:
            informer.start()
        start_thread(self._wait_for_sync, name="dns-sync")

    def _wait_for_sync(self) -> None:
        for informer in self._informers:
            while not informer.wait_for_sync(1.0):
                if self._stopped.is_set():
                    return
        self.records.mark_synced()
        log.info("cluster DNS records synced")

    def wait_for_sync(self, timeout: float | None = None) -> bool:
        """Whether every informer listed within `timeout` seconds."""
        return all(informer.wait_for_sync(timeout) for informer in self._informers)

    def stop(self) -> None:
        """Stop the informers (each finishes its current long poll)."""
        self._stopped.set()
        for informer in self._informers:
            informer.stop(timeout=0)


@dataclass(frozen=True)
class NodeDnsSettings:
    """The node-local DNS of one node agent."""

    address: str = "169.254.20.10"
    port: int = 53
    domain: str = "cluster.local"
    resolv_conf: str = "/etc/resolv.conf"  # the node's own resolvers: where other names go
    ingress_address: str | None = None  # what Ingress hosts resolve to (the node's IP); None: not answered
    interface: str | None = DEFAULT_INTERFACE  # the dummy link for `address`; None: the address is there already


def _in_named_netns() -> bool:
    """Whether this process runs in a named network namespace (`ip netns`: a node host of `minik8s up`),
    rather than in the machine's own."""
    try:
        own = os.stat("/proc/self/ns/net").st_ino
        return any(os.stat(os.path.join(NETNS_DIR, name)).st_ino == own for name in os.listdir(NETNS_DIR))
    except OSError:
        return False


class NodeDns:
    """Records, informers, forwarder and server of one node (start() binds; stop() ends it all)."""

    def __init__(self, client: ApiClient, settings: NodeDnsSettings) -> None:
        self.settings = settings
        self.records = ClusterRecords()
        self.feed = RecordsFeed(client, self.records)
        upstreams = read_nameservers(settings.resolv_conf, exclude=(settings.address,))
        self.server = DnsServer(self.records,
                                ZoneSettings(domain=settings.domain, nameserver=settings.address,
                                             ingress_address=settings.ingress_address),
                                Forwarder(upstreams), ServerSettings(address=settings.address, port=settings.port))
        self._placed: Placed | None = None  # what to undo at stop (only in the machine's own namespace)

    def start(self) -> None:
        """Put the address on its link, bind port 53 there, start the informers and the server.

        Raises OSError when the address or port cannot be had (another node agent in the same
        network namespace serves it already, or no privileges)."""
        s = self.settings
        if s.interface is not None:
            placed = ensure_address(s.address, s.interface)
            self._placed = None if _in_named_netns() else placed
        self.server.bind()
        self.feed.start()
        self.server.start()

    def stop(self) -> None:
        """Stop serving; the link (or address) goes only if this agent made it in the machine's own
        namespace (in a node host's namespace it stays, so pods get "port unreachable" at once until a
        restart, and goes with the namespace)."""
        self.server.stop()
        self.feed.stop()
        if self._placed is not None:
            undo(self._placed, self.settings.address)
            self._placed = None
