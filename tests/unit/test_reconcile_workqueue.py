"""Work queue and rate limiters: deduplication, one worker per key, delays, back-off, shutdown."""

from __future__ import annotations

import threading

import pytest

from minik8s.api.reconcile import ItemExponentialRateLimiter, MaxOfRateLimiter, TokenBucketRateLimiter, WorkQueue


class FakeClock:
    """A monotonic clock that only moves when told to."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def test_workqueue_add_collapses_duplicates(clock: FakeClock) -> None:
    """Adding a key that is already queued does not queue it twice."""
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    for key in ("a", "b", "a", "a"):
        queue.add(key)
    assert len(queue) == 2
    assert [queue.get(0), queue.get(0), queue.get(0)] == ["a", "b", None]


def test_workqueue_key_added_while_processing_waits_for_done(clock: FakeClock) -> None:
    """A key re-added while a worker holds it is not handed out again until `done`, then exactly once."""
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    queue.add("a")
    assert queue.get(0) == "a"
    queue.add("a")
    queue.add("a")
    assert queue.get(0) is None  # a second worker must not get "a" now
    queue.done("a")
    assert queue.get(0) == "a"
    queue.done("a")
    assert queue.get(0) is None


def test_workqueue_done_without_readd_drops_key(clock: FakeClock) -> None:
    """A processed key that was not re-added leaves the queue."""
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    queue.add("a")
    assert queue.get(0) == "a"
    queue.done("a")
    assert len(queue) == 0
    assert queue.get(0) is None


def test_workqueue_add_after_waits_for_the_clock(clock: FakeClock) -> None:
    """A parked key is handed out only once its delay has passed on the queue's clock."""
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    queue.add_after("a", 5.0)
    assert queue.get(0) is None
    clock.advance(4.9)
    assert queue.get(0) is None
    clock.advance(0.2)
    assert queue.get(0) == "a"


def test_workqueue_add_after_keeps_the_earlier_time(clock: FakeClock) -> None:
    """Parking a key twice keeps the earlier due time, and it is handed out once."""
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    queue.add_after("a", 10.0)
    queue.add_after("a", 2.0)
    queue.add_after("a", 30.0)
    clock.advance(2.0)
    assert queue.get(0) == "a"
    queue.done("a")
    clock.advance(60.0)
    assert queue.get(0) is None


def test_workqueue_due_keys_come_before_later_adds(clock: FakeClock) -> None:
    """A parked key that became due is queued ahead of a key added afterwards."""
    queue: WorkQueue[str] = WorkQueue(clock=clock)
    queue.add_after("parked", 1.0)
    clock.advance(1.0)
    queue.add("fresh")
    assert [queue.get(0), queue.get(0)] == ["parked", "fresh"]


def test_workqueue_rate_limited_backoff_doubles_and_forget_resets(clock: FakeClock) -> None:
    """Each failure doubles the key's delay; `forget` starts it over."""
    queue: WorkQueue[str] = WorkQueue(rate_limiter=ItemExponentialRateLimiter(0.1, 10.0), clock=clock)
    for expected in (0.1, 0.2, 0.4, 0.8):
        queue.add_rate_limited("a")
        clock.advance(expected * 0.99)
        assert queue.get(0) is None, f"handed out before its {expected}s back-off"
        clock.advance(expected * 0.02)
        assert queue.get(0) == "a"
        queue.done("a")
    assert queue.num_requeues("a") == 4
    queue.forget("a")
    assert queue.num_requeues("a") == 0
    queue.add_rate_limited("a")
    clock.advance(0.1)
    assert queue.get(0) == "a"


@pytest.mark.parametrize(
    ("failures", "delay"),
    [pytest.param(0, 0.005, id="first"), pytest.param(3, 0.04, id="fourth"), pytest.param(40, 1000.0, id="capped"),
     pytest.param(500, 1000.0, id="no-overflow")],
)
def test_item_exponential_rate_limiter_delays(failures: int, delay: float) -> None:
    """Delays grow as 5 ms * 2**failures up to the 1000 s cap."""
    limiter = ItemExponentialRateLimiter()
    for _ in range(failures):
        limiter.when("a")
    assert limiter.when("a") == pytest.approx(delay)
    assert limiter.when("b") == pytest.approx(0.005)  # per item


def test_token_bucket_allows_bursts_then_spaces_retries(clock: FakeClock) -> None:
    """`burst` retries go at once, later ones wait 1/qps each, and the bucket refills with time."""
    bucket = TokenBucketRateLimiter(qps=10, burst=2, clock=clock)
    assert [bucket.when(k) for k in "abcd"] == pytest.approx([0.0, 0.0, 0.1, 0.2])
    clock.advance(10.0)
    assert bucket.when("e") == 0.0


def test_max_of_rate_limiter_takes_the_longer_delay(clock: FakeClock) -> None:
    """The combined limiter waits as long as the stricter of its parts."""
    bucket = TokenBucketRateLimiter(qps=1, burst=1, clock=clock)
    limiter = MaxOfRateLimiter(ItemExponentialRateLimiter(1.0, 100.0), bucket)
    assert limiter.when("a") == 1.0  # item back-off dominates
    assert limiter.when("b") == 1.0  # both say 1 s
    assert limiter.when("c") == 2.0  # the bucket dominates
    assert limiter.num_requeues("a") == 1
    limiter.forget("a")
    assert limiter.num_requeues("a") == 0


def test_workqueue_get_wakes_for_an_add_from_another_thread() -> None:
    """A blocked `get` returns the key another thread adds."""
    queue: WorkQueue[str] = WorkQueue()
    got: list[str | None] = []
    worker = threading.Thread(target=lambda: got.append(queue.get(10)))
    worker.start()
    queue.add("a")
    worker.join(10)
    assert got == ["a"]


def test_workqueue_get_wakes_when_a_parked_key_is_due() -> None:
    """A blocked `get` hands out a parked key when its (real-time) delay passes."""
    queue: WorkQueue[str] = WorkQueue()
    queue.add_after("a", 0.05)
    assert queue.get(10) == "a"


def test_workqueue_shutdown_releases_blocked_getters_and_ignores_adds() -> None:
    """After shutdown, blocked and later `get`s return None and adds are dropped."""
    queue: WorkQueue[str] = WorkQueue()
    got: list[str | None] = []
    worker = threading.Thread(target=lambda: got.append(queue.get()))
    worker.start()
    queue.shutdown()
    worker.join(10)
    assert got == [None]
    queue.add("a")
    assert queue.get(0) is None
    assert queue.shutting_down
