"""The downward API: a pod's own fields and its containers' resources as strings (pure).

Env vars (`valueFrom.fieldRef`, `valueFrom.resourceFieldRef`) and `downwardAPI` volume files
(also inside `projected` volumes) expose the same values, computed here the way the kubelet does
(`podFieldSelectorRuntimeValue`, `fieldpath.ExtractFieldPathAsString`, `resource.
ExtractContainerResourceValue`): labels and annotations as `key="value"` lines in key order, a
missing limit as the node's allocatable amount, cpu and memory divided by `divisor` and rounded up.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from minik8s.api.quantity import parse_quantity

__all__ = ["DownwardError", "PodRuntimeInfo", "field_value", "format_map", "resource_value"]

Obj = dict[str, Any]

_SUBSCRIPT = re.compile(r"^metadata\.(labels|annotations)\['(.*)'\]$")
_SIMPLE_FIELDS = {
    "metadata.name": ("metadata", "name"), "metadata.namespace": ("metadata", "namespace"),
    "metadata.uid": ("metadata", "uid"), "spec.nodeName": ("spec", "nodeName"),
    "spec.serviceAccountName": ("spec", "serviceAccountName"), "spec.restartPolicy": ("spec", "restartPolicy"),
    "spec.schedulerName": ("spec", "schedulerName"), "status.phase": ("status", "phase"),
}
RESOURCES = ("limits.cpu", "limits.memory", "limits.ephemeral-storage",
             "requests.cpu", "requests.memory", "requests.ephemeral-storage")


class DownwardError(ValueError):
    """A field path or resource the downward API does not support (the message says which)."""


@dataclass(frozen=True)
class PodRuntimeInfo:
    """What the node knows about a pod that its object may not say yet."""

    pod_ip: str | None = None
    host_ip: str | None = None
    allocatable: Mapping[str, str] = field(default_factory=dict)  # the node's, for limits left unset


def format_map(values: Mapping[str, str]) -> str:
    """Labels or annotations as a downward API file holds them: sorted `key="value"` lines."""
    return "\n".join(f"{key}={json.dumps(str(values[key]), ensure_ascii=False)}" for key in sorted(values))


def field_value(pod: Obj, path: str, info: PodRuntimeInfo, *, whole_maps: bool = False) -> str:
    """The value of `fieldRef.fieldPath` for `pod`; `whole_maps` allows `metadata.labels` itself (volumes)."""
    meta = pod.get("metadata") or {}
    if (match := _SUBSCRIPT.match(path)) is not None:
        return str((meta.get(match[1]) or {}).get(match[2], ""))
    if path in ("metadata.labels", "metadata.annotations") and whole_maps:
        return format_map(meta.get(path.split(".")[1]) or {})
    if path == "status.podIP":
        return info.pod_ip or ""
    if path == "status.podIPs":
        return info.pod_ip or ""  # one address family here
    if path in ("status.hostIP", "status.hostIPs"):
        return info.host_ip or ""
    if path in _SIMPLE_FIELDS:
        section, key = _SIMPLE_FIELDS[path]
        value = (pod.get(section) or {}).get(key)
        return "" if value is None else str(value)
    raise DownwardError(f'field label not supported: "{path}"')


def resource_value(container: Obj, resource: str, divisor: Any, info: PodRuntimeInfo) -> str:
    """The value of `resourceFieldRef` for `container`, as the kubelet writes it (e.g. "1", "67108864")."""
    if resource not in RESOURCES:
        raise DownwardError(f"unsupported container resource : {resource}")
    kind, _, name = resource.partition(".")
    resources = container.get("resources") or {}
    raw = (resources.get(kind) or {}).get(name)
    if raw is None and kind == "limits":
        raw = info.allocatable.get(name)
    try:
        amount = parse_quantity(raw) if raw is not None else 0.0
        by = parse_quantity(divisor) if divisor not in (None, "", 0, "0") else 1.0
    except ValueError as exc:
        raise DownwardError(f"{resource}: {exc}") from None
    if by <= 0:
        raise DownwardError(f"{resource}: the divisor must be positive")
    if name == "cpu":  # in thousandths of a core, each rounded up, as Quantity.MilliValue does
        return str(_ceil(_ceil(amount * 1000) / _ceil(by * 1000)))
    return str(_ceil(_ceil(amount) / _ceil(by)))


def _ceil(value: float) -> int:
    """Rounded up, ignoring the float noise of parsing (0.7 * 1000 is 700.0000000000001)."""
    return math.ceil(round(value, 6))
