"""UDP conntrack clean-up: forget flows to endpoints that are gone, keep every live one.

NAT happens on a connection's first packet only; conntrack remembers the choice. For TCP that is
what keeps established connections alive across rule changes and agent restarts. For UDP there
is no connection to end: a client sending from the same port would keep reaching a removed
endpoint (or, if it first came while the Service had no endpoints, keep being rejected) for as
long as its entry lives. So, like kube-proxy, after each sync the proxy deletes the UDP entries to
a changed Service port whose reply does not come from one of its live endpoints — and only
those: flows to live endpoints are never touched (an agent restart breaks nothing).

`stale_entries` is pure; `Conntrack` runs the `conntrack` command (Debian's `conntrack`).
"""

from __future__ import annotations

import logging
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass

from .ruleset import Ruleset, changed_ports

log = logging.getLogger(__name__)

TIMEOUT = 10.0
_FIELD = re.compile(r"(src|dst|sport|dport)=(\S+)")


@dataclass(frozen=True)
class Entry:
    """One UDP conntrack entry: its original tuple and where replies come from."""

    src: str
    dst: str
    sport: int
    dport: int
    reply_src: str


def parse_entries(text: str) -> list[Entry]:
    """Entries of `conntrack -L -p udp` output (lines it cannot read are skipped)."""
    found = []
    for line in text.splitlines():
        fields = _FIELD.findall(line)
        if len(fields) < 5:
            continue
        first: dict[str, str] = {}
        reply_src = None
        for key, value in fields:
            if key in first:
                if key == "src":
                    reply_src = value
                    break
                continue
            first[key] = value
        try:
            found.append(Entry(first["src"], first["dst"], int(first["sport"]), int(first["dport"]),
                               reply_src or ""))
        except (KeyError, ValueError):
            continue
    return found


@dataclass(frozen=True)
class Target:
    """Where a UDP Service port's flows are found, and the endpoint addresses they may go to."""

    cluster_ip: str
    port: int
    node_port: int
    live: frozenset[str]


def udp_targets(old: Ruleset, new: Ruleset) -> list[Target]:
    """The UDP ports whose flows must be checked after going from `old` to `new`."""
    targets = []
    for name in changed_ports(old, new):
        if name.protocol != "udp":
            continue
        before, after = old.ports.get(name), new.ports.get(name)
        live = frozenset(e.ip for e in after.endpoints) if after else frozenset()
        for rules in (before, after):
            if rules is not None:
                port = rules.port
                targets.append(Target(port.cluster_ip, port.port, port.node_port, live))
                break
    return targets


def stale_entries(entries: list[Entry], target: Target, *, node_port: bool) -> list[Entry]:
    """The entries among `entries` (listed for `target`) whose replies come from no live endpoint.

    ClusterIP entries: every one not answered by a live endpoint (also those never DNATed, made
    while the Service had none). NodePort entries: only DNATed ones (reply source is not the
    original destination) to an endpoint that is gone; the rest may be this host's own flows to
    another node's NodePort.
    """
    if node_port:
        return [e for e in entries if e.dport == target.node_port and e.reply_src != e.dst
                and e.reply_src not in target.live]
    return [e for e in entries if e.dst == target.cluster_ip and e.dport == target.port
            and e.reply_src not in target.live]


class Conntrack:
    """The `conntrack` command (absent: clean-up is skipped, with a warning once)."""

    def __init__(self, binary: str | None = None, *, prefix: Sequence[str] = ()) -> None:
        found = binary or shutil.which("conntrack") or shutil.which("conntrack", path="/usr/sbin:/sbin")
        self._argv = [*prefix, found] if found else None
        if found is None:
            log.warning("conntrack not found (Debian's conntrack package): UDP flows to removed endpoints "
                        "are not cleaned up")

    def _run(self, args: list[str]) -> str:
        if self._argv is None:
            return ""
        try:
            done = subprocess.run([*self._argv, *args], capture_output=True, text=True, timeout=TIMEOUT)
        except (OSError, subprocess.TimeoutExpired) as exc:
            log.warning("conntrack %s: %s", " ".join(args), exc)
            return ""
        return done.stdout

    def clean(self, target: Target) -> int:
        """Delete the stale UDP entries of one Service port; how many were deleted."""
        stale = stale_entries(parse_entries(self._run(["-L", "-p", "udp", "--orig-dst", target.cluster_ip,
                                                       "--orig-port-dst", str(target.port)])),
                              target, node_port=False)
        if target.node_port:
            stale += stale_entries(parse_entries(self._run(["-L", "-p", "udp", "--orig-port-dst",
                                                            str(target.node_port)])), target, node_port=True)
        for entry in stale:
            self._run(["-D", "-p", "udp", "--orig-src", entry.src, "--orig-dst", entry.dst,
                       "--orig-port-src", str(entry.sport), "--orig-port-dst", str(entry.dport)])
        return len(stale)
