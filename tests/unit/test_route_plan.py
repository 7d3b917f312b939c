"""Route sync's peer checks (pure): a bad Node object is skipped and reported, the others routed."""

from __future__ import annotations

import ipaddress
from typing import Any

from minik8s.node.network import Peer, peers_from_nodes, plan_routes

OWN = ipaddress.IPv4Network("10.244.0.0/24")
LOCAL = [ipaddress.IPv4Interface("127.0.0.1/8"), ipaddress.IPv4Interface("10.200.7.10/24")]


def _node(name: str, cidr: Any, ip: Any = None, created: str = "2026-01-01T00:00:00Z", **extra: Any) -> dict:
    status = {"addresses": [{"type": "InternalIP", "address": ip}] if ip is not None else []}
    return {"metadata": {"name": name, "uid": f"uid-{name}", "creationTimestamp": created},
            "spec": {"podCIDR": cidr}, "status": status, **extra}


def test_good_peers_are_routed_bad_ones_reported() -> None:
    peers = [Peer("good", None, "10.244.1.0/24", "10.200.7.11"),
             Peer("off-link", None, "10.244.2.0/24", "198.51.100.7"),
             Peer("not-an-ip", None, "10.244.3.0/24", "not-an-ip"),
             Peer("bad-cidr", None, "10.244.4.0/33", "10.200.7.12"),
             Peer("garbage-cidr", None, ["x"], "10.200.7.12"),
             Peer("mine", None, "10.244.0.0/25", "10.200.7.13"),
             Peer("host-net", None, "10.200.0.0/16", "10.200.7.14"),
             Peer("default", None, "0.0.0.0/0", "10.200.7.15"),
             Peer("loop", None, "10.244.5.0/24", "127.0.0.1"),
             Peer("self", None, "10.244.6.0/24", "10.200.7.10"),
             Peer("copycat", None, "10.244.1.128/25", "10.200.7.16"),
             Peer("no-ip", None, "10.244.7.0/24", None),
             Peer("other", None, "10.244.8.0/24", "10.200.7.17")]
    routes, problems = plan_routes(OWN, peers, LOCAL)
    assert routes == {"10.244.1.0/24": ("10.200.7.11", "good"), "10.244.8.0/24": ("10.200.7.17", "other")}
    assert set(problems) == {p.name for p in peers} - {"good", "other"}
    assert "off-link" in problems["off-link"]
    assert "not an IPv4 address" in problems["not-an-ip"]
    assert "not an IPv4 network" in problems["bad-cidr"] and "not an IPv4 network" in problems["garbage-cidr"]
    assert "this node's podCIDR" in problems["mine"]
    assert "network of this host" in problems["host-net"] and "overlaps" in problems["default"]
    assert "address of this host" in problems["self"]
    assert "node good" in problems["copycat"]
    assert "no InternalIP" in problems["no-ip"]


def test_peers_from_hostile_node_objects_never_raise_and_oldest_wins() -> None:
    nodes: list[Any] = [
        _node("me", "10.244.0.0/24", "10.200.7.10"),
        _node("new", "10.244.1.0/24", "10.200.7.20", created="2026-06-01T00:00:00Z"),
        _node("old", "10.244.1.0/24", "10.200.7.11", created="2025-01-01T00:00:00Z"),
        _node("pending", None, "10.200.7.12"),  # no podCIDR yet: nothing to route, nothing to report
        {"metadata": {"name": "odd"}, "spec": "x", "status": ["y"]},
        {"metadata": {"name": "odd2"}, "spec": {"podCIDR": "10.244.9.0/24"}, "status": {"addresses": "z"}},
        {"metadata": "nope"}, "not-a-node", {"metadata": {"name": 5}},
    ]
    peers = peers_from_nodes(nodes, "me")
    assert [p.name for p in peers] == ["odd2", "old", "new"]  # unknown creation time sorts first
    routes, problems = plan_routes(OWN, peers, LOCAL)
    assert routes == {"10.244.1.0/24": ("10.200.7.11", "old")}
    assert set(problems) == {"new", "odd2"}
