"""The KPA decision (Knative's `autoscaler.go` rules) and the windows it averages over."""

from __future__ import annotations

import pytest

from minik8s.serverless.autoscaler import _well_formed
from minik8s.serverless.kpa import Decider, Window, target_per_pod


@pytest.mark.parametrize(("cc", "target", "want"), [
    (0, None, 70.0),  # Knative's default of 100, at 70 %
    (10, None, 7.0),
    (1, None, 0.7),
    (10, 5, 3.5),  # an explicit target below containerConcurrency
    (10, 50, 7.0),  # ... and above it: containerConcurrency wins
    (0, 20, 14.0),
])
def test_target_per_pod(cc: int, target: int | None, want: float) -> None:
    assert target_per_pod(cc, target) == pytest.approx(want)


def test_a_young_window_averages_over_the_seconds_it_has_seen() -> None:
    w = Window(60)
    w.record(100.2, 4.0)
    w.record(101.5, 8.0)
    assert w.average(101.9) == pytest.approx(6.0)


def test_values_leave_the_window_after_its_length() -> None:
    w = Window(6)
    for second in range(6):
        w.record(100 + second, 6.0 if second < 3 else 0.0)
    assert w.average(105) == pytest.approx(3.0)  # seconds 100..105: 18 over 6 seconds
    for second in range(6, 10):
        w.record(100 + second, 0.0)
    assert w.average(109) == pytest.approx(0.0)


def steady(decider: Decider, start: int, seconds: int, value: float) -> int:
    """Record `value` for `seconds` seconds from `start`; the last second recorded (decisions are made then)."""
    for second in range(start, start + seconds):
        decider.record(second, value)
    return start + seconds - 1


def test_stable_load_asks_for_load_over_target() -> None:
    d = Decider(stable_seconds=60)
    now = steady(d, 0, 60, 14.0)
    assert d.decide(now, 2, 7.0) == 2
    assert d.panic_since is None


def test_a_burst_panics_and_scales_at_once_within_the_rate() -> None:
    d = Decider(stable_seconds=60, max_scale_up_rate=3.0)
    now = steady(d, 0, 54, 1.0)
    now = steady(d, now + 1, 6, 70.0)  # the panic window (6 s) sees 70: 10 pods at target 7
    assert d.decide(now, 1, 7.0) == 3  # at most 3x the one ready pod
    assert d.panic_since is not None


def test_panic_never_scales_down_until_a_stable_window_passed() -> None:
    d = Decider(stable_seconds=10)
    now = steady(d, 0, 10, 70.0)
    assert d.decide(now, 1, 7.0) == 10
    now = steady(d, now + 1, 5, 0.0)
    assert d.decide(now, 10, 7.0) == 10  # still panicking: keeps the most it asked for
    now = steady(d, now + 1, 12, 0.0)
    assert d.decide(now, 10, 7.0) == 5  # out of panic: down, but at most half of the ready pods at once


def test_a_new_leader_starts_in_panic_at_the_ready_count() -> None:
    d = Decider(stable_seconds=60)
    d.adopt(0, 4)
    d.record(0, 0.0)
    assert d.decide(1, 4, 7.0) == 4


@pytest.mark.parametrize("entry", [
    {"namespace": "d", "name": "f", "concurrency": float("nan"), "requests": 0, "busy": 0, "instances": 0},
    {"namespace": "d", "name": "f", "concurrency": -1, "requests": 0, "busy": 0, "instances": 0},
    {"namespace": "d", "name": "f", "concurrency": 1, "requests": 1.5, "busy": 0, "instances": 0},
    {"namespace": "d", "name": "", "concurrency": 1, "requests": 1, "busy": 0, "instances": 0},
    {"namespace": "d", "name": "f", "concurrency": True, "requests": 1, "busy": 0, "instances": 0},
    ["not", "a", "dict"],
])
def test_hostile_router_figures_are_ignored(entry: object) -> None:
    assert not _well_formed(entry)


def test_router_figures_that_count() -> None:
    assert _well_formed({"namespace": "d", "name": "f", "concurrency": 2.5, "requests": 3, "busy": 1, "instances": 2})
