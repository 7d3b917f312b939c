"""The node-local DNS address on a dummy interface of the node host (NodeLocal DNSCache's way).

Every node answers DNS on the same link-local address (169.254.20.10 by default), so a pod's
resolv.conf never depends on which node it runs on and its queries never leave the node: the
pod's default route leads to the node, which owns the address. The address sits on a dummy link
(`nodelocaldns`) in the node's network namespace (on `lo` where the kernel has no dummy links); it
stays when the agent stops (pods then get "port unreachable" at once rather than timeouts), and
goes with the namespace.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

DEFAULT_INTERFACE = "nodelocaldns"


@dataclass(frozen=True)
class Placed:
    """Where `ensure_address` put the address, and what it made (so that exactly that can be undone)."""

    link: str
    created_link: bool
    added_address: bool


def ensure_address(address: str, interface: str = DEFAULT_INTERFACE) -> Placed:
    """Put `address`/32 on the dummy link `interface` (created if missing) and bring it up.

    A kernel without dummy links (EOPNOTSUPP: no `dummy` module, as in some sandboxes) gets the
    address on `lo` instead, which makes it just as local."""
    created = False
    with IPRoute() as ipr:
        if not ipr.link_lookup(ifname=interface):
            try:
                ipr.link("add", ifname=interface, kind="dummy")
                created = True
            except NetlinkError as exc:
                if exc.code != errno.EOPNOTSUPP:
                    raise
                interface = "lo"
        index = ipr.link_lookup(ifname=interface)[0]
        added = True
        try:
            ipr.addr("add", index=index, address=address, prefixlen=32)
        except NetlinkError as exc:
            if exc.code != errno.EEXIST:
                raise
            added = False
        ipr.link("set", index=index, state="up")
    return Placed(interface, created, added)


def undo(placed: Placed, address: str) -> None:
    """Remove what `ensure_address` made: its link, else the address it added."""
    with IPRoute() as ipr:
        for index in ipr.link_lookup(ifname=placed.link):
            try:
                if placed.created_link:
                    ipr.link("del", index=index)
                elif placed.added_address:
                    ipr.addr("del", index=index, address=address, prefixlen=32)
            except NetlinkError as exc:
                if exc.code not in (errno.ENODEV, errno.EADDRNOTAVAIL):
                    raise


def remove_interface(interface: str = DEFAULT_INTERFACE) -> None:
    """Delete the dummy link (and its address), if it exists."""
    with IPRoute() as ipr:
        for index in ipr.link_lookup(ifname=interface):
            try:
                ipr.link("del", index=index)
            except NetlinkError as exc:
                if exc.code != errno.ENODEV:
                    raise
