"""Simulated machines for `minik8s up --nodes N`: one network namespace per node "host".

Like kind's node containers: every node agent runs in its own network namespace with its own IP
on a shared bridge in the root namespace (whose address the masters listen on), so nodes route
pod traffic to each other through real interfaces. Everything created is named after the
cluster's random id (`HostNet`) and recorded in a state file, so `minik8s down` removes exactly
that and nothing of another cluster on the same machine.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import ipaddress
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pyroute2 is imported where it is used: every `minik8s` command would pay 0.2 s
    from pyroute2 import IPRoute

from minik8s.api.secretfiles import write_private

CGROUP_ROOT = "/sys/fs/cgroup"

@dataclass(frozen=True)
class Host:
    """One simulated machine: its network namespace, IP and the root-side veth end."""

    name: str
    netns: str
    ip: str
    veth: str


NET_FILE = "hostnet.json"
HOSTS_RANGE = ipaddress.ip_network("10.200.0.0/16")
_LOCK_FILE = "/run/minik8s-hostnet.lock"


@dataclass(frozen=True)
class HostNet:
    """The names and addresses of one cluster's hosts network (distinct per data dir).

    `cluster_id` is random, chosen once per data dir (kept in `DIR/hostnet.json` with the subnet)
    and names everything the cluster creates on the machine: `mk<id>br` (bridge), `mk<id>-node-i`
    (namespaces), `mk<id>hI` (veths), `minik8s/<id>/` (cgroups). The subnet is a /24 of
    10.200.0.0/16 that no address or route of this machine uses when the cluster first starts.
    """

    prefix: str  # short, so that interface names stay within 15 characters
    bridge: str
    subnet: ipaddress.IPv4Network
    cluster_id: str = ""

    @property
    def gateway(self) -> str:
        return str(self.subnet.network_address + 1)

    @property
    def cgroup_root(self) -> str:
        """The cgroup (below each hierarchy) holding every pod of this cluster's node agents."""
        return f"minik8s/{self.cluster_id}" if self.cluster_id else "minik8s"

    def cgroup_parent(self, node: str) -> str:
        return f"{self.cgroup_root}/{node}"

    @classmethod
    def named(cls, cluster_id: str, subnet: ipaddress.IPv4Network) -> HostNet:
        prefix = f"mk{cluster_id}"
        return cls(prefix, f"{prefix}br", subnet, cluster_id)

    def to_json(self) -> dict[str, str]:
        return {"clusterId": self.cluster_id, "subnet": str(self.subnet)}

    @classmethod
    def from_json(cls, data: dict[str, str]) -> HostNet:
        """The network `to_json` recorded; ValueError/KeyError/TypeError when it is not one."""
        return cls.named(_valid_id(data["clusterId"]), ipaddress.ip_network(data["subnet"]))

    @classmethod
    def for_cluster(cls, data_dir: str) -> HostNet:
        """The network recorded in `data_dir` (see `choose`); data dirs from before it was recorded
        get the names derived from their path."""
        try:
            return cls.from_json(json.loads((Path(data_dir) / NET_FILE).read_text()))
        except (OSError, ValueError, KeyError, TypeError):
            digest = hashlib.sha256(data_dir.encode()).digest()
            prefix = f"mk{digest[:2].hex()}"
            return cls(prefix, f"{prefix}br", ipaddress.ip_network(f"10.200.{digest[2] % 250}.0/24"))

    @classmethod
    def choose(cls, data_dir: str) -> HostNet:
        """This data dir's network: the recorded one while its subnet is still free (or its own),
        else a fresh id and/or a free subnet, recorded in `DIR/hostnet.json`.

        Runs under a machine-wide lock until the bridge holds the subnet (`create_hosts`), so two
        `up`s started at once cannot pick the same one.
        """
        from pyroute2 import IPRoute

        path = Path(data_dir) / NET_FILE
        saved: HostNet | None = None
        if path.exists():
            saved = cls.for_cluster(data_dir)
            if not saved.cluster_id:
                saved = None
        with IPRoute() as ipr:
            used = _networks_in_use(ipr, exclude_bridge=saved.bridge if saved else None)
        cluster_id = saved.cluster_id if saved else _new_cluster_id()
        candidates = [saved.subnet] if saved else []
        start = int(cluster_id, 16) % 250
        candidates += [ipaddress.ip_network(f"10.200.{(start + k) % 250}.0/24") for k in range(250)]
        subnet = next((c for c in candidates if not any(c.overlaps(u) for u in used)), None)
        if subnet is None:
            raise RuntimeError("no free /24 left in 10.200.0.0/16 for the hosts network of this cluster")
        net = cls.named(cluster_id, subnet)
        if net != saved:
            write_private(path, json.dumps(net.to_json()) + "\n")
        return net


def _valid_id(value: object) -> str:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9a-f]{6}", value):
        raise ValueError(f"bad cluster id {value!r}")
    return value


def _new_cluster_id() -> str:
    """A random id none of whose names (bridge, namespaces, cgroups) exists on this machine."""
    from pyroute2 import IPRoute, netns

    with IPRoute() as ipr:
        links = {link.get_attr("IFLA_IFNAME") for link in ipr.get_links()}
    namespaces = netns.listnetns()
    for _ in range(100):
        candidate = secrets.token_hex(3)
        prefix = f"mk{candidate}"
        if any(name.startswith(prefix) for name in links) or any(n.startswith(f"{prefix}-") for n in namespaces):
            continue
        if any(os.path.exists(os.path.join(CGROUP_ROOT, h, "minik8s", candidate)) for h in _hierarchies()):
            continue
        return candidate
    raise RuntimeError("could not find an unused cluster id")


def _hierarchies() -> list[str]:
    try:
        return os.listdir(CGROUP_ROOT)
    except OSError:
        return []


def _networks_in_use(ipr: IPRoute, *, exclude_bridge: str | None) -> list[ipaddress.IPv4Network]:
    """Every IPv4 network on an address or a (non-default) route of this machine's root namespace,
    except those of `exclude_bridge` (this cluster's own bridge, left from an earlier run)."""
    own = set(ipr.link_lookup(ifname=exclude_bridge)) if exclude_bridge else set()
    used = []
    for addr in ipr.get_addr(family=socket.AF_INET):
        if addr["index"] not in own:
            used.append(ipaddress.ip_interface(f"{addr.get_attr('IFA_ADDRESS')}/{addr['prefixlen']}").network)
    for route in ipr.get_routes(family=socket.AF_INET, table=254):
        dst = route.get_attr("RTA_DST")
        if dst and route["dst_len"] > 0 and route.get_attr("RTA_OIF") not in own:
            used.append(ipaddress.ip_network(f"{dst}/{route['dst_len']}", strict=False))
    return used


@contextlib.contextmanager
def network_lock() -> Iterator[None]:
    """Serialises choosing a subnet and creating its bridge among the `up`s of this machine."""
    fd = os.open(_LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _ensure_bridge(ipr: IPRoute, net: HostNet) -> int:
    from pyroute2.netlink.exceptions import NetlinkError

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
    from pyroute2 import IPRoute, netns

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
    from pyroute2 import IPRoute, netns
    from pyroute2.netlink.exceptions import NetlinkError

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
