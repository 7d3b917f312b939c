"""Probe workers as a state machine on an injected clock, and the manager that runs them."""

from __future__ import annotations

from typing import Any

import pytest

from minik8s.node.handlers import HandlerError, Outcome, ProbeOutcome, Target
from minik8s.node.probes import ContainerView, Decision, ProbeKind, ProbeManager, ProbeSpec, ProbeWorker, Result

Obj = dict[str, Any]


def _running(cid: str = "c1", started_at: float = 100.0, started: bool = True) -> ContainerView:
    return ContainerView(container_id=cid, running=True, started_at=started_at, started=started)


def test_probe_spec_defaults_are_kubernetes() -> None:
    """Defaults 0/10/1/1/3; liveness and startup need exactly one success."""
    spec = ProbeSpec.from_api({"exec": {"command": ["true"]}}, ProbeKind.READINESS)
    assert (spec.initial_delay, spec.period, spec.timeout, spec.success_threshold, spec.failure_threshold) == (
        0, 10, 1, 1, 3)
    assert ProbeSpec.from_api({"successThreshold": 3}, ProbeKind.LIVENESS).success_threshold == 1
    assert ProbeSpec.from_api({"successThreshold": 3}, ProbeKind.READINESS).success_threshold == 3
    assert ProbeSpec.from_api({"periodSeconds": 0, "failureThreshold": -1}, ProbeKind.LIVENESS).period == 1


@pytest.mark.parametrize(("kind", "initial"), [
    pytest.param(ProbeKind.LIVENESS, Result.SUCCESS, id="liveness"),
    pytest.param(ProbeKind.READINESS, Result.FAILURE, id="readiness"),
    pytest.param(ProbeKind.STARTUP, Result.UNKNOWN, id="startup"),
])
def test_probe_worker_initial_results(kind: ProbeKind, initial: Result) -> None:
    """A new container starts from Kubernetes' initial result for the probe kind."""
    worker = ProbeWorker(kind, ProbeSpec({}))
    worker.step(_running(started=kind is not ProbeKind.STARTUP), 100.0)
    assert worker.result is initial


def test_probe_worker_thresholds() -> None:
    """The published result flips only after failureThreshold failures / successThreshold successes in a row."""
    worker = ProbeWorker(ProbeKind.READINESS, ProbeSpec({}, success_threshold=2, failure_threshold=3))
    assert worker.step(_running(), 100.0) == (Decision.PROBE, False)
    assert worker.record(Result.SUCCESS) is False and worker.result is Result.FAILURE
    assert worker.record(Result.SUCCESS) is True and worker.result is Result.SUCCESS
    assert [worker.record(Result.FAILURE) for _ in range(3)] == [False, False, True]
    assert worker.result is Result.FAILURE
    assert worker.record(Result.SUCCESS) is False  # a run of one is not enough
    assert worker.record(Result.FAILURE) is False  # the run starts over


def test_probe_worker_initial_delay_and_not_running() -> None:
    """Nothing before initialDelaySeconds after the start; a stopped container is a failure; Never stops."""
    worker = ProbeWorker(ProbeKind.LIVENESS, ProbeSpec({}, initial_delay=5), restart_never=True)
    assert worker.step(_running(started_at=100.0), 104.9)[0] is Decision.SKIP
    assert worker.step(_running(started_at=100.0), 105.0)[0] is Decision.PROBE
    assert worker.step(None, 106.0)[0] is Decision.SKIP
    assert worker.step(ContainerView("c1", running=False), 106.0) == (Decision.SKIP, True)
    assert worker.result is Result.FAILURE
    assert worker.step(ContainerView("c1", running=False, terminated=True), 107.0)[0] is Decision.STOP


def test_probe_worker_startup_gates_the_others() -> None:
    """Startup probes run until the container started; liveness and readiness only after."""
    startup = ProbeWorker(ProbeKind.STARTUP, ProbeSpec({}))
    liveness = ProbeWorker(ProbeKind.LIVENESS, ProbeSpec({}))
    assert startup.step(_running(started=False), 100.0)[0] is Decision.PROBE
    assert liveness.step(_running(started=False), 100.0)[0] is Decision.SKIP
    startup.record(Result.SUCCESS)
    assert startup.step(_running(started=True), 101.0)[0] is Decision.SKIP
    assert liveness.step(_running(started=True), 101.0)[0] is Decision.PROBE


