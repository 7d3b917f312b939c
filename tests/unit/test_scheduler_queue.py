"""Scheduling queue: priority order, collapsing adds, exponential back-off, moves on cluster changes."""

from __future__ import annotations

import pytest

from minik8s.scheduler.queue import SchedulingQueue


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def queue(clock: FakeClock) -> SchedulingQueue:
    return SchedulingQueue(initial_backoff=1.0, max_backoff=30.0, clock=clock)


def drain(queue: SchedulingQueue) -> list[str]:
    keys = []
    while (key := queue.pop(timeout=0)) is not None:
        keys.append(key)
    return keys


def test_scheduler_queue_orders_by_priority_then_arrival(queue: SchedulingQueue) -> None:
    """Higher priority first; equal priority in arrival order; repeated adds collapse."""
    queue.add("a")
    queue.add("b", priority=10)
    queue.add("c")
    queue.add("a")
    assert drain(queue) == ["b", "a", "c"]


@pytest.mark.parametrize(("failures", "delay"), [
    pytest.param(1, 1.0, id="first"),
    pytest.param(2, 2.0, id="doubles"),
    pytest.param(5, 16.0, id="sixteen"),
    pytest.param(7, 30.0, id="capped"),
])
def test_scheduler_queue_backs_off_exponentially(queue: SchedulingQueue, clock: FakeClock, failures: int,
                                                 delay: float) -> None:
    """The n-th consecutive failure waits 1 s x 2^(n-1), at most 30 s."""
    queue.add("p")
    for _ in range(failures - 1):
        assert queue.pop(timeout=0) == "p"
        queue.retry("p")
        clock.now += 60
    assert queue.pop(timeout=0) == "p"
    queue.retry("p")
    clock.now += delay - 0.01
    assert queue.pop(timeout=0) is None
    clock.now += 0.02
    assert queue.pop(timeout=0) == "p"


def test_scheduler_queue_done_resets_backoff(queue: SchedulingQueue, clock: FakeClock) -> None:
    """After a success the next failure starts again at the initial delay."""
    queue.add("p")
    for _ in range(3):
        queue.pop(timeout=0)
        queue.retry("p")
        clock.now += 60
    queue.pop(timeout=0)
    queue.done("p")
    queue.add("p")
    queue.pop(timeout=0)
    queue.retry("p")
    clock.now += 1.01
    assert queue.pop(timeout=0) == "p"


def test_scheduler_queue_cluster_change_retries_now(queue: SchedulingQueue) -> None:
    """A node change makes backing-off pods active, and in-flight ones retry at once when they fail."""
    queue.add("waiting")
    queue.add("flying")
    assert queue.pop(timeout=0) == "waiting"
    queue.retry("waiting")
    assert queue.pop(timeout=0) == "flying"
    queue.move_all_to_active()
    queue.retry("flying")
    assert drain(queue) == ["waiting", "flying"]


def test_scheduler_queue_update_during_flight_requeues(queue: SchedulingQueue) -> None:
    """A pod changed while being scheduled is not popped twice at once, but retried right after."""
    queue.add("p")
    assert queue.pop(timeout=0) == "p"
    queue.add("p")
    assert queue.pop(timeout=0) is None
    queue.retry("p")
    assert queue.pop(timeout=0) == "p"


def test_scheduler_queue_delete_and_close(queue: SchedulingQueue) -> None:
    """Deleted pods are never popped; close wakes waiters with None."""
    queue.add("a")
    queue.add("b")
    queue.delete("a")
    queue.pop(timeout=0)
    queue.retry("b")
    queue.delete("b")
    assert len(queue) == 0
    queue.close()
    assert queue.pop() is None
