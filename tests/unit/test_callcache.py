"""The router's call cache: a call named by an id runs once, however often it is sent."""

from __future__ import annotations

import threading

import pytest

from minik8s.api import errors
from minik8s.serverless.callcache import CallCache, NoInstanceInTime, check_call_id

KEY = ("default", "fn", "run-1/call-1")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_repeat_gets_the_first_answer_without_running_again() -> None:
    cache, runs = CallCache(), []
    answer = cache.run(KEY, lambda: runs.append(1) or (200, "application/json", b"1"), timeout=1)
    again = cache.run(KEY, lambda: runs.append(2) or (200, "application/json", b"2"), timeout=1)
    assert answer == again == (200, "application/json", b"1") and runs == [1]
    other = cache.run(("default", "fn", "run-1/call-2"), lambda: (200, "application/json", b"3"), timeout=1)
    assert other[2] == b"3"


def test_a_repeat_while_the_first_runs_waits_for_its_answer() -> None:
    cache, started, release, runs = CallCache(), threading.Event(), threading.Event(), []

    def slow() -> tuple[int, str, bytes]:
        runs.append("first")
        started.set()
        release.wait(5)
        return 200, "application/json", b"slow"

    first: list[object] = []
    thread = threading.Thread(target=lambda: first.append(cache.run(KEY, slow, timeout=5)))
    thread.start()
    assert started.wait(5)
    waiter: list[object] = []
    second = threading.Thread(target=lambda: waiter.append(cache.run(KEY, lambda: runs.append("second") or
                                                                     (200, "", b""), timeout=5)))
    second.start()
    release.set()
    thread.join(5)
    second.join(5)
    assert runs == ["first"] and first == waiter == [(200, "application/json", b"slow")]


def test_a_repeat_that_waits_too_long_times_out_and_the_first_still_answers() -> None:
    cache, started, release = CallCache(), threading.Event(), threading.Event()

    def slow() -> tuple[int, str, bytes]:
        started.set()
        release.wait(5)
        return 200, "", b"x"

    thread = threading.Thread(target=lambda: cache.run(KEY, slow, timeout=5))
    thread.start()
    assert started.wait(5)
    try:
        with pytest.raises(errors.TimeoutError_, match="still running"):
            cache.run(KEY, lambda: pytest.fail("ran twice"), timeout=0.05)
    finally:
        release.set()
        thread.join(5)
    assert cache.run(KEY, lambda: pytest.fail("ran twice"), timeout=1) == (200, "", b"x")


def test_the_error_of_a_call_that_ran_is_kept_one_that_never_ran_is_not() -> None:
    cache = CallCache()

    def raised() -> tuple[int, str, bytes]:
        raise errors.InternalError("the function raised ValueError: no")

    with pytest.raises(errors.InternalError):
        cache.run(KEY, raised, timeout=1)
    with pytest.raises(errors.InternalError, match="ValueError"):
        cache.run(KEY, lambda: pytest.fail("ran twice"), timeout=1)

    key = ("default", "fn", "cold")

    def no_instance() -> tuple[int, str, bytes]:
        raise NoInstanceInTime("no instance became ready")

    with pytest.raises(NoInstanceInTime):
        cache.run(key, no_instance, timeout=1)
    assert cache.run(key, lambda: (200, "", b"ran"), timeout=1)[2] == b"ran"


def test_answers_expire_by_age_count_and_bytes() -> None:
    clock = Clock()
    cache = CallCache(ttl=10, max_entries=3, max_bytes=10, clock=clock)
    for i in range(5):
        cache.run(("d", "f", str(i)), lambda: (200, "", b"a"), timeout=1)
    assert len(cache) == 3
    cache.run(("d", "f", "big"), lambda: (200, "", b"0123456789"), timeout=1)
    assert len(cache) == 1  # only the newest fits in 10 bytes
    clock.now += 11
    cache.run(("d", "f", "new"), lambda: (200, "", b""), timeout=1)
    assert len(cache) == 1
    assert cache.run(("d", "f", "big"), lambda: (200, "", b"again"), timeout=1)[2] == b"again"


@pytest.mark.parametrize("call_id", ["", "a b", "x" * 254, "é", "line\nbreak"])
def test_a_bad_call_id_is_refused(call_id: str) -> None:
    with pytest.raises(errors.BadRequestError, match="X-Minik8s-Call-Id"):
        check_call_id(call_id)


def test_a_good_call_id_passes() -> None:
    assert check_call_id("workflow:0123abc/x.y-z@1+2=3") == "workflow:0123abc/x.y-z@1+2=3"
