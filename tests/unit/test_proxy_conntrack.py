"""UDP conntrack clean-up (pure): which entries are stale, and which Service ports are looked at."""

from __future__ import annotations

from minik8s.node.proxy.conntrack import Entry, Target, parse_entries, stale_entries, udp_targets

from .proxy_objects import endpoint, endpoint_slice, ruleset, service

LISTING = """\
udp      17 29 src=10.244.1.2 dst=10.96.0.53 sport=40001 dport=53 src=10.244.2.5 dst=10.244.1.2 sport=53 dport=40001 [ASSURED] mark=0 use=1
udp      17 27 src=10.244.1.3 dst=10.96.0.53 sport=40002 dport=53 [UNREPLIED] src=10.244.2.6 dst=10.244.1.3 sport=53 dport=40002 mark=0 use=1
udp      17 25 src=10.244.1.4 dst=10.96.0.53 sport=40003 dport=53 [UNREPLIED] src=10.96.0.53 dst=10.244.1.4 sport=53 dport=40003 mark=0 use=1
conntrack v1.4.7 (conntrack-tools): 3 flow entries have been shown.
"""
TARGET = Target("10.96.0.53", 53, 30053, frozenset({"10.244.2.5"}))


def test_conntrack_entries_are_parsed_with_their_reply_source() -> None:
    """Original tuple and the reply's source (the endpoint after DNAT); the summary line is skipped."""
    entries = parse_entries(LISTING)
    assert entries[0] == Entry("10.244.1.2", "10.96.0.53", 40001, 53, "10.244.2.5")
    assert [e.reply_src for e in entries] == ["10.244.2.5", "10.244.2.6", "10.96.0.53"]


def test_conntrack_only_flows_not_answered_by_a_live_endpoint_are_stale() -> None:
    """A flow to a live endpoint is kept; to a removed one, or never DNATed (made while there were no
    endpoints), it goes."""
    stale = stale_entries(parse_entries(LISTING), TARGET, node_port=False)
    assert [e.sport for e in stale] == [40002, 40003]


def test_conntrack_node_port_flows_only_when_dnated_here() -> None:
    """NodePort entries: only DNATed ones to a gone endpoint (not this host's flows to other nodes)."""
    entries = [Entry("10.200.0.12", "10.200.0.11", 5000, 30053, "10.244.2.6"),  # DNATed here, endpoint gone
               Entry("10.200.0.12", "10.200.0.11", 5001, 30053, "10.244.2.5"),  # live endpoint
               Entry("10.200.0.11", "10.200.0.13", 5002, 30053, "10.200.0.13")]  # to another node
    assert [e.sport for e in stale_entries(entries, TARGET, node_port=True)] == [5000]


def test_conntrack_targets_are_the_changed_udp_ports() -> None:
    """Changed UDP ports (deleted ones with no live endpoint); unchanged and TCP ports are not looked at."""
    udp = {"name": "dns", "port": 53, "protocol": "UDP"}
    dns = service("dns", "10.96.0.53", udp)
    web = service("web", "10.96.0.10")
    slice_ports = [{"name": "dns", "port": 53, "protocol": "UDP"}]
    old = ruleset((dns, [endpoint_slice("d", "dns", endpoint("10.244.2.5"), endpoint("10.244.2.6"),
                                        ports=slice_ports)]),
                  (web, [endpoint_slice("w", "web", endpoint("10.244.1.5"))]))
    new = ruleset((dns, [endpoint_slice("d", "dns", endpoint("10.244.2.5"), ports=slice_ports)]),
                  (web, [endpoint_slice("w", "web", endpoint("10.244.1.6"))]))
    assert udp_targets(old, new) == [Target("10.96.0.53", 53, 0, frozenset({"10.244.2.5"}))]
    assert udp_targets(new, new) == []
    assert udp_targets(new, ruleset()) == [Target("10.96.0.53", 53, 0, frozenset())]
