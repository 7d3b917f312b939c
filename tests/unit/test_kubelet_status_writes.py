"""The kubelet writes a pod's status only when it changed, as the API server stores it (no null fields)."""

from __future__ import annotations

from minik8s.node.kubelet import _without_nulls
from minik8s.node.podstatus import compute_status
from minik8s.node.runtime.base import ContainerState, ContainerStatus, SandboxStatus


def _pod() -> dict:
    return {"metadata": {"name": "p", "namespace": "default", "uid": "u1"},
            "spec": {"containers": [{"name": "main", "image": "python", "command": ["sleep", "1"]}]},
            "status": {"phase": "Pending", "qosClass": "BestEffort",
                       "conditions": [{"type": "PodScheduled", "status": "True",
                                       "lastTransitionTime": "2026-01-01T00:00:00Z"}]}}


def test_kubelet_status_of_a_running_pod_is_stable_once_stored() -> None:
    """Recomputing the status of an unchanged running pod from its stored copy gives the stored copy again."""
    sandbox = SandboxStatus(id="s1", pod_uid="u1", ready=True, ip="10.244.0.2", labels={}, created_at=1.0)
    running = ContainerStatus(id="c1", sandbox_id="s1", name="main", state=ContainerState.RUNNING,
                              labels={"minik8s.io/container-name": "main"}, created_at=1.0, started_at=2.0, pid=5)
    pod = _pod()
    first = compute_status(pod, sandbox, {"main": [running]}, {}, now=3.0, host_ip=None)
    stored = {**pod, "status": _without_nulls(first)}  # what the server keeps and the informer hands back
    again = compute_status(stored, sandbox, {"main": [running]}, {}, now=60.0, host_ip=None)
    assert _without_nulls(again) == stored["status"]
    assert first["phase"] == "Running" and all(c["status"] == "True" for c in first["conditions"])


def test_kubelet_without_nulls_drops_null_fields_at_every_depth() -> None:
    """Nested null fields go, other falsy values stay."""
    value = {"a": None, "b": [{"c": None, "d": 0, "e": ""}], "f": {"g": None, "h": False}}
    assert _without_nulls(value) == {"b": [{"d": 0, "e": ""}], "f": {"h": False}}
