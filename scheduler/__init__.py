"""Assigns pending pods to nodes: filter -> score -> bind.

`Scheduler` is the running component (informers, queue, binder threads); `Framework` with the
plugins of `minik8s.scheduler.plugins` is the pure decision, usable on its own.
"""

from __future__ import annotations

from .framework import (
    FilterPlugin,
    Framework,
    NodeInfo,
    PodInfo,
    ScheduleResult,
    ScorePlugin,
    unschedulable_message,
)
from .scheduler import DEFAULT_SCHEDULER_NAME, Scheduler

__all__ = [
    "DEFAULT_SCHEDULER_NAME", "FilterPlugin", "Framework", "NodeInfo", "PodInfo", "ScheduleResult",
    "ScorePlugin", "Scheduler", "unschedulable_message",
]
