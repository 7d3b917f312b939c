"""The ranges Services take cluster IPs and node ports from, and how a free value is picked (pure).

Kubernetes' `pkg/registry/core/service/ipallocator` and `portallocator`: a range of offsets whose
lower band (`static_band`: min(max(16, size/16), 256) addresses, min(max(16, size/32), 128) ports)
is left for values clients ask for by number; a value the server chooses comes from the rest,
at random (so concurrent masters rarely choose alike), and from the lower band only when the rest
is full. Which values are taken is the caller's (the index keys in the store): `pick` asks.

An IPv4 range leaves out its network and broadcast addresses; an IPv6 range its network address,
and uses at most 2^16 addresses, like kube-apiserver.
"""

from __future__ import annotations

import ipaddress
import random
from collections.abc import Callable
from dataclasses import dataclass

RANDOM_PROBES = 32  # random tries before a full scan of what is taken


@dataclass(frozen=True)
class Range:
    """`size` consecutive integers from `first`; the lowest `static_band` are chosen last."""

    first: int
    size: int
    static_band: int

    def offset(self, value: int) -> int | None:
        """Where `value` is in the range, or None outside it."""
        offset = value - self.first
        return offset if 0 <= offset < self.size else None

    def pick(self, taken: Callable[[int], bool], all_taken: Callable[[], set[int]], rng: random.Random) -> int | None:
        """A value not `taken` (None when every one is): random in the upper band, then the lower.

        `taken(value)` answers for one value; `all_taken()` gives every taken value at once, and
        is asked only when random tries keep hitting taken values (a nearly full range).
        """
        bands = [(self.static_band, self.size), (0, self.static_band)]
        for low, high in bands:
            if high > low:
                for _ in range(RANDOM_PROBES):
                    value = self.first + rng.randrange(low, high)
                    if not taken(value):
                        return value
        used = all_taken()
        for low, high in bands:
            if high <= low:
                continue
            start = rng.randrange(low, high)
            for step in range(high - low):
                value = self.first + low + (start - low + step) % (high - low)
                if value not in used:
                    return value
        return None


def _band(size: int, divisor: int, cap: int) -> int:
    """Kubernetes' static band: min(max(16, size / divisor), cap); none in ranges of 16 or fewer."""
    if size <= 16:
        return 0
    return min(max(16, size // divisor), cap)


@dataclass(frozen=True)
class IpRange:
    """A service IP range (`--service-cluster-ip-range`)."""

    network: ipaddress.IPv4Network | ipaddress.IPv6Network
    range: Range

    @property
    def family(self) -> str:
        """IPv4 or IPv6 (the family of every Service's cluster IP)."""
        return f"IPv{self.network.version}"

    def first_ip(self) -> str:
        """The first address of the range: the `kubernetes` Service's."""
        return self.format(self.range.first)

    def format(self, value: int) -> str:
        return str(ipaddress.ip_address(value) if self.network.version == 4 else ipaddress.IPv6Address(value))

    def value(self, ip: str) -> int | None:
        """The range's integer for `ip`, or None when `ip` is not an address of the range."""
        try:
            address = ipaddress.ip_address(ip)
        except ValueError:
            return None
        if address.version != self.network.version or self.range.offset(int(address)) is None:
            return None
        return int(address)


def parse_ip_range(cidr: str) -> IpRange:
    """`--service-cluster-ip-range` (e.g. `10.96.0.0/12`); ValueError when it is no usable network."""
    try:
        network = ipaddress.ip_network(cidr.strip(), strict=True)
    except ValueError as exc:
        raise ValueError(f"--service-cluster-ip-range {cidr!r}: {exc}") from None
    if network.version == 4:
        size = network.num_addresses - 2
    else:
        size = min(network.num_addresses - 1, 1 << 16)
    if size < 1:
        raise ValueError(f"--service-cluster-ip-range {cidr!r}: too small (no address left for Services)")
    return IpRange(network, Range(int(network.network_address) + 1, size, _band(size, 16, 256)))


def parse_port_range(text: str) -> Range:
    """`--service-node-port-range` (`30000-32767`, or one port); ValueError when malformed."""
    low, dash, high = text.strip().partition("-")
    try:
        first = int(low)
        last = int(high) if dash else first
    except ValueError:
        raise ValueError(f"--service-node-port-range {text!r}: expected FIRST-LAST, e.g. 30000-32767") from None
    if not 0 < first <= last <= 65535:
        raise ValueError(f"--service-node-port-range {text!r}: ports between 1 and 65535, first <= last")
    size = last - first + 1
    return Range(first, size, _band(size, 32, 128))


def format_port_range(ports: Range) -> str:
    """`30000-32767`, as kube-apiserver's messages print a port range."""
    return f"{ports.first}-{ports.first + ports.size - 1}"
