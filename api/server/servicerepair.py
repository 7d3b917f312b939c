"""The repair pass of the Service allocation index (kube-apiserver's `ipallocator`/`portallocator` repair).

Services and their index keys commit together (`serviceallocation`), so they agree unless the
store was written otherwise (an older store, a hand edit). The pass makes them agree again:

- an index key whose Service is gone, is another object now (uid), or no longer holds the value is
  deleted (at the revision read, so a concurrent change of that key wins);
- a value a Service holds without an index key gets its key (created only if still absent);
- a value two Services hold (only possible in such a store) is reported, not changed: which of
  them keeps it is the user's decision, as upstream's `ClusterIPAlreadyAllocated` event says;
- a Service stored before the API server allocated anything (no cluster IP, or a NodePort Service
  without node ports: a store from before allocation existed) gets them now, in one `Txn` with
  their index keys, at the revision read.

A key is read before its Service: a key present then had its Service committed with it, so a
Service missing afterwards was deleted (and the key's revision moved with it) or never existed.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from minik8s.api.kinds import resolve
from minik8s.api import errors
from minik8s.api.kinds.service import allocates_node_ports, has_cluster_ip, is_headless, needs_cluster_ip
from minik8s.store import Create, Delete, Rejected, Result, Txn, Update, Write

from .serviceallocation import (
    IP_PREFIX, NODE_PORT_PREFIX, ServiceAllocator, StoreReader, held, ip_key, node_port_key, owner_of,
)

Obj = dict[str, Any]
log = logging.getLogger(__name__)


@dataclass
class RepairReport:
    """What one pass changed and found."""

    released: list[str] = field(default_factory=list)  # index keys deleted
    restored: list[str] = field(default_factory=list)  # index keys created
    duplicates: list[str] = field(default_factory=list)  # values held by a Service that another's key holds
    allocated: list[str] = field(default_factory=list)  # `namespace/name` of Services given what they lacked


def _lacks_allocation(spec: Any) -> bool:
    """A Service that should hold a cluster IP or node ports and holds none."""
    if not isinstance(spec, dict):
        return False
    if needs_cluster_ip(spec) and not is_headless(spec) and not has_cluster_ip(spec):
        return True
    ports = [p for p in spec.get("ports") or [] if isinstance(p, dict)]
    return allocates_node_ports(spec) and any(not p.get("nodePort") for p in ports)


def repair(store: StoreReader, propose: Callable[[Write], Result],
           allocator: ServiceAllocator | None = None) -> RepairReport:
    """One repair pass over the index keys and the Services (see the module docstring)."""
    report = RepairReport()
    services = resolve("services")
    if allocator is not None:
        _allocate_missing(store, propose, allocator, report)
    for prefix in (IP_PREFIX, NODE_PORT_PREFIX):
        records, _ = store.list(prefix)
        for record in records:
            meta = record.get("metadata") or {}
            value = str(meta.get("name"))
            key = prefix + value
            owner = owner_of(record)
            svc = store.get(services.store_key(str(owner.get("name")), str(owner.get("namespace"))))
            if svc is not None and (svc.get("metadata") or {}).get("uid") == owner.get("uid") and \
                    key in held(svc.get("spec")).keys():
                continue
            result = propose(Delete(key=key, expected_revision=int(meta.get("resourceVersion") or 0)))
            if not isinstance(result, Rejected):
                report.released.append(key)
                log.warning("service allocation repair: released %s (not held by %s/%s)", key,
                            owner.get("namespace"), owner.get("name"))
    svcs, _ = store.list(f"/registry/{services.group_plural}/")
    for svc in svcs:
        meta = svc.get("metadata") or {}
        holding = held(svc.get("spec"))
        keys = sorted({ip_key(ip) for ip in holding.ips} | {node_port_key(p) for p in holding.node_ports})
        for key in keys:
            record = store.get(key)
            if record is not None:
                if owner_of(record).get("uid") != meta.get("uid"):
                    report.duplicates.append(key)
                    log.warning("service allocation repair: %s/%s holds %s, which %s/%s holds too",
                                meta.get("namespace"), meta.get("name"), key.rsplit("/", 1)[1],
                                owner_of(record).get("namespace"), owner_of(record).get("name"))
                continue
            owner = {"namespace": meta.get("namespace"), "name": meta.get("name"), "uid": meta.get("uid")}
            result = propose(Create(key=key, object={"metadata": {"name": key.rsplit("/", 1)[1]}, "service": owner}))
            if not isinstance(result, Rejected):
                report.restored.append(key)
                log.warning("service allocation repair: restored %s for %s/%s", key, owner["namespace"], owner["name"])
    return report


def _allocate_missing(store: StoreReader, propose: Callable[[Write], Result], allocator: ServiceAllocator,
                      report: RepairReport) -> None:
    """Give Services stored without allocations their cluster IP and node ports."""
    services = resolve("services")
    svcs, _ = store.list(f"/registry/{services.group_plural}/")
    for svc in svcs:
        if not _lacks_allocation(svc.get("spec")):
            continue
        meta = svc.get("metadata") or {}
        try:
            plan = allocator.plan_update(svc, svc)
        except errors.ApiError as exc:
            log.warning("service allocation repair: %s/%s: %s", meta.get("namespace"), meta.get("name"), exc.message)
            continue
        if isinstance(meta.get("generation"), int):
            plan.object["metadata"]["generation"] = meta["generation"] + 1
        key = services.store_key(str(meta.get("name")), str(meta.get("namespace")))
        update = Update(key=key, object=plan.object, expected_revision=int(meta.get("resourceVersion") or 0))
        result = propose(Txn(ops=(update, *plan.ops)) if plan.ops else update)
        if not isinstance(result, Rejected):
            report.allocated.append(f"{meta.get('namespace')}/{meta.get('name')}")
            log.warning("service allocation repair: allocated %s to %s/%s (stored without)",
                        plan.object["spec"].get("clusterIP"), meta.get("namespace"), meta.get("name"))
