"""The pod network of one node: a bridge with the podCIDR's gateway, pod IPs, host-gw routes.

Each node gets a podCIDR from the master (the node IPAM controller). The node's bridge holds the
CIDR's first address as gateway; every pod sandbox gets a free address on it, round-robin after
the last one given out (kept in `ipam.json`, so a restarted agent hands out no address twice). Other nodes' podCIDRs are routed
via their node IPs (host-gw, like flannel's host-gw backend), so pods reach pods on other nodes
by IP without encapsulation.

Node objects are written by anyone with a token, so every peer is checked before it is routed
(`plan_routes`, pure): its podCIDR must be an IPv4 network that overlaps neither this node's
podCIDR, nor a network of this host, nor an older peer's podCIDR, and its InternalIP must be an
IPv4 address on one of this host's networks (host-gw routes only to on-link next hops). A peer
that fails — or whose route the kernel refuses — is skipped and reported; it never stops the
routes to the others.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import threading
from dataclasses import dataclass
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

log = logging.getLogger(__name__)

ROUTE_PROTO = 99  # marks the routes this module installs, so it removes only its own


@dataclass(frozen=True)
class Peer:
    """Another node as its Node object says (raw values: they may be anything)."""

    name: str
    uid: str | None
    pod_cidr: Any
    node_ip: Any


def peers_from_nodes(nodes: list[Any], own_name: str) -> list[Peer]:
    """The other nodes that carry a podCIDR, oldest first (so a copycat never displaces a real node)."""
    found = []
    for node in nodes:
        meta = node.get("metadata") if isinstance(node, dict) else None
        if not isinstance(meta, dict) or not isinstance(meta.get("name"), str) or meta["name"] == own_name:
            continue
        spec = node.get("spec") if isinstance(node.get("spec"), dict) else {}
        status = node.get("status") if isinstance(node.get("status"), dict) else {}
        if not spec.get("podCIDR"):
            continue  # no CIDR assigned yet: nothing to route
        addresses = status.get("addresses") if isinstance(status.get("addresses"), list) else []
        ips = [a.get("address") for a in addresses if isinstance(a, dict) and a.get("type") == "InternalIP"]
        created = meta.get("creationTimestamp") if isinstance(meta.get("creationTimestamp"), str) else ""
        uid = meta.get("uid") if isinstance(meta.get("uid"), str) else None
        found.append((created, meta["name"], Peer(meta["name"], uid, spec["podCIDR"], ips[0] if ips else None)))
    return [peer for _, _, peer in sorted(found, key=lambda f: (f[0], f[1]))]


def plan_routes(own_cidr: ipaddress.IPv4Network, peers: list[Peer],
                local: list[ipaddress.IPv4Interface]) -> tuple[dict[str, tuple[str, str]], dict[str, str]]:
    """(routes: podCIDR -> (next hop, peer name), problems: peer name -> why it is not routed).

    `local` are this host's addresses with their networks, except the pod bridge's (loopback
    included: nothing may be routed over it).
    """
    routes: dict[str, tuple[str, str]] = {}
    taken: list[tuple[ipaddress.IPv4Network, str]] = []
    problems: dict[str, str] = {}
    for peer in peers:
        try:
            cidr = ipaddress.IPv4Network(peer.pod_cidr) if isinstance(peer.pod_cidr, str) else None
        except ValueError:
            cidr = None
        try:
            via = ipaddress.IPv4Address(peer.node_ip) if isinstance(peer.node_ip, str) else None
        except ValueError:
            via = None
        if cidr is None:
            problems[peer.name] = f"podCIDR {peer.pod_cidr!r} is not an IPv4 network in CIDR notation"
        elif via is None:
            problems[peer.name] = (f"InternalIP {peer.node_ip!r} is not an IPv4 address" if peer.node_ip is not None
                                   else "the node has no InternalIP address")
        elif cidr.overlaps(own_cidr):
            problems[peer.name] = f"podCIDR {cidr} overlaps this node's podCIDR {own_cidr}"
        elif (net := next((i.network for i in local if cidr.overlaps(i.network)), None)) is not None:
            problems[peer.name] = f"podCIDR {cidr} overlaps {net}, a network of this host"
        elif (other := next((name for net, name in taken if cidr.overlaps(net)), None)) is not None:
            problems[peer.name] = f"podCIDR {cidr} overlaps the podCIDR of node {other}"
        elif any(via == i.ip for i in local):
            problems[peer.name] = f"InternalIP {via} is an address of this host"
        elif via in own_cidr or not any(via in i.network for i in local if not i.ip.is_loopback):
            problems[peer.name] = f"InternalIP {via} is not on a network of this host (off-link): no route via it"
        else:
            routes[str(cidr)] = (str(via), peer.name)
            taken.append((cidr, peer.name))
    return routes, problems


class PodNetwork:
    """Bridge, address allocation and routes for this node's pods."""

    def __init__(self, *, pod_cidr: str, bridge: str, state_dir: str) -> None:
        self.cidr = ipaddress.ip_network(pod_cidr)
        self.bridge = bridge
        self.gateway = str(next(self.cidr.hosts()))
        self._state = os.path.join(state_dir, "ipam.json")
        self._lock = threading.Lock()
        self._leases: dict[str, str] = self._load()
        # where the next search for a free address starts: after the last one given out, as CNI's host-local
        # IPAM does, so an address just given back is not the next one given out
        self._last = max((ipaddress.ip_address(ip) for ip in self._leases.values()), default=None)

    def _load(self) -> dict[str, str]:
        try:
            with open(self._state) as f:
                leases = json.load(f)
            return {uid: ip for uid, ip in leases.items() if ipaddress.ip_address(ip) in self.cidr}
        except (OSError, ValueError):
            return {}

    def _save(self) -> None:
        tmp = self._state + ".tmp"
        with open(tmp, "w") as f:
            json.dump(self._leases, f)
        os.replace(tmp, self._state)

    def setup(self) -> None:
        """Create the bridge with the gateway address, and let this host forward pod traffic."""
        with IPRoute() as ipr:
            if not ipr.link_lookup(ifname=self.bridge):
                ipr.link("add", ifname=self.bridge, kind="bridge")
            index = ipr.link_lookup(ifname=self.bridge)[0]
            try:
                ipr.addr("add", index=index, address=self.gateway, prefixlen=self.cidr.prefixlen)
            except NetlinkError as exc:
                if exc.code != 17:  # EEXIST: already there from an earlier run
                    raise
            ipr.link("set", index=index, state="up")
        with open("/proc/sys/net/ipv4/ip_forward", "w") as f:
            f.write("1")

    def plan(self, uid: str) -> dict[str, Any]:
        """The network fields of a pod's SandboxConfig (allocating its IP once)."""
        with self._lock:
            ip = self._leases.get(uid)
            if ip is None:
                used = set(self._leases.values()) | {self.gateway}
                hosts = list(self.cidr.hosts())
                start = hosts.index(self._last) + 1 if self._last in hosts else 0
                ip = next((str(a) for a in hosts[start:] + hosts[:start] if str(a) not in used), None)
                if ip is None:
                    raise RuntimeError(f"no free pod address left in {self.cidr}")
                self._leases[uid] = ip
                self._last = ipaddress.ip_address(ip)
                self._save()
        return {"pod_ip": ip, "gateway": self.gateway, "prefix_len": self.cidr.prefixlen, "bridge": self.bridge}

    def release(self, uid: str) -> None:
        """Give a removed pod's address back."""
        with self._lock:
            if self._leases.pop(uid, None) is not None:
                self._save()

    def local_networks(self, ipr: IPRoute) -> list[ipaddress.IPv4Interface]:
        """This host's IPv4 addresses with their prefixes, except the pod bridge's."""
        bridge = set(ipr.link_lookup(ifname=self.bridge))
        return [ipaddress.IPv4Interface(f"{a.get_attr('IFA_ADDRESS')}/{a['prefixlen']}")
                for a in ipr.get_addr(family=2) if a["index"] not in bridge and a.get_attr("IFA_ADDRESS")]

    def sync_routes(self, peers: list[Peer]) -> dict[str, str]:
        """Route each valid peer's podCIDR via its node IP and drop stale routes; returns the problems.

        The problems map a peer's name to why it is not routed (see `plan_routes`, or the kernel's
        refusal); no peer can make this raise.
        """
        with IPRoute() as ipr:
            routes, problems = plan_routes(self.cidr, peers, self.local_networks(ipr))
            current = {}
            for route in ipr.get_routes(family=2, proto=ROUTE_PROTO):
                dst = route.get_attr("RTA_DST")
                if dst:
                    current[f"{dst}/{route['dst_len']}"] = route.get_attr("RTA_GATEWAY")
            for cidr, (via, name) in routes.items():
                if current.get(cidr) == via:
                    continue
                try:
                    ipr.route("replace", dst=cidr, gateway=via, proto=ROUTE_PROTO)
                    log.info("route %s via %s", cidr, via)
                except (NetlinkError, OSError, ValueError) as exc:
                    problems[name] = f"route {cidr} via {via} refused: {exc}"
            for cidr in set(current) - set(routes):
                try:
                    ipr.route("del", dst=cidr, proto=ROUTE_PROTO)
                except (NetlinkError, OSError, ValueError):
                    pass
        return problems
