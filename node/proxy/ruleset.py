"""The whole desired content of the table's per-Service part: every port's rules, merged.

A `Ruleset` maps each Service port to its `PortRules`. Ports that did not change between two
syncs share the same `PortRules` object, so comparing two rulesets costs one identity check per
port (`changed_ports`). The shared maps are merged here: should two Services claim one key (the
same ClusterIP and port, or the same NodePort — the allocators prevent it, hand-written objects
may not), the first in name order keeps it and the other is reported in `conflicts`, so one bad
Service never makes the kernel refuse a whole transaction. Pure.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

from .model import ServicePortName
from .rules import PortRules, SERVICE_IPS, NO_ENDPOINT_SERVICES, SERVICE_NODEPORTS, NO_ENDPOINT_NODEPORTS

# maps whose keys one packet is looked up in together: a key may be in only one of them
_KEY_SPACES = {SERVICE_IPS: "ip", NO_ENDPOINT_SERVICES: "ip", SERVICE_NODEPORTS: "node-port",
               NO_ENDPOINT_NODEPORTS: "node-port-filter"}


@dataclass(frozen=True)
class Ruleset:
    """Desired per-Service content of the table."""

    ports: Mapping[ServicePortName, PortRules] = field(default_factory=dict)

    @cached_property
    def _merged(self) -> tuple[dict[tuple[str, str], str | None], dict[str, str]]:
        elements: dict[tuple[str, str], str | None] = {}
        owners: dict[tuple[str, str], ServicePortName] = {}
        conflicts: dict[str, str] = {}
        for name in sorted(self.ports):
            for collection, key, value in self.ports[name].elements:
                if value is None:  # a set element (a ClusterIP): several ports share it
                    elements[(collection, key)] = None
                    continue
                space = (_KEY_SPACES.get(collection, collection), key)
                owner = owners.get(space)
                if owner is not None and owner != name:
                    conflicts[name.service] = f"{collection} key {key} is taken by {owner}"
                    continue
                owners[space] = name
                elements[(collection, key)] = value
        return elements, conflicts

    @property
    def elements(self) -> dict[tuple[str, str], str | None]:
        """(map or set, key) -> value (None for set elements), conflicts resolved."""
        return self._merged[0]

    @property
    def conflicts(self) -> dict[str, str]:
        """Service (`namespace/name`) -> why some of its elements were left out."""
        return self._merged[1]

    def chains(self) -> dict[str, tuple[str, ...]]:
        """Every per-Service chain and its rules."""
        return {chain: rules for port in self.ports.values() for chain, rules in port.chains}

    def sets(self) -> dict[str, int]:
        """Every affinity set and its timeout in seconds."""
        return {name: timeout for port in self.ports.values() for name, timeout in port.sets}


def changed_ports(old: Ruleset, new: Ruleset) -> list[ServicePortName]:
    """Ports added, removed or changed from `old` to `new` (unchanged ones share their object)."""
    changed = [name for name, rules in new.ports.items() if old.ports.get(name) is not rules
               and old.ports.get(name) != rules]
    return changed + [name for name in old.ports if name not in new.ports]
