"""The pod network of one node: a bridge with the podCIDR's gateway, pod IPs, host-gw routes.

Each node gets a podCIDR from the master (the node IPAM controller). The node's bridge holds the
CIDR's first address as gateway; every pod sandbox gets the next free address on it (kept in
`ipam.json`, so a restarted agent hands out no address twice). Other nodes' podCIDRs are routed
via their node IPs (host-gw, like flannel's host-gw backend), so pods reach pods on other nodes
by IP without encapsulation.
"""

from __future__ import annotations

import ipaddress
import json
import logging
import os
import threading
from typing import Any

from pyroute2 import IPRoute
from pyroute2.netlink.exceptions import NetlinkError

log = logging.getLogger(__name__)

ROUTE_PROTO = 99  # marks the routes this module installs, so it removes only its own


class PodNetwork:
    """Bridge, address allocation and routes for this node's pods."""

    def __init__(self, *, pod_cidr: str, bridge: str, state_dir: str) -> None:
        self.cidr = ipaddress.ip_network(pod_cidr)
        self.bridge = bridge
        self.gateway = str(next(self.cidr.hosts()))
        self._state = os.path.join(state_dir, "ipam.json")
        self._lock = threading.Lock()
        self._leases: dict[str, str] = self._load()

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
                ip = next((str(a) for a in self.cidr.hosts() if str(a) not in used), None)
                if ip is None:
                    raise RuntimeError(f"no free pod address left in {self.cidr}")
                self._leases[uid] = ip
                self._save()
        return {"pod_ip": ip, "gateway": self.gateway, "prefix_len": self.cidr.prefixlen, "bridge": self.bridge}

    def release(self, uid: str) -> None:
        """Give a removed pod's address back."""
        with self._lock:
            if self._leases.pop(uid, None) is not None:
                self._save()

    def sync_routes(self, peers: dict[str, str]) -> None:
        """Route each other node's podCIDR via its node IP (`peers`: cidr -> node IP); drop stale routes."""
        with IPRoute() as ipr:
            current = {}
            for route in ipr.get_routes(family=2, proto=ROUTE_PROTO):
                dst = route.get_attr("RTA_DST")
                if dst:
                    current[f"{dst}/{route['dst_len']}"] = route.get_attr("RTA_GATEWAY")
            for cidr, via in peers.items():
                if cidr == str(self.cidr) or current.get(cidr) == via:
                    continue
                ipr.route("replace", dst=cidr, gateway=via, proto=ROUTE_PROTO)
                log.info("route %s via %s", cidr, via)
            for cidr in set(current) - set(peers):
                try:
                    ipr.route("del", dst=cidr, proto=ROUTE_PROTO)
                except NetlinkError:
                    pass
