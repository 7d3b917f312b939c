"""Whether a toleration tolerates a taint: Kubernetes' `Toleration.ToleratesTaint`, written once.

The scheduler (may a pod go to a tainted node?) and the node lifecycle controller (how long may
a pod stay on an unreachable node?) must give the same answer for the same pod, so both ask
this module. The rules are those of `k8s.io/api/core/v1/toleration.go`:

- an empty toleration `effect` matches every effect, otherwise the effects must be equal;
- an empty toleration `key` matches every key (validation allows it only with `Exists`, so it
  tolerates every taint), otherwise the keys must be equal;
- operator `Exists` matches any value; `Equal` (also an empty or missing operator) needs equal
  values, a missing value counting as `""`; any other operator matches nothing.

`tolerationSeconds` is not looked at here: it only says how long a NoExecute taint is tolerated.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

__all__ = ["matching_tolerations", "tolerated", "tolerates"]

Toleration = Mapping[str, Any]
Taint = Mapping[str, Any]


def tolerates(toleration: Toleration, taint: Taint) -> bool:
    """Whether one toleration tolerates one taint (see the module docstring for the rules)."""
    effect = toleration.get("effect")
    if effect and effect != taint.get("effect"):
        return False
    key = toleration.get("key")
    if key and key != taint.get("key"):
        return False
    operator = toleration.get("operator") or "Equal"
    if operator == "Exists":
        return True
    return operator == "Equal" and (toleration.get("value") or "") == (taint.get("value") or "")


def tolerated(taint: Taint, tolerations: Iterable[Toleration]) -> bool:
    """Whether any of `tolerations` tolerates `taint`."""
    return any(tolerates(toleration, taint) for toleration in tolerations)


def matching_tolerations(taint: Taint, tolerations: Iterable[Toleration]) -> list[Toleration]:
    """The tolerations that tolerate `taint`, in their order (to read their `tolerationSeconds`)."""
    return [toleration for toleration in tolerations if tolerates(toleration, taint)]
