"""A pod's status from what the runtime and the probes report (pure): phase, conditions, container states.

Follows the kubelet's `generateAPIPodStatus`, `getPhase` and `convertToAPIContainerStatuses`:

- a container that never ran is waiting (`ContainerCreating`, or `PodInitializing` in a pod with
  init containers, or the reason it cannot start), one that runs is running, one that exited is
  terminated, or waiting (e.g. `CrashLoopBackOff`) with its last termination in `lastState`;
- `started` and `ready` of a running container come from its startup and readiness probes
  (without them: as soon as it runs); a completed init container is `ready`;
- `initContainerStatuses` the same way, so kubectl shows `Init:1/2`, `Init:Error`,
  `Init:CrashLoopBackOff`;
- conditions `PodReadyToStartContainers`, `Initialized` (`containers with incomplete status:
  [...]`), `ContainersReady` and `Ready` (`containers with unready status: [...]`, readiness gates
  included), `PodScheduled`; a condition keeps its `lastTransitionTime` while its status holds;
- the phase by Kubernetes' rules: Pending while initializing or while a container waits to be
  created, Failed when an init container failed in a pod that never restarts, and so on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from minik8s.api.timefmt import format_time

from .probes import ProbeState
from .runtime.base import ContainerState, ContainerStatus, SandboxStatus

__all__ = ["compute_status"]

Obj = dict[str, Any]
ATTEMPT_LABEL = "minik8s.io/attempt"


def _ts(seconds: float | None) -> str | None:
    return None if seconds is None else format_time(seconds)


def _terminated(c: ContainerStatus) -> Obj:
    reason = c.reason or ("Completed" if c.exit_code == 0 else "Error")
    terminated = {"exitCode": c.exit_code if c.exit_code is not None else -1, "reason": reason,
                  "startedAt": _ts(c.started_at), "finishedAt": _ts(c.finished_at), "containerID": f"minik8s://{c.id}"}
    if c.message:
        terminated["message"] = c.message[:1024]
    return {"terminated": terminated}


def _container_status(spec: Obj, history: list[ContainerStatus], waiting: tuple[str, str] | None, *,
                      default_waiting: str, probes: ProbeState | None, init: bool) -> Obj:
    latest = history[-1] if history else None
    previous = history[-2] if len(history) > 1 else None
    restarts = int(latest.labels.get(ATTEMPT_LABEL, "0")) if latest else 0
    status: Obj = {"name": spec["name"], "image": spec.get("image", ""), "imageID": "", "restartCount": restarts,
                   "ready": False, "started": False, "lastState": _terminated(previous) if previous else {}}
    if latest is not None:
        status["containerID"] = f"minik8s://{latest.id}"
    if waiting is not None:
        reason, message = waiting
        status["state"] = {"waiting": {"reason": reason, "message": message} if message else {"reason": reason}}
        if latest is not None and latest.state == ContainerState.EXITED:
            status["lastState"] = _terminated(latest)
    elif latest is None or latest.state == ContainerState.CREATED:
        status["state"] = {"waiting": {"reason": default_waiting}}
    elif latest.state == ContainerState.RUNNING:
        status["state"] = {"running": {"startedAt": _ts(latest.started_at)}}
        status["started"] = probes.started if probes else True
        status["ready"] = probes.ready if probes else True
    else:
        status["state"] = _terminated(latest)
        status["ready"] = init and latest.exit_code == 0
    return status


def _counts_as_stopped(status: Obj) -> bool:
    return "terminated" in status["state"] or ("waiting" in status["state"] and "terminated" in status["lastState"])


def _phase(pod: Obj, init_statuses: list[Obj], statuses: list[Obj]) -> str:
    """Kubernetes' `getPhase` (regular init containers; no sidecars)."""
    policy = (pod.get("spec") or {}).get("restartPolicy", "Always")
    pending_init = failed_init = 0
    for status in init_statuses:
        state = status["state"]
        if "terminated" in state:
            failed_init += state["terminated"]["exitCode"] != 0
        elif "waiting" in state and "terminated" in status["lastState"]:
            failed_init += status["lastState"]["terminated"]["exitCode"] != 0
        else:
            pending_init += 1
    running = waiting = stopped = succeeded = 0
    for status in statuses:
        state = status["state"]
        if "running" in state:
            running += 1
        elif "terminated" in state:
            stopped += 1
            succeeded += state["terminated"]["exitCode"] == 0
        elif _counts_as_stopped(status):
            stopped += 1
        else:
            waiting += 1
    if failed_init and policy == "Never":
        return "Failed"
    if pending_init or waiting:
        return "Pending"
    if running:
        return "Running"
    if stopped:
        if policy == "Always":
            return "Running"
        if stopped == succeeded:
            return "Succeeded"
        if policy == "Never":
            return "Failed"
        return "Running"
    return "Pending"


