"""Resource amounts as the scheduler counts them: integers per resource name.

CPU is counted in millicores, every other resource (memory, ephemeral-storage, extended
resources such as `nvidia.com/gpu`) in its base unit, rounded up as Kubernetes rounds
quantities (`0.1m` cpu counts as 1m). A pod's request follows Kubernetes' rules: the sum over
its containers, at least the largest init container, plus `spec.overhead`; a container that
sets only a limit requests its limit (the API defaulting Kubernetes applies). Pure: no I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from minik8s.api.quantity import parse_quantity

Resources = dict[str, int]

CPU, MEMORY, PODS = "cpu", "memory", "pods"

# What a container without requests counts as when scoring (Kubernetes' non-zero defaults).
DEFAULT_MILLI_CPU_REQUEST = 100
DEFAULT_MEMORY_REQUEST = 200 * 1024 * 1024

# The pod capacity of a node that does not report `pods` (the kubelet's default max-pods).
DEFAULT_MAX_PODS = 110


def amount(name: str, quantity: Any) -> int:
    """One quantity as an integer of the scheduler's unit for `name`; 0 when it is not a quantity."""
    try:
        value = parse_quantity(quantity)
    except ValueError:
        return 0
    if name == CPU:
        value *= 1000
    return max(0, math.ceil(round(value, 3)))


def amounts(quantities: Mapping[str, Any] | None) -> Resources:
    """A `{name: quantity}` map (requests, limits, allocatable) as integers."""
    return {name: amount(name, q) for name, q in (quantities or {}).items()}


def add(total: Resources, more: Mapping[str, int], sign: int = 1) -> None:
    """`total += sign * more`, in place."""
    for name, value in more.items():
        total[name] = total.get(name, 0) + sign * value


def _container_requests(container: Mapping[str, Any]) -> Resources:
    resources = container.get("resources") or {}
    return {**amounts(resources.get("limits")), **amounts(resources.get("requests"))}


def pod_requests(pod: Mapping[str, Any]) -> Resources:
    """What the pod requests: containers summed, at least each init container, plus overhead."""
    spec = pod.get("spec") or {}
    total: Resources = {}
    for container in spec.get("containers") or []:
        add(total, _container_requests(container))
    for container in spec.get("initContainers") or []:
        for name, value in _container_requests(container).items():
            total[name] = max(total.get(name, 0), value)
    add(total, amounts(spec.get("overhead")))
    return {name: value for name, value in total.items() if value}


def non_zero_requests(pod: Mapping[str, Any]) -> tuple[int, int]:
    """(millicores, memory bytes) for scoring: containers without a request count the defaults."""
    spec = pod.get("spec") or {}
    cpu = memory = 0
    for container in spec.get("containers") or []:
        requests = _container_requests(container)
        cpu += requests.get(CPU) or DEFAULT_MILLI_CPU_REQUEST
        memory += requests.get(MEMORY) or DEFAULT_MEMORY_REQUEST
    return cpu, memory


def node_allocatable(node: Mapping[str, Any]) -> Resources:
    """`status.allocatable`, each missing resource taken from `status.capacity`; pods default to 110."""
    status = node.get("status") or {}
    allocatable = {**amounts(status.get("capacity")), **amounts(status.get("allocatable"))}
    allocatable.setdefault(PODS, DEFAULT_MAX_PODS)
    return allocatable
