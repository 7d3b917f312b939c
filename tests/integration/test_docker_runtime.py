"""The docker runtime against a real Docker engine: pods, limits, OOM, graceful stop, logs, stats,
adoption by a fresh runtime instance. Every wait polls with a deadline."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import docker
import pytest

from minik8s.node.runtime.base import (
    ContainerConfig,
    ContainerState,
    ContainerStatus,
    Mount,
    RuntimeError_,
    SandboxConfig,
)
from minik8s.node.runtime.docker import DockerRuntime

from .docker_fixture import TEST_LABELS, docker_runtime  # noqa: F401  (the fixture)

BUSYBOX = "minik8s/busybox:latest"
PYTHON = "minik8s/python:3.11"
MiB = 1024 * 1024
# Keeps the shell responsive to signals: `wait` returns as soon as a trapped signal arrives.
IDLE = "while :; do sleep 1 & wait $!; done"

T = TypeVar("T")


def wait_for(probe: Callable[[], T], what: str, timeout: float = 20.0) -> T:
    """Poll `probe` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := probe()):
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)
    return value


class Pods:
    """Creates sandboxes and containers labelled for this test session; removes them at the end."""

    def __init__(self, runtime: DockerRuntime) -> None:
        self.runtime = runtime
        self.sandboxes: list[str] = []

    def sandbox(self, name: str) -> str:
        config = SandboxConfig(pod_uid=uuid.uuid4().hex, pod_name=name, namespace="test",
                               hostname=name, labels=dict(TEST_LABELS))
        self.sandboxes.append(self.runtime.run_pod_sandbox(config))
        return self.sandboxes[-1]

    def run(self, sandbox_id: str, name: str, script: str, image: str = BUSYBOX,
            command: list[str] | None = None, **config: Any) -> str:
        labels = {**TEST_LABELS, "minik8s.io/container": name, "minik8s.io/attempt": "0"}
        container_id = self.runtime.create_container(sandbox_id, ContainerConfig(
            name=name, image=image, command=command or ["sh", "-c", script], labels=labels,
            **config))
        self.runtime.start_container(container_id)
        return container_id

    def exited(self, container_id: str, timeout: float = 20.0) -> ContainerStatus:
        def probe() -> ContainerStatus | None:
            status = self.runtime.container_status(container_id)
            return status if status.state is ContainerState.EXITED else None
        return wait_for(probe, f"container {container_id[:12]} to exit", timeout)

    def output(self, container_id: str, **kwargs: Any) -> str:
        return b"".join(self.runtime.logs(container_id, **kwargs)).decode()

    def wait_output(self, container_id: str, text: str) -> str:
        return wait_for(lambda: text in (out := self.output(container_id)) and out,
                        f"{text!r} in the logs of {container_id[:12]}")

    def cleanup(self) -> None:
        for sandbox_id in self.sandboxes:
            self.runtime.stop_pod_sandbox(sandbox_id)
            self.runtime.remove_pod_sandbox(sandbox_id)


@pytest.fixture
def pods(docker_runtime: DockerRuntime) -> Iterator[Pods]:  # noqa: F811
    created = Pods(docker_runtime)
    yield created
    created.cleanup()
    assert not [s for s in docker_runtime.list_sandboxes() if s.id in created.sandboxes]


def test_containers_of_a_pod_talk_over_localhost(pods: Pods) -> None:
    sandbox_id = pods.sandbox("web")
    server = pods.run(sandbox_id, "server", "mkdir -p /www && echo hello-from-httpd > /www/index.html"
                      " && exec httpd -f -p 8080 -h /www")
    client = pods.run(sandbox_id, "client", "hostname; for i in $(seq 100); do"
                      " timeout 3 wget -qO- http://127.0.0.1:8080/ && exit 0; sleep 0.1; done; exit 1")
    status = pods.exited(client)
    assert (status.exit_code, status.reason) == (0, "Completed")
    assert pods.output(client) == "web\nhello-from-httpd\n"  # the sandbox's hostname, then the page
    assert pods.runtime.container_status(server).state is ContainerState.RUNNING
    sandbox = next(s for s in pods.runtime.list_sandboxes() if s.id == sandbox_id)
    assert sandbox.ready and sandbox.ip and re.fullmatch(r"\d+\.\d+\.\d+\.\d+", sandbox.ip)
    assert {c.id for c in pods.runtime.list_containers(sandbox_id)} == {server, client}