def _condition(old: list[Obj], kind: str, ok: bool, now: str, reason: str | None = None,
               message: str | None = None) -> Obj:
    value = "True" if ok else "False"
    previous = next((c for c in old if c.get("type") == kind and c.get("status") == value), None)
    # no "lastProbeTime": null: the API server drops null fields, so the stored status would never
    # equal this one and every sync would write it again
    condition: Obj = {"type": kind, "status": value,
                      "lastTransitionTime": previous.get("lastTransitionTime", now) if previous else now}
    if reason:
        condition["reason"] = reason
    if message:
        condition["message"] = message
    return condition


def _readiness_gates(pod: Obj, old_conditions: list[Obj]) -> str | None:
    """Why the pod's readiness gates hold it back (None: they do not)."""
    by_type = {c.get("type"): c for c in old_conditions}
    for gate in (pod.get("spec") or {}).get("readinessGates") or []:
        kind = gate.get("conditionType", "")
        if kind not in by_type:
            return f'corresponding condition of pod readiness gate "{kind}" does not exist.'
        if by_type[kind].get("status") != "True":
            return f'the status of pod readiness gate "{kind}" is not "True", but {by_type[kind].get("status")}'
    return None


def compute_status(pod: Obj, sandbox: SandboxStatus, attempts: Mapping[str, list[ContainerStatus]],
                   waiting: Mapping[str, tuple[str, str]], *, now: float, host_ip: str | None,
                   probes: Mapping[str, ProbeState] | None = None, initialized: bool | None = None) -> Obj:
    """The pod's new `status`, reusing the old one's timestamps where nothing changed.

    `waiting` holds why containers that should run do not (reason, message); `probes` what the
    probes say about running containers; `initialized` whether the init containers are done (None:
    judged from their statuses).
    """
    spec, old = pod.get("spec") or {}, pod.get("status") or {}
    inits = spec.get("initContainers") or []
    default_waiting = "PodInitializing" if inits else "ContainerCreating"
    probes = probes or {}
    init_statuses = [_container_status(c, list(attempts.get(c["name"], [])), waiting.get(c["name"]),
                                       default_waiting=default_waiting, probes=None, init=True) for c in inits]
    statuses = [_container_status(c, list(attempts.get(c["name"], [])), waiting.get(c["name"]),
                                  default_waiting=default_waiting, probes=probes.get(c["name"]), init=False)
                for c in spec.get("containers") or []]
    phase = _phase(pod, init_statuses, statuses)
    incomplete = [s["name"] for s in init_statuses
                  if not ("terminated" in s["state"] and s["state"]["terminated"]["exitCode"] == 0)]
    if initialized is None:
        initialized = not incomplete
    now_ts = _ts(now) or ""
    old_conditions = old.get("conditions") or []
    unready = [s["name"] for s in statuses if not s["ready"]]
    if phase in ("Succeeded", "Failed"):
        ready, ready_reason = False, "PodCompleted" if phase == "Succeeded" else "PodFailed"
        ready_message = None
    else:
        ready, ready_reason = not unready, "ContainersNotReady"
        ready_message = f"containers with unready status: [{' '.join(unready)}]" if unready else None
    gates = _readiness_gates(pod, old_conditions) if ready else None
    conditions = [
        _condition(old_conditions, "PodReadyToStartContainers", sandbox.ready, now_ts),
        _condition(old_conditions, "Initialized", initialized, now_ts,
                   *((None, None) if initialized else
                     ("ContainersNotInitialized", f"containers with incomplete status: [{' '.join(incomplete)}]"))),
        _condition(old_conditions, "Ready", ready and gates is None, now_ts,
                   *((None, None) if ready and gates is None else
                     (("ReadinessGatesNotReady", gates) if ready else (ready_reason, ready_message)))),
        _condition(old_conditions, "ContainersReady", ready, now_ts,
                   *((None, None) if ready else (ready_reason, ready_message))),
        _condition(old_conditions, "PodScheduled", True, now_ts),
    ]
    conditions += [c for c in old_conditions if c.get("type") not in {k["type"] for k in conditions}]
    status: Obj = {"phase": phase, "conditions": conditions, "hostIP": host_ip or old.get("hostIP"),
                   "startTime": old.get("startTime") or now_ts, "containerStatuses": statuses,
                   "qosClass": old.get("qosClass", "BestEffort")}
    if host_ip or old.get("hostIP"):
        status["hostIPs"] = [{"ip": host_ip or old.get("hostIP")}]
    if inits:
        status["initContainerStatuses"] = init_statuses
    if sandbox.ip:
        status["podIP"] = sandbox.ip
        status["podIPs"] = [{"ip": sandbox.ip}]
    return {k: v for k, v in status.items() if v is not None}
