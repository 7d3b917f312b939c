"""A real node agent with `--runtime docker` under a real master: pods of several containers
talking over localhost, limits in the containers' cgroups, an OOM-killed memory hog restarted,
and `pods/log` (also `follow=true`) relayed by the master.

One master and one node agent for the module; the Docker engine and the local images come from
the session `docker_runtime` fixture. Every wait polls with a deadline; every test deletes its
pods through the API, and the module removes whatever the kubelet left behind in Docker.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests

from minik8s.node import podspec
from minik8s.node.runtime.docker import DockerRuntime

from .cluster import TOKEN, Cluster, free_port, wait_for
from .docker_fixture import docker_runtime  # noqa: F401  (the fixture)

BUSYBOX = "minik8s/busybox:1.35"  # a tag: IfNotPresent, no pull from Docker Hub
PYTHON = "minik8s/python:3.11"
MiB = 1024 * 1024
NODE = "docker-node"
# Keeps the shell responsive to SIGTERM (a trapped-less `wait` returns on the signal).
IDLE = "while :; do sleep 1 & wait $!; done"


@dataclass
class DockerNode:
    cluster: Cluster
    runtime: DockerRuntime
    agent: subprocess.Popen[bytes]
    agent_log: Path
    uids: set[str] = field(default_factory=set)  # of every pod made here (to clean Docker up)

    @property
    def url(self) -> str:
        return self.cluster.masters[0].url

    @property
    def http(self) -> requests.Session:
        return self.cluster.session

    def pod_path(self, name: str = "") -> str:
        return f"{self.url}/api/v1/namespaces/default/pods" + (f"/{name}" if name else "")

    def create(self, name: str, containers: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
                "spec": {"containers": containers, **spec}}
        resp = self.http.post(self.pod_path(), json=body, timeout=15)
        assert resp.status_code == 201, resp.text
        created = resp.json()
        self.uids.add(created["metadata"]["uid"])
        return created

    def get(self, name: str) -> dict[str, Any]:
        resp = self.http.get(self.pod_path(name), timeout=10)
        resp.raise_for_status()
        return resp.json()

    def log(self, name: str, container: str, **params: Any) -> str:
        resp = self.http.get(f"{self.pod_path(name)}/log", params={"container": container, **params}, timeout=15)
        assert resp.status_code == 200, resp.text
        return resp.text

    def agent_alive(self) -> None:
        """Fail at once (not after a long wait) when the node agent died."""
        if self.agent.poll() is not None:
            raise AssertionError(f"node agent exited ({self.agent.returncode}); log:\n"
                                 f"{self.agent_log.read_text()[-4000:]}")

    def running(self, names: list[str]) -> list[dict[str, Any]]:
        """The pods, if every one is Running with all its containers ready; else []."""
        self.agent_alive()
        pods = []
        for name in names:
            pod = self.get(name)
            status = pod.get("status") or {}
            statuses = status.get("containerStatuses") or []
            if status.get("phase") != "Running" or len(statuses) != len(pod["spec"]["containers"]) \
                    or not all(c.get("ready") for c in statuses):
                return []
            pods.append(pod)
        return pods

    def delete_and_wait(self, names: list[str], timeout: float = 60.0) -> None:
        """DELETE every pod, then wait until the kubelet has stopped them and removed the objects."""
        for name in names:
            resp = self.http.delete(self.pod_path(name), params={"gracePeriodSeconds": 5}, timeout=15)
            assert resp.status_code in (200, 202, 404), resp.text

        def gone() -> bool:
            self.agent_alive()
            return all(self.http.get(self.pod_path(n), timeout=10).status_code == 404 for n in names)

        wait_for(gone, timeout=timeout, interval=0.25, what=f"pods {names} removed by the kubelet")

    def sandboxes(self) -> list[Any]:
        return [s for s in self.runtime.list_sandboxes() if s.labels.get(podspec.POD_UID) in self.uids]


def _node_ready(node: DockerNode) -> bool:
    node.agent_alive()
    resp = node.http.get(f"{node.url}/api/v1/nodes/{NODE}", timeout=5)
    if resp.status_code != 200:
        return False
    conditions = (resp.json().get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


@pytest.fixture(scope="module")
def dnode(docker_runtime: DockerRuntime, tmp_path_factory: pytest.TempPathFactory  # noqa: F811
          ) -> Iterator[DockerNode]:
    root = tmp_path_factory.mktemp("docker-node")
    kubelet_token = root / "kubelet-token"
    kubelet_token.write_text(uuid.uuid4().hex + "\n")
    cluster = Cluster(root / "c", 1, extra_args=["--kubelet-token-file", str(kubelet_token)])
    agent: subprocess.Popen[bytes] | None = None
    node: DockerNode | None = None
    try:
        cluster.start()
        cluster.wait_ready()
        agent_log = root / "node.log"
        with open(agent_log, "ab") as log:
            agent = subprocess.Popen(
                [sys.executable, "-m", "minik8s.cli.main", "node", "--name", NODE, "--data-dir", str(root / "node"),
                 "--server", cluster.masters[0].url, "--token", TOKEN,
                 "--kubelet-token-file", str(kubelet_token), "--runtime", "docker", "--node-ip", "127.0.0.1",
                 "--http-port", str(free_port()), "--restart-backoff", "1",
                 "--ingress-port", "0",  # on the machine's 127.0.0.1, and SIGKILLed below: no nginx
                 "--proxy-mode", "none",  # this machine's own namespace: no Service proxy
                 "--cluster-dns", ""],  # nor a DNS address on the machine's lo (SIGKILLed: it could not remove it)
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
        node = DockerNode(cluster, docker_runtime, agent, agent_log)
        wait_for(lambda: _node_ready(node), timeout=60, interval=0.2, what=f"node {NODE} Ready")
        yield node
    finally:
        if agent is not None and agent.poll() is None:
            os.kill(agent.pid, signal.SIGKILL)
            agent.wait(timeout=10)
        try:
            if node is not None:
                for sandbox in node.sandboxes():
                    docker_runtime.stop_pod_sandbox(sandbox.id)
                    docker_runtime.remove_pod_sandbox(sandbox.id)
        finally:
            cluster.stop()


def _container(name: str, script: str, image: str = BUSYBOX, **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": image, "command": ["sh", "-c", script], **extra}


SERVER = "echo hello > /tmp/index.html; exec httpd -f -p 8080 -h /tmp"
CLIENT = ("until timeout 3 wget -qO- http://127.0.0.1:8080/ ; do sleep 0.2; done; echo ok; "
          "exec sleep 100000")


def test_ten_two_container_pods_talk_over_localhost(dnode: DockerNode) -> None:
    """10 pods of a server and a client on one node: all Running within 60 s; the clients got through."""
    names = [f"web-{i}" for i in range(10)]
    started = time.monotonic()
    for name in names:
        dnode.create(name, [_container("server", SERVER), _container("client", CLIENT)])
    try:
        pods = wait_for(lambda: dnode.running(names), timeout=60, interval=0.5, what="10 pods Running and ready")
        print(f"\n10 pods Running {time.monotonic() - started:.1f}s after the first create")
        assert {p["spec"]["nodeName"] for p in pods} == {NODE}
        assert len({p["status"]["podIP"] for p in pods}) == 10  # each pod its own network namespace
        for name in names:
            wait_for(lambda name=name: "ok" in dnode.log(name, "client").split(), timeout=30, interval=0.25,
                     what=f"'ok' in the client log of {name}")
            assert "hello" in dnode.log(name, "client")
        assert len(dnode.sandboxes()) == 10
    finally:
        dnode.delete_and_wait(names)
    assert dnode.sandboxes() == []


def _container_id(pod: dict[str, Any], container: str) -> str:
    status = next(c for c in pod["status"]["containerStatuses"] if c["name"] == container)
    scheme, _, container_id = status["containerID"].partition("://")
    assert scheme == "minik8s" and container_id
    return container_id


def test_limits_are_visible_in_the_container_cgroup(dnode: DockerNode) -> None:
    """limits cpu 500m, memory 64Mi: CFS quota 50000 of 100000 us and a 64 MiB memory limit."""
    dnode.create("limited", [_container("c", IDLE, resources={"limits": {"cpu": "500m", "memory": "64Mi"}})])
    try:
        [pod] = wait_for(lambda: dnode.running(["limited"]), timeout=30, interval=0.25, what="limited Running")
        container_id = _container_id(pod, "c")
        memory = Path(f"/sys/fs/cgroup/memory/docker/{container_id}")
        cpu = Path(f"/sys/fs/cgroup/cpu/docker/{container_id}")
        assert int((memory / "memory.limit_in_bytes").read_text()) == 64 * MiB
        memsw = memory / "memory.memsw.limit_in_bytes"  # absent when the kernel does not account swap
        if memsw.exists():
            assert int(memsw.read_text()) == 64 * MiB
        assert int((cpu / "cpu.cfs_quota_us").read_text()) == 50000
        assert int((cpu / "cpu.cfs_period_us").read_text()) == 100000
    finally:
        dnode.delete_and_wait(["limited"])


def test_memory_hog_is_oom_killed_and_restarted(dnode: DockerNode) -> None:
    """A container allocating 300 MiB under a 64Mi limit is OOMKilled (137) and restarted."""
    hog = {"name": "hog", "image": PYTHON,
           "command": ["python3", "-c", "b=bytearray(300*1024*1024); import time; time.sleep(60)"],
           "resources": {"limits": {"memory": "64Mi"}}}
    dnode.create("hog", [hog], restartPolicy="Always")

    def restarted_after_oom() -> dict[str, Any] | None:
        dnode.agent_alive()
        statuses = (dnode.get("hog").get("status") or {}).get("containerStatuses") or []
        status = statuses[0] if statuses else {}
        terminated = (status.get("lastState") or {}).get("terminated") or {}
        return status if status.get("restartCount", 0) >= 1 and terminated else None

    try:
        status = wait_for(restarted_after_oom, timeout=60, interval=0.25, what="hog restarted after an OOM kill")
        terminated = status["lastState"]["terminated"]
        assert (terminated["reason"], terminated["exitCode"]) == ("OOMKilled", 137), status
    finally:
        dnode.delete_and_wait(["hog"])


def test_follow_streams_the_log_through_the_master(dnode: DockerNode) -> None:
    """`follow=true` through the master: lines arrive as the container writes them.

    With `tailLines=1` only one line comes from the log as it was; the next ones must be streamed."""
    script = "i=0; while :; do echo line $i; i=$((i+1)); sleep 0.2; done"
    dnode.create("ticker", [_container("c", script)])
    try:
        wait_for(lambda: dnode.running(["ticker"]), timeout=30, interval=0.25, what="ticker Running")
        deadline = time.monotonic() + 20
        lines: list[str] = []
        with dnode.http.get(f"{dnode.pod_path('ticker')}/log", params={"container": "c", "follow": "true", "tailLines": 1},
                            stream=True, timeout=(5, 10)) as resp:
            assert resp.status_code == 200, resp.text
            for raw in resp.iter_lines():
                if raw:
                    lines.append(raw.decode())
                if len(lines) >= 3 or time.monotonic() > deadline:
                    break
        assert len(lines) >= 3, lines
        assert all(line.startswith("line ") for line in lines[:3]), lines
        first = int(lines[0].split()[1])
        assert [int(line.split()[1]) for line in lines[:3]] == [first, first + 1, first + 2], lines
    finally:
        dnode.delete_and_wait(["ticker"])
