"""Init-container sequencing, probe kills and the status kubectl shows, from runtime attempts (pure)."""

from __future__ import annotations

from typing import Any

import pytest

from minik8s.api.kinds.pod import pod_status
from minik8s.node.podactions import compute_actions
from minik8s.node.podstatus import compute_status
from minik8s.node.probes import ProbeState
from minik8s.node.runtime.base import ContainerState, ContainerStatus, SandboxStatus

Obj = dict[str, Any]
SANDBOX = SandboxStatus(id="s", pod_uid="u", ready=True, ip="10.244.0.5", labels={}, created_at=0)
_serial = iter(range(1, 1000))


def _pod(policy: str = "Always", inits: int = 2, apps: int = 1) -> Obj:
    return {"metadata": {"name": "p", "namespace": "default", "uid": "u"},
            "spec": {"restartPolicy": policy, "initContainers": [{"name": f"init{i}", "image": "busybox"}
                                                                  for i in range(inits)],
                     "containers": [{"name": f"app{i}", "image": "busybox"} for i in range(apps)]}}


def _attempt(name: str, state: str, exit_code: int | None = None, attempt: int = 0) -> ContainerStatus:
    states = {"created": ContainerState.CREATED, "running": ContainerState.RUNNING, "exited": ContainerState.EXITED}
    return ContainerStatus(id=f"{name}-{next(_serial)}", sandbox_id="s", name=name, state=states[state],
                           labels={"minik8s.io/attempt": str(attempt)}, created_at=1.0, started_at=2.0,
                           finished_at=3.0 if state == "exited" else None, exit_code=exit_code,
                           reason=None if exit_code is None else ("Completed" if exit_code == 0 else "Error"))


def _attempts(*items: ContainerStatus) -> dict[str, list[ContainerStatus]]:
    out: dict[str, list[ContainerStatus]] = {}
    for item in items:
        out.setdefault(item.name, []).append(item)
    return out


@pytest.mark.parametrize(("policy", "attempts", "start", "done", "failed"), [
    pytest.param("Always", [], ["init0"], False, False, id="first-init"),
    pytest.param("Always", [("init0", "running", None)], [], False, False, id="init-running"),
    pytest.param("Always", [("init0", "exited", 0)], ["init1"], False, False, id="next-init"),
    pytest.param("Always", [("init0", "exited", 0), ("init1", "exited", 0)], ["app0"], True, False, id="apps"),
    pytest.param("Always", [("init0", "exited", 1)], ["init0"], False, False, id="restart-failed-init"),
    pytest.param("OnFailure", [("init0", "exited", 0), ("init1", "exited", 2)], ["init1"], False, False,
                 id="on-failure-restarts-init"),
    pytest.param("Never", [("init0", "exited", 0), ("init1", "exited", 2)], [], False, True, id="never-fails"),
    pytest.param("Always", [("init0", "created", None)], ["init0"], False, False, id="created-never-started"),
    pytest.param("Always", [("app0", "running", None)], [], True, False, id="apps-ran-already"),
])
def test_compute_actions_runs_init_containers_in_order(policy: str, attempts: list[tuple], start: list[str],
                                                       done: bool, failed: bool) -> None:
    """One init container at a time, in order, each to completion; then the app containers."""
    actions = compute_actions(_pod(policy), _attempts(*(_attempt(*a) for a in attempts)))
    assert (actions.start, actions.init_done, actions.init_failed) == (start, done, failed)


@pytest.mark.parametrize(("policy", "exit_code", "restart"), [
    pytest.param("Always", 0, True, id="always-after-success"),
    pytest.param("OnFailure", 0, False, id="on-failure-after-success"),
    pytest.param("OnFailure", 1, True, id="on-failure-after-failure"),
    pytest.param("Never", 1, False, id="never"),
])
def test_compute_actions_restarts_app_containers_by_policy(policy: str, exit_code: int, restart: bool) -> None:
    """Exited app containers come back per restartPolicy."""
    actions = compute_actions(_pod(policy, inits=0), _attempts(_attempt("app0", "exited", exit_code)))
    assert actions.start == (["app0"] if restart else [])


def test_compute_actions_kills_on_failed_liveness() -> None:
    """A running container whose liveness probe failed is killed with Kubernetes' message."""
    attempts = _attempts(_attempt("app0", "running"), _attempt("app1", "running"))
    actions = compute_actions(_pod(inits=0, apps=2), attempts, {"app1": "liveness"})
    assert actions.kill == {"app1": "Container app1 failed liveness probe, will be restarted"} and actions.start == []
    never = compute_actions(_pod("Never", inits=0, apps=2), attempts, {"app0": "startup"})
    assert never.kill == {"app0": "Container app0 failed startup probe"}


