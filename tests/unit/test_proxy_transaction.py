"""Full and partial nft transactions (pure), checked against a strict model of the kernel's table."""

from __future__ import annotations

import random
from typing import Any

import pytest

from minik8s.node.proxy import names
from minik8s.node.proxy.model import ServicePortName
from minik8s.node.proxy.ruleset import Ruleset
from minik8s.node.proxy.transaction import KernelState, delete_chains, full_sync, partial_sync

from .fake_nft import FakeNft
from .proxy_objects import endpoint, endpoint_slice, ruleset, service

WEB = ServicePortName("default", "web", "http", "tcp")
WEB_SVC = service("web", "10.96.0.10")
DB_SVC = service("db", "10.96.0.11", {"name": "pg", "port": 5432})


def _web(*ips: str) -> tuple[dict, list[dict]]:
    return WEB_SVC, [endpoint_slice("web-1", "web", *(endpoint(ip) for ip in ips))]


def _db() -> tuple[dict, list[dict]]:
    return DB_SVC, [endpoint_slice("db-1", "db", endpoint("10.244.1.9"), ports=[{"name": "pg", "port": 5432}])]


def _kernel_with(state: Ruleset) -> FakeNft:
    kernel = FakeNft()
    kernel.apply(full_sync(state, KernelState()).text)
    return kernel


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
    assert lines[:2] == [f"add chain ip minik8s endpoint-{names.endpoint_chain(WEB, _ep('10.244.1.6'))[9:]}",
                         f"flush chain ip minik8s {names.service_chain(WEB)}"]
    assert not any("element" in line for line in lines) and tx.stale_chains == frozenset()
    kernel = _kernel_with(old)
    kernel.apply(tx.text)
    assert kernel.snapshot() == _kernel_with(new).snapshot()


def _ep(ip: str) -> Any:
    from minik8s.node.proxy.model import Endpoint
    return Endpoint(ip, 8080)


def test_transaction_deleted_service_flushes_now_and_deletes_its_chains_later() -> None:
    """A Service removed: its elements go, its chains are flushed at once and deleted by a later script."""
    old, new = ruleset(_web("10.244.1.5"), _db()), ruleset(_db())
    tx = partial_sync(old, new)
    assert tx.stale_chains == {names.service_chain(WEB), names.endpoint_chain(WEB, _ep("10.244.1.5"))}
    assert "delete element ip minik8s service-ips { 10.96.0.10 . tcp . 80 }" in tx.text
    assert "delete chain" not in tx.text  # before Linux 6.2 that fails in the element's transaction
    kernel = _kernel_with(old)
    kernel.apply(tx.text)
    kernel.apply(delete_chains(tx.stale_chains))
    assert kernel.snapshot() == _kernel_with(new).snapshot()


def test_transaction_affinity_timeout_change_recreates_sets_after_flushing_their_users() -> None:
    """A changed affinity timeout: the sets are deleted and added again, after the rules naming them went."""
    def web(timeout: int) -> tuple[dict, list[dict]]:
        return (service("web", "10.96.0.10", sessionAffinity="ClientIP",
                        sessionAffinityConfig={"clientIP": {"timeoutSeconds": timeout}}),
                [endpoint_slice("web-1", "web", endpoint("10.244.1.5"))])
    old, new = ruleset(web(60)), ruleset(web(120))
    tx = partial_sync(old, new)
    lines = tx.text.splitlines()
    affinity = names.affinity_set(WEB, _ep("10.244.1.5"))
    assert lines.index(f"delete set ip minik8s {affinity}") > lines.index(
        f"flush chain ip minik8s {names.endpoint_chain(WEB, _ep('10.244.1.5'))}")
    kernel = _kernel_with(old)
    kernel.apply(tx.text)
    assert kernel.snapshot() == _kernel_with(new).snapshot()
    assert kernel.kernel_state().sets[affinity] == 120


