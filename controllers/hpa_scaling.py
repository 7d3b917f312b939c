"""From a metric recommendation to the replica count an HPA sets: stabilization, rate limits, clamps.

A port of the normalization in `pkg/controller/podautoscaler/horizontal.go`:

- without `behavior` (`normalizeDesiredReplicas`): the highest recommendation of the last
  downscale-stabilization window (default 300 s) wins, then min/max replicas and a scale-up limit
  of max(2 × current, 4);
- with `behavior` (`normalizeDesiredReplicasWithBehaviors`): the recommendation is held between the
  lowest of the scale-up window's recommendations and the highest of the scale-down window's
  (`stabilizeRecommendationWithBehaviors`); then the policies limit the change: for each policy,
  the replica count at the start of its `periodSeconds` (now minus the changes made since) plus
  `value` pods or percent (`Max`: the most permissive policy, `Min`: the least, `Disabled`: no
  change in that direction), clamped by min/max replicas.

Each HPA has a `ScalingHistory` (its recommendations and recent scale events), kept by the
controller in memory like kube-controller-manager's maps (a new leader starts with empty ones).
`now` is passed in, so the table test runs upstream's cases with no clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from minik8s.api.kinds.hpa import DEFAULT_RULES

Obj = dict[str, Any]

DOWNSCALE_STABILIZATION = 300.0  # --horizontal-pod-autoscaler-downscale-stabilization
SCALE_UP_LIMIT_FACTOR = 2.0
SCALE_UP_LIMIT_MINIMUM = 4.0
_MAX_INT32, _MIN_INT32 = 2**31 - 1, -(2**31)


@dataclass
class Recommendation:
    """An unstabilized recommendation and when it was made."""

    replicas: int
    timestamp: float


@dataclass
class ScaleEvent:
    """A rescale by `change` replicas (absolute value) at `timestamp`; `outdated` ones are reused."""

    change: int
    timestamp: float
    outdated: bool = False


@dataclass
class ScalingHistory:
    """What the controller remembers about one HPA between syncs."""

    recommendations: list[Recommendation] = field(default_factory=list)
    scale_up_events: list[ScaleEvent] = field(default_factory=list)
    scale_down_events: list[ScaleEvent] = field(default_factory=list)

    def record_initial(self, current: int, now: float) -> None:
        """`recordInitialRecommendation`: the current count is the first recommendation."""
        if not self.recommendations:
            self.recommendations.append(Recommendation(current, now))


@dataclass(frozen=True)
class Normalized:
    """The replica count to set and the conditions that explain it."""

    replicas: int
    able_reason: str  # AbleToScale (True): ReadyForNewScale, ScaleUpStabilized or ScaleDownStabilized
    able_message: str
    limited: bool  # ScalingLimited's status
    limited_reason: str
    limited_message: str


_READY = ("ReadyForNewScale", "recommended size matches current size")
_REASONS = {
    "DesiredWithinRange": "the desired count is within the acceptable range",
    "TooManyReplicas": "the desired replica count is more than the maximum replica count",
    "TooFewReplicas": "the desired replica count is less than the minimum replica count",
    "ScaleUpLimit": "the desired replica count is increasing faster than the maximum scale rate",
    "ScaleDownLimit": "the desired replica count is decreasing faster than the maximum scale rate",
}


def rules(behavior: Obj | None, direction: str, downscale_window: float = DOWNSCALE_STABILIZATION) -> Obj:
    """The scaling rules of one direction with upstream's defaults filled in (the API server
    defaults them too; the scale-down window defaults to the controller's `downscale_window`)."""
    given = (behavior or {}).get(direction) if isinstance(behavior, dict) else None
    out = {**DEFAULT_RULES[direction], **{k: v for k, v in (given or {}).items() if v is not None}}
    if direction == "scaleDown" and out.get("stabilizationWindowSeconds") is None:
        out["stabilizationWindowSeconds"] = downscale_window
    return out


# ---- without behavior ---------------------------------------------------------------------------

