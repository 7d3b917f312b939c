"""Network partitions between masters, each in a network namespace of its own with nftables drops
(issue 14, item 4): the old leader alone in the minority acknowledges no write and answers no
linearizable read wrongly, and after healing every member converges."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from minik8s.chaos.network import MasterNet
from minik8s.chaos.partition import run_leader_partition

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("nft") is None,
                                reason="network namespaces and nftables need root and nft")


def _namespaces() -> str:
    return subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, check=True).stdout


LISTEN = ("import socket, sys; s = socket.create_server((sys.argv[1], 7000)); print('up', flush=True)\n"
          "while True: s.accept()[0].close()")
CONNECT = "import socket, sys; socket.create_connection((sys.argv[1], 7000), timeout=1).close()"


def _connects(net: MasterNet, source: int, target: int) -> bool:
    """Whether a TCP connection from member `source`'s namespace to `target`'s listener succeeds."""
    return subprocess.run(net.command(source, [sys.executable, "-c", CONNECT, net.addresses[target]]),
                          capture_output=True, timeout=30).returncode == 0


def test_partition_shapes_drop_exactly_the_cut_links() -> None:
    """A bridge member reaches both sides, the two sides drop each other; heal clears it; delete
    removes the namespaces and the bridge it made."""
    net = MasterNet(3)
    try:
        net.create()
        a, b, c = net.addresses
        net.partition([{0, 1}, {1, 2}])  # 1 is the bridge
        assert [net.blocked(i) for i in range(3)] == [[c], [], [a]]
        net.partition([{2}, {0, 1}])
        assert [net.blocked(i) for i in range(3)] == [[c], [c], sorted([a, b])]
        listener = subprocess.Popen(net.command(0, [sys.executable, "-c", LISTEN, a]), stdout=subprocess.PIPE)
        try:
            assert listener.stdout is not None and listener.stdout.readline() == b"up\n"
            assert not _connects(net, 2, 0) and _connects(net, 1, 0)  # the cut is real, and only there
            net.heal()
            assert [net.blocked(i) for i in range(3)] == [[], [], []]
            assert _connects(net, 2, 0)
        finally:
            listener.kill()
            listener.wait()
    finally:
        net.delete()
    assert not any(ns in _namespaces() for ns in net.namespaces)
    assert subprocess.run(["ip", "link", "show", net.bridge], capture_output=True).returncode != 0


def test_the_old_leader_alone_acknowledges_nothing_and_everything_converges(tmp_path: Path) -> None:
    """Writes through every master, then the leader is cut off: a new leader is elected on the
    majority side; every write sent to the old leader is refused or unanswered, its linearizable
    reads are refused; after healing the whole history is linearizable, the watches complete,
    no acknowledged write lost, and the three stores equal."""
    report = run_leader_partition(tmp_path / "cluster", hold=6.0, seed=3)
    checks = report["checks"]
    assert report["ok"], {name: (c["verdict"], c["summary"], c.get("examples")) for name, c in checks.items()}
    assert report["elected"] != report["leader"]
    assert checks["minority writes"]["summary"].startswith(tuple(f"{n} writes" for n in range(1, 100)))
    assert set(checks) == {"minority writes", "minority reads", "linearizability", "watch", "durability",
                           "convergence"}
    assert not any(ns.startswith("mkc") for ns in _namespaces().split())  # nothing left behind
