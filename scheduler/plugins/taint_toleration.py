"""TaintToleration: a node's NoSchedule and NoExecute taints keep off pods that do not tolerate them.

Whether a toleration matches a taint is Kubernetes' `Toleration.ToleratesTaint`, in
`minik8s.api.taints` (shared with the node lifecycle controller's evictions). PreferNoSchedule
taints only matter for scoring, so they are ignored here. The first untolerated taint, in the node's order, is the reason reported.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from minik8s.api.taints import tolerated

from ..framework import NodeInfo, PodInfo

NAME = "TaintToleration"
FILTERED_EFFECTS = ("NoSchedule", "NoExecute")


def reason(taint: Mapping[str, Any]) -> str:
    """Kubernetes' wording for a node rejected because of `taint`."""
    return f"node(s) had untolerated taint {{{taint.get('key', '')}: {taint.get('value', '')}}}"


def untolerated_taint(taints: Iterable[Mapping[str, Any]],
                      tolerations: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """The first NoSchedule/NoExecute taint none of the tolerations tolerates, or None."""
    for taint in taints:
        if taint.get("effect") in FILTERED_EFFECTS and not tolerated(taint, tolerations):
            return taint
    return None


class TaintToleration:
    """Filter: rejects nodes with a NoSchedule/NoExecute taint the pod does not tolerate."""

    name = NAME

    def filter(self, pod: PodInfo, node: NodeInfo) -> tuple[str, ...]:
        taint = untolerated_taint(node.taints, pod.tolerations)
        return (reason(taint),) if taint is not None else ()
