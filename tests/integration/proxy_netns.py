"""A network namespace of the test's own, with the real `nft` and `conntrack` working in it.

The proxy's transactions are loaded into the running kernel here (never into this machine's own
namespace), and traffic is sent through them: `Netns.run` runs a command inside the namespace.
`snapshot` reads the table back from the kernel as plain data, so that two tables can be compared
whatever order nft lists set elements in.
"""

from __future__ import annotations

import json
import math
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from minik8s.node.proxy.conntrack import Conntrack
from minik8s.node.proxy.nft import Nft, nft_binary

NETNS_DIR = "/var/run/netns"


def require_root_and_nft() -> None:
    """Skip the test where namespaces cannot be made or there is no `nft`."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    if nft_binary() is None:
        pytest.skip("no nft (Debian's nftables package)")


class Netns:
    """One named network namespace (`ip netns` compatible), `lo` up."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.prefix = ["nsenter", f"--net={NETNS_DIR}/{name}"]
        self.nft = Nft(prefix=self.prefix)
        self.conntrack = Conntrack(prefix=self.prefix)

    def run(self, *argv: str, check: bool = True, timeout: float = 30, **kw: Any) -> subprocess.CompletedProcess[str]:
        """Run `argv` inside the namespace."""
        return subprocess.run([*self.prefix, *argv], check=check, capture_output=True, text=True, timeout=timeout,
                              **kw)

    def popen(self, *argv: str) -> subprocess.Popen[str]:
        """Start `argv` inside the namespace (the caller stops it by its pid)."""
        return subprocess.Popen([*self.prefix, *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def python(self, code: str, *args: str, timeout: float = 60) -> str:
        """Run a python snippet inside the namespace; its stdout."""
        return self.run(sys.executable, "-c", code, *args, timeout=timeout).stdout

    def snapshot(self) -> dict[str, Any]:
        """The table `ip minik8s` as data: chains with their rules, sets and maps with their elements
        (sorted) and settings; {} when there is no table."""
        done = self.run(nft_binary() or "nft", "-j", "list", "table", "ip", "minik8s", check=False)
        if done.returncode != 0:
            return {}
        chains: dict[str, list[str]] = {}
        sets: dict[str, dict[str, Any]] = {}
        rules: list[dict[str, Any]] = []
        for item in json.loads(done.stdout)["nftables"]:
            if "chain" in item:
                chain = item["chain"]
                chains[chain["name"]] = [json.dumps({k: chain.get(k) for k in ("type", "hook", "prio")})]
            elif "set" in item or "map" in item:
                kind = "set" if "set" in item else "map"
                body = item[kind]
                elements = sorted(json.dumps(_without_expiry(e), sort_keys=True) for e in body.get("elem", []))
                sets[body["name"]] = {"kind": kind, "type": body.get("type"), "map": body.get("map"),
                                      "flags": body.get("flags"), "timeout": body.get("timeout"),
                                      "elements": elements}
            elif "rule" in item:
                rules.append(item["rule"])
        for rule in rules:
            chains[rule["chain"]].append(json.dumps(rule["expr"], sort_keys=True))
        return {"chains": chains, "sets": sets}


def _without_expiry(element: Any) -> Any:
    """An element as data without its remaining lifetime, which counts down while a test runs."""
    if isinstance(element, dict) and isinstance(element.get("elem"), dict):
        return {"elem": {k: v for k, v in element["elem"].items() if k != "expires"}}
    return element


@contextmanager
def netns() -> Iterator[Netns]:
    """A fresh namespace, deleted afterwards (with its table, conntrack entries and links)."""
    require_root_and_nft()
    name = f"mkpx-{secrets.token_hex(4)}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        ns = Netns(name)
        ns.run("ip", "link", "set", "lo", "up")
        yield ns
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def without_empty(snapshot: dict[str, Any], chains: set[str]) -> dict[str, Any]:
    """`snapshot` less the chains in `chains` that have no rules (flushed, to be deleted later)."""
    kept = {n: r for n, r in snapshot["chains"].items() if not (n in chains and len(r) == 1)}
    return {**snapshot, "chains": kept}


def chi_square_p(counts: list[int]) -> float:
    """p-value of Pearson's chi-square test that `counts` come from a uniform distribution (the upper
    regularized gamma function Q(df/2, x/2), by its series; scipy is not a dependency)."""
    total, k = sum(counts), len(counts)
    expected = total / k
    x = sum((c - expected) ** 2 / expected for c in counts)
    a, half = (k - 1) / 2, x / 2
    if half == 0:
        return 1.0
    term = total_sum = 1.0 / a  # P(a, z) = z^a e^-z / Gamma(a) * sum z^n / (a (a+1) ... (a+n))
    n = 0
    while abs(term) > 1e-15 * abs(total_sum) and n < 10000:
        n += 1
        term *= half / (a + n)
        total_sum += term
    lower = math.exp(a * math.log(half) - half - math.lgamma(a)) * total_sum
    return max(0.0, 1.0 - lower)
