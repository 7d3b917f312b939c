"""`metrics.k8s.io/v1beta1` NodeMetrics: a node's CPU and memory use (read only; see `metrics`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from minik8s.api.tables import name_cell

from .metrics import COLUMNS, GROUP, VERSION, usage_cells
from .resource import ResourceType
from .strategy import Strategy

Obj = dict[str, Any]


class NodeMetricsStrategy(Strategy):
    """NodeMetrics: only read; a table with the node's CPU, memory and window."""

    columns = COLUMNS

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        return [name_cell(obj), *usage_cells([obj.get("usage") or {}]), obj.get("window", "")]


RESOURCE = ResourceType(GROUP, VERSION, "nodes", "NodeMetrics", False, verbs=("get", "list"),
                        strategy=NodeMetricsStrategy(), stored=False)
