"""Cluster IPs and node ports of Services: chosen by the API server, committed with the Service.

kube-apiserver keeps a bitmap per range in etcd and a repair loop that reconciles it with the
Services. Here every address and port a Service holds has an index key in the store, written in
the same `Txn` as the Service itself:

    /registry/ranges/serviceips/<ip>              {"metadata": {"name": ip}, "service": {namespace, name, uid}}
    /registry/ranges/servicenodeports/<port>      the same, for a node port

A create must find the key absent and a release must find the record it read (its revision), so
two masters that choose the same address at once cannot both commit it: the second `Txn` is
rejected as a whole, and the API server either chooses again (a value it picked) or answers 422
(a value the client asked for), in kube-apiserver's words. A Service and its keys commit or fail
together, so a crash never leaves an address held without a Service, nor a Service without its
keys; `servicerepair` still frees keys whose Service is gone, for stores written otherwise.

The index keys live outside every resource's prefix (like Kubernetes' `/registry/ranges/...`), so
no list or watch of Services sees them. Node ports are one number space for every protocol, as in
Kubernetes: ports of one Service with the same `port` share a node port (DNS on TCP and UDP).

`ServiceAllocator` plans (reads the local replica and decides); the registry proposes the plan.
IP families are filled here too (`initIPFamilyFields`): they depend on the range's family.
"""

from __future__ import annotations

import copy
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from minik8s.api import errors
from minik8s.api.kinds.service import (
    CLUSTER_IP_NONE, allocates_node_ports, is_headless, needs_cluster_ip, needs_health_check_node_port,
    needs_node_ports,
)
from minik8s.store import Create, Delete, Op, Rejected

from .ranges import IpRange, Range, format_port_range

Obj = dict[str, Any]

RANGES_PREFIX = "/registry/ranges/"
IP_PREFIX = RANGES_PREFIX + "serviceips/"
NODE_PORT_PREFIX = RANGES_PREFIX + "servicenodeports/"


class StoreReader(Protocol):
    """What the allocator reads: the local replica."""

    def get(self, key: str) -> Obj | None: ...

    def list(self, prefix: str) -> tuple[list[Obj], int]: ...


def ip_key(ip: str) -> str:
    """The index key of a cluster IP."""
    return IP_PREFIX + ip


def node_port_key(port: int) -> str:
    """The index key of a node port."""
    return f"{NODE_PORT_PREFIX}{port}"


def owner_of(record: Obj | None) -> Obj:
    """The `{namespace, name, uid}` of the Service an index record belongs to ({} when none)."""
    owner = record.get("service") if isinstance(record, dict) else None
    return owner if isinstance(owner, dict) else {}


@dataclass(frozen=True)
class Held:
    """The cluster IPs and node ports a Service's spec holds."""

    ips: frozenset[str] = frozenset()
    node_ports: frozenset[int] = frozenset()

    def keys(self) -> set[str]:
        return {ip_key(ip) for ip in self.ips} | {node_port_key(p) for p in self.node_ports}


def held(spec: Any) -> Held:
    """What `spec` holds: its cluster IPs (not `None`) and the node ports of its ports and health check."""
    if not isinstance(spec, dict):
        return Held()
    ips = {ip for ip in spec.get("clusterIPs") or [spec.get("clusterIP")] if isinstance(ip, str)
           and ip not in ("", CLUSTER_IP_NONE)} if needs_cluster_ip(spec) else set()
    ports: set[int] = set()
    if needs_node_ports(spec):
        ports = {p["nodePort"] for p in spec.get("ports") or [] if isinstance(p, dict)
                 and isinstance(p.get("nodePort"), int) and p["nodePort"]}
    check = spec.get("healthCheckNodePort")
    if needs_health_check_node_port(spec) and isinstance(check, int) and check:
        ports.add(check)
    return Held(frozenset(ips), frozenset(ports))


@dataclass
class Plan:
    """A Service with its allocations filled in, and the index writes to commit with it."""

    object: Obj
    ops: list[Op] = field(default_factory=list)
    picked: set[str] = field(default_factory=set)  # keys the server chose: taken meanwhile means choose again
    asked: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (field, 422 message)


