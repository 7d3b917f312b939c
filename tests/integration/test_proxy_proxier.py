"""The proxier on the real kernel (a network namespace of the test's own): informer events to full and
partial syncs, recovery from a refused transaction, stale chains, UDP conntrack clean-up, its thread.

The informers are fed by hand (`FakeInformer`); `nft` and `conntrack` are the real commands.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import pytest

from minik8s.node.proxy import names
from minik8s.node.proxy.conntrack import Conntrack, Target
from minik8s.node.proxy.model import Endpoint, ServicePortName
from minik8s.node.proxy.nft import Nft, NftError
from minik8s.node.proxy.proxier import Proxier, ProxySettings

from ..unit.proxy_objects import FakeInformer, endpoint, endpoint_slice, service
from .cluster import wait_for
from .proxy_netns import Netns, netns

WEB = ServicePortName("default", "web", "http", "tcp")


class RecordingNft(Nft):
    """The real `nft`, keeping every script it applied."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.scripts: list[str] = []

    def apply(self, script: str) -> None:
        self.scripts.append(script)
        super().apply(script)


class RecordingConntrack(Conntrack):
    """The real `conntrack`, keeping every Service port it was asked to clean."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self.cleaned: list[Target] = []

    def clean(self, target: Target) -> int:
        self.cleaned.append(target)
        return super().clean(target)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Harness:
    def __init__(self, ns: Netns, **settings: Any) -> None:
        self.ns = ns
        self.services, self.slices, self.clock = FakeInformer(), FakeInformer(), Clock()
        self.nft = RecordingNft(prefix=ns.prefix)
        self.conntrack = RecordingConntrack(prefix=ns.prefix)
        settings.setdefault("pod_cidr", "10.244.1.0/24")
        self.proxier = Proxier(self.services, self.slices, ProxySettings(node_name="node-1", **settings),  # type: ignore[arg-type]
                               nft=self.nft, conntrack=self.conntrack, clock=self.clock)

    def map(self, name: str) -> str:
        """The elements of one map or set, as nft lists them (whitespace squeezed)."""
        done = self.ns.run("nft", "list", "map" if name != "cluster-ips" else "set", "ip", "minik8s", name)
        return re.sub(r"\s+", " ", done.stdout)

    def chains(self) -> dict[str, list[str]]:
        return self.ns.snapshot()["chains"]


@pytest.fixture
def h() -> Iterator[Harness]:
    with netns() as ns:
        yield Harness(ns)


def test_proxier_first_sync_is_full_then_only_the_changed_service(h: Harness) -> None:
    """A full sync first; an EndpointSlice change later rewrites only its Service's rules; no change, no script."""
    h.services.put(service("web", "10.96.0.10"))
    h.services.put(service("db", "10.96.0.11"))
    h.slices.put(endpoint_slice("web-1", "web", endpoint("10.244.1.5")))
    first = h.proxier.sync()
    assert first.full and first.ports == 2
    assert f"10.96.0.10 . tcp . 80 : goto {names.service_chain(WEB)}" in h.map("service-ips")
    h.slices.put(endpoint_slice("web-1", "web", endpoint("10.244.1.5"), endpoint("10.244.1.6")))
    second = h.proxier.sync()
    assert not second.full and second.changed == 1
    assert "db" not in h.nft.scripts[-1] and "10.244.1.6" in h.nft.scripts[-1]
    assert names.endpoint_chain(WEB, Endpoint("10.244.1.6", 8080)) in h.chains()
    assert h.proxier.sync().changed == 0 and len(h.nft.scripts) == 2


def test_proxier_slice_moving_to_another_service_updates_both(h: Harness) -> None:
    """A slice whose service-name label changes leaves the old Service and joins the new one."""
    h.services.put(service("web", "10.96.0.10"))
    h.services.put(service("api", "10.96.0.12"))
    h.slices.put(endpoint_slice("s-1", "web", endpoint("10.244.1.5")))
    h.proxier.sync()
    h.slices.put(endpoint_slice("s-1", "api", endpoint("10.244.1.5")))
    h.proxier.sync()
    assert "10.96.0.10 . tcp . 80 : goto reject-chain" in h.map("no-endpoint-services")
    assert "10.96.0.12 . tcp . 80 : goto service-" in h.map("service-ips")
    h.slices.remove(endpoint_slice("s-1", "api"))
    h.proxier.sync()
    assert "10.96.0.12 . tcp . 80 : goto reject-chain" in h.map("no-endpoint-services")


