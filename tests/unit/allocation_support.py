"""A registry with Service allocators over a real store, the Raft layer replaced by direct applies
(shared by the allocation and repair tests)."""

from __future__ import annotations

import random
from typing import Any

from minik8s.api.server.ranges import parse_ip_range, parse_port_range
from minik8s.api.server.registry import Registry
from minik8s.api.server.serviceallocation import ServiceAllocator
from minik8s.store import Result, Store


class DirectConsensus:
    """Applies every proposal to the store at once (the store serializes concurrent writers)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def propose(self, command: Any, *, timeout: float = 10.0) -> Result:
        return self.store.apply(command)

    def barrier(self, *, timeout: float = 10.0) -> None:
        return None


def allocating_registry(store: Store, *, cidr: str = "10.96.0.0/12", ports: str = "30000-32767",
                        seed: int = 1) -> Registry:
    """A Registry whose Services get IPs from `cidr` and node ports from `ports` (seeded choices)."""
    allocator = ServiceAllocator(store, parse_ip_range(cidr), parse_port_range(ports), rng=random.Random(seed))
    return Registry(DirectConsensus(store), store, allocators={"services": allocator})  # type: ignore[arg-type]
