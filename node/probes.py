"""Liveness, readiness and startup probes: one worker per probe, run on a bounded pool of threads.

Follows Kubernetes' `pkg/kubelet/prober` (`worker.go`):

- a `ProbeWorker` is the state of one probe of one container, a pure state machine driven by
  `step(view, now)` (should it probe now?) and `record(result)` (thresholds): it ticks every
  `periodSeconds` from its creation; does nothing before the container runs, before
  `initialDelaySeconds` have passed since the container started, or while it is "on hold" after a
  liveness/startup failure (until a new container appears); startup probes run until the
  container has started, the others only after. The published result changes only after
  `successThreshold` successes or `failureThreshold` failures in a row; it starts as Failure for
  readiness, Success for liveness, Unknown for startup, and is reset for every new container.
  A probe that cannot be run at all (an unknown port name, a gone container) leaves it unchanged.
- a `ProbeManager` keeps the workers of this node's pods (`update_pod`/`remove_pod`, called by the
  kubelet's sync), runs due probes on at most `workers` threads (so probing never blocks the sync
  loop and never needs a thread per probe), records `Unhealthy` events for failed probes like the
  kubelet (`Liveness probe failed: ...`), and calls `on_change(pod key)` whenever a published
  result changes, so the kubelet syncs that pod at once: readiness drives `Ready`, a liveness or
  startup failure makes the kubelet restart the container.

Defaults are Kubernetes': initialDelaySeconds 0, periodSeconds 10, timeoutSeconds 1,
successThreshold 1, failureThreshold 3.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from enum import Enum
from typing import Any

from .handlers import HandlerError, HandlerRunner, Outcome, Target

__all__ = ["ContainerView", "Decision", "ProbeKind", "ProbeManager", "ProbeSpec", "ProbeState", "ProbeWorker",
           "Result"]

log = logging.getLogger(__name__)

Obj = dict[str, Any]


class ProbeKind(str, Enum):
    """The three probes a container may have (the value is how events name them)."""

    LIVENESS = "Liveness"
    READINESS = "Readiness"
    STARTUP = "Startup"

    @property
    def field(self) -> str:
        """The container field that holds this probe, e.g. `livenessProbe`."""
        return f"{self.value.lower()}Probe"


class Result(str, Enum):
    """A probe's published result."""

    SUCCESS = "Success"
    FAILURE = "Failure"
    UNKNOWN = "Unknown"


class Decision(str, Enum):
    """What a worker does at a tick."""

    PROBE = "probe"  # run the handler now
    SKIP = "skip"  # not now; look again at the next tick
    STOP = "stop"  # this worker has nothing more to do


_INITIAL = {ProbeKind.LIVENESS: Result.SUCCESS, ProbeKind.READINESS: Result.FAILURE,
            ProbeKind.STARTUP: Result.UNKNOWN}