def test_exit_code_and_reason(pods: Pods) -> None:
    container_id = pods.run(pods.sandbox("fails"), "fails", "exit 3")
    status = pods.exited(container_id)
    assert (status.exit_code, status.reason) == (3, "Error")
    assert status.started_at and status.finished_at and status.created_at
    assert status.created_at <= status.started_at <= status.finished_at <= time.time()


def test_limits_are_visible_in_the_container_cgroup(pods: Pods) -> None:
    files = ("memory/memory.limit_in_bytes", "cpu/cpu.cfs_quota_us", "cpu/cpu.cfs_period_us")
    script = " ".join(["cat", *(f"/sys/fs/cgroup/{f}" for f in files), ";", "exec sleep 1000"])
    container_id = pods.run(pods.sandbox("limited"), "limited", script,
                            cpu_limit_millis=250, memory_limit_bytes=32 * MiB)
    inside = wait_for(lambda: pods.output(container_id).split() or None, "the cgroup values")
    assert inside == [str(32 * MiB), "25000", "100000"]
    on_host = [Path(f"/sys/fs/cgroup/{f.replace('/', f'/docker/{container_id}/')}").read_text().strip()
               for f in files]
    assert on_host == inside


def test_memory_hog_is_oom_killed(pods: Pods) -> None:
    container_id = pods.run(pods.sandbox("hog"), "hog", "", image=PYTHON,
                            command=["python3", "-c", "b = bytearray(300 * 1024 * 1024)"],
                            memory_limit_bytes=64 * MiB)
    status = pods.exited(container_id, timeout=60)
    assert (status.exit_code, status.reason) == (137, "OOMKilled")


def test_stop_sends_sigterm_and_the_trap_runs(pods: Pods, tmp_path: Path) -> None:
    script = f'trap "echo terminated > /marker/term; exit 0" TERM; echo ready; {IDLE}'
    container_id = pods.run(pods.sandbox("graceful"), "graceful", script,
                            mounts=[Mount(str(tmp_path), "/marker")])
    pods.wait_output(container_id, "ready")
    started = time.monotonic()
    pods.runtime.stop_container(container_id, timeout=10)
    assert time.monotonic() - started < 5  # SIGTERM reached the shell: no waiting out the grace
    assert (tmp_path / "term").read_text() == "terminated\n"
    status = pods.runtime.container_status(container_id)
    assert (status.state, status.exit_code, status.reason) == (ContainerState.EXITED, 0, "Completed")
    pods.runtime.stop_container(container_id, timeout=10)  # idempotent


def test_stop_kills_after_the_grace_period(pods: Pods) -> None:
    container_id = pods.run(pods.sandbox("stubborn"), "stubborn", f'trap "" TERM; echo ready; {IDLE}')
    pods.wait_output(container_id, "ready")
    started = time.monotonic()
    pods.runtime.stop_container(container_id, timeout=1)
    assert 0.9 <= time.monotonic() - started < 8
    status = pods.runtime.container_status(container_id)
    assert (status.exit_code, status.reason) == (137, "Error")