def _status(pod: Obj, attempts: dict[str, list[ContainerStatus]], waiting: dict | None = None,
            probes: dict[str, ProbeState] | None = None, initialized: bool | None = None) -> Obj:
    return compute_status(pod, SANDBOX, attempts, waiting or {}, now=100.0, host_ip="10.200.0.10", probes=probes,
                          initialized=initialized)


def _conditions(status: Obj) -> dict[str, str]:
    return {c["type"]: c["status"] for c in status["conditions"]}


def test_status_while_initializing_shows_init_progress() -> None:
    """Init:0/2 while the first runs, Init:1/2 after it; Pending, Initialized False with the incomplete ones."""
    pod = _pod()
    status = _status(pod, _attempts(_attempt("init0", "running")))
    assert (status["phase"], pod_status({**pod, "status": status})) == ("Pending", "Init:0/2")
    assert status["containerStatuses"][0]["state"] == {"waiting": {"reason": "PodInitializing"}}
    initialized = next(c for c in status["conditions"] if c["type"] == "Initialized")
    assert (initialized["status"], initialized["reason"], initialized["message"]) == (
        "False", "ContainersNotInitialized", "containers with incomplete status: [init0 init1]")
    status = _status(pod, _attempts(_attempt("init0", "exited", 0), _attempt("init1", "running")))
    assert pod_status({**pod, "status": status}) == "Init:1/2"
    assert status["initContainerStatuses"][0]["ready"] is True


def test_status_init_failures() -> None:
    """A failed init container: Init:Error and Failed under Never; Init:CrashLoopBackOff while it backs off."""
    never = _pod("Never")
    status = _status(never, _attempts(_attempt("init0", "exited", 1)))
    assert (status["phase"], pod_status({**never, "status": status})) == ("Failed", "Init:Error")
    always = _pod()
    waiting = {"init0": ("CrashLoopBackOff", "back-off 10s restarting failed container=init0")}
    status = _status(always, _attempts(_attempt("init0", "exited", 1)), waiting)
    assert (status["phase"], pod_status({**always, "status": status})) == ("Pending", "Init:CrashLoopBackOff")
    assert status["initContainerStatuses"][0]["lastState"]["terminated"]["exitCode"] == 1


def test_status_readiness_drives_ready_conditions() -> None:
    """Readiness from the probes sets containerStatuses[].ready, ContainersReady and Ready (with the reason)."""
    pod = _pod(inits=1, apps=2)
    attempts = _attempts(_attempt("init0", "exited", 0), _attempt("app0", "running"), _attempt("app1", "running"))
    probes = {"app0": ProbeState(started=True, ready=True, kill=None),
              "app1": ProbeState(started=False, ready=False, kill=None)}
    status = _status(pod, attempts, probes=probes, initialized=True)
    assert status["phase"] == "Running"
    assert [(s["ready"], s["started"]) for s in status["containerStatuses"]] == [(True, True), (False, False)]
    assert _conditions(status) == {"PodReadyToStartContainers": "True", "Initialized": "True", "Ready": "False",
                                   "ContainersReady": "False", "PodScheduled": "True"}
    ready = next(c for c in status["conditions"] if c["type"] == "Ready")
    assert (ready["reason"], ready["message"]) == ("ContainersNotReady", "containers with unready status: [app1]")
    probes["app1"] = ProbeState(started=True, ready=True, kill=None)
    later = compute_status({**pod, "status": status}, SANDBOX, attempts, {}, now=200.0, host_ip=None, probes=probes)
    assert _conditions(later)["Ready"] == "True" and pod_status({**pod, "status": later}) == "Running"
    initialized = next(c for c in later["conditions"] if c["type"] == "Initialized")
    assert initialized["lastTransitionTime"] == next(
        c for c in status["conditions"] if c["type"] == "Initialized")["lastTransitionTime"]  # kept: no transition


def test_status_readiness_gates() -> None:
    """Ready also waits for the pod's readiness gates."""
    pod = {**_pod(inits=0), "spec": {**_pod(inits=0)["spec"], "readinessGates": [{"conditionType": "example.com/lb"}]}}
    status = _status(pod, _attempts(_attempt("app0", "running")))
    assert _conditions(status)["ContainersReady"] == "True" and _conditions(status)["Ready"] == "False"
    pod["status"] = {"conditions": [{"type": "example.com/lb", "status": "True"}]}
    assert _conditions(_status(pod, _attempts(_attempt("app0", "running"))))["Ready"] == "True"

