"""Running many API calls at once: slow-start batches for creations, one parallel round for deletions.

`slow_start_batch` is Kubernetes' `slowStartBatch` (`pkg/controller/replicaset/replica_set.go`):
call `fn` `count` times in batches of 1, 2, 4, ... (the calls of one batch run concurrently);
when a call of a batch fails, the batches after it are skipped. A ReplicaSet of 500 whose pods
the server refuses (a bad template, a terminating namespace) thus sends 1 request, not 500.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor

SLOW_START_INITIAL_BATCH = 1
MAX_PARALLEL = 8  # concurrent requests of one batch (each holds a pooled connection of the client)


def batch_sizes(count: int, initial: int = SLOW_START_INITIAL_BATCH) -> Iterator[int]:
    """The sizes of the batches `count` calls go out in: `initial`, doubling, the rest last."""
    remaining, size = count, min(count, initial)
    while size > 0:
        yield size
        remaining -= size
        size = min(2 * size, remaining)


def slow_start_batch(count: int, fn: Callable[[], None], *,
                     initial: int = SLOW_START_INITIAL_BATCH) -> tuple[int, Exception | None]:
    """Call `fn` `count` times in slow-start batches; (calls that succeeded, the first error or None)."""
    successes = 0
    for size in batch_sizes(count, initial):
        errors = [e for e in run_parallel([fn] * size) if e is not None]
        successes += size - len(errors)
        if errors:
            return successes, errors[0]
    return successes, None


def run_parallel(calls: Sequence[Callable[[], None]]) -> list[Exception | None]:
    """Run the calls concurrently; for each, the exception it raised or None."""
    if len(calls) <= 1:
        return [_outcome(call) for call in calls]
    with ThreadPoolExecutor(max_workers=min(len(calls), MAX_PARALLEL)) as pool:
        return list(pool.map(_outcome, calls))


def _outcome(call: Callable[[], None]) -> Exception | None:
    try:
        call()
    except Exception as exc:  # reported to the caller, which decides what a failure means
        return exc
    return None