class ServiceAllocator:
    """Plans the index writes of Service creates, updates and deletes (see the module docstring)."""

    def __init__(self, store: StoreReader, ips: IpRange, node_ports: Range, *,
                 rng: random.Random | None = None) -> None:
        self.store = store
        self.ips = ips
        self.node_ports = node_ports
        self.rng = rng or random.SystemRandom()

    # ---- plans --------------------------------------------------------------------------------

    def plan_create(self, svc: Obj) -> Plan:
        """Fill in the IP families, cluster IP and node ports of a new Service; 422 for what cannot be had."""
        plan = Plan(copy.deepcopy(svc))
        spec = plan.object.setdefault("spec", {})
        self._families(plan, spec)
        self._cluster_ips(plan, spec, owner_uid=None)
        self._node_ports(plan, spec, owner_uid=None)
        self._index_writes(plan, Held(), held(spec))
        return plan

    def plan_update(self, new: Obj, old: Obj) -> Plan:
        """Allocate what `new` needs and `old` did not hold; release what `old` held and `new` does not."""
        plan = Plan(copy.deepcopy(new))
        spec = plan.object.setdefault("spec", {})
        uid = (old.get("metadata") or {}).get("uid")
        self._families(plan, spec)
        self._cluster_ips(plan, spec, owner_uid=uid)
        self._node_ports(plan, spec, owner_uid=uid)
        self._index_writes(plan, held(old.get("spec")), held(spec))
        return plan

    def release(self, old: Obj) -> list[Op]:
        """The deletes of the index keys a Service being removed holds (those that are its own)."""
        plan = Plan(old)
        self._index_writes(plan, held(old.get("spec")), Held())
        return plan.ops

    def rejected(self, plan: Plan, rejected: Rejected) -> errors.ApiError | None:
        """What a rejected plan means: None to plan again (an index key changed under it, e.g. a value
        this server picked was taken by another), a 422 for a value the client asked for."""
        if rejected.key in plan.asked:
            path, message = plan.asked[rejected.key]
            return _invalid(plan.object, path, message)
        return None

    def is_index_key(self, key: str) -> bool:
        """Whether `key` is one of the allocation index keys."""
        return key.startswith(RANGES_PREFIX)

    # ---- IP families (`initIPFamilyFields`, single-stack clusters) -----------------------------

    def _families(self, plan: Plan, spec: Obj) -> None:
        if not needs_cluster_ip(spec):
            return
        family = self.ips.family
        families = spec.get("ipFamilies") or []
        policy = spec.get("ipFamilyPolicy")
        headless_selectorless = is_headless(spec) and not spec.get("selector")
        if policy is None and len(families) == 2:
            policy = "RequireDualStack"
        if headless_selectorless:  # may name both families on any cluster: no address is allocated
            policy = policy or "RequireDualStack"
            if not families:
                families = [family]
            if len(families) < 2 and policy != "SingleStack":
                families = [*families, "IPv6" if families[0] == "IPv4" else "IPv4"]
            spec["ipFamilies"], spec["ipFamilyPolicy"] = families, policy
            return
        for i, wanted in enumerate(families):
            if wanted != family:
                raise _invalid(plan.object, f"spec.ipFamilies[{i}]", f'Invalid value: "{wanted}": not configured '
                                                                     f"on this cluster")
        if policy == "RequireDualStack":
            raise _invalid(plan.object, "spec.ipFamilyPolicy", 'Invalid value: "RequireDualStack": this cluster '
                                                               "is not configured for dual-stack services")
        spec["ipFamilyPolicy"] = policy or "SingleStack"
        spec["ipFamilies"] = [family]

    # ---- cluster IPs --------------------------------------------------------------------------

    def _cluster_ips(self, plan: Plan, spec: Obj, *, owner_uid: str | None) -> None:
        if not needs_cluster_ip(spec) or is_headless(spec):
            return
        ips = [ip for ip in spec.get("clusterIPs") or [spec.get("clusterIP")] if ip]
        if not ips:
            value = self.ips.range.pick(lambda v: self._taken(ip_key(self.ips.format(v))),
                                        lambda: self._all_taken(IP_PREFIX, self.ips.value), self.rng)
            if value is None:
                raise errors.InternalError("failed to allocate a serviceIP: range is full")
            ip = self.ips.format(value)
            spec["clusterIP"], spec["clusterIPs"] = ip, [ip]
            plan.picked.add(ip_key(ip))
            return
        spec["clusterIP"] = ips[0]
        spec["clusterIPs"] = ips
        ip = ips[0]
        shown = "[]string{" + ", ".join(f'"{v}"' for v in ips) + "}"
        path = "spec.clusterIPs"
        if self.ips.value(ip) is None:
            raise _invalid(plan.object, path, f"Invalid value: {shown}: failed to allocate IP {ip}: the provided IP "
                                              f"({ip}) is not in the valid range. The range of valid IPs is "
                                              f"{self.ips.network}")
        message = f"Invalid value: {shown}: failed to allocate IP {ip}: provided IP is already allocated"
        plan.asked[ip_key(ip)] = (path, message)
        if self._taken_by_other(ip_key(ip), owner_uid):
            raise _invalid(plan.object, path, message)

    # ---- node ports (`initNodePorts`, `updateNodePorts`) ----------------------------------------

    def _node_ports(self, plan: Plan, spec: Obj, *, owner_uid: str | None) -> None:
        chosen: set[int] = set()
        if needs_node_ports(spec):
            allocate = allocates_node_ports(spec)
            by_service_port: dict[Any, int] = {}
            ports = [p for p in spec.get("ports") or [] if isinstance(p, dict)]
            for i, port in enumerate(ports):
                number = port.get("nodePort") or by_service_port.get(port.get("port"))
                if not number:  # a later port with the same number may ask for one (`findRequestedNodePort`)
                    number = next((p.get("nodePort") for p in ports[i:] if p.get("port") == port.get("port")
                                   and p.get("nodePort")), None)
                if number:
                    shared = by_service_port.get(port.get("port")) == number
                    self._ask_node_port(plan, f"spec.ports[{i}].nodePort", number, owner_uid,
                                        chosen if shared else set())
                elif allocate:
                    number = self._pick_node_port(plan, chosen)
                else:
                    continue
                port["nodePort"] = number
                by_service_port.setdefault(port.get("port"), number)
                chosen.add(number)
        if needs_health_check_node_port(spec):
            check = spec.get("healthCheckNodePort")
            if check:
                self._ask_node_port(plan, "spec.healthCheckNodePort", check, owner_uid, chosen,
                                    prefix=f"failed to allocate requested HealthCheck NodePort {check}: ")
            else:
                spec["healthCheckNodePort"] = self._pick_node_port(plan, chosen)

    def _ask_node_port(self, plan: Plan, path: str, number: int, owner_uid: str | None, shared: set[int], *,
                       prefix: str = "") -> None:
        """A node port the client named: in the range and free (or already this Service's); `shared`
        holds the ports of this plan it may share (another port of the same number)."""
        if number in shared:
            return
        if self.node_ports.offset(number) is None:
            raise _invalid(plan.object, path, f"Invalid value: {number}: {prefix}provided port is not in the valid "
                                              f"range. The range of valid ports is "
                                              f"{format_port_range(self.node_ports)}")
        message = f"Invalid value: {number}: {prefix}provided port is already allocated"
        key = node_port_key(number)
        if key in plan.asked or key in plan.picked or self._taken_by_other(key, owner_uid):
            raise _invalid(plan.object, path, message)  # another port of this Service has it, or another Service
        plan.asked[key] = (path, message)

    def _pick_node_port(self, plan: Plan, chosen: set[int]) -> int:
        value = self.node_ports.pick(lambda v: v in chosen or self._taken(node_port_key(v)),
                                     lambda: self._all_taken(NODE_PORT_PREFIX, _int_or_none) | chosen, self.rng)
        if value is None:
            raise errors.InternalError("failed to allocate a nodePort: range is full")
        plan.picked.add(node_port_key(value))
        return value

    # ---- the index writes ---------------------------------------------------------------------

    def _index_writes(self, plan: Plan, before: Held, after: Held) -> None:
        """Create the keys `after` adds; delete those it drops that are this Service's own (a key
        another Service holds, or none, is left alone: that Service's, or nothing to release)."""
        meta = plan.object.get("metadata") or {}
        owner = {"namespace": meta.get("namespace"), "name": meta.get("name"), "uid": meta.get("uid")}
        old_keys, new_keys = before.keys(), after.keys()
        for key in sorted(new_keys - old_keys):
            plan.ops.append(Create(key=key, object={"metadata": {"name": key.rsplit("/", 1)[1]}, "service": owner}))
        for key in sorted(new_keys & old_keys):  # a kept value whose key went missing gets it back
            if self.store.get(key) is None:
                plan.ops.append(Create(key=key, object={"metadata": {"name": key.rsplit("/", 1)[1]},
                                                        "service": owner}))
        for key in sorted(old_keys - new_keys):
            record = self.store.get(key)
            if record is not None and owner_of(record).get("uid") == owner["uid"]:
                plan.ops.append(Delete(key=key, expected_revision=int(record["metadata"]["resourceVersion"])))

    # ---- reading the index --------------------------------------------------------------------

    def _taken(self, key: str) -> bool:
        return self.store.get(key) is not None

    def _taken_by_other(self, key: str, owner_uid: str | None) -> bool:
        record = self.store.get(key)
        return record is not None and (owner_uid is None or owner_of(record).get("uid") != owner_uid)

    def _all_taken(self, prefix: str, value: Callable[[str], int | None]) -> set[int]:
        records, _ = self.store.list(prefix)
        return {v for r in records if (v := value(str((r.get("metadata") or {}).get("name")))) is not None}


def _int_or_none(text: str) -> int | None:
    return int(text) if text.isdigit() else None


def _invalid(svc: Obj, path: str, message: str) -> errors.InvalidError:
    name = (svc.get("metadata") or {}).get("name")
    return errors.invalid("Service", name, [(path, "FieldValueInvalid", message)])


__all__ = [
    "IP_PREFIX", "NODE_PORT_PREFIX", "RANGES_PREFIX", "Held", "Plan", "ServiceAllocator", "held", "ip_key",
    "node_port_key", "owner_of",
]
