"""`metrics.k8s.io/v1beta1` PodMetrics: a pod's containers' CPU and memory use (read only; see `metrics`)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from minik8s.api.tables import name_cell

from .metrics import COLUMNS, GROUP, VERSION, usage_cells
from .resource import ResourceType
from .strategy import Strategy

Obj = dict[str, Any]


class PodMetricsStrategy(Strategy):
    """PodMetrics: only read; a table with the pod's summed CPU, memory and window."""

    columns = COLUMNS

    def cells(self, obj: Obj, now: datetime) -> list[Any]:
        usage = [c.get("usage") or {} for c in obj.get("containers") or [] if isinstance(c, dict)]
        return [name_cell(obj), *usage_cells(usage), obj.get("window", "")]


RESOURCE = ResourceType(GROUP, VERSION, "pods", "PodMetrics", True, verbs=("get", "list"),
                        strategy=PodMetricsStrategy(), stored=False)
