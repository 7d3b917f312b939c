"""A pod's status from what the runtime reports (pure): phase, conditions, container states.

Follows the kubelet's `getPhase`/`convertToAPIContainerStatuses`: a container that never ran is
waiting (ContainerCreating, or the reason it cannot start), one that runs is running, one that
exited is terminated, or waiting in CrashLoopBackOff with its last termination in `lastState`.
"""

from __future__ import annotations

from typing import Any

from minik8s.api.timefmt import format_time

from .runtime.base import ContainerState, ContainerStatus, SandboxStatus

Obj = dict[str, Any]


def _ts(seconds: float | None) -> str | None:
    return None if seconds is None else format_time(seconds)


def _terminated(c: ContainerStatus) -> Obj:
    reason = c.reason or ("Completed" if c.exit_code == 0 else "Error")
    terminated = {"exitCode": c.exit_code if c.exit_code is not None else -1, "reason": reason,
                  "startedAt": _ts(c.started_at), "finishedAt": _ts(c.finished_at), "containerID": f"minik8s://{c.id}"}
    if c.message:
        terminated["message"] = c.message[:1024]
    return {"terminated": terminated}


def _container_status(spec: Obj, history: list[ContainerStatus], waiting: tuple[str, str] | None) -> Obj:
    latest = history[-1] if history else None
    previous = history[-2] if len(history) > 1 else None
    restarts = int(latest.labels.get("minik8s.io/attempt", "0")) if latest else 0
    status: Obj = {"name": spec["name"], "image": spec.get("image", ""), "imageID": "", "restartCount": restarts,
                   "ready": False, "started": False, "lastState": _terminated(previous) if previous else {}}
    if latest is not None:
        status["containerID"] = f"minik8s://{latest.id}"
    if waiting is not None:
        reason, message = waiting
        status["state"] = {"waiting": {"reason": reason, "message": message}}
        if latest is not None and latest.state == ContainerState.EXITED:
            status["lastState"] = _terminated(latest)
    elif latest is None or latest.state == ContainerState.CREATED:
        status["state"] = {"waiting": {"reason": "ContainerCreating"}}
    elif latest.state == ContainerState.RUNNING:
        status["state"] = {"running": {"startedAt": _ts(latest.started_at)}}
        status["ready"] = status["started"] = True
    else:
        status["state"] = _terminated(latest)
    return status


def _phase(pod: Obj, statuses: list[Obj]) -> str:
    states = [next(iter(s["state"])) for s in statuses]
    if any(s == "running" for s in states):
        return "Running"
    if not statuses or any(s == "waiting" and st["state"]["waiting"]["reason"] == "ContainerCreating"
                           and not st.get("containerID") for s, st in zip(states, statuses)):
        return "Pending"
    if all(s == "terminated" for s in states):
        failed = any(st["state"]["terminated"]["exitCode"] != 0 for st in statuses)
        policy = pod["spec"].get("restartPolicy", "Always")
        if policy == "Never" or (policy == "OnFailure" and not failed):
            return "Failed" if failed else "Succeeded"
    return "Running" if any(st.get("containerID") for st in statuses) else "Pending"


def _condition(old: list[Obj], kind: str, ok: bool, now: str) -> Obj:
    value = "True" if ok else "False"
    for existing in old:
        if existing.get("type") == kind and existing.get("status") == value:
            return existing
    return {"type": kind, "status": value, "lastProbeTime": None, "lastTransitionTime": now}


def compute_status(pod: Obj, sandbox: SandboxStatus, attempts: dict[str, list[ContainerStatus]],
                   waiting: dict[str, tuple[str, str]], *, now: float, host_ip: str | None) -> Obj:
    """The pod's new `status`, reusing the old one's timestamps where nothing changed."""
    old = pod.get("status") or {}
    statuses = [_container_status(c, attempts.get(c["name"], []), waiting.get(c["name"]))
                for c in pod["spec"].get("containers") or []]
    phase = _phase(pod, statuses)
    now_ts = _ts(now) or ""
    ready = phase == "Running" and all(s["ready"] for s in statuses)
    old_conditions = old.get("conditions") or []
    conditions = [
        _condition(old_conditions, "PodReadyToStartContainers", sandbox.ready, now_ts),
        _condition(old_conditions, "Initialized", True, now_ts),
        _condition(old_conditions, "Ready", ready, now_ts),
        _condition(old_conditions, "ContainersReady", ready, now_ts),
        _condition(old_conditions, "PodScheduled", True, now_ts),
    ]
    status: Obj = {"phase": phase, "conditions": conditions, "hostIP": host_ip or old.get("hostIP"),
                   "startTime": old.get("startTime") or now_ts, "containerStatuses": statuses,
                   "qosClass": old.get("qosClass", "BestEffort")}
    if sandbox.ip:
        status["podIP"] = sandbox.ip
        status["podIPs"] = [{"ip": sandbox.ip}]
    return {k: v for k, v in status.items() if v is not None}
