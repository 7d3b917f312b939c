"""Unit tests of the service IP and node port ranges: bands, picking, parsing."""

from __future__ import annotations

import random

import pytest

from minik8s.api.server.ranges import Range, format_port_range, parse_ip_range, parse_port_range


@pytest.mark.parametrize(("cidr", "first", "size", "band"), [
    pytest.param("10.96.0.0/12", "10.96.0.1", (1 << 20) - 2, 256, id="default"),
    pytest.param("10.0.0.0/24", "10.0.0.1", 254, 16, id="slash-24"),
    pytest.param("10.0.0.0/28", "10.0.0.1", 14, 0, id="slash-28-no-band"),
    pytest.param("fd00::/108", "fd00::1", 1 << 16, 256, id="ipv6-capped"),
])
def test_ranges_ip_range_like_kube_apiserver(cidr: str, first: str, size: int, band: int) -> None:
    """The range leaves out the network (and IPv4 broadcast) address; its static band is min(max(16, n/16), 256)."""
    ips = parse_ip_range(cidr)
    assert ips.first_ip() == first and ips.range.size == size and ips.range.static_band == band


def test_ranges_node_port_band() -> None:
    """30000-32767: 2768 ports, a static band of 86 (min(max(16, n/32), 128))."""
    ports = parse_port_range("30000-32767")
    assert (ports.first, ports.size, ports.static_band) == (30000, 2768, 86)
    assert format_port_range(ports) == "30000-32767"


@pytest.mark.parametrize("text", ["", "30000-", "a-b", "0-10", "32767-30000", "30000-70000"])
def test_ranges_bad_port_range_is_refused(text: str) -> None:
    """A malformed --service-node-port-range stops the master with a message naming the flag."""
    with pytest.raises(ValueError, match="--service-node-port-range"):
        parse_port_range(text)


@pytest.mark.parametrize("cidr", ["10.96.0.1/12", "nonsense", "10.0.0.0/31"])
def test_ranges_bad_ip_range_is_refused(cidr: str) -> None:
    """Host bits set, not a network, or no address left: refused with the flag's name."""
    with pytest.raises(ValueError, match="--service-cluster-ip-range"):
        parse_ip_range(cidr)


def test_ranges_pick_prefers_the_upper_band_then_fills_the_lower() -> None:
    """Picks come from above the static band while it has room, then from the band, then none."""
    r = Range(100, 40, 16)
    taken: set[int] = set()
    rng = random.Random(3)
    order = []
    while (value := r.pick(taken.__contains__, lambda: set(taken), rng)) is not None:
        taken.add(value)
        order.append(value)
    assert sorted(order) == list(range(100, 140))
    assert set(order[:24]) == set(range(116, 140)) and set(order[24:]) == set(range(100, 116))


def test_ranges_offset_and_value() -> None:
    """Addresses outside the range (other family, network address) have no value."""
    ips = parse_ip_range("10.96.0.0/12")
    assert ips.value("10.96.0.1") == ips.range.first
    assert ips.value("10.96.0.0") is None and ips.value("fd00::1") is None and ips.value("x") is None
