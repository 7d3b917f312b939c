"""The proxier's bookkeeping: informer events to partial syncs, retries, stale chains, conntrack, its thread."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

from minik8s.api.informer import object_key
from minik8s.node.proxy import names
from minik8s.node.proxy.model import Endpoint, ServicePortName
from minik8s.node.proxy.nft import NftError
from minik8s.node.proxy.proxier import Proxier, ProxySettings

from .fake_nft import FakeConntrack, FakeNft
from .proxy_objects import endpoint, endpoint_slice, service

Obj = dict[str, Any]
WEB = ServicePortName("default", "web", "http", "tcp")


class FakeInformer:
    """An informer fed by the test: `put` and `remove` call the handlers like the real one."""

    def __init__(self) -> None:
        self.cache: dict[str, Obj] = {}
        self.handlers: list[tuple[Callable, Callable, Callable]] = []

    def add_handler(self, on_add: Callable, on_update: Callable, on_delete: Callable) -> None:
        self.handlers.append((on_add, on_update, on_delete))

    def put(self, obj: Obj) -> None:
        old = self.cache.get(object_key(obj))
        self.cache[object_key(obj)] = obj
        for on_add, on_update, _ in self.handlers:
            on_add(obj) if old is None else on_update(old, obj)

    def remove(self, obj: Obj) -> None:
        del self.cache[object_key(obj)]
        for _, _, on_delete in self.handlers:
            on_delete(obj)

    def get(self, key: str) -> Obj | None:
        return self.cache.get(key)

    def list(self) -> list[Obj]:
        return list(self.cache.values())

    def has_synced(self) -> bool:
        return True

    def start(self) -> None:
        pass

    def stop(self, timeout: float | None = None) -> None:
        pass


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _proxier(**settings: Any) -> tuple[Proxier, FakeInformer, FakeInformer, FakeNft, FakeConntrack, Clock]:
    services, slices, nft, conntrack, clock = FakeInformer(), FakeInformer(), FakeNft(), FakeConntrack(), Clock()
    proxier = Proxier(services, slices, ProxySettings(node_name="node-1", pod_cidr="10.244.1.0/24", **settings),
                      nft=nft, conntrack=conntrack, clock=clock)  # type: ignore[arg-type]
    return proxier, services, slices, nft, conntrack, clock


def _targets(nft: FakeNft) -> dict[str, str | None]:
    return nft.snapshot()["collections"]["service-ips"]


def test_proxier_first_sync_is_full_then_only_the_changed_service() -> None:
    """A full sync first; an EndpointSlice change later rewrites only its Service's rules."""
    proxier, services, slices, nft, _, _ = _proxier()
    services.put(service("web", "10.96.0.10"))
    services.put(service("db", "10.96.0.11"))
    slices.put(endpoint_slice("web-1", "web", endpoint("10.244.1.5")))
    first = proxier.sync()
    assert first.full and first.ports == 2
    assert _targets(nft)["10.96.0.10 . tcp . 80"] == f"goto {names.service_chain(WEB)}"
    slices.put(endpoint_slice("web-1", "web", endpoint("10.244.1.5"), endpoint("10.244.1.6")))
    second = proxier.sync()
    assert not second.full and second.changed == 1
    assert "db" not in nft.scripts[-1] and "10.244.1.6" in nft.scripts[-1]
    assert proxier.sync().changed == 0 and len(nft.scripts) == 2  # nothing changed: nothing written


def test_proxier_slice_moving_to_another_service_updates_both() -> None:
    """A slice whose service-name label changes leaves the old Service and joins the new one."""
    proxier, services, slices, nft, _, _ = _proxier()
    services.put(service("web", "10.96.0.10"))
    services.put(service("api", "10.96.0.12"))
    slices.put(endpoint_slice("s-1", "web", endpoint("10.244.1.5")))
    proxier.sync()
    slices.put(endpoint_slice("s-1", "api", endpoint("10.244.1.5")))
    proxier.sync()
    elements = nft.snapshot()["collections"]
    assert "10.96.0.10 . tcp . 80" in elements["no-endpoint-services"]
    assert "10.96.0.12 . tcp . 80" in elements["service-ips"]
    slices.remove(endpoint_slice("s-1", "api"))
    proxier.sync()
    assert "10.96.0.12 . tcp . 80" in nft.snapshot()["collections"]["no-endpoint-services"]


