"""What the Endpoints and EndpointSlice controllers write for a Service, from its pods (pure).

Kubernetes' `pkg/controller/endpoint`, `pkg/controller/endpointslice` and their shared
`pkg/controller/util/endpoint`:

- a pod counts when it has an IP and is not finished (Succeeded/Failed); a pod being deleted
  counts for EndpointSlices (as `terminating`) but not for Endpoints, unless the Service
  publishes not-ready addresses;
- each Service port is resolved per pod (`FindPort`): a number is used as it is, a name is looked
  up among the pod's container ports of the same protocol (a pod without it is left out of that
  port);
- Endpoints: ready pods in `addresses`, the others in `notReadyAddresses` (all in `addresses`
  with `publishNotReadyAddresses`), repacked into one subset per distinct port set;
- EndpointSlice endpoints: `serving` = the pod is Ready, `terminating` = it has a
  `deletionTimestamp`, `ready` = serving and not terminating (or the Service publishes
  not-ready addresses); `hostname` when the pod's `hostname` is set and its `subdomain` names
  the Service; endpoints are grouped by their resolved port set.
"""

from __future__ import annotations

import ipaddress
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from minik8s.api.kinds.endpointslice import MANAGED_BY_LABEL, SERVICE_NAME_LABEL

from .pods import is_ready, is_terminated

Obj = dict[str, Any]

MANAGED_BY = "endpointslice-controller.k8s.io"
HEADLESS_LABEL = "service.kubernetes.io/headless"
TRIGGER_TIME_ANNOTATION = "endpoints.kubernetes.io/last-change-trigger-time"
MAX_ENDPOINTS_PER_SLICE = 100
MAX_ENDPOINTS_ADDRESSES = 1000  # Endpoints objects are truncated above (`maxCapacity`)
OVER_CAPACITY_ANNOTATION = "endpoints.kubernetes.io/over-capacity"


def selector(service: Obj) -> dict[str, str] | None:
    """The Service's selector; None when it has none (such a Service's endpoints are the user's)."""
    found = (service.get("spec") or {}).get("selector")
    if not isinstance(found, dict) or not found:
        return None
    return {str(k): str(v) for k, v in found.items()}


def selects(service: Obj, pod: Obj) -> bool:
    """Whether `service` (in the pod's namespace) selects `pod`."""
    wanted = selector(service)
    meta, svc_meta = pod.get("metadata") or {}, service.get("metadata") or {}
    if wanted is None or meta.get("namespace") != svc_meta.get("namespace"):
        return False
    labels = meta.get("labels") or {}
    return all(labels.get(k) == v for k, v in wanted.items())


def is_headless(service: Obj) -> bool:
    """`clusterIP: None`."""
    return (service.get("spec") or {}).get("clusterIP") == "None"


def _pod_ip(pod: Obj) -> str | None:
    """The pod's IPv4 address, or None (no IP yet, or not an address)."""
    status = pod.get("status") or {}
    ip = status.get("podIP")
    if not ip:
        ips = status.get("podIPs") or []
        ip = ips[0].get("ip") if ips and isinstance(ips[0], dict) else None
    try:
        return str(ipaddress.IPv4Address(ip)) if isinstance(ip, str) else None
    except ValueError:
        return None


def counts(pod: Obj, *, include_terminating: bool) -> bool:
    """`ShouldPodBeInEndpoints`: an IP, not finished, and (unless included) not being deleted."""
    if is_terminated(pod) or _pod_ip(pod) is None:
        return False
    return include_terminating or not (pod.get("metadata") or {}).get("deletionTimestamp")


def find_port(pod: Obj, service_port: Mapping[str, Any]) -> int | None:
    """`FindPort`: the pod's port for a Service port (a named `targetPort` looked up per pod)."""
    target = service_port.get("targetPort")
    if target in (None, "", 0):
        target = service_port.get("port")
    if isinstance(target, int) and not isinstance(target, bool):
        return target if 0 < target <= 65535 else None
    if isinstance(target, str):
        if target.isdigit():
            number = int(target)
            return number if 0 < number <= 65535 else None
        protocol = service_port.get("protocol") or "TCP"
        for container in (pod.get("spec") or {}).get("containers") or []:
            for port in (container or {}).get("ports") or []:
                if isinstance(port, dict) and port.get("name") == target and (port.get("protocol") or "TCP") == protocol:
                    number = port.get("containerPort")
                    if isinstance(number, int) and 0 < number <= 65535:
                        return number
    return None


