"""Controller base: reconcile outcomes map to queue operations (retry with back-off, terminal, requeue_after)."""

from __future__ import annotations

import itertools
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from minik8s.api.client import ApiClient
from minik8s.api.reconcile import Controller, Result, TerminalError
from tests.unit.test_reconcile_workqueue import FakeClock

_markers = itertools.count()


class Recorder(Controller):
    """A controller without informers whose reconcile runs a per-key script and records the keys."""

    def __init__(self, clock: FakeClock, behaviour: dict[str, Callable[[int], Result | None]]) -> None:
        super().__init__(ApiClient("http://127.0.0.1:9"), name="recorder", workers=1, clock=clock)
        self.behaviour = behaviour
        self.calls: list[str] = []
        self.cond = threading.Condition()

    def setup(self) -> None:
        """Nothing to watch: keys come from `enqueue`."""

    def reconcile(self, key: str) -> Result | None:
        attempt = self.calls.count(key)
        with self.cond:
            self.calls.append(key)
            self.cond.notify_all()
        return self.behaviour.get(key, lambda _: None)(attempt)

    def drain(self) -> list[str]:
        """Enqueue a fresh marker, wait until it was reconciled, and return the calls before it."""
        marker = f"marker-{next(_markers)}"
        self.enqueue(marker)
        with self.cond:
            assert self.cond.wait_for(lambda: marker in self.calls, timeout=10), "marker never reconciled"
        return [k for k in self.calls if not k.startswith("marker-")]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def started() -> Iterator[list[Recorder]]:
    running: list[Recorder] = []
    yield running
    for controller in running:
        controller.stop()


def _start(started: list[Recorder], clock: FakeClock, behaviour: dict[str, Callable[[int], Result | None]]) -> Recorder:
    controller = Recorder(clock, behaviour)
    controller.start()
    started.append(controller)
    return controller


def _fail_first(attempt: int) -> Result | None:
    if attempt == 0:
        raise ValueError("transient")
    return None


def test_controller_retries_failed_reconcile_after_backoff(clock: FakeClock, started: list[Recorder]) -> None:
    """A reconcile that raises is retried, but only once its back-off has passed."""
    controller = _start(started, clock, {"k": _fail_first})
    controller.enqueue("k")
    assert controller.drain() == ["k"]
    clock.advance(1.0)
    assert controller.drain() == ["k", "k"]
    clock.advance(3600.0)
    assert controller.drain() == ["k", "k"]  # succeeded: no more retries


def test_controller_does_not_retry_terminal_error(clock: FakeClock, started: list[Recorder]) -> None:
    """A TerminalError is logged and never retried."""
    def terminal(attempt: int) -> Result | None:
        raise TerminalError("bad spec")

    controller = _start(started, clock, {"k": terminal})
    controller.enqueue("k")
    assert controller.drain() == ["k"]
    clock.advance(3600.0)
    assert controller.drain() == ["k"]


def test_controller_requeues_after_requested_delay(clock: FakeClock, started: list[Recorder]) -> None:
    """`Result(requeue_after=s)` reconciles the key again after s seconds, not before."""
    controller = _start(started, clock, {"k": lambda attempt: Result(requeue_after=10.0) if attempt == 0 else None})
    controller.enqueue("k")
    assert controller.drain() == ["k"]
    clock.advance(9.0)
    assert controller.drain() == ["k"]
    clock.advance(1.5)
    assert controller.drain() == ["k", "k"]


def test_controller_can_restart_after_stop(clock: FakeClock) -> None:
    """A stopped controller starts again with a fresh queue (as on a new leadership term)."""
    controller = Recorder(clock, {})
    controller.start()
    controller.enqueue("a")
    assert controller.drain() == ["a"]
    controller.stop()
    controller.enqueue("lost")  # the stopped term's queue ignores it
    controller.start()
    try:
        controller.enqueue("b")
        assert controller.drain() == ["a", "b"]
    finally:
        controller.stop()


def test_controller_stop_returns_while_idle(clock: FakeClock) -> None:
    """Stopping an idle controller does not wait for its timeout."""
    controller = Recorder(clock, {})
    controller.start()
    begin = time.monotonic()
    controller.stop(timeout=30)
    assert time.monotonic() - begin < 5