def test_proxier_failed_transaction_is_retried_as_a_full_sync() -> None:
    """The kernel refusing a script leaves the next sync a full one, which repairs the table."""
    proxier, services, slices, nft, _, _ = _proxier()
    services.put(service("web", "10.96.0.10"))
    proxier.sync()
    slices.put(endpoint_slice("web-1", "web", endpoint("10.244.1.5")))
    nft.fail_next = "Error: Could not process rule: No buffer space available"
    with pytest.raises(NftError):
        proxier.sync()
    nft.table = None  # someone deleted the table meanwhile
    result = proxier.sync()
    assert result.full and _targets(nft)["10.96.0.10 . tcp . 80"] == f"goto {names.service_chain(WEB)}"


def test_proxier_deletes_flushed_chains_after_the_delay() -> None:
    """Chains of a deleted Service are flushed at once and deleted once `stale_chain_delay` has passed."""
    proxier, services, slices, nft, _, clock = _proxier(stale_chain_delay=1.0)
    services.put(service("web", "10.96.0.10"))
    slices.put(endpoint_slice("web-1", "web", endpoint("10.244.1.5")))
    proxier.sync()
    services.remove(service("web", "10.96.0.10"))
    proxier.sync()
    chain = names.service_chain(WEB)
    assert nft.snapshot()["chains"][chain] == ()
    assert proxier.delete_stale_chains() == 0
    clock.now += 1.0
    assert proxier.delete_stale_chains() == 2
    assert chain not in nft.snapshot()["chains"]


def test_proxier_a_service_back_before_its_chains_are_deleted_keeps_them() -> None:
    """Deleted and recreated within the delay: its chains are wanted again and never deleted."""
    proxier, services, slices, nft, _, clock = _proxier()
    svc = service("web", "10.96.0.10")
    services.put(svc)
    slices.put(endpoint_slice("web-1", "web", endpoint("10.244.1.5")))
    proxier.sync()
    services.remove(svc)
    proxier.sync()
    services.put(svc)
    proxier.sync()
    clock.now += 5
    assert proxier.delete_stale_chains() == 0
    assert nft.snapshot()["chains"][names.service_chain(WEB)] != ()


def test_proxier_cleans_udp_conntrack_of_changed_udp_ports_only() -> None:
    """UDP ports that changed are handed to conntrack clean-up with their live endpoints; TCP ones never."""
    proxier, services, slices, _, conntrack, _ = _proxier()
    udp = [{"name": "dns", "port": 53, "protocol": "UDP"}]
    services.put(service("dns", "10.96.0.53", *udp))
    services.put(service("web", "10.96.0.10"))
    slices.put(endpoint_slice("dns-1", "dns", endpoint("10.244.1.5"), endpoint("10.244.1.6"), ports=udp))
    proxier.sync()
    slices.put(endpoint_slice("dns-1", "dns", endpoint("10.244.1.6"), ports=udp))
    slices.put(endpoint_slice("web-1", "web", endpoint("10.244.1.7")))
    proxier.sync()
    [first, second] = conntrack.cleaned
    assert first.live == {"10.244.1.5", "10.244.1.6"} and second.live == {"10.244.1.6"}
    assert second.cluster_ip == "10.96.0.53" and second.port == 53


def test_proxier_thread_programs_changes_quickly() -> None:
    """The sync thread: a change shows in the table within a few min_sync_periods; stop ends it."""
    services, slices, nft, conntrack = FakeInformer(), FakeInformer(), FakeNft(), FakeConntrack()
    proxier = Proxier(services, slices, ProxySettings(node_name="node-1", pod_cidr=None, min_sync_period=0.02),
                      nft=nft, conntrack=conntrack)  # type: ignore[arg-type]
    proxier.start()
    try:
        assert proxier.synced.wait(5)
        services.put(service("web", "10.96.0.10"))
        slices.put(endpoint_slice("web-1", "web", endpoint("10.244.1.5")))
        deadline = time.monotonic() + 5
        while "10.96.0.10 . tcp . 80" not in (_targets(nft) or {}) and time.monotonic() < deadline:
            time.sleep(0.01)
        assert _targets(nft)["10.96.0.10 . tcp . 80"] == f"goto {names.service_chain(WEB)}"
        assert names.endpoint_chain(WEB, Endpoint("10.244.1.5", 8080)) in nft.snapshot()["chains"]
    finally:
        proxier.stop()
