"""The node-local DNS address on a dummy interface of the node host (NodeLocal DNSCache's way).

Every node answers DNS on the same link-local address (169.254.20.10 by default), so a pod's
resolv.conf never depends on which node it runs on and its queries never leave the node: the
pod's default route leads to the node, which owns the address. The address sits on a dummy link
(`nodelocaldns`) in the node's network namespace; it stays when the agent stops (pods then get
"port unreachable" at once rather than timeouts), and goes with the namespace.
"""

from __future__ import annotations

import errno

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

DEFAULT_INTERFACE = "nodelocaldns"


def ensure_address(address: str, interface: str = DEFAULT_INTERFACE) -> bool:
    """Put `address`/32 on the dummy link `interface` (created if missing) and bring it up; True when
    the link was created here."""
    created = False
    with IPRoute() as ipr:
        if not ipr.link_lookup(ifname=interface):
            ipr.link("add", ifname=interface, kind="dummy")
            created = True
        index = ipr.link_lookup(ifname=interface)[0]
        try:
            ipr.addr("add", index=index, address=address, prefixlen=32)
        except NetlinkError as exc:
            if exc.code != errno.EEXIST:
                raise
        ipr.link("set", index=index, state="up")
    return created


def remove_interface(interface: str = DEFAULT_INTERFACE) -> None:
    """Delete the dummy link (and its address), if it exists."""
    with IPRoute() as ipr:
        for index in ipr.link_lookup(ifname=interface):
            try:
                ipr.link("del", index=index)
            except NetlinkError as exc:
                if exc.code != errno.ENODEV:
                    raise
