"""What `metrics.k8s.io/v1beta1` NodeMetrics and PodMetrics share: their schema, table and formats.

What metrics-server serves and `kubectl top` and the HPA controller read: each node's and each
pod's containers' CPU (a rate in cores over `window`, ending at `timestamp`) and memory working
set, read only and never stored. The API server answers them from the node agents' stats
(`minik8s.api.server.metricsapi`); the kinds are `nodemetrics` and `podmetrics`, and this module
holds what they share: the field schema, the table columns, and the quantity formats
metrics-server writes (CPU as nanocores, memory in binary units: `250m`, `1234567n`, `5120Ki`).
"""

from __future__ import annotations

import re
from typing import Any

from minik8s.api import schema
from minik8s.api.quantity import parse_quantity
from minik8s.api.tables import NAME_COLUMN, column

Obj = dict[str, Any]

GROUP, VERSION = "metrics.k8s.io", "v1beta1"

schema.define("io.k8s.api.metrics.v1beta1", {
    "NodeMetrics": {"timestamp": "time", "window": "str", "usage": "map:quantity"},
    "PodMetrics": {"timestamp": "time", "window": "str", "containers": "[ContainerMetrics]"},
    "ContainerMetrics": {"name": "str", "usage": "map:quantity"},
})

COLUMNS = (
    NAME_COLUMN,
    column("CPU", "CPU usage (cores) over the window."),
    column("Memory", "Memory working set."),
    column("Window", "The span the CPU usage was measured over."),
)


def cpu_quantity(nanocores: int) -> str:
    """Nanocores in Kubernetes' canonical form: `2`, `250m`, `1500u`, `1234567n`."""
    for divisor, suffix in ((1_000_000_000, ""), (1_000_000, "m"), (1_000, "u")):
        if nanocores % divisor == 0:
            return f"{nanocores // divisor}{suffix}"
    return f"{nanocores}n"


def memory_quantity(size: int) -> str:
    """Bytes in Kubernetes' canonical binary form: `5120Ki`, `64Mi`, or plain bytes."""
    for exponent, suffix in ((40, "Ti"), (30, "Gi"), (20, "Mi"), (10, "Ki")):
        if size and size % (1 << exponent) == 0:
            return f"{size >> exponent}{suffix}"
    return str(size)


def go_duration(seconds: float) -> str:
    """A duration as Go prints it (metrics' `window`): `15s`, `10.5s`, `1m0.25s`."""
    millis = max(0, round(seconds * 1000))
    minutes, rest = divmod(millis, 60_000)
    text = f"{rest / 1000:.3f}".rstrip("0").rstrip(".") + "s"
    return f"{minutes}m{text}" if minutes else text


_DURATION_PART = re.compile(r"([0-9]*\.?[0-9]+)(ns|us|µs|ms|s|m|h)")
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_go_duration(text: str) -> float:
    """Seconds of a Go duration string (`15s`, `1m0.5s`, `500ms`); ValueError when it is not one."""
    if text == "0":
        return 0.0
    parts = _DURATION_PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"not a duration: {text[:64]!r}")
    return sum(float(number) * _DURATION_UNITS[unit] for number, unit in parts)


def usage_cells(usage: list[Obj]) -> list[str]:
    """The CPU and memory cells of a table row: the sums of `usage` maps."""
    cpu = sum(parse_quantity((u or {}).get("cpu", 0)) for u in usage)
    memory = sum(parse_quantity((u or {}).get("memory", 0)) for u in usage)
    return [cpu_quantity(round(cpu * 1e9)), memory_quantity(int(memory))]
