"""Containers that cannot start say why (pure parts): config checks, start-error messages, status."""

from __future__ import annotations

import os
import subprocess

import pytest

from minik8s.node.downward import PodRuntimeInfo
from minik8s.node.podstatus import compute_status
from minik8s.node.runtime.base import (Capabilities, ContainerConfig, ContainerState, ContainerStatus, Mount,
                                       RuntimeError_, SandboxConfig, SandboxStatus, config_problem)
from minik8s.node.runtime.fake import FakeClock, FakeRuntime
from minik8s.node.runtime.process_shim import start_error_message
from minik8s.node.volumes import PodVolumes

PROCESS = Capabilities(name="process", isolates_filesystem=False, enforces_limits=True)
DOCKER = Capabilities(name="docker", isolates_filesystem=True, enforces_limits=True)


def _config(**fields: object) -> ContainerConfig:
    return ContainerConfig(**{"name": "web", "image": "nginx", "command": ["nginx"], **fields})  # type: ignore


def test_no_command_needs_one_only_where_images_are_not_used() -> None:
    problem = config_problem(_config(command=[]), PROCESS)
    assert problem is not None
    for words in ("no command", "process runtime", "node's own filesystem", "'nginx'", "`command`", "Docker"):
        assert words in problem
    assert config_problem(_config(command=[]), DOCKER) is None  # the image's entrypoint runs
    assert config_problem(_config(), PROCESS) is None


@pytest.mark.parametrize("fields, words", [
    ({"env": {"GREETING": "hel\0lo"}}, "env 'GREETING' contains a NUL"),
    ({"command": ["echo", "a\0b"]}, "command contains a NUL"),
    ({"working_dir": "/tmp\0x"}, "workingDir contains a NUL"),
    ({"mounts": [Mount("/data", "/mnt\0x")]}, "volume mount contains a NUL"),
    ({"env": {"A=B": "x"}}, "env name 'A=B'"),
    ({"env": {"": "x"}}, "env name ''"),
    ({"working_dir": 5}, "workingDir must be a string"),
])
def test_what_no_program_can_be_given_is_refused_on_every_runtime(fields: dict, words: str) -> None:
    for capabilities in (PROCESS, DOCKER):
        problem = config_problem(_config(**fields), capabilities)
        assert problem is not None and words in problem


def test_start_error_messages_say_what_went_wrong(tmp_path) -> None:  # noqa: ANN001
    def failure(command: list[str], cwd: str | None = None) -> BaseException:
        try:
            subprocess.Popen(command, cwd=cwd).wait()
        except Exception as exc:  # noqa: BLE001
            return exc
        raise AssertionError("it started")

    assert start_error_message(failure(["no-such-prog-q"]), ["no-such-prog-q"], None) == \
        'exec: "no-such-prog-q": executable file not found in $PATH'
    assert start_error_message(failure(["/no/such"]), ["/no/such"], None) == \
        'exec: "/no/such": no such file or directory'
    script = tmp_path / "script.sh"
    script.write_text("#!/bin/sh\n")
    script.chmod(0o644)
    assert start_error_message(failure([str(script)]), [str(script)], None) == f'exec: "{script}": permission denied'
    assert "working dir \"/no/dir\"" in start_error_message(failure(["true"], "/no/dir"), ["true"], "/no/dir")
    assert start_error_message(IndexError("list index out of range"), [], None) == "the container has no command to run"


def test_status_keeps_the_reason_and_the_start_error() -> None:
    pod = {"metadata": {"name": "p", "uid": "u"}, "spec": {"containers": [{"name": "web", "image": "nginx"}]}}
    sandbox = SandboxStatus(id="s", pod_uid="u", ready=True, ip="10.0.0.2", labels={}, created_at=0)
    never = compute_status(pod, sandbox, {}, {"web": ("CreateContainerConfigError", "no command")}, now=10,
                           host_ip=None)
    assert never["phase"] == "Pending"
    assert never["containerStatuses"][0]["state"] == {"waiting": {"reason": "CreateContainerConfigError",
                                                                  "message": "no command"}}
    failed = ContainerStatus(id="c1", sandbox_id="s", name="web", state=ContainerState.EXITED, labels={},
                             created_at=1, finished_at=2, exit_code=128, reason="StartError",
                             message='exec: "nginx": executable file not found in $PATH')
    status = compute_status(pod, sandbox, {"web": [failed]}, {"web": ("RunContainerError", "exec: ...")}, now=10,
                            host_ip=None)["containerStatuses"][0]
    assert status["state"]["waiting"]["reason"] == "RunContainerError"
    assert status["lastState"]["terminated"]["reason"] == "StartError"
    assert "executable file not found" in status["lastState"]["terminated"]["message"]


def test_fake_fail_start_follows_the_runtime_contract() -> None:
    clock = FakeClock()
    rt = FakeRuntime(clock=clock, sleep=clock.sleep)
    sid = rt.run_pod_sandbox(SandboxConfig(pod_uid="u", pod_name="p", namespace="default", hostname="p"))
    cid = rt.create_container(sid, _config(command=["fake", "fail-start"]))
    with pytest.raises(RuntimeError_, match="executable file not found"):
        rt.start_container(cid)
    status = rt.container_status(cid)
    assert (status.state, status.reason, status.exit_code) == (ContainerState.EXITED, "StartError", 128)
    assert "executable file not found" in (status.message or "")


def test_volumes_that_cannot_be_made_are_reported_per_volume(tmp_path) -> None:  # noqa: ANN001
    """A volume that cannot be made is reported by name; the others are made."""
    pod = {"metadata": {"uid": "u"}, "spec": {"volumes": [{"name": "ok", "emptyDir": {}},
                                                          {"name": "bad", "hostPath": {"path": "/tmp/x\0y"}}]}}
    volumes, problems = PodVolumes(str(tmp_path)).setup(pod, _NoConfig(), PodRuntimeInfo())
    assert set(volumes) == {"ok"} and set(problems) == {"bad"}
    assert "NUL" in problems["bad"]
    assert os.path.isdir(volumes["ok"].path) and not volumes["ok"].read_only


class _NoConfig:
    def config_map(self, namespace: str, name: str) -> None:
        return None

    def secret(self, namespace: str, name: str) -> None:
        return None


def test_docker_start_failure_is_reported_as_start_error() -> None:
    """Docker leaves a container whose start failed `created` with State.Error: that is an exited StartError."""
    from types import SimpleNamespace

    from minik8s.node.runtime.docker import DockerRuntime

    runtime = object.__new__(DockerRuntime)  # only the status mapping is used: no engine needed
    error = 'exec: "nginxx": executable file not found in $PATH'
    attrs = {"Created": "2026-01-01T00:00:00.000000000Z",
             "State": {"Status": "created", "ExitCode": 127, "Error": error, "StartedAt": "0001-01-01T00:00:00Z",
                       "FinishedAt": "0001-01-01T00:00:00Z", "Pid": 0}}
    status = runtime._container_status(SimpleNamespace(id="abc", name="c", labels={}, attrs=attrs))
    assert (status.state, status.reason, status.exit_code, status.message) == (
        ContainerState.EXITED, "StartError", 127, error)
    attrs["State"] = {**attrs["State"], "Error": "", "ExitCode": 0}
    status = runtime._container_status(SimpleNamespace(id="abc", name="c", labels={}, attrs=attrs))
    assert status.state is ContainerState.CREATED and status.message is None
