"""The function router's choice of instance: the fewest calls in flight, ties at random, never beyond
`containerConcurrency`, and a call held (then timed out as never run) while every instance is full."""

from __future__ import annotations

import threading
import time

import pytest

from minik8s.api.client import ApiClient
from minik8s.serverless.callcache import NoInstanceInTime
from minik8s.serverless.router import FunctionRouter, _FunctionState, _Instance

KEY = ("default", "fn")


def router_with(*healthy: bool) -> FunctionRouter:
    router = FunctionRouter(ApiClient("http://127.0.0.1:1"))
    now = time.monotonic()
    router._states[KEY] = _FunctionState(since=now, window_start=now, instances={
        f"uid-{n}": _Instance(f"uid-{n}", f"10.0.0.{n}", healthy=h) for n, h in enumerate(healthy)})
    return router


def function(concurrency: int) -> dict[str, object]:
    return {"spec": {"containerConcurrency": concurrency, "timeoutSeconds": 5}}


def release(router: FunctionRouter, instance: _Instance) -> None:
    with router._lock:
        instance.in_flight -= 1
        router._lock.notify_all()


def test_every_healthy_instance_gets_calls_not_only_the_first() -> None:
    router = router_with(True, True, True, False)
    chosen = set()
    for _ in range(60):
        instance = router._acquire(KEY, function(0), time.monotonic() + 1)
        chosen.add(instance.uid)
        release(router, instance)
    assert chosen == {"uid-0", "uid-1", "uid-2"}  # at random among the idle ones; never the unhealthy one


def test_calls_go_to_the_least_busy_and_never_beyond_container_concurrency() -> None:
    router = router_with(True, True)
    first = router._acquire(KEY, function(1), time.monotonic() + 1)
    second = router._acquire(KEY, function(1), time.monotonic() + 1)
    assert {first.uid, second.uid} == {"uid-0", "uid-1"}
    with pytest.raises(NoInstanceInTime, match="containerConcurrency"):
        router._acquire(KEY, function(1), time.monotonic() + 0.2)
    got: list[_Instance] = []
    waiter = threading.Thread(target=lambda: got.append(router._acquire(KEY, function(1), time.monotonic() + 5)))
    waiter.start()
    time.sleep(0.1)
    assert not got  # held while both are full
    release(router, first)
    waiter.join(5)
    assert [i.uid for i in got] == [first.uid]