def _endpoint_port(service_port: Mapping[str, Any], number: int) -> Obj:
    port: Obj = {"name": service_port.get("name") or "", "port": number,
                 "protocol": service_port.get("protocol") or "TCP"}
    if service_port.get("appProtocol"):
        port["appProtocol"] = service_port["appProtocol"]
    return port


def pod_ports(service: Obj, pod: Obj) -> list[Obj]:
    """The pod's resolved endpoint ports for the Service's ports (those it has), in the Service's order."""
    ports = []
    for service_port in (service.get("spec") or {}).get("ports") or []:
        if isinstance(service_port, dict) and (number := find_port(pod, service_port)) is not None:
            ports.append(_endpoint_port(service_port, number))
    return ports


def _hostname(service: Obj, pod: Obj) -> str | None:
    """`ShouldSetHostname`: the pod's hostname when its subdomain is the Service's name."""
    spec, meta = pod.get("spec") or {}, service.get("metadata") or {}
    hostname = spec.get("hostname")
    if isinstance(hostname, str) and hostname and spec.get("subdomain") == meta.get("name") \
            and (pod.get("metadata") or {}).get("namespace") == meta.get("namespace"):
        return hostname
    return None


def _target_ref(pod: Obj) -> Obj:
    meta = pod.get("metadata") or {}
    return {"kind": "Pod", "namespace": meta.get("namespace"), "name": meta.get("name"), "uid": meta.get("uid")}


def _address(service: Obj, pod: Obj) -> Obj:
    address: Obj = {"ip": _pod_ip(pod)}
    if hostname := _hostname(service, pod):
        address["hostname"] = hostname
    if node := (pod.get("spec") or {}).get("nodeName"):
        address["nodeName"] = node
    address["targetRef"] = _target_ref(pod)
    return address


def _sorted_pods(pods: Iterable[Obj]) -> list[Obj]:
    return sorted(pods, key=lambda p: ((p.get("metadata") or {}).get("name") or ""))


# ---- Endpoints ---------------------------------------------------------------------------------

def endpoints_subsets(service: Obj, pods: Iterable[Obj]) -> list[Obj]:
    """The Endpoints `subsets` for a Service and the pods of its namespace (`syncService` + `RepackSubsets`)."""
    spec = service.get("spec") or {}
    publish = spec.get("publishNotReadyAddresses") is True
    service_ports = [p for p in spec.get("ports") or [] if isinstance(p, dict)]
    groups: dict[str, tuple[list[Obj], list[Obj], list[Obj]]] = {}  # port set -> (ports, ready, not ready)
    for pod in _sorted_pods(pods):
        if not selects(service, pod) or not counts(pod, include_terminating=publish):
            continue
        ports = pod_ports(service, pod)
        if not ports and not (not service_ports and is_headless(service)):
            continue  # no Service port resolves for this pod
        ready = publish or is_ready(pod)
        key = json.dumps(sorted(ports, key=lambda p: (p["name"], p["port"], p["protocol"])), sort_keys=True)
        entry = groups.setdefault(key, (sorted(ports, key=lambda p: (p["name"], p["port"], p["protocol"])), [], []))
        (entry[1] if ready else entry[2]).append(_address(service, pod))
    subsets = []
    for key in sorted(groups):
        ports, ready_addresses, not_ready = groups[key]
        subset: Obj = {}
        if ready_addresses:
            subset["addresses"] = sorted(ready_addresses, key=lambda a: a["ip"])
        if not_ready:
            subset["notReadyAddresses"] = sorted(not_ready, key=lambda a: a["ip"])
        if ports:
            subset["ports"] = ports
        subsets.append(subset)
    return subsets


