"""The default plugins, in kube-scheduler's order: cheap structural checks before resources.

Filters: NodeReady (cordoned / not Ready), TaintToleration, NodeAffinity (nodeSelector and
required affinity), NodeResourcesFit. Scores: LeastAllocated (weight 1) and Spread (weight 2,
like PodTopologySpread's default weight).
"""

from __future__ import annotations

from ..framework import FilterPlugin, Framework, ScorePlugin
from .least_allocated import LeastAllocated
from .node_affinity import NodeAffinity
from .node_ready import NodeReady
from .resources_fit import ResourcesFit
from .spread import Spread
from .taint_toleration import TaintToleration

__all__ = [
    "LeastAllocated", "NodeAffinity", "NodeReady", "ResourcesFit", "Spread", "TaintToleration",
    "default_filters", "default_framework", "default_scores",
]


def default_filters() -> list[FilterPlugin]:
    return [NodeReady(), TaintToleration(), NodeAffinity(), ResourcesFit()]


def default_scores() -> list[ScorePlugin]:
    return [LeastAllocated(), Spread()]


def default_framework() -> Framework:
    return Framework(default_filters(), default_scores())