def stabilize(history: ScalingHistory, desired: int, *, now: float, window: float) -> int:
    """`stabilizeRecommendation`: record `desired`; the highest recommendation of the last `window` seconds."""
    highest, old_index = desired, None
    for i, rec in enumerate(history.recommendations):
        if rec.timestamp < now - window:
            old_index = i
        elif rec.replicas > highest:
            highest = rec.replicas
    _record(history, desired, now, old_index)
    return highest


def _record(history: ScalingHistory, desired: int, now: float, reuse: int | None) -> None:
    if reuse is not None:
        history.recommendations[reuse] = Recommendation(desired, now)
    else:
        history.recommendations.append(Recommendation(desired, now))


def normalize_without_behavior(history: ScalingHistory, *, current: int, desired: int, min_replicas: int,
                               max_replicas: int, now: float,
                               downscale_window: float = DOWNSCALE_STABILIZATION) -> Normalized:
    """`normalizeDesiredReplicas`."""
    stabilized = stabilize(history, desired, now=now, window=downscale_window)
    able = (("ScaleDownStabilized", "recent recommendations were higher than current one, applying the highest "
                                    "recent recommendation") if stabilized != desired else _READY)
    scale_up_limit = int(max(SCALE_UP_LIMIT_FACTOR * current, SCALE_UP_LIMIT_MINIMUM))
    if max_replicas > scale_up_limit:
        maximum, reason = scale_up_limit, "ScaleUpLimit"
    else:
        maximum, reason = max_replicas, "TooManyReplicas"
    if stabilized < min_replicas:
        replicas, reason = min_replicas, "TooFewReplicas"
    elif stabilized > maximum:
        replicas = maximum
    else:
        replicas, reason = stabilized, "DesiredWithinRange"
    return Normalized(replicas, *able, replicas != stabilized, reason, _REASONS[reason])


# ---- with behavior -------------------------------------------------------------------------------

def stabilize_with_behavior(history: ScalingHistory, *, current: int, desired: int, up_window: float,
                            down_window: float, now: float) -> tuple[int, str, str]:
    """`stabilizeRecommendationWithBehaviors`: `desired`, held between the lowest recommendation of the
    scale-up window and the highest of the scale-down window; records `desired`."""
    up, down, old_index = desired, desired, None
    up_cutoff, down_cutoff = now - up_window, now - down_window
    for i, rec in enumerate(history.recommendations):
        if rec.timestamp > up_cutoff:
            up = min(rec.replicas, up)
        if rec.timestamp > down_cutoff:
            down = max(rec.replicas, down)
        if rec.timestamp < up_cutoff and rec.timestamp < down_cutoff:
            old_index = i
    recommendation = min(max(current, up), down)
    _record(history, desired, now, old_index)
    if desired >= current:
        return (recommendation, "ScaleUpStabilized",
                "recent recommendations were lower than current one, applying the lowest recent recommendation")
    return (recommendation, "ScaleDownStabilized",
            "recent recommendations were higher than current one, applying the highest recent recommendation")


def _changes_within(period: float, events: list[ScaleEvent], now: float) -> int:
    """`getReplicasChangePerPeriod`: the replicas changed by events of the last `period` seconds."""
    return sum(e.change for e in events if e.timestamp > now - period)


def scale_up_limit(current: int, up_events: list[ScaleEvent], down_events: list[ScaleEvent], scale_rules: Obj,
                   now: float) -> int:
    """`calculateScaleUpLimitWithScalingRules`: the most replicas the scale-up policies allow now."""
    select = scale_rules.get("selectPolicy") or "Max"
    if select == "Disabled":
        return current
    result = _MAX_INT32 if select == "Min" else _MIN_INT32
    for policy in scale_rules.get("policies") or []:
        period = policy.get("periodSeconds", 0)
        start = current - _changes_within(period, up_events, now) + _changes_within(period, down_events, now)
        if policy.get("type") == "Pods":
            proposed = start + policy.get("value", 0)
        else:
            proposed = math.ceil(start * (1 + policy.get("value", 0) / 100))
        result = min(result, proposed) if select == "Min" else max(result, proposed)
    return result