def truncate_subsets(subsets: list[Obj], limit: int = MAX_ENDPOINTS_ADDRESSES) -> tuple[list[Obj], bool]:
    """At most `limit` addresses in all (ready ones first, as upstream keeps them); whether any were cut."""
    total = sum(len(s.get("addresses") or []) + len(s.get("notReadyAddresses") or []) for s in subsets)
    if total <= limit:
        return subsets, False
    left, out = limit, []
    for field in ("addresses", "notReadyAddresses"):
        for subset in subsets:
            take = (subset.get(field) or [])[:left]
            left -= len(take)
            if take:
                out.append({field: take, **({"ports": subset["ports"]} if subset.get("ports") else {})})
    return out, True


def endpoints_labels(service: Obj) -> dict[str, str]:
    """The Service's labels, and `service.kubernetes.io/headless` for a headless one."""
    labels = dict((service.get("metadata") or {}).get("labels") or {})
    if is_headless(service):
        labels[HEADLESS_LABEL] = ""
    return labels


# ---- EndpointSlices ----------------------------------------------------------------------------

@dataclass(frozen=True)
class EndpointGroup:
    """Endpoints that share one resolved port set (one or more slices)."""

    ports: list[Obj]
    endpoints: dict[str, Obj]  # address -> endpoint

    @property
    def key(self) -> str:
        return ports_key(self.ports)


def ports_key(ports: Iterable[Obj]) -> str:
    """A port set's identity (order-free), to match slices with the endpoints they should hold."""
    return json.dumps(sorted(({"name": p.get("name") or "", "port": p.get("port"), "protocol": p.get("protocol")
                               or "TCP", "appProtocol": p.get("appProtocol")} for p in ports),
                             key=lambda p: (p["name"], p["port"] or 0, p["protocol"])), sort_keys=True)


def slice_endpoint(service: Obj, pod: Obj) -> Obj:
    """`podToEndpoint`: the pod as an EndpointSlice endpoint."""
    publish = (service.get("spec") or {}).get("publishNotReadyAddresses") is True
    serving = is_ready(pod)
    terminating = bool((pod.get("metadata") or {}).get("deletionTimestamp"))
    endpoint: Obj = {"addresses": [_pod_ip(pod)],
                     "conditions": {"ready": publish or (serving and not terminating), "serving": serving,
                                    "terminating": terminating}}
    if hostname := _hostname(service, pod):
        endpoint["hostname"] = hostname
    if node := (pod.get("spec") or {}).get("nodeName"):
        endpoint["nodeName"] = node
    endpoint["targetRef"] = _target_ref(pod)
    return endpoint


def slice_groups(service: Obj, pods: Iterable[Obj]) -> dict[str, EndpointGroup]:
    """The Service's endpoints grouped by resolved port set (key: `ports_key`)."""
    spec = service.get("spec") or {}
    service_ports = [p for p in spec.get("ports") or [] if isinstance(p, dict)]
    groups: dict[str, EndpointGroup] = {}
    for pod in _sorted_pods(pods):
        if not selects(service, pod) or not counts(pod, include_terminating=True):
            continue
        ports = pod_ports(service, pod)
        if service_ports and not ports:
            continue
        key = ports_key(ports)
        group = groups.setdefault(key, EndpointGroup(ports, {}))
        endpoint = slice_endpoint(service, pod)
        group.endpoints.setdefault(endpoint["addresses"][0], endpoint)
    return groups


def slice_labels(service: Obj) -> dict[str, str]:
    """The Service's labels (but the reserved ones) with the slice controller's own."""
    meta = service.get("metadata") or {}
    labels = {k: v for k, v in (meta.get("labels") or {}).items()
              if k not in (SERVICE_NAME_LABEL, MANAGED_BY_LABEL, HEADLESS_LABEL)}
    labels[SERVICE_NAME_LABEL] = meta.get("name") or ""
    labels[MANAGED_BY_LABEL] = MANAGED_BY
    if is_headless(service):
        labels[HEADLESS_LABEL] = ""
    return labels


def owner_reference(service: Obj) -> Obj:
    """The controller reference an EndpointSlice holds to its Service."""
    meta = service.get("metadata") or {}
    return {"apiVersion": "v1", "kind": "Service", "name": meta.get("name"), "uid": meta.get("uid"),
            "controller": True, "blockOwnerDeletion": True}


