"""Pod network namespaces for the process runtime, with pyroute2.

A sandbox is a named network namespace (`ip netns` compatible, bind-mounted under
/var/run/netns) with `lo` up and, when the node agent gives a bridge and an IP, a veth pair: the
host end enslaved to that bridge (created by the agent, never here) in hairpin mode (as the CNI bridge
plugin's `hairpinMode`, for a pod that reaches itself through a Service), the peer created directly in
the namespace as `eth0` with the pod address and a default route via the gateway. Every function
is idempotent so that a half-built sandbox can always be torn down. `attach_to_bridge` also takes a
namespace by path (`/proc/<pid>/ns/net`): the docker runtime wires its sandboxes with it.
"""

from __future__ import annotations

import errno
import os

from pyroute2 import IPRoute, NetNS, netns
from pyroute2.netlink.exceptions import NetlinkError

NETNS_DIR = netns.NETNS_RUN_DIR


def path(name: str) -> str:
    """The bind-mount file of namespace `name` (open it and setns(2) to enter it)."""
    return os.path.join(NETNS_DIR, name)


def exists(name: str) -> bool:
    return name in netns.listnetns()


def names() -> set[str]:
    """Every named network namespace (one listing for many checks)."""
    return set(netns.listnetns())


def create(name: str) -> None:
    """Create namespace `name` (unless it exists) and bring its loopback up."""
    if not exists(name):
        netns.create(name)
    with NetNS(name) as ns:
        ns.link("set", index=ns.link_lookup(ifname="lo")[0], state="up")


def attach_to_bridge(name: str, veth: str, bridge: str, address: str, prefix_len: int,
                     gateway: str | None) -> None:
    """Wire namespace `name` (or the namespace at a path) to `bridge`: host-side `veth`, `eth0` =
    `address/prefix_len` inside, default route via `gateway`."""
    with IPRoute() as ip:
        found = ip.link_lookup(ifname=bridge)
        if not found:
            raise OSError(errno.ENODEV, f"bridge {bridge} does not exist")
        bridge_link = ip.get_links(found[0])[0]
        mtu = bridge_link.get("IFLA_MTU")
        if not ip.link_lookup(ifname=veth):
            ip.link("add", ifname=veth, kind="veth", mtu=mtu,
                    peer={"ifname": "eth0", "net_ns_fd": name, "mtu": mtu})
        index = ip.link_lookup(ifname=veth)[0]
        ip.link("set", index=index, master=found[0], state="up")
        # hairpin: a pod reaching itself through a Service is DNATed back to the port it came from
        # (with br_netfilter the bridge forwards it there, which only a hairpin port allows)
        ip.link("set", index=index, kind="bridge_slave", mode=1)
    with NetNS(name) as ns:
        eth0 = ns.link_lookup(ifname="eth0")[0]
        addresses = {a.get("IFA_ADDRESS") for a in ns.get_addr(index=eth0)}
        if address not in addresses:
            ns.addr("add", index=eth0, address=address, prefixlen=prefix_len)
        ns.link("set", index=eth0, state="up")
        if gateway:
            ns.route("replace", dst="default", gateway=gateway)


def delete(name: str, veth: str | None) -> None:
    """Delete the host end of `veth` (which takes the peer with it) and namespace `name`."""
    if veth:
        with IPRoute() as ip:
            try:
                ip.link("del", ifname=veth)
            except NetlinkError as e:
                if e.code != errno.ENODEV:
                    raise
    try:
        netns.remove(name)
    except FileNotFoundError:
        pass
