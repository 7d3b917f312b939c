"""A model of the kernel's nftables table for the proxy's unit tests, strict where the kernel is.

It runs the subset of nft commands the proxy writes, atomically (a failing command leaves the
table as it was), and refuses what the kernel refuses: a rule in a missing chain or naming a
missing chain or set, an element added twice with different values, a missing element or chain
deleted, a chain or set deleted while something refers to it — and, like kernels before 6.2, a
chain deleted in the same transaction as the map element that pointed to it.
"""

from __future__ import annotations

import copy
import re
from dataclasses import dataclass, field

from minik8s.node.proxy.nft import NftError
from minik8s.node.proxy.transaction import KernelState

_PREFIX = "ip minik8s "
_TARGET = re.compile(r"\b(?:goto|jump) ([^\s,}]+)")
_SET_REF = re.compile(r"@(\S+)")
_TIMEOUT = re.compile(r"timeout (\d+)s")


@dataclass
class _Table:
    chains: dict[str, list[str]] = field(default_factory=dict)
    collections: dict[str, dict[str, str | None]] = field(default_factory=dict)
    timeouts: dict[str, int | None] = field(default_factory=dict)


class FakeNft:
    """Stands in for `minik8s.node.proxy.nft.Nft`."""

    def __init__(self) -> None:
        self.table: _Table | None = None
        self.scripts: list[str] = []
        self.fail_next: str | None = None  # the next apply fails with this message

    def apply(self, script: str) -> None:
        """Run `script` as one transaction; NftError and nothing changed when a command is refused."""
        self.scripts.append(script)
        if self.fail_next is not None:
            message, self.fail_next = self.fail_next, None
            raise NftError(message)
        work = copy.deepcopy(self.table)
        unreferenced_now: set[str] = set()  # chains whose last map reference went in this transaction
        for number, line in enumerate(script.splitlines(), 1):
            try:
                work = self._run(work, line, unreferenced_now)
            except (KeyError, ValueError) as exc:
                raise NftError(f"line {number}: {line}: {exc}") from None
        self.table = work

    def _run(self, t: _Table | None, line: str, unreferenced_now: set[str]) -> _Table | None:
        verb, _, rest = line.partition(" ")
        what, _, rest = rest.partition(" ")
        if not rest.startswith(_PREFIX.strip()):
            raise ValueError("not the proxy's table")
        rest = rest[len(_PREFIX.strip()):].strip()
        if what == "table":
            if verb == "add":
                return t or _Table()
            if verb == "delete":
                if t is None:
                    raise KeyError("no table")
                return None
        if t is None:
            raise KeyError("no table")
        name, _, body = rest.partition(" ")
        if what == "chain":
            if verb == "add":
                t.chains.setdefault(name, [])
            elif verb == "flush":
                t.chains[name].clear()
            elif verb == "delete":
                if name not in t.chains:
                    raise KeyError(f"no chain {name}")
                if self._chain_referenced(t, name) or name in unreferenced_now:
                    raise ValueError(f"chain {name} is busy")
                del t.chains[name]
        elif what == "rule":
            if name not in t.chains:
                raise KeyError(f"no chain {name}")
            for target in _TARGET.findall(body):
                if target not in t.chains:
                    raise KeyError(f"no chain {target}")
            for ref in _SET_REF.findall(body):
                if ref not in t.collections:
                    raise KeyError(f"no set {ref}")
            t.chains[name].append(body)
        elif what in ("map", "set"):
            if verb == "add":
                t.collections.setdefault(name, {})
                timeout = _TIMEOUT.search(body)
                t.timeouts.setdefault(name, int(timeout.group(1)) if timeout else None)
            elif verb == "flush":
                for value in t.collections[name].values():
                    unreferenced_now.update(_TARGET.findall(value or ""))
                t.collections[name].clear()
            elif verb == "delete":
                if name not in t.collections:
                    raise KeyError(f"no set {name}")
                if any(f"@{name} " in r or r.endswith(f"@{name}") for rules in t.chains.values() for r in rules):
                    raise ValueError(f"set {name} is busy")
                del t.collections[name]
                del t.timeouts[name]
        elif what == "element":
            items = [i.strip() for i in body.strip()[1:-1].split(",")]
            target = t.collections[name]
            for item in items:
                key, _, value = item.partition(" : ")
                if verb == "add":
                    for chain in _TARGET.findall(value):
                        if chain not in t.chains:
                            raise KeyError(f"no chain {chain}")
                    if key in target and target[key] != (value or None):
                        raise ValueError(f"element {key} exists")
                    target[key] = value or None
                else:
                    if key not in target:
                        raise KeyError(f"no element {key}")
                    unreferenced_now.update(_TARGET.findall(target.pop(key) or ""))
        else:
            raise ValueError(f"unknown command {line}")
        return t

    @staticmethod
    def _chain_referenced(t: _Table, name: str) -> bool:
        in_rules = any(name in _TARGET.findall(r) for rules in t.chains.values() for r in rules)
        in_maps = any(name in _TARGET.findall(v or "") for c in t.collections.values() for v in c.values())
        return in_rules or in_maps

    def kernel_state(self) -> KernelState:
        """Chains and sets, as `Nft.kernel_state` reads them."""
        if self.table is None:
            return KernelState()
        sets = {n: self.table.timeouts[n] for n in self.table.collections if n not in _MAPS}
        return KernelState(frozenset(self.table.chains), sets)

    def snapshot(self, *, without_empty: frozenset[str] = frozenset()) -> dict:
        """The table as plain data (chains in `without_empty` left out while empty)."""
        if self.table is None:
            return {}
        chains = {n: tuple(r) for n, r in self.table.chains.items() if r or n not in without_empty}
        return {"chains": chains, "collections": copy.deepcopy(self.table.collections),
                "timeouts": dict(self.table.timeouts)}


_MAPS = frozenset({"service-ips", "service-nodeports", "no-endpoint-services", "no-endpoint-nodeports"})


class FakeConntrack:
    """Stands in for `minik8s.node.proxy.conntrack.Conntrack`: records what it was asked to clean."""

    def __init__(self) -> None:
        self.cleaned: list = []

    def clean(self, target: object) -> int:
        self.cleaned.append(target)
        return 0
