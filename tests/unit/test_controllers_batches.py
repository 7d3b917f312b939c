"""Slow-start batches: 1, 2, 4, ... calls; the batches after a failing one are skipped."""

from __future__ import annotations

import threading

import pytest

from minik8s.controllers.batches import batch_sizes, run_parallel, slow_start_batch


@pytest.mark.parametrize(("count", "initial", "sizes"), [
    pytest.param(0, 1, [], id="none"),
    pytest.param(1, 1, [1], id="one"),
    pytest.param(3, 1, [1, 2], id="three"),
    pytest.param(10, 1, [1, 2, 4, 3], id="ten"),
    pytest.param(50, 1, [1, 2, 4, 8, 16, 19], id="fifty"),
    pytest.param(7, 2, [2, 4, 1], id="initial-two"),
])
def test_batches_sizes_double(count: int, initial: int, sizes: list[int]) -> None:
    """Batch sizes start at `initial` and double; the last takes the rest."""
    assert list(batch_sizes(count, initial)) == sizes
    assert sum(sizes) == count


@pytest.mark.parametrize(("count", "fail_from", "calls", "successes"), [
    pytest.param(10, None, 10, 10, id="all-succeed"),
    pytest.param(10, 1, 1, 0, id="first-fails-one-call"),
    pytest.param(10, 2, 3, 1, id="second-batch-fails"),
    pytest.param(50, 8, 15, 7, id="fourth-batch-fails"),
])
def test_batches_slow_start_stops_after_a_failing_batch(count: int, fail_from: int | None, calls: int,
                                                        successes: int) -> None:
    """Calls number `fail_from` on fail: the batch in flight finishes, no further batch starts."""
    made: list[int] = []
    lock = threading.Lock()

    def call() -> None:
        with lock:
            made.append(1)
            n = len(made)
        if fail_from is not None and n >= fail_from:
            raise RuntimeError(f"call {n} refused")

    done, error = slow_start_batch(count, call)
    assert (len(made), done) == (calls, successes)
    assert (error is None) == (fail_from is None)


def test_batches_run_parallel_reports_each_outcome() -> None:
    """Every call's exception (or None) comes back in the order of the calls."""
    def boom() -> None:
        raise ValueError("x")

    outcomes = run_parallel([lambda: None, boom, lambda: None])
    assert outcomes[0] is None and isinstance(outcomes[1], ValueError) and outcomes[2] is None
    assert run_parallel([]) == []
