"""A network of its own for each master, so that nemeses can partition them with nftables drops.

`MasterNet(count)` makes a bridge in the root namespace (its address is the clients' way in) and
one network namespace per master, wired to the bridge by a veth pair, each with an nftables table
whose set of blocked addresses drops packets in both directions (input and output):

    table inet minik8s_chaos {
        set blocked { type ipv4_addr; }
        chain input  { type filter hook input priority 0; ip saddr @blocked drop }
        chain output { type filter hook output priority 0; ip daddr @blocked drop }
    }

`partition([{0}, {1, 2}])` fills each member's set with the addresses of the members outside its
group (packets are dropped, not refused: TCP waits, as on a real cut cable); members in no group
and the clients on the bridge are never blocked, so a bridge member is one listed in two groups
(`partition([{0, 1}, {1, 2}])`). `heal()` empties every set. Everything is named after a random
id and a free /24 of 10.201.0.0/16; `delete()` removes exactly what this object made (the
namespaces take their veths and tables with them).
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import shutil
import subprocess
from collections.abc import Iterable

RANGE = ipaddress.ip_network("10.201.0.0/16")
TABLE = "minik8s_chaos"
_RULESET = f"""
table inet {TABLE} {{
    set blocked {{ type ipv4_addr; }}
    chain input {{ type filter hook input priority 0; policy accept; ip saddr @blocked drop; }}
    chain output {{ type filter hook output priority 0; policy accept; ip daddr @blocked drop; }}
}}
"""


def _run(argv: list[str], stdin: str | None = None) -> str:
    done = subprocess.run(argv, input=stdin, capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)}: {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def _subnets_in_use() -> list[ipaddress.IPv4Network]:
    used = []
    for addr in json.loads(_run(["ip", "-j", "-4", "addr"]) or "[]"):
        for info in addr.get("addr_info", []):
            used.append(ipaddress.ip_interface(f"{info['local']}/{info['prefixlen']}").network)
    for route in json.loads(_run(["ip", "-j", "-4", "route"]) or "[]"):
        if route.get("dst") not in (None, "default"):
            used.append(ipaddress.ip_network(route["dst"], strict=False))
    return used


class MasterNet:
    """A bridge and a namespace per master (see the module docstring)."""

    def __init__(self, count: int) -> None:
        self.id = secrets.token_hex(2)
        self.bridge = f"mkc{self.id}br"
        used = _subnets_in_use()
        start = int(self.id, 16) % 256
        subnet = next((s for k in range(256)
                       if not any((s := ipaddress.ip_network(f"10.201.{(start + k) % 256}.0/24")).overlaps(u)
                                  for u in used)), None)
        if subnet is None:
            raise RuntimeError(f"no free /24 left in {RANGE} for the masters' network")
        self.subnet = subnet
        self.gateway = str(subnet.network_address + 1)
        self.namespaces = [f"mkc{self.id}-m{i}" for i in range(count)]
        self.veths = [f"mkc{self.id}m{i}" for i in range(count)]
        self.addresses = [str(subnet.network_address + 10 + i) for i in range(count)]
        self.created = False

    def create(self) -> None:
        """Make the bridge, the namespaces, their links and their nftables tables."""
        self.created = True
        _run(["ip", "link", "add", self.bridge, "type", "bridge"])
        _run(["ip", "addr", "add", f"{self.gateway}/{self.subnet.prefixlen}", "dev", self.bridge])
        _run(["ip", "link", "set", self.bridge, "up"])
        self._allow_bridged(add=True)
        for ns, veth, address in zip(self.namespaces, self.veths, self.addresses):
            _run(["ip", "netns", "add", ns])
            _run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns])
            _run(["ip", "link", "set", veth, "master", self.bridge, "up"])
            inside = ["ip", "netns", "exec", ns]
            _run([*inside, "ip", "link", "set", "lo", "up"])
            _run([*inside, "ip", "addr", "add", f"{address}/{self.subnet.prefixlen}", "dev", "eth0"])
            _run([*inside, "ip", "link", "set", "eth0", "up"])
            _run([*inside, "nft", "-f", "-"], stdin=_RULESET)

    def command(self, index: int, argv: list[str]) -> list[str]:
        """`argv` run in member `index`'s namespace (exec'd: the pid is argv's own)."""
        return ["ip", "netns", "exec", self.namespaces[index], *argv]

    def partition(self, groups: Iterable[Iterable[int]]) -> None:
        """Drop traffic between members that share no group (see the module docstring)."""
        groups = [set(g) for g in groups]
        for index, ns in enumerate(self.namespaces):
            reachable = set().union(*(g for g in groups if index in g)) if any(index in g for g in groups) \
                else set(range(len(self.namespaces)))
            blocked = [self.addresses[i] for i in range(len(self.namespaces)) if i not in reachable]
            self._set_blocked(ns, blocked)

    def heal(self) -> None:
        """Let every member reach every other again."""
        for ns in self.namespaces:
            self._set_blocked(ns, [])

    def blocked(self, index: int) -> list[str]:
        """The addresses member `index` drops now."""
        out = json.loads(_run(["ip", "netns", "exec", self.namespaces[index], "nft", "-j", "list", "set", "inet",
                               TABLE, "blocked"]))
        for entry in out.get("nftables", []):
            if "set" in entry:
                return sorted(str(e) for e in entry["set"].get("elem", []))
        return []

    def _set_blocked(self, ns: str, addresses: list[str]) -> None:
        script = f"flush set inet {TABLE} blocked\n"
        if addresses:
            script += f"add element inet {TABLE} blocked {{ {', '.join(addresses)} }}\n"
        _run(["ip", "netns", "exec", ns, "nft", "-f", "-"], stdin=script)

    def delete(self) -> None:
        """Remove the namespaces (with their veths and tables) and the bridge; errors are ignored."""
        if not self.created:
            return
        for ns in self.namespaces:
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True, timeout=30)
        for veth in self.veths:
            subprocess.run(["ip", "link", "delete", veth], capture_output=True, timeout=30)
        subprocess.run(["ip", "link", "delete", self.bridge], capture_output=True, timeout=30)
        self._allow_bridged(add=False)
        self.created = False

    def _allow_bridged(self, *, add: bool) -> None:
        """Let packets cross the bridge where br_netfilter sends them through a FORWARD chain whose
        policy Docker set to DROP."""
        if shutil.which("iptables") is None:
            return
        rule = ["FORWARD", "-i", self.bridge, "-o", self.bridge, "-j", "ACCEPT"]
        present = subprocess.run(["iptables", "-C", *rule], capture_output=True).returncode == 0
        if add and not present:
            _run(["iptables", "-I", *rule])
        elif not add and present:
            subprocess.run(["iptables", "-D", *rule], capture_output=True)