def _number(value: Any, default: int, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        return default
    return max(value, minimum)


@dataclass(frozen=True)
class ProbeSpec:
    """A container's probe with Kubernetes' defaults filled in."""

    handler: Obj
    initial_delay: int = 0
    period: int = 10
    timeout: int = 1
    success_threshold: int = 1
    failure_threshold: int = 3
    termination_grace: int | None = None  # probe-level terminationGracePeriodSeconds (liveness, startup)

    @classmethod
    def from_api(cls, probe: Obj, kind: ProbeKind) -> ProbeSpec:
        """The probe of a container spec, defaulted (liveness and startup need exactly one success)."""
        success = _number(probe.get("successThreshold"), 1, 1)
        grace = probe.get("terminationGracePeriodSeconds")
        return cls(handler=probe, initial_delay=_number(probe.get("initialDelaySeconds"), 0, 0),
                   period=_number(probe.get("periodSeconds"), 10, 1), timeout=_number(probe.get("timeoutSeconds"), 1, 1),
                   success_threshold=success if kind is ProbeKind.READINESS else 1,
                   failure_threshold=_number(probe.get("failureThreshold"), 3, 1),
                   termination_grace=grace if isinstance(grace, int) and not isinstance(grace, bool) else None)


@dataclass(frozen=True)
class ContainerView:
    """What the kubelet last saw of a container (its latest attempt)."""

    container_id: str | None
    running: bool = False
    terminated: bool = False
    started_at: float | None = None  # wall-clock seconds
    started: bool = False  # its startup probe passed (or it has none)


class ProbeWorker:
    """One probe of one container (see the module docstring); pure, time passed in."""

    def __init__(self, kind: ProbeKind, spec: ProbeSpec, *, restart_never: bool = False) -> None:
        self.kind = kind
        self.spec = spec
        self.restart_never = restart_never
        self.container_id: str | None = None
        self.result = _INITIAL[kind]  # the published result (of `container_id`)
        self.on_hold = False
        self._last: Result | None = None
        self._run = 0

    def adopt(self, container_id: str, result: Result) -> None:
        """Start from `result` for a container that runs since before this worker (a restarted kubelet)."""
        self.container_id, self.result, self.on_hold = container_id, result, False
        self._last, self._run = None, 0

    def step(self, view: ContainerView | None, now: float) -> tuple[Decision, bool]:
        """Whether to probe now, and whether the published result changed meanwhile."""
        if view is None or not view.container_id:
            return Decision.SKIP, False
        changed = False
        if view.container_id != self.container_id:  # a new container: start over
            before = self.result
            self.adopt(view.container_id, _INITIAL[self.kind])
            changed = before != self.result
        if self.on_hold:
            return Decision.SKIP, changed
        if not view.running:
            if self.result is not Result.FAILURE:
                self.result, changed = Result.FAILURE, True
            stop = view.terminated and self.restart_never
            return (Decision.STOP if stop else Decision.SKIP), changed
        if view.started_at is not None and now - view.started_at < self.spec.initial_delay:
            return Decision.SKIP, changed
        if view.started != (self.kind is not ProbeKind.STARTUP):  # startup probes before, the others after
            return Decision.SKIP, changed
        return Decision.PROBE, changed

    def record(self, result: Result) -> bool:
        """One probe's result; returns whether the published result changed (thresholds applied)."""
        if result == self._last:
            self._run += 1
        else:
            self._last, self._run = result, 1
        if (result is Result.FAILURE and self._run < self.spec.failure_threshold) or \
                (result is Result.SUCCESS and self._run < self.spec.success_threshold):
            return False
        changed = result != self.result
        self.result = result
        if result is Result.FAILURE and self.kind is not ProbeKind.READINESS:
            self.on_hold, self._run = True, 0  # the container will be restarted: wait for the new one
        return changed


@dataclass(frozen=True)
class ProbeState:
    """A container's probes, summed up for its status and the kubelet."""

    started: bool  # running, and its startup probe (if any) succeeded
    ready: bool  # started, and its readiness probe (if any) succeeded
    kill: ProbeKind | None  # a failed liveness or startup probe: restart it


@dataclass
class _Slot:
    """A worker with what it probes and when."""

    worker: ProbeWorker
    pod_key: str
    uid: str
    container: Obj
    next_at: float
    busy: bool = False
    stopped: bool = False


@dataclass
class _PodState:
    pod: Obj
    pod_ip: str | None
    views: dict[str, ContainerView]


class ProbeManager:
    """The probe workers of this node's pods; due probes run on a bounded thread pool."""

    def __init__(self, runner: HandlerRunner, *, on_change: Callable[[str], None],
                 record_event: Callable[[Obj, str, str, str], None], workers: int = 4,
                 clock: Callable[[], float] = time.monotonic, wall: Callable[[], float] = time.time) -> None:
        self.runner = runner
        self.on_change = on_change
        self.record_event = record_event  # (pod, container name, reason, message): a Warning event
        self.clock = clock
        self.wall = wall
        self._workers = workers
        self._slots: dict[tuple[str, str, ProbeKind], _Slot] = {}
        self._pods: dict[str, _PodState] = {}
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._pool: ThreadPoolExecutor | None = None
        self._thread: threading.Thread | None = None

    # ---- the kubelet's side ------------------------------------------------------------------

    def update_pod(self, pod: Obj, views: dict[str, ContainerView], pod_ip: str | None) -> None:
        """The pod as last synced: make sure each probe of its containers has a worker; new views."""
        meta = pod["metadata"]
        uid, key = meta["uid"], f"{meta.get('namespace', 'default')}/{meta['name']}"
        restart_never = (pod.get("spec") or {}).get("restartPolicy") == "Never"
        old = {s.get("name"): s for s in (pod.get("status") or {}).get("containerStatuses") or []}
        added = False
        with self._lock:
            self._pods[uid] = _PodState(pod, pod_ip, dict(views))
            for container in (pod.get("spec") or {}).get("containers") or []:
                name = container.get("name", "")
                for kind in ProbeKind:
                    probe = container.get(kind.field)
                    if not isinstance(probe, dict) or (uid, name, kind) in self._slots:
                        continue
                    worker = ProbeWorker(kind, ProbeSpec.from_api(probe, kind), restart_never=restart_never)
                    self._adopt(worker, views.get(name), old.get(name))
                    self._slots[(uid, name, kind)] = _Slot(worker, key, uid, container, next_at=self.clock())
                    added = True
        if added:
            self._wake.set()

    def _adopt(self, worker: ProbeWorker, view: ContainerView | None, old: Obj | None) -> None:
        """A container that ran before this kubelet: keep what the pod's status already says about it."""
        if view is None or not view.running or not old or old.get("containerID", "").split("://")[-1] != \
                view.container_id:
            return
        if worker.kind is ProbeKind.READINESS and old.get("ready"):
            worker.adopt(view.container_id or "", Result.SUCCESS)
        elif worker.kind is ProbeKind.STARTUP and old.get("started"):
            worker.adopt(view.container_id or "", Result.SUCCESS)

    def remove_pod(self, uid: str) -> None:
        """Stop probing a pod (deleted, or finished)."""
        with self._lock:
            self._pods.pop(uid, None)
            for key in [k for k in self._slots if k[0] == uid]:
                self._slots.pop(key).stopped = True

    def state(self, uid: str, name: str, view: ContainerView) -> ProbeState:
        """What the probes say about a container's latest attempt: started, ready, or to be killed."""
        with self._lock:
            started = self._started(uid, name, view)
            readiness = self._result(uid, name, ProbeKind.READINESS, view.container_id)
            kill = next((kind for kind in (ProbeKind.LIVENESS, ProbeKind.STARTUP)
                         if self._result(uid, name, kind, view.container_id) is Result.FAILURE), None)
        ready = started and readiness in (None, Result.SUCCESS)
        return ProbeState(started=started, ready=ready, kill=kill if view.running else None)

    def _result(self, uid: str, name: str, kind: ProbeKind, container_id: str | None) -> Result | None:
        """The published result of a container's probe (None: it has no such probe)."""
        slot = self._slots.get((uid, name, kind))
        if slot is None:
            return None
        if slot.worker.container_id != container_id:
            return _INITIAL[kind]  # not looked at yet
        return slot.worker.result

    def _started(self, uid: str, name: str, view: ContainerView) -> bool:
        if not view.running:
            return False
        return self._result(uid, name, ProbeKind.STARTUP, view.container_id) in (None, Result.SUCCESS)

    # ---- running -------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the scheduling thread and the pool."""
        self._pool = ThreadPoolExecutor(max_workers=self._workers, thread_name_prefix="probe")
        self._thread = threading.Thread(target=self._loop, name="probe-scheduler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop scheduling probes; those running end by their own timeouts."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(5)
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def _loop(self) -> None:
        while not self._stop.is_set():
            now = self.clock()
            for slot in self.due(now):
                assert self._pool is not None
                self._pool.submit(self._guarded, slot)
            with self._lock:
                waits = [s.next_at - now for s in self._slots.values() if not s.busy]
            self._wake.wait(min([1.0, *waits]) if waits else 1.0)
            self._wake.clear()

    def due(self, now: float) -> list[_Slot]:
        """The workers whose tick has come (marked busy; each must then be `run`)."""
        with self._lock:
            ready = [s for s in self._slots.values() if not s.busy and s.next_at <= now]
            for slot in ready:
                slot.busy = True
                slot.next_at += slot.worker.spec.period * max(1, int((now - slot.next_at) // slot.worker.spec.period) + 1)
        return ready

    def _guarded(self, slot: _Slot) -> None:
        try:
            self.run(slot)
        except Exception:  # noqa: BLE001 - a probe must never take the pool down
            log.exception("probe of %s failed unexpectedly", slot.pod_key)

    def run(self, slot: _Slot) -> None:
        """One tick of one worker: decide, probe if due, publish and report."""
        try:
            with self._lock:
                state = self._pods.get(slot.uid)
                view = state.views.get(slot.container.get("name", "")) if state else None
                if view is not None:
                    view = _with_started(view, self._started(slot.uid, slot.container.get("name", ""), view))
                decision, changed = slot.worker.step(view, self.wall())
                if decision is Decision.STOP:
                    slot.stopped = True
                pod, pod_ip = (state.pod, state.pod_ip) if state else ({}, None)
            if changed:
                self.on_change(slot.pod_key)
            if decision is not Decision.PROBE or slot.stopped or view is None:
                return
            result = self._probe(slot, pod, view, pod_ip)
            if result is None:
                return
            with self._lock:
                if slot.stopped or slot.worker.container_id != view.container_id:
                    return  # removed, or a new container appeared while probing
                changed = slot.worker.record(result)
            if changed:
                log.info("pod %s: %s probe of container %s: %s", slot.pod_key, slot.worker.kind.value.lower(),
                         slot.container.get("name"), result.value)
                self.on_change(slot.pod_key)
        finally:
            slot.busy = False

    def _probe(self, slot: _Slot, pod: Obj, view: ContainerView, pod_ip: str | None) -> Result | None:
        kind, name = slot.worker.kind, slot.container.get("name", "")
        target = Target(pod=pod, container=slot.container, container_id=view.container_id or "", pod_ip=pod_ip)
        try:
            outcome = self.runner.probe(slot.worker.spec.handler, target, float(slot.worker.spec.timeout))
        except HandlerError as exc:
            self.record_event(pod, name, "Unhealthy", f"{kind.value} probe errored and resulted in unknown state: "
                                                      f"{exc}")
            return None
        if outcome.outcome is Outcome.FAILURE:
            self.record_event(pod, name, "Unhealthy", f"{kind.value} probe failed: {outcome.output}")
            return Result.FAILURE
        if outcome.outcome is Outcome.WARNING:
            self.record_event(pod, name, "ProbeWarning", f"{kind.value} probe warning: {outcome.output}")
        return Result.SUCCESS


def _with_started(view: ContainerView, started: bool) -> ContainerView:
    return ContainerView(view.container_id, view.running, view.terminated, view.started_at, started)