def scale_down_limit(current: int, up_events: list[ScaleEvent], down_events: list[ScaleEvent], scale_rules: Obj,
                     now: float) -> int:
    """`calculateScaleDownLimitWithBehaviors`: the fewest replicas the scale-down policies allow now."""
    select = scale_rules.get("selectPolicy") or "Max"
    if select == "Disabled":
        return current
    result = _MIN_INT32 if select == "Min" else _MAX_INT32
    for policy in scale_rules.get("policies") or []:
        period = policy.get("periodSeconds", 0)
        start = current - _changes_within(period, up_events, now) + _changes_within(period, down_events, now)
        if policy.get("type") == "Pods":
            proposed = start - policy.get("value", 0)
        else:
            proposed = int(start * (1 - policy.get("value", 0) / 100))
        result = max(result, proposed) if select == "Min" else min(result, proposed)
    return result


def limit_by_rate(history: ScalingHistory, *, current: int, desired: int, min_replicas: int, max_replicas: int,
                  up_rules: Obj, down_rules: Obj, now: float) -> tuple[int, str]:
    """`convertDesiredReplicasWithBehaviorRate`: `desired` within the policies' rate and min/max."""
    if desired > current:
        limit = max(scale_up_limit(current, history.scale_up_events, history.scale_down_events, up_rules, now),
                    current)
        if max_replicas > limit:
            maximum, reason = limit, "ScaleUpLimit"
        else:
            maximum, reason = max_replicas, "TooManyReplicas"
        if desired > maximum:
            return maximum, reason
    elif desired < current:
        limit = min(scale_down_limit(current, history.scale_up_events, history.scale_down_events, down_rules, now),
                    current)
        if min_replicas < limit:
            minimum, reason = limit, "ScaleDownLimit"
        else:
            minimum, reason = min_replicas, "TooFewReplicas"
        if desired < minimum:
            return minimum, reason
    return desired, "DesiredWithinRange"


def normalize_with_behavior(history: ScalingHistory, behavior: Obj, *, current: int, desired: int, min_replicas: int,
                            max_replicas: int, now: float,
                            downscale_window: float = DOWNSCALE_STABILIZATION) -> Normalized:
    """`normalizeDesiredReplicasWithBehaviors`."""
    up, down = rules(behavior, "scaleUp"), rules(behavior, "scaleDown", downscale_window)
    stabilized, reason, message = stabilize_with_behavior(
        history, current=current, desired=desired, up_window=float(up["stabilizationWindowSeconds"]),
        down_window=float(down["stabilizationWindowSeconds"]), now=now)
    able = (reason, message) if stabilized != desired else _READY
    replicas, limited_reason = limit_by_rate(history, current=current, desired=stabilized, min_replicas=min_replicas,
                                             max_replicas=max_replicas, up_rules=up, down_rules=down, now=now)
    return Normalized(replicas, *able, replicas != stabilized, limited_reason, _REASONS[limited_reason])


def normalize(history: ScalingHistory, behavior: Obj | None, *, current: int, desired: int, min_replicas: int,
              max_replicas: int, now: float, downscale_window: float = DOWNSCALE_STABILIZATION) -> Normalized:
    """The replica count to set for a metrics recommendation of `desired` (see the module docstring)."""
    if behavior is None:
        return normalize_without_behavior(history, current=current, desired=desired, min_replicas=min_replicas,
                                          max_replicas=max_replicas, now=now, downscale_window=downscale_window)
    return normalize_with_behavior(history, behavior, current=current, desired=desired, min_replicas=min_replicas,
                                   max_replicas=max_replicas, now=now, downscale_window=downscale_window)


def record_scale(history: ScalingHistory, behavior: Obj | None, *, previous: int, new: int, now: float) -> None:
    """`storeScaleEvent`: remember a rescale for the rate policies (only with a `behavior`), reusing
    an event older than the longest policy period of that direction."""
    if behavior is None:
        return
    if new > previous:
        events, direction, change = history.scale_up_events, "scaleUp", new - previous
    else:
        events, direction, change = history.scale_down_events, "scaleDown", previous - new
    longest = max((p.get("periodSeconds", 0) for p in rules(behavior, direction).get("policies") or []), default=0)
    reuse = None
    for i, event in enumerate(events):
        if event.timestamp < now - longest:
            event.outdated = True
        if event.outdated:
            reuse = i
    if reuse is not None:
        events[reuse] = ScaleEvent(change, now)
    else:
        events.append(ScaleEvent(change, now))
