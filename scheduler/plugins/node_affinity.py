"""NodeAffinity: `spec.nodeSelector` and required node affinity must both match the node.

`nodeSelector` is a map of labels the node must carry with those values.
`affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms` is a
list of terms of which at least one must match; a term matches when all its `matchExpressions`
(on labels: In, NotIn, Exists, DoesNotExist, Gt, Lt) and `matchFields` (on `metadata.name`)
hold, and a term with neither matches nothing. NotIn and DoesNotExist hold for a missing label;
Gt and Lt compare integers and fail when either side is not one. Both checks fail with the one
reason kube-scheduler prints for them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from ..framework import NodeInfo, PodInfo

NAME = "NodeAffinity"
REASON = "node(s) didn't match Pod's node affinity/selector"

_INTEGER = re.compile(r"[+-]?[0-9]+")


def _as_int(value: str | None) -> int | None:
    return int(value) if value is not None and _INTEGER.fullmatch(value) else None


def requirement_holds(requirement: Mapping[str, Any], value: str | None) -> bool:
    """One `{key, operator, values}` against the node's value for the key (None when absent)."""
    operator = requirement.get("operator")
    values: Sequence[str] = requirement.get("values") or []
    if operator == "In":
        return value is not None and value in values
    if operator == "NotIn":
        return value is None or value not in values
    if operator == "Exists":
        return value is not None
    if operator == "DoesNotExist":
        return value is None
    if operator in ("Gt", "Lt") and len(values) == 1:
        have, bound = _as_int(value), _as_int(values[0])
        if have is None or bound is None:
            return False
        return have > bound if operator == "Gt" else have < bound
    return False


def term_matches(term: Mapping[str, Any], labels: Mapping[str, str], name: str) -> bool:
    """One node selector term: every expression and field requirement holds (and there is one)."""
    expressions = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not expressions and not fields:
        return False
    return (all(requirement_holds(e, labels.get(e.get("key", ""))) for e in expressions)
            and all(requirement_holds(f, name if f.get("key") == "metadata.name" else None) for f in fields))


def pod_matches_node(pod_spec: Mapping[str, Any], labels: Mapping[str, str], name: str) -> bool:
    """Whether the pod's nodeSelector and required node affinity both accept the node."""
    if any(labels.get(key) != value for key, value in (pod_spec.get("nodeSelector") or {}).items()):
        return False
    required = (((pod_spec.get("affinity") or {}).get("nodeAffinity") or {})
                .get("requiredDuringSchedulingIgnoredDuringExecution"))
    if required is None:
        return True
    return any(term_matches(term, labels, name) for term in required.get("nodeSelectorTerms") or [])


class NodeAffinity:
    """Filter: rejects nodes the pod's nodeSelector or required node affinity excludes."""

    name = NAME

    def filter(self, pod: PodInfo, node: NodeInfo) -> tuple[str, ...]:
        return () if pod_matches_node(pod.spec, node.labels, node.name) else (REASON,)