def test_proxier_refused_transaction_is_followed_by_a_full_sync_that_repairs(h: Harness) -> None:
    """The table deleted behind the proxier's back: its next partial sync is refused by the kernel, the one after
    is a full sync that writes everything again."""
    h.services.put(service("web", "10.96.0.10"))
    h.proxier.sync()
    h.ns.run("nft", "delete", "table", "ip", "minik8s")
    h.slices.put(endpoint_slice("web-1", "web", endpoint("10.244.1.5")))
    with pytest.raises(NftError):
        h.proxier.sync()
    result = h.proxier.sync()
    assert result.full
    assert f"10.96.0.10 . tcp . 80 : goto {names.service_chain(WEB)}" in h.map("service-ips")


def test_proxier_deletes_flushed_chains_after_the_delay(h: Harness) -> None:
    """Chains of a deleted Service are flushed at once and deleted once `stale_chain_delay` has passed."""
    h.services.put(service("web", "10.96.0.10"))
    h.slices.put(endpoint_slice("web-1", "web", endpoint("10.244.1.5")))
    h.proxier.sync()
    h.services.remove(service("web", "10.96.0.10"))
    h.proxier.sync()
    chain = names.service_chain(WEB)
    assert h.chains()[chain][1:] == []
    assert h.proxier.delete_stale_chains() == 0
    h.clock.now += 1.0
    assert h.proxier.delete_stale_chains() == 2
    assert chain not in h.chains()


def test_proxier_a_service_back_before_its_chains_are_deleted_keeps_them(h: Harness) -> None:
    """Deleted and recreated within the delay: its chains are wanted again and never deleted."""
    svc = service("web", "10.96.0.10")
    h.services.put(svc)
    h.slices.put(endpoint_slice("web-1", "web", endpoint("10.244.1.5")))
    h.proxier.sync()
    h.services.remove(svc)
    h.proxier.sync()
    h.services.put(svc)
    h.proxier.sync()
    h.clock.now += 5
    assert h.proxier.delete_stale_chains() == 0
    assert h.chains()[names.service_chain(WEB)][1:] != []


UDP_SENDER = """
import socket, sys
for sport in (40001, 40002):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind(("0.0.0.0", sport))
    s.sendto(b"q", ("10.96.0.53", 53))
"""


def test_proxier_deletes_udp_flows_to_removed_endpoints_only(h: Harness) -> None:
    """UDP flows DNATed to an endpoint that went away are deleted from conntrack; flows to a live endpoint and
    TCP ports are left alone."""
    ns = h.ns
    ns.run("ip", "link", "add", "pods0", "type", "veth", "peer", "name", "pods1")
    ns.run("ip", "addr", "add", "10.244.1.1/24", "dev", "pods0")
    for link in ("pods0", "pods1"):
        ns.run("ip", "link", "set", link, "up")
    ns.run("ip", "route", "add", "10.96.0.0/16", "dev", "pods0")
    udp = [{"name": "dns", "port": 53, "protocol": "UDP"}]
    h.services.put(service("dns", "10.96.0.53", *udp))
    h.services.put(service("web", "10.96.0.10"))
    h.slices.put(endpoint_slice("dns-1", "dns", endpoint("10.244.1.5"), ports=udp))
    h.proxier.sync()
    ns.python(UDP_SENDER)  # both flows go to 10.244.1.5, the only endpoint
    h.slices.put(endpoint_slice("dns-1", "dns", endpoint("10.244.1.6"), ports=udp))
    h.proxier.sync()
    assert "10.244.1.5" not in ns.run("conntrack", "-L", "-p", "udp", check=False).stdout
    ns.python(UDP_SENDER)  # new flows, to 10.244.1.6
    h.slices.put(endpoint_slice("dns-1", "dns", endpoint("10.244.1.6"), endpoint("10.244.1.7"), ports=udp))
    h.slices.put(endpoint_slice("web-1", "web", endpoint("10.244.1.8")))
    h.proxier.sync()
    listing = ns.run("conntrack", "-L", "-p", "udp", check=False).stdout
    assert listing.count("src=10.244.1.6") == 2  # live: kept
    assert {t.cluster_ip for t in h.conntrack.cleaned} == {"10.96.0.53"}  # the TCP Service never looked at


def test_proxier_thread_programs_changes_quickly() -> None:
    """The sync thread: a change shows in the table within a few min_sync_periods; stop ends it."""
    with netns() as ns:
        h = Harness(ns, pod_cidr=None, min_sync_period=0.02)
        h.proxier._clock = time.monotonic  # the thread waits in real time
        h.proxier.start()
        try:
            assert h.proxier.synced.wait(5)
            h.services.put(service("web", "10.96.0.10"))
            h.slices.put(endpoint_slice("web-1", "web", endpoint("10.244.1.5")))
            wait_for(lambda: f"goto {names.service_chain(WEB)}" in h.map("service-ips"), timeout=5,
                     what="the Service programmed")
            assert names.endpoint_chain(WEB, Endpoint("10.244.1.5", 8080)) in h.chains()
        finally:
            h.proxier.stop()