def test_probe_worker_liveness_failure_holds_until_a_new_container() -> None:
    """After a liveness failure the worker waits for the restarted container, which starts over as healthy."""
    worker = ProbeWorker(ProbeKind.LIVENESS, ProbeSpec({}, failure_threshold=2))
    worker.step(_running("c1"), 100.0)
    worker.record(Result.FAILURE)
    assert worker.record(Result.FAILURE) is True and worker.result is Result.FAILURE and worker.on_hold
    assert worker.step(_running("c1"), 110.0)[0] is Decision.SKIP
    decision, changed = worker.step(_running("c2", started_at=111.0), 111.0)
    assert (decision, changed, worker.result, worker.on_hold) == (Decision.PROBE, True, Result.SUCCESS, False)


class FakeRunner:
    """Probe results from a table: container id -> outcome (or an exception)."""

    def __init__(self) -> None:
        self.outcomes: dict[str, ProbeOutcome | Exception] = {}
        self.calls: list[str] = []

    def probe(self, handler: Obj, target: Target, timeout: float) -> ProbeOutcome:
        self.calls.append(target.container_id)
        outcome = self.outcomes.get(target.container_id, ProbeOutcome(Outcome.SUCCESS))
        if isinstance(outcome, Exception):
            raise outcome
        return outcome


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _manager(runner: FakeRunner, clock: Clock) -> tuple[ProbeManager, list[str], list[tuple[str, str, str]]]:
    changes: list[str] = []
    events: list[tuple[str, str, str]] = []
    manager = ProbeManager(runner, on_change=changes.append,  # type: ignore[arg-type]
                           record_event=lambda pod, name, reason, message: events.append((name, reason, message)),
                           clock=clock, wall=clock)
    return manager, changes, events


POD = {"metadata": {"name": "web", "namespace": "default", "uid": "u"}, "spec": {"containers": [
    {"name": "app", "livenessProbe": {"exec": {"command": ["check"]}, "periodSeconds": 2, "failureThreshold": 1},
     "readinessProbe": {"httpGet": {"port": 80}, "periodSeconds": 1, "failureThreshold": 1}},
    {"name": "plain"}]}}


def _tick(manager: ProbeManager, clock: Clock, seconds: float) -> None:
    clock.now += seconds
    for slot in manager.due(clock.now):
        manager.run(slot)


def test_probe_manager_readiness_and_liveness() -> None:
    """Readiness success makes the container ready; a liveness failure asks for a kill with an Unhealthy event."""
    runner, clock = FakeRunner(), Clock()
    manager, changes, events = _manager(runner, clock)
    view = ContainerView("c1", running=True, started_at=clock.now)
    manager.update_pod(POD, {"app": view, "plain": ContainerView("c2", running=True, started_at=clock.now)}, "10.0.0.5")
    state = manager.state("u", "app", view)
    assert (state.started, state.ready, state.kill) == (True, False, None)  # readiness starts as a failure
    assert manager.state("u", "plain", ContainerView("c2", running=True)).ready  # no probes: ready when running
    _tick(manager, clock, 0)
    assert manager.state("u", "app", view).ready and changes == ["default/web"]
    runner.outcomes["c1"] = ProbeOutcome(Outcome.FAILURE, "unhealthy: disk full")
    _tick(manager, clock, 1)  # readiness (every second) fails: not ready again
    assert not manager.state("u", "app", view).ready
    _tick(manager, clock, 1)  # liveness (every 2 s, threshold 1) fails too
    assert manager.state("u", "app", view).kill is ProbeKind.LIVENESS
    assert ("app", "Unhealthy", "Liveness probe failed: unhealthy: disk full") in events
    assert ("app", "Unhealthy", "Readiness probe failed: unhealthy: disk full") in events
    restarted = ContainerView("c3", running=True, started_at=clock.now)
    manager.update_pod(POD, {"app": restarted}, "10.0.0.5")
    assert manager.state("u", "app", restarted).kill is None  # the new container starts healthy
    manager.remove_pod("u")
    assert manager.due(clock.now + 100) == []


def test_probe_manager_errors_change_nothing_and_adoption() -> None:
    """A probe that cannot run leaves the result (with an event); a restarted kubelet keeps a ready container ready."""
    runner, clock = FakeRunner(), Clock()
    manager, changes, events = _manager(runner, clock)
    view = ContainerView("c1", running=True, started_at=clock.now - 60)
    adopted = {**POD, "status": {"containerStatuses": [{"name": "app", "containerID": "minik8s://c1", "ready": True}]}}
    manager.update_pod(adopted, {"app": view}, "10.0.0.5")
    assert manager.state("u", "app", view).ready
    runner.outcomes["c1"] = HandlerError("port http not found in container 'app'")
    _tick(manager, clock, 0)
    assert manager.state("u", "app", view).ready and changes == []
    assert ("app", "Unhealthy", "Readiness probe errored and resulted in unknown state: port http not found in "
                                "container 'app'") in events
