"""The proxy's nft transactions in the real kernel, in a network namespace each test makes.

Every generated ruleset loads (`nft -c`, then `nft -f`); any sequence of partial syncs leaves
exactly the table a full sync of the last state writes; a full sync over an existing table (a
restarted agent) changes nothing and keeps affinity entries; and traffic sent through the table
reaches every endpoint evenly, sticks with ClientIP affinity and is refused without endpoints.
"""

from __future__ import annotations

import json
import random
import subprocess
from collections.abc import Iterator

import pytest

from minik8s.node.proxy import names
from minik8s.node.proxy.model import Endpoint, ServicePortName
from minik8s.node.proxy.ruleset import Ruleset
from minik8s.node.proxy.transaction import KernelState, delete_chains, full_sync, partial_sync

from ..unit.proxy_objects import endpoint, endpoint_slice, random_state, ruleset, service
from .proxy_netns import Netns, chi_square_p, netns, without_empty

WEB = ServicePortName("default", "web", "http", "tcp")


@pytest.fixture
def ns() -> Iterator[Netns]:
    with netns() as made:
        yield made


@pytest.fixture
def other() -> Iterator[Netns]:
    with netns() as made:
        yield made


def _fresh(ns: Netns, state: Ruleset) -> dict:
    """The table a full sync of `state` writes into an empty namespace."""
    ns.nft.delete_table()
    ns.nft.apply(full_sync(state, KernelState()).text)
    return ns.snapshot()


@pytest.mark.parametrize("seed", range(8))
def test_nft_every_generated_ruleset_loads(ns: Netns, seed: int) -> None:
    """Random states with every feature (NodePorts, policies, affinity, colliding keys) pass `nft -c` and load."""
    state = random_state(random.Random(seed), services=12)
    text = full_sync(state, KernelState()).text
    checked = ns.run("nft", "-c", "-f", "-", input=text, check=False)
    assert checked.returncode == 0, checked.stderr
    ns.nft.apply(text)
    assert set(ns.snapshot()["chains"]) >= set(state.chains())


@pytest.mark.parametrize("seed", range(10))
def test_nft_partial_syncs_converge_to_the_full_sync(ns: Netns, other: Netns, seed: int) -> None:
    """Any sequence of states written as partial syncs (stale chains deleted by later scripts) leaves the table a
    full sync of the last state writes, and the kernel refuses none of them."""
    rng = random.Random(seed)
    state = random_state(rng)
    ns.nft.apply(full_sync(state, KernelState()).text)
    pending: set[str] = set()
    for _ in range(12):
        new = random_state(rng)
        tx = partial_sync(state, new)
        if not tx.empty:
            ns.nft.apply(tx.text)
        pending = (pending | tx.stale_chains) - set(new.chains())
        if pending and rng.random() < 0.5:
            ns.nft.apply(delete_chains(pending))
            pending = set()
        state = new
    assert without_empty(ns.snapshot(), pending) == _fresh(other, state)


def test_nft_full_sync_over_its_own_table_changes_nothing_and_keeps_affinity(ns: Netns, other: Netns) -> None:
    """A restarted agent's full sync: the same table, affinity entries kept; then a full sync of less state
    flushes the unwanted chains (deleted later) and deletes unwanted sets."""
    sticky = (service("web", "10.96.0.10", sessionAffinity="ClientIP"),
              [endpoint_slice("web-1", "web", endpoint("10.244.1.5"))])
    db = (service("db", "10.96.0.11", {"name": "pg", "port": 5432}),
          [endpoint_slice("db-1", "db", endpoint("10.244.1.9"), ports=[{"name": "pg", "port": 5432}])])
    before = ruleset(sticky, db)
    ns.nft.apply(full_sync(before, KernelState()).text)
    affinity = names.affinity_set(WEB, Endpoint("10.244.1.5", 8080))
    ns.run("nft", "add", "element", "ip", "minik8s", affinity, "{ 10.244.3.3 }")
    first = ns.snapshot()
    again = full_sync(before, ns.nft.kernel_state())
    ns.nft.apply(again.text)
    assert ns.snapshot() == first and again.stale_chains == frozenset()
    assert "10.244.3.3" in ns.run("nft", "list", "set", "ip", "minik8s", affinity).stdout
    only_db = ruleset(db)
    tx = full_sync(only_db, ns.nft.kernel_state())
    ns.nft.apply(tx.text)
    ns.nft.apply(delete_chains(tx.stale_chains))
    assert ns.snapshot() == _fresh(other, only_db)


def test_nft_deleted_service_chains_go_in_a_later_transaction(ns: Netns, other: Netns) -> None:
    """A deleted Service: its elements go and its chains are flushed; a later script deletes them."""
    old = ruleset((service("web", "10.96.0.10"), [endpoint_slice("web-1", "web", endpoint("10.244.1.5"))]))
    ns.nft.apply(full_sync(old, KernelState()).text)
    tx = partial_sync(old, Ruleset())
    ns.nft.apply(tx.text)
    assert all(ns.snapshot()["chains"][c][1:] == [] for c in tx.stale_chains)
    ns.nft.apply(delete_chains(tx.stale_chains))
    assert ns.snapshot() == _fresh(other, Ruleset())


# ---- traffic through the table -------------------------------------------------------------------------

