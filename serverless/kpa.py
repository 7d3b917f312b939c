"""Knative's concurrency autoscaler (KPA), as pure code: windows of 1 s buckets and the decision.

From `knative/serving` (`pkg/autoscaler/aggregation/bucketing.go`, `pkg/autoscaler/scaling/
autoscaler.go`), with its defaults:

- the observed concurrency (calls in flight plus calls held, averaged over each second) goes into
  two windows: the stable window (60 s) and the panic window (10 % of it, at least 1 s);
- a window's average is its total over the seconds it has seen (a young window averages over what
  it has, not over its whole length);
- desired = ceil(average / target) for each window, bounded by the rates: at most
  `max_scale_up_rate` x ready pods up, at most ready / `max_scale_down_rate` down;
- panic starts when the panic window's desired pods reach `panic_threshold` (2x) the ready pods,
  and lasts until a whole stable window passed without that; while panicking the larger of the two
  is used and the count never goes down;
- the target per pod is 70 % of `containerConcurrency` (of 100 when it is 0), or of `target`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

TARGET_UTILIZATION = 0.7
DEFAULT_TOTAL = 100  # Knative's container-concurrency-target-default, used when containerConcurrency is 0


def target_per_pod(container_concurrency: int, target: int | None) -> float:
    """The concurrency one pod should carry (Knative's `ResolveMetricTarget`)."""
    total = float(target if target else (container_concurrency or DEFAULT_TOTAL))
    if container_concurrency and target:
        total = min(total, container_concurrency)
    return max(0.01, total * TARGET_UTILIZATION)


@dataclass
class Window:
    """A sliding average of values recorded per whole second (`TimedFloat64Buckets`)."""

    seconds: int
    buckets: dict[int, float] = field(default_factory=dict)  # second -> summed value
    first: int | None = None

    def record(self, now: float, value: float) -> None:
        second = int(now)
        if self.first is None:
            self.first = second
        self.buckets[second] = self.buckets.get(second, 0.0) + value
        for old in [s for s in self.buckets if s <= second - self.seconds]:
            del self.buckets[old]

    def average(self, now: float) -> float:
        """Total over the window divided by the seconds the window has seen (0 when empty)."""
        second = int(now)
        if self.first is None:
            return 0.0
        seen = min(second - self.first + 1, self.seconds)
        total = sum(v for s, v in self.buckets.items() if s > second - self.seconds)
        return total / max(1, seen)


@dataclass
class Decider:
    """One function's scaling state: its windows and whether it is panicking."""

    stable_seconds: int = 60
    panic_percentage: float = 10.0
    panic_threshold: float = 2.0
    max_scale_up_rate: float = 1000.0
    max_scale_down_rate: float = 2.0
    stable: Window = field(init=False)
    panic: Window = field(init=False)
    panic_since: float | None = None
    max_panic_pods: int = 0

    def __post_init__(self) -> None:
        self.stable = Window(self.stable_seconds)
        self.panic = Window(max(1, round(self.stable_seconds * self.panic_percentage / 100)))

    def record(self, now: float, concurrency: float) -> None:
        """One second's observed concurrency."""
        self.stable.record(now, concurrency)
        self.panic.record(now, concurrency)

    def decide(self, now: float, ready_pods: int, target: float) -> int:
        """The desired pod count now (Knative's `Scale`, before min/max bounds and scale to zero)."""
        ready = max(1, ready_pods)
        max_up = math.ceil(self.max_scale_up_rate * ready)
        max_down = math.floor(ready / self.max_scale_down_rate)
        stable_pods = math.ceil(self.stable.average(now) / target)
        panic_pods = math.ceil(self.panic.average(now) / target)
        desired_stable = min(max(stable_pods, max_down), max_up)
        desired_panic = min(max(panic_pods, max_down), max_up)
        over = panic_pods / ready >= self.panic_threshold
        if over:
            self.panic_since = now
        elif self.panic_since is not None and self.panic_since + self.stable_seconds < now:
            self.panic_since, self.max_panic_pods = None, 0
        desired = desired_stable
        if self.panic_since is not None:
            desired = max(desired_stable, desired_panic)
            self.max_panic_pods = max(self.max_panic_pods, desired)
            desired = self.max_panic_pods
        return desired

    def adopt(self, now: float, ready_pods: int) -> None:
        """Start for a function that already runs `ready_pods` (a new leader): in panic at that count, so
        lost history never scales it down at once (Knative's `newAutoscaler`)."""
        if ready_pods > 1:
            self.panic_since, self.max_panic_pods = now, ready_pods