def plan_slices(service: Obj, pods: Iterable[Obj], existing: list[Obj], *,
                max_per_slice: int = MAX_ENDPOINTS_PER_SLICE) -> tuple[list[Obj], list[Obj], list[Obj]]:
    """What to write so the slices hold the Service's endpoints: (to create, to update, to delete).

    Endpoints stay in the slice they are in while their port set holds (fewer changes for the
    proxies); new ones fill slices with room, then new slices of at most `max_per_slice`. A
    Service without endpoints keeps one empty placeholder slice, as upstream's.
    """
    groups = slice_groups(service, pods)
    labels, owner = slice_labels(service), owner_reference(service)
    meta = service.get("metadata") or {}
    creates: list[Obj] = []
    updates: list[Obj] = []
    deletes: list[Obj] = []
    by_key: dict[str, list[Obj]] = {}
    for piece in sorted(existing, key=lambda s: s["metadata"]["name"]):
        by_key.setdefault(ports_key(piece.get("ports") or []), []).append(piece)
    for key, group in groups.items():
        pending = dict(group.endpoints)
        kept: list[tuple[Obj, list[Obj]]] = []
        for piece in by_key.pop(key, []):
            held = [pending.pop(addr) for e in piece.get("endpoints") or []
                    if (addr := (e.get("addresses") or [None])[0]) in pending]
            kept.append((piece, held))
        for piece, held in kept:
            room = max_per_slice - len(held)
            while room > 0 and pending:
                held.append(pending.pop(next(iter(pending))))
                room -= 1
        for piece, held in kept:
            if not held:
                deletes.append(piece)
                continue
            wanted = _slice(meta, labels, owner, group.ports, held, base=piece)
            if _slice_differs(piece, wanted):
                updates.append(wanted)
        rest = list(pending.values())
        for i in range(0, len(rest), max_per_slice):
            creates.append(_slice(meta, labels, owner, group.ports, rest[i:i + max_per_slice]))
    leftovers = [piece for pieces in by_key.values() for piece in pieces]
    empty = next((p for p in leftovers if not p.get("endpoints")), None)
    if creates and empty is not None:  # the placeholder (or an emptied slice) takes the first new one
        leftovers.remove(empty)
        first = creates.pop(0)
        updates.append(_slice(meta, labels, owner, first["ports"], first["endpoints"], base=empty))
    if not groups:  # the placeholder: one slice, no endpoints, no ports
        placeholder = next((p for p in leftovers if not p.get("endpoints") and not p.get("ports")), None)
        if placeholder is None and leftovers:
            placeholder = leftovers[0]
        if placeholder is None:
            creates.append(_slice(meta, labels, owner, [], []))
        else:
            leftovers.remove(placeholder)
            wanted = _slice(meta, labels, owner, [], [], base=placeholder)
            if _slice_differs(placeholder, wanted):
                updates.append(wanted)
    deletes.extend(leftovers)
    return creates, updates, deletes


def _slice(service_meta: Obj, labels: dict[str, str], owner: Obj, ports: list[Obj], endpoints: list[Obj], *,
           base: Obj | None = None) -> Obj:
    endpoints = sorted(endpoints, key=lambda e: e["addresses"][0])
    if base is not None:
        metadata = {**base["metadata"], "labels": labels, "ownerReferences": [owner]}
    else:
        metadata = {"generateName": f"{(service_meta.get('name') or '')[:57]}-",
                    "namespace": service_meta.get("namespace"), "labels": labels, "ownerReferences": [owner]}
    return {"apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice", "metadata": metadata,
            "addressType": "IPv4", "endpoints": endpoints, "ports": ports}


def _slice_differs(current: Obj, wanted: Obj) -> bool:
    meta, wanted_meta = current.get("metadata") or {}, wanted["metadata"]
    return ((meta.get("labels") or {}) != wanted_meta["labels"]
            or (meta.get("ownerReferences") or []) != wanted_meta["ownerReferences"]
            or (current.get("endpoints") or []) != wanted["endpoints"]
            or ports_key(current.get("ports") or []) != ports_key(wanted["ports"]))