SERVER = """
import socket, sys, threading
def echo(c):
    with c:
        while data := c.recv(64):
            c.sendall(data)
def serve(ip):
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((ip, 8080)); s.listen(64)
    while True:
        c, _ = s.accept(); c.sendall(ip.encode()); threading.Thread(target=echo, args=(c,), daemon=True).start()
for ip in sys.argv[1:]:
    threading.Thread(target=serve, args=(ip,), daemon=True).start()
print("up", flush=True)
threading.Event().wait()
"""

CLIENT = """
import socket, sys, collections, json
target, count = sys.argv[1], int(sys.argv[2])
seen = collections.Counter()
for _ in range(count):
    try:
        with socket.create_connection((target, 80), timeout=5) as c:
            seen[c.recv(64).decode()] += 1
    except ConnectionRefusedError:
        seen["refused"] += 1
print(json.dumps(seen))
"""

HOLDER = """
import socket, sys
c = socket.create_connection(("10.96.0.10", 80))
print(c.recv(64).decode(), flush=True)
for line in sys.stdin:
    c.sendall(line.encode())
    print(c.recv(64).decode(), end="", flush=True)
"""

BACKENDS = ["10.244.1.5", "10.244.1.6", "10.244.1.7"]


@pytest.fixture
def backends(ns: Netns) -> Iterator[Netns]:
    """Three TCP servers on 10.244.1.5-7:8080 in `ns` (a veth link holds the addresses and routes ClusterIPs)."""
    ns.run("ip", "link", "add", "pods0", "type", "veth", "peer", "name", "pods1")
    ns.run("ip", "link", "set", "pods1", "up")
    ns.run("ip", "addr", "add", "10.244.1.1/24", "dev", "pods0")
    for ip in BACKENDS:
        ns.run("ip", "addr", "add", f"{ip}/32", "dev", "pods0")
    ns.run("ip", "link", "set", "pods0", "up")
    ns.run("ip", "route", "add", "10.96.0.0/16", "dev", "pods0")
    server = ns.popen("python3", "-c", SERVER, *BACKENDS)
    try:
        assert server.stdout is not None and server.stdout.readline().strip() == "up"
        yield ns
    finally:
        server.kill()
        server.wait(10)


def _requests(ns: Netns, target: str, count: int) -> dict[str, int]:
    return json.loads(ns.python(CLIENT, target, str(count)))


def test_nft_traffic_spreads_evenly_sticks_with_affinity_and_is_refused_without_endpoints(backends: Netns) -> None:
    """300 connections to a ClusterIP reach all 3 endpoints evenly; ClientIP affinity sends every one to the
    same endpoint; a Service without endpoints and an undefined port of a ClusterIP are refused (TCP reset)."""
    ns = backends
    eps = [endpoint(ip) for ip in BACKENDS]
    spread = ruleset((service("web", "10.96.0.10"), [endpoint_slice("web-1", "web", *eps)]),
                     (service("sticky", "10.96.0.11", sessionAffinity="ClientIP"),
                      [endpoint_slice("sticky-1", "sticky", *eps)]),
                     (service("empty", "10.96.0.12"), []))
    ns.nft.apply(full_sync(spread, KernelState()).text)
    seen = _requests(ns, "10.96.0.10", 300)
    assert set(seen) == set(BACKENDS), seen
    assert chi_square_p([seen[ip] for ip in BACKENDS]) > 0.001, seen
    sticky = _requests(ns, "10.96.0.11", 30)
    assert len(sticky) == 1 and set(sticky) <= set(BACKENDS), sticky
    assert _requests(ns, "10.96.0.12", 3) == {"refused": 3}
    refused = ns.python("import socket\ntry:\n socket.create_connection(('10.96.0.10', 81), timeout=5)\n"
                        "except ConnectionRefusedError:\n print('refused')")
    assert refused.strip() == "refused"


def test_nft_a_removed_endpoint_gets_no_new_connections_and_established_ones_live(backends: Netns) -> None:
    """After a partial sync without an endpoint, new connections avoid it; a connection made before goes on."""
    ns = backends
    both = ruleset((service("web", "10.96.0.10"), [endpoint_slice("w", "web", endpoint(BACKENDS[0]))]))
    ns.nft.apply(full_sync(both, KernelState()).text)
    holder = subprocess.Popen([*ns.prefix, "python3", "-c", HOLDER], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdin is not None
        assert holder.stdout.readline().strip() == BACKENDS[0]
        moved = ruleset((service("web", "10.96.0.10"), [endpoint_slice("w", "web", endpoint(BACKENDS[1]))]))
        ns.nft.apply(partial_sync(both, moved).text)
        assert _requests(ns, "10.96.0.10", 20) == {BACKENDS[1]: 20}
        holder.stdin.write("still there\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "still there"  # echoed by the removed endpoint
    finally:
        holder.kill()
        holder.wait(10)


def test_nft_nothing_outside_the_table_is_touched(ns: Netns) -> None:
    """The proxy writes only `table ip minik8s`: another table in the namespace survives syncs and deletion."""
    ns.run("nft", "add", "table", "inet", "other")
    ns.run("nft", "add", "chain", "inet", "other", "c", "{ type filter hook input priority 0 ; }")
    ns.nft.apply(full_sync(ruleset((service("web", "10.96.0.10"), [])), KernelState()).text)
    assert ns.nft.delete_table() and not ns.nft.delete_table()
    assert "table inet other" in ns.run("nft", "list", "ruleset").stdout
