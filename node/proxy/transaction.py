"""nft transactions: a full sync at start-up, then partial syncs of what changed (kube-proxy's model).

Every sync is one `nft -f -` script, which the kernel applies atomically: a packet sees either
the old or the new rules, never a mix, and established connections keep their conntrack entries
whatever changes.

- `full_sync` (start-up, after a failure, every hour): recreates the fixed part and empties the
  shared maps, rewrites every per-Service chain and refills the maps — all in one transaction,
  so a restarted node agent rebuilds the same table without a moment of missing rules. Affinity
  sets are added, not flushed, so clients keep their endpoint across a restart.
- `partial_sync`: only the chains and sets of the ports that changed, and only the map elements
  that differ.

Chains that are no longer wanted are flushed at once and deleted by a later transaction
(`delete_chains`): before Linux 6.2 a chain a just-deleted map element pointed to still counts as
referenced for a moment, and deleting it in the same transaction fails (kube-proxy waits 1 s).
Pure: rulesets in, text out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from . import table
from .names import is_service_object
from .rules import CLUSTER_IPS
from .ruleset import Ruleset, changed_ports

T = table.TABLE


@dataclass(frozen=True)
class KernelState:
    """The per-Service chains and sets the table holds now (from `nft list table`)."""

    chains: frozenset[str] = frozenset()
    sets: Mapping[str, int | None] = field(default_factory=dict)  # affinity set -> timeout (s)


@dataclass(frozen=True)
class Transaction:
    """An nft script and the chains it flushed that a later transaction must delete."""

    text: str
    stale_chains: frozenset[str]

    @property
    def empty(self) -> bool:
        return not self.text


def _collection(name: str) -> str:
    return "set" if name == CLUSTER_IPS else "map"


def _elements(verb: str, items: Iterable[tuple[tuple[str, str], str | None]], *, with_values: bool) -> list[str]:
    """`add|delete element` commands, one per map or set, elements sorted (stable output)."""
    grouped: dict[str, list[str]] = {}
    for (collection, key), value in sorted(items, key=lambda item: item[0]):
        grouped.setdefault(collection, []).append(f"{key} : {value}" if with_values and value is not None else key)
    return [f"{verb} element {T} {collection} {{ {', '.join(keys)} }}" for collection, keys in grouped.items()]


def _set(name: str, timeout: int) -> str:
    return f"add set {T} {name} {{ type ipv4_addr ; flags dynamic,timeout ; timeout {timeout}s ; }}"


def _rules(chains: Mapping[str, tuple[str, ...]]) -> list[str]:
    return [f"add rule {T} {chain} {rule}" for chain, rules in chains.items() for rule in rules]


def full_sync(new: Ruleset, kernel: KernelState) -> Transaction:
    """Everything: the fixed part, every per-Service chain, set and element; what the kernel has
    beyond that is flushed (chains, deleted later) or deleted (sets)."""
    chains = new.chains()
    sets = new.sets()
    out = table.fixed_commands()
    for chain in chains:
        out += [f"add chain {T} {chain}", f"flush chain {T} {chain}"]
    stale = frozenset(c for c in kernel.chains if c not in chains and is_service_object(c))
    out += [f"flush chain {T} {chain}" for chain in sorted(stale)]
    for name, timeout in kernel.sets.items():
        if is_service_object(name) and (name not in sets or sets[name] != timeout):
            out.append(f"delete set {T} {name}")
    out += [_set(name, timeout) for name, timeout in sets.items()]
    out += _rules(chains)
    out += _elements("add", new.elements.items(), with_values=True)
    return Transaction("\n".join(out) + "\n", stale)


def partial_sync(old: Ruleset, new: Ruleset) -> Transaction:
    """Only the differences from `old` (what the kernel has) to `new`."""
    added_chains: list[str] = []
    rewritten: dict[str, tuple[str, ...]] = {}
    flushed: list[str] = []
    stale: set[str] = set()
    deleted_sets: list[str] = []
    added_sets: dict[str, int] = {}
    for name in changed_ports(old, new):
        before, after = old.ports.get(name), new.ports.get(name)
        old_chains = dict(before.chains) if before else {}
        new_chains = dict(after.chains) if after else {}
        old_sets = dict(before.sets) if before else {}
        new_sets = dict(after.sets) if after else {}
        gone_sets = [s for s, timeout in old_sets.items() if new_sets.get(s) != timeout]
        # a set is recreated when its timeout changes: every rule naming it must go first
        recreated = any(s in new_sets for s in gone_sets)
        for chain, rules in new_chains.items():
            if chain not in old_chains:
                added_chains.append(chain)
                rewritten[chain] = rules
            elif old_chains[chain] != rules or recreated:
                flushed.append(chain)
                rewritten[chain] = rules
        for chain in old_chains:
            if chain not in new_chains:
                flushed.append(chain)
                stale.add(chain)
        deleted_sets += gone_sets
        added_sets.update({s: t for s, t in new_sets.items() if old_sets.get(s) != t})
    old_elements, new_elements = old.elements, new.elements
    gone = [(key, value) for key, value in old_elements.items()
            if key not in new_elements or new_elements[key] != value]
    came = [(key, value) for key, value in new_elements.items()
            if key not in old_elements or old_elements[key] != value]
    out = [f"add chain {T} {chain}" for chain in added_chains]
    out += [f"flush chain {T} {chain}" for chain in flushed]
    out += _elements("delete", gone, with_values=False)
    out += [f"delete set {T} {name}" for name in deleted_sets]
    out += [_set(name, timeout) for name, timeout in added_sets.items()]
    out += _rules(rewritten)
    out += _elements("add", came, with_values=True)
    return Transaction("\n".join(out) + "\n" if out else "", frozenset(stale))


def delete_chains(chains: Iterable[str]) -> str:
    """A script deleting chains flushed by an earlier transaction."""
    return "".join(f"delete chain {T} {chain}\n" for chain in sorted(chains))
