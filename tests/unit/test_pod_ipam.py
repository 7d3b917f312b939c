"""A node's pod addresses: one per pod, kept across restarts, and an address given back is not the next
one given out (the host may still have a neighbour entry naming the old pod's MAC)."""

from __future__ import annotations

from pathlib import Path

import pytest

from minik8s.node.network import PodNetwork


def network(tmp_path: Path, cidr: str = "10.244.1.0/24") -> PodNetwork:
    return PodNetwork(pod_cidr=cidr, bridge="mk8s-test", state_dir=str(tmp_path))


def test_addresses_go_round_after_the_last_one_given_out(tmp_path: Path) -> None:
    net = network(tmp_path)
    assert [net.plan(uid)["pod_ip"] for uid in ("a", "b")] == ["10.244.1.2", "10.244.1.3"]
    assert net.plan("a")["pod_ip"] == "10.244.1.2"  # the same pod keeps its address
    net.release("a")
    assert net.plan("c")["pod_ip"] == "10.244.1.4"  # not .2, given back just now
    again = network(tmp_path)  # a restarted agent: the leases, and it goes on after the highest
    assert again.plan("b")["pod_ip"] == "10.244.1.3" and again.plan("d")["pod_ip"] == "10.244.1.5"


def test_the_search_wraps_around_and_says_when_the_range_is_full(tmp_path: Path) -> None:
    net = network(tmp_path, "10.244.2.0/29")  # hosts .1-.6, .1 is the gateway
    assert [net.plan(str(i))["pod_ip"] for i in range(5)] == [f"10.244.2.{n}" for n in range(2, 7)]
    net.release("1")
    assert net.plan("x")["pod_ip"] == "10.244.2.3"  # wrapped round to the only free one
    with pytest.raises(RuntimeError, match="no free pod address"):
        net.plan("y")