def test_logs_tail_timestamps_since(pods: Pods) -> None:
    container_id = pods.run(pods.sandbox("logs"), "logs", "for i in 1 2 3 4 5; do echo line$i; done")
    status = pods.exited(container_id)
    lines = list(pods.runtime.logs(container_id))
    assert lines == [f"line{i}\n".encode() for i in range(1, 6)]
    assert list(pods.runtime.logs(container_id, tail=2)) == [b"line4\n", b"line5\n"]
    stamped = list(pods.runtime.logs(container_id, timestamps=True))
    assert all(re.match(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z line\d\n$", line) for line in stamped)
    assert status.finished_at is not None and status.started_at is not None
    assert list(pods.runtime.logs(container_id, since=status.finished_at + 1)) == []
    assert len(list(pods.runtime.logs(container_id, since=status.started_at - 1))) == 5


def test_logs_follow_until_exit(pods: Pods) -> None:
    container_id = pods.run(pods.sandbox("ticks"), "ticks", "for i in 1 2 3; do echo tick$i; sleep 0.3; done")
    lines: list[bytes] = []
    reader = threading.Thread(target=lambda: lines.extend(pods.runtime.logs(container_id, follow=True)),
                              daemon=True)
    reader.start()
    reader.join(timeout=20)
    assert not reader.is_alive(), "follow did not end when the container exited"
    assert lines == [b"tick1\n", b"tick2\n", b"tick3\n"]


def test_stats_from_cgroups_and_the_docker_fallback(pods: Pods, tmp_path: Path) -> None:
    container_id = pods.run(pods.sandbox("busy"), "busy", f"i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; {IDLE}")
    stats = wait_for(lambda: (s := pods.runtime.stats(container_id)).cpu_usage_nanos
                     and s.memory_bytes and s, "non-zero cgroup stats")
    assert stats.memory_bytes < 64 * MiB
    slow = DockerRuntime(docker.from_env(), cgroup_root=str(tmp_path))  # no cgroup files there
    fallback = slow.stats(container_id)
    assert fallback.cpu_usage_nanos >= stats.cpu_usage_nanos and fallback.memory_bytes > 0


def test_a_new_runtime_instance_adopts_running_pods(pods: Pods) -> None:
    sandbox_id = pods.sandbox("adopted")
    container_id = pods.run(sandbox_id, "app", IDLE)
    before = pods.runtime.container_status(container_id)
    fresh = DockerRuntime(docker.from_env())
    sandbox = next(s for s in fresh.list_sandboxes() if s.id == sandbox_id)
    assert sandbox.labels["minik8s.io/pod-name"] == "adopted" and sandbox.ready
    assert sandbox.pod_uid == sandbox.labels["minik8s.io/pod-uid"]
    [adopted] = fresh.list_containers(sandbox_id)
    assert (adopted.id, adopted.name, adopted.state) == (container_id, "app", ContainerState.RUNNING)
    assert adopted.labels["minik8s.io/attempt"] == "0" and adopted.labels == before.labels
    assert adopted.labels["minik8s.io/pod-uid"] == sandbox.pod_uid
    assert container_id in {c.id for c in fresh.list_containers()}


def test_missing_image_and_unknown_ids(pods: Pods) -> None:
    sandbox_id = pods.sandbox("errors")
    with pytest.raises(RuntimeError_, match='image "minik8s/absent:1" is not present on this node'):
        pods.runtime.create_container(sandbox_id, ContainerConfig("x", "minik8s/absent:1", ["true"]))
    with pytest.raises(RuntimeError_):
        pods.runtime.container_status("0" * 64)
    with pytest.raises(RuntimeError_):
        pods.runtime.logs("0" * 64)
    for call in (pods.runtime.stop_pod_sandbox, pods.runtime.remove_pod_sandbox,
                 pods.runtime.remove_container, lambda i: pods.runtime.stop_container(i, 1)):
        call("0" * 64)  # idempotent: unknown ids are fine


def test_exec_in_a_container(pods: Pods) -> None:
    """exec_sync: the container's env and working dir, exit code and output; a timeout kills the command."""
    sandbox_id = pods.sandbox("exec")
    container_id = pods.run(sandbox_id, "app", "exec sleep 600", env={"GREETING": "hello"}, working_dir="/tmp")
    result = pods.runtime.exec_sync(container_id, ["sh", "-c", 'echo "$GREETING $(pwd)"; exit 3'], timeout=10)
    assert (result.exit_code, result.output, result.timed_out) == (3, b"hello /tmp\n", False)
    started = time.monotonic()
    slow = pods.runtime.exec_sync(container_id, ["sleep", "30"], timeout=0.5)
    assert slow.timed_out and slow.exit_code is None and time.monotonic() - started < 8
    assert "sleep 30" not in pods.runtime.exec_sync(container_id, ["ps"], timeout=5).output.decode()
    with pytest.raises(RuntimeError_):
        pods.runtime.exec_sync(container_id, ["no-such-program-xyz"], timeout=5)


def test_image_present_and_pull_failure(pods: Pods) -> None:
    """Local images are present; a pull without a reachable registry fails with the engine's answer, as
    dockershim reported it (`Error response from daemon: ...`)."""
    assert pods.runtime.image_present(BUSYBOX) and not pods.runtime.image_present("minik8s/absent:1")
    with pytest.raises(RuntimeError_, match="^Error response from daemon: "):
        pods.runtime.pull_image("minik8s/absent:1")
