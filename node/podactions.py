"""What the kubelet should do next for a pod, from what runs (pure; `computePodActions` in Kubernetes).

Init containers run first, one at a time in order, each to completion: the next one starts when
the previous exited 0; one that failed is restarted (after the back-off) unless the pod's
`restartPolicy` is Never, in which case the pod has failed and nothing more starts. Once the last
init container succeeded (or once any app container ever ran in this sandbox, so init
containers are not run again) the app containers start, and each is restarted after it exits
according to `restartPolicy`. An app container whose liveness or startup probe failed is killed
(and then restarted by the same rule, as it exited non-zero).

Attempts of each container are the runtime's containers of that name in the pod's sandbox, oldest
first; only the latest one counts.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from .runtime.base import ContainerState, ContainerStatus

__all__ = ["PodActions", "compute_actions", "init_failed", "should_restart"]

Obj = dict[str, Any]


@dataclass(frozen=True)
class PodActions:
    """The next steps for a pod."""

    init_done: bool  # every init container succeeded (or the app containers already ran)
    init_failed: bool = False  # an init container failed and the pod never restarts one: the pod has failed
    start: list[str] = field(default_factory=list)  # containers to (re)start, in this order
    kill: dict[str, str] = field(default_factory=dict)  # running containers to kill -> the Killing message


def should_restart(policy: str, latest: ContainerStatus) -> bool:
    """Whether an exited app container is started again under the pod's `restartPolicy`."""
    return policy == "Always" or (policy == "OnFailure" and latest.exit_code != 0)


def init_failed(latest: ContainerStatus | None) -> bool:
    """An init container attempt that ended without success (or whose fate is unknown)."""
    return latest is not None and (latest.state is ContainerState.UNKNOWN or
                                   (latest.state is ContainerState.EXITED and latest.exit_code != 0))


def _latest(attempts: Mapping[str, list[ContainerStatus]], name: str) -> ContainerStatus | None:
    history = attempts.get(name) or []
    return history[-1] if history else None


def _next_init(spec: Obj, attempts: Mapping[str, list[ContainerStatus]]) -> tuple[bool, bool, str | None]:
    """(init done, init failed for good, init container to start) — `findNextInitContainerToRun`."""
    inits = [c.get("name", "") for c in spec.get("initContainers") or []]
    if not inits or any(attempts.get(c.get("name", "")) for c in spec.get("containers") or []):
        return True, False, None
    never = spec.get("restartPolicy", "Always") == "Never"
    for name in reversed(inits):
        if init_failed(_latest(attempts, name)):
            return False, never, None if never else name
    for index in range(len(inits) - 1, -1, -1):
        latest = _latest(attempts, inits[index])
        if latest is None:
            continue
        if latest.state is ContainerState.RUNNING:
            return False, False, None
        if latest.state is ContainerState.CREATED:  # created but never started: start it afresh
            return False, False, inits[index]
        if index == len(inits) - 1:
            return True, False, None
        return False, False, inits[index + 1]
    return False, False, inits[0]


def compute_actions(pod: Obj, attempts: Mapping[str, list[ContainerStatus]],
                    probe_kills: Mapping[str, str] | None = None) -> PodActions:
    """The next steps for `pod`; `probe_kills` names the running containers whose liveness or startup probe
    failed (-> which probe: "liveness" or "startup")."""
    spec = pod.get("spec") or {}
    policy = spec.get("restartPolicy", "Always")
    done, failed, init_to_start = _next_init(spec, attempts)
    if not done:
        return PodActions(init_done=False, init_failed=failed, start=[init_to_start] if init_to_start else [])
    start: list[str] = []
    kill: dict[str, str] = {}
    for container in spec.get("containers") or []:
        name = container.get("name", "")
        latest = _latest(attempts, name)
        if latest is None or latest.state is ContainerState.CREATED:
            start.append(name)
        elif latest.state is ContainerState.EXITED:
            if should_restart(policy, latest):
                start.append(name)
        elif latest.state is ContainerState.RUNNING and probe_kills and name in probe_kills:
            message = f"Container {name} failed {probe_kills[name]} probe"
            kill[name] = f"{message}, will be restarted" if policy != "Never" else message
    return PodActions(init_done=True, start=start, kill=kill)
