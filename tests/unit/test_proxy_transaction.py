"""Full and partial nft transactions as text (pure). That the kernel takes them, and that partial syncs
reach what a full sync writes, is tested against real nftables in tests/integration/test_proxy_nft.py."""

from __future__ import annotations

from minik8s.node.proxy import names
from minik8s.node.proxy.model import Endpoint, ServicePortName
from minik8s.node.proxy.transaction import KernelState, delete_chains, full_sync, partial_sync

from .proxy_objects import endpoint, endpoint_slice, ruleset, service

WEB = ServicePortName("default", "web", "http", "tcp")
WEB_SVC = service("web", "10.96.0.10")
DB_SVC = service("db", "10.96.0.11", {"name": "pg", "port": 5432})


def _web(*ips: str) -> tuple[dict, list[dict]]:
    return WEB_SVC, [endpoint_slice("web-1", "web", *(endpoint(ip) for ip in ips))]


def _db() -> tuple[dict, list[dict]]:
    return DB_SVC, [endpoint_slice("db-1", "db", endpoint("10.244.1.9"), ports=[{"name": "pg", "port": 5432}])]


def _ep(ip: str) -> Endpoint:
    return Endpoint(ip, 8080)


def test_transaction_partial_sync_of_nothing_is_empty() -> None:
    """Two syncs of the same state write nothing (unchanged ports share their rules)."""
    state = ruleset(_web("10.244.1.5"), _db())
    assert partial_sync(state, state).empty
    assert partial_sync(state, ruleset(_web("10.244.1.5"), _db())).empty  # equal, recomputed


def test_transaction_partial_sync_touches_only_the_changed_service() -> None:
    """An endpoint added to one Service rewrites that Service's chain and adds one chain; nothing of the other."""
    old, new = ruleset(_web("10.244.1.5"), _db()), ruleset(_web("10.244.1.5", "10.244.1.6"), _db())
    tx = partial_sync(old, new)
    lines = tx.text.splitlines()
    assert not any("db" in line for line in lines)
    assert lines[:2] == [f"add chain ip minik8s {names.endpoint_chain(WEB, _ep('10.244.1.6'))}",
                         f"flush chain ip minik8s {names.service_chain(WEB)}"]
    assert not any("element" in line for line in lines) and tx.stale_chains == frozenset()


def test_transaction_deleted_service_flushes_now_and_deletes_its_chains_later() -> None:
    """A Service removed: its elements go, its chains are flushed at once and deleted by a later script
    (before Linux 6.2 deleting them in the element's transaction fails; kube-proxy waits too)."""
    tx = partial_sync(ruleset(_web("10.244.1.5"), _db()), ruleset(_db()))
    stale = {names.service_chain(WEB), names.endpoint_chain(WEB, _ep("10.244.1.5"))}
    assert tx.stale_chains == stale
    assert "delete element ip minik8s service-ips { 10.96.0.10 . tcp . 80 }" in tx.text
    assert "delete chain" not in tx.text
    assert delete_chains(stale).splitlines() == sorted(f"delete chain ip minik8s {c}" for c in stale)


def test_transaction_affinity_timeout_change_deletes_sets_after_flushing_their_users() -> None:
    """A changed affinity timeout: the sets are deleted and added again, after the rules naming them went."""
    def web(timeout: int) -> tuple[dict, list[dict]]:
        return (service("web", "10.96.0.10", sessionAffinity="ClientIP",
                        sessionAffinityConfig={"clientIP": {"timeoutSeconds": timeout}}),
                [endpoint_slice("web-1", "web", endpoint("10.244.1.5"))])
    lines = partial_sync(ruleset(web(60)), ruleset(web(120))).text.splitlines()
    affinity = names.affinity_set(WEB, _ep("10.244.1.5"))
    assert lines.index(f"delete set ip minik8s {affinity}") > lines.index(
        f"flush chain ip minik8s {names.endpoint_chain(WEB, _ep('10.244.1.5'))}")
    assert f"add set ip minik8s {affinity} {{ type ipv4_addr ; flags dynamic,timeout ; timeout 120s ; }}" in lines


def test_transaction_full_sync_never_flushes_affinity_sets_and_cleans_the_unwanted() -> None:
    """A full sync (a restarted agent) adds affinity sets without flushing them (clients keep their endpoint);
    chains the kernel has beyond the wanted ones are flushed for later deletion, unwanted sets deleted."""
    sticky = (service("web", "10.96.0.10", sessionAffinity="ClientIP"),
              [endpoint_slice("web-1", "web", endpoint("10.244.1.5"))])
    affinity = names.affinity_set(WEB, _ep("10.244.1.5"))
    again = full_sync(ruleset(sticky, _db()), KernelState(frozenset({names.service_chain(WEB)}), {affinity: 10800}))
    assert f"flush set ip minik8s {affinity}" not in again.text and f"delete set ip minik8s {affinity}" not in again.text
    assert again.stale_chains == frozenset()
    gone = full_sync(ruleset(_db()), KernelState(frozenset({names.service_chain(WEB), "services"}),
                                                 {affinity: 10800}))
    assert gone.stale_chains == {names.service_chain(WEB)}  # fixed chains are never stale
    assert f"delete set ip minik8s {affinity}" in gone.text
