"""Simulated machines for `minik8s up --nodes N`: one network namespace per node "host".

Like kind's node containers: every node agent runs in its own network namespace with its own IP
on a shared bridge in the root namespace (whose address the masters listen on), so nodes route
pod traffic to each other through real interfaces. Everything created is named in a state file,
so `minik8s down` removes exactly that.
"""

from __future__ import annotations

import hashlib
import ipaddress
import shutil
import subprocess
from dataclasses import dataclass

from pyroute2 import IPRoute, netns
from pyroute2.netlink.exceptions import NetlinkError

@dataclass(frozen=True)
class Host:
    """One simulated machine: its network namespace, IP and the root-side veth end."""

    name: str
    netns: str
    ip: str
    veth: str


@dataclass(frozen=True)
class HostNet:
    """The names and addresses of one cluster's hosts network (distinct per data dir)."""

    prefix: str  # short, so that interface names stay within 15 characters
    bridge: str
    subnet: ipaddress.IPv4Network

    @property
    def gateway(self) -> str:
        return str(self.subnet.network_address + 1)

    @classmethod
    def for_cluster(cls, data_dir: str) -> HostNet:
        digest = hashlib.sha256(data_dir.encode()).digest()
        prefix = f"mk{digest[:2].hex()}"
        return cls(prefix, f"{prefix}br", ipaddress.ip_network(f"10.200.{digest[2] % 250}.0/24"))


def _ensure_bridge(ipr: IPRoute, net: HostNet) -> int:
    if not ipr.link_lookup(ifname=net.bridge):
        ipr.link("add", ifname=net.bridge, kind="bridge")
    index = ipr.link_lookup(ifname=net.bridge)[0]
    try:
        ipr.addr("add", index=index, address=net.gateway, prefixlen=net.subnet.prefixlen)
    except NetlinkError as exc:
        if exc.code != 17:
            raise
    ipr.link("set", index=index, state="up")
    return index


def create_hosts(names: list[str], net: HostNet) -> list[Host]:
    """A namespace per name, wired to the cluster's hosts bridge, addresses from .10 on."""
    hosts = []
    with IPRoute() as ipr:
        bridge = _ensure_bridge(ipr, net)
        for i, name in enumerate(names):
            host = Host(name, f"{net.prefix}-{name}", str(net.subnet.network_address + 10 + i), f"{net.prefix}h{i}")
            if host.netns not in netns.listnetns():
                netns.create(host.netns)
            if not ipr.link_lookup(ifname=host.veth):
                ipr.link("add", ifname=host.veth, kind="veth", peer={"ifname": "eth0", "net_ns_fd": host.netns})
            index = ipr.link_lookup(ifname=host.veth)[0]
            ipr.link("set", index=index, master=bridge, state="up")
            hosts.append(host)
    _allow_bridged(net, add=True)
    for host in hosts:
        _inside(host, ["ip", "link", "set", "lo", "up"])
        _inside(host, ["ip", "addr", "replace", f"{host.ip}/{net.subnet.prefixlen}", "dev", "eth0"])
        _inside(host, ["ip", "link", "set", "eth0", "up"])
        _inside(host, ["ip", "route", "replace", "default", "via", net.gateway])
    return hosts


def _allow_bridged(net: HostNet, *, add: bool) -> None:
    """Let traffic between hosts cross the bridge even when Docker set the FORWARD policy to DROP
    (with br_netfilter, bridged packets go through iptables)."""
    if shutil.which("iptables") is None:
        return
    rule = ["FORWARD", "-i", net.bridge, "-o", net.bridge, "-j", "ACCEPT"]
    present = subprocess.run(["iptables", "-C", *rule], capture_output=True).returncode == 0
    if add and not present:
        subprocess.run(["iptables", "-I", *rule], check=True, capture_output=True)
    elif not add and present:
        subprocess.run(["iptables", "-D", *rule], capture_output=True)


def _inside(host: Host, argv: list[str]) -> None:
    subprocess.run(["nsenter", f"--net=/var/run/netns/{host.netns}", *argv], check=True, capture_output=True)


def command_in(host: Host, argv: list[str]) -> list[str]:
    """`argv` run inside the host's network namespace (nsenter keeps the cgroup mounts visible)."""
    return ["nsenter", f"--net=/var/run/netns/{host.netns}", *argv]


def delete_hosts(hosts: list[Host], net: HostNet) -> None:
    """Remove the namespaces (their veths go with them) and the cluster's bridge."""
    for host in hosts:
        try:
            netns.remove(host.netns)
        except OSError:
            pass
    with IPRoute() as ipr:
        for host in hosts:
            for index in ipr.link_lookup(ifname=host.veth):
                try:
                    ipr.link("del", index=index)
                except NetlinkError:
                    pass
        for index in ipr.link_lookup(ifname=net.bridge):
            ipr.link("del", index=index)
    _allow_bridged(net, add=False)