def test_transaction_full_sync_takes_over_a_table_and_cleans_what_is_not_wanted() -> None:
    """A restarted agent's full sync: same table for the same state; stale chains flushed, stale sets gone,
    kept affinity sets not flushed (clients keep their endpoint)."""
    sticky = (service("web", "10.96.0.10", sessionAffinity="ClientIP"),
              [endpoint_slice("web-1", "web", endpoint("10.244.1.5"))])
    before = ruleset(sticky, _db())
    kernel = _kernel_with(before)
    again = full_sync(before, kernel.kernel_state())
    assert "flush set ip minik8s affinity-" not in again.text and again.stale_chains == frozenset()
    kernel.apply(again.text)
    assert kernel.snapshot() == _kernel_with(before).snapshot()
    tx = full_sync(ruleset(_db()), kernel.kernel_state())
    kernel.apply(tx.text)
    kernel.apply(delete_chains(tx.stale_chains))
    assert kernel.snapshot() == _kernel_with(ruleset(_db())).snapshot()


def test_transaction_deleting_a_chain_with_its_map_element_is_refused_by_the_model() -> None:
    """The kernel model is as strict as Linux < 6.2 (so the tests above prove the proxy waits)."""
    kernel = _kernel_with(ruleset(_web("10.244.1.5")))
    chain = names.service_chain(WEB)
    with pytest.raises(Exception, match="busy"):
        kernel.apply(f"delete element ip minik8s service-ips {{ 10.96.0.10 . tcp . 80 }}\n"
                     f"flush chain ip minik8s {chain}\ndelete chain ip minik8s {chain}\n")


# ---- random walks: partial syncs always reach what a full sync of the same state writes ------------

IPS = [f"10.244.{n}.{h}" for n in (1, 2) for h in (5, 6, 7)]


def _random_state(rng: random.Random) -> Ruleset:
    pairs = []
    for i in range(rng.randint(0, 5)):
        name = f"s{i}"
        ports = [{"name": "p", "port": 80, "protocol": rng.choice(["TCP", "UDP"])}]
        spec: dict[str, Any] = {}
        if rng.random() < 0.5:
            spec["type"] = "NodePort"
            ports[0]["nodePort"] = 30000 + rng.randint(0, 4)  # collisions on purpose
            spec["externalTrafficPolicy"] = rng.choice(["Cluster", "Local"])
        if rng.random() < 0.3:
            spec["internalTrafficPolicy"] = "Local"
        if rng.random() < 0.4:
            spec["sessionAffinity"] = "ClientIP"
            spec["sessionAffinityConfig"] = {"clientIP": {"timeoutSeconds": rng.choice([60, 120])}}
        svc = service(name, f"10.96.0.{rng.randint(1, 4)}", *ports, **spec)  # collisions on purpose
        eps = [endpoint(ip, rng.choice(["node-1", "node-2"]), ready=rng.random() < 0.7,
                        serving=rng.random() < 0.8, terminating=rng.random() < 0.3)
               for ip in rng.sample(IPS, rng.randint(0, 4))]
        slice_ports = [{"name": "p", "port": 8080, "protocol": ports[0]["protocol"]}]
        pairs.append((svc, [endpoint_slice(f"{name}-1", name, *eps, ports=slice_ports)]))
    return ruleset(*pairs)


@pytest.mark.parametrize("seed", range(12))
def test_transaction_partial_syncs_converge_to_the_full_sync(seed: int) -> None:
    """Any sequence of states, written as partial syncs (stale chains deleted by later scripts), leaves the
    table a fresh full sync of the last state would write, and the kernel model refuses none of them."""
    rng = random.Random(seed)
    state = _random_state(rng)
    kernel = _kernel_with(state)
    pending: set[str] = set()
    for _ in range(15):
        new = _random_state(rng)
        tx = partial_sync(state, new)
        kernel.apply(tx.text) if not tx.empty else None
        wanted = set(new.chains())
        pending = (pending | tx.stale_chains) - wanted
        if pending and rng.random() < 0.5:
            kernel.apply(delete_chains(pending))
            pending = set()
        state = new
    assert kernel.snapshot(without_empty=frozenset(pending)) == _kernel_with(state).snapshot()
