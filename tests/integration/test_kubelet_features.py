"""The Pod features real manifests use, on both runtimes: probes, init containers, hooks, configuration.

One `minik8s up --masters 1 --nodes 1` per runtime (`process`, then `docker`; the Docker one is
skipped only when the engine cannot run, like the other Docker tests). Every pod lives in a
namespace of this module's own. Containers share a host directory (`shared`, mounted as a
hostPath at the same path), so the test can read what they wrote and flip files they serve, the
same way on both runtimes.
"""

from __future__ import annotations

import os
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from minik8s.api import errors
from minik8s.api.client import ApiClient
from minik8s.api.kinds.pod import pod_status
from minik8s.chaos.node_failure import kill_agent, restart_agent
from minik8s.chaos.upcluster import UpProcess

from .cluster import wait_for
from .docker_fixture import docker_runtime  # noqa: F401  (the fixture)

Obj = dict[str, Any]


@dataclass
class Node:
    """A one-node cluster of one runtime, and how pods there run a shell and python."""

    kind: str
    client: ApiClient
    namespace: str
    shared: Path
    shell_image: str
    python: list[str]
    python_image: str

    def pod(self, name: str, containers: list[Obj], **spec: Any) -> Obj:
        volumes = [{"name": "shared", "hostPath": {"path": str(self.shared)}}, *spec.pop("volumes", [])]
        for container in [*containers, *spec.get("initContainers", [])]:
            container.setdefault("volumeMounts", []).insert(0, {"name": "shared", "mountPath": str(self.shared)})
        body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": self.namespace},
                "spec": {"containers": containers, "volumes": volumes, "terminationGracePeriodSeconds": 2, **spec}}
        return self.client.create(body)

    def shell(self, name: str, script: str, **extra: Any) -> Obj:
        return {"name": name, "image": self.shell_image, "command": ["sh", "-c", script], **extra}

    def get(self, name: str) -> Obj:
        return self.client.get("pods", name, namespace=self.namespace)

    def events(self, name: str, reason: str) -> list[Obj]:
        return [e for e in self.client.list("events", namespace=self.namespace)["items"]
                if e["involvedObject"].get("name") == name and e["reason"] == reason]

    def event(self, name: str, reason: str, text: str) -> Obj | None:
        return next((e for e in self.events(name, reason) if text in e["message"]), None)

    def delete(self, *names: str, grace: int = 0) -> None:
        for name in names:
            try:
                self.client.delete("pods", name, namespace=self.namespace, grace_period_seconds=grace)
            except errors.NotFoundError:
                pass
        wait_for(lambda: all(self._gone(n) for n in names), timeout=60, interval=0.2, what=f"pods {names} removed")

    def _gone(self, name: str) -> bool:
        try:
            self.get(name)
        except errors.NotFoundError:
            return True
        return False


def _condition(pod: Obj, kind: str) -> str | None:
    return next((c["status"] for c in (pod.get("status") or {}).get("conditions") or [] if c["type"] == kind), None)


def _container(pod: Obj, name: str = "c") -> Obj:
    return next((c for c in (pod.get("status") or {}).get("containerStatuses") or [] if c["name"] == name), {})


@pytest.fixture(scope="module", params=["process", "docker"])
def up(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpProcess]:
    """`minik8s up` with the runtime of the parameter: 3 masters + 3 nodes on the process runtime;
    1 + 1 on Docker (one engine serves the machine until Docker nodes get pod networks of their own)."""
    if os.geteuid() != 0:
        pytest.skip("`minik8s up` needs root")
    size = "3"
    if request.param == "docker":
        request.getfixturevalue("docker_runtime")  # skips when there is no engine
        size = "1"
    cluster = UpProcess(tmp_path_factory.mktemp(f"kubelet-{request.param}") / "data", "--masters", size,
                        "--nodes", size, "--runtime", request.param)
    cluster.kind = request.param  # type: ignore[attr-defined]
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def node(up: UpProcess, request: pytest.FixtureRequest) -> Iterator[Node]:
    kind = up.kind  # type: ignore[attr-defined]
    docker = request.getfixturevalue("docker_runtime") if kind == "docker" else None
    shared = up.root.parent / "shared"
    shared.mkdir()
    namespace = f"kf-{uuid.uuid4().hex[:8]}"
    up.client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
    try:
        yield Node(kind, up.client, namespace, shared,
                   shell_image="minik8s/busybox:1.35" if docker else "busybox",
                   python=["python3"] if docker else [sys.executable],
                   python_image="minik8s/python:3.11" if docker else "python")
    finally:
        if docker is not None:  # whatever the agent could not remove (the namespace's pods only)
            for sandbox in docker.list_sandboxes():
                if sandbox.labels.get("minik8s.io/namespace") == namespace:
                    docker.stop_pod_sandbox(sandbox.id)
                    docker.remove_pod_sandbox(sandbox.id)


def test_liveness_failure_restarts_with_events(node: Node) -> None:
    """An exec liveness probe that starts failing: Unhealthy and Killing events, the container restarts, and after
    the next failure it backs off (BackOff)."""
    marker = node.shared / "alive"
    script = f"echo ok > {marker}; sleep 2; rm -f {marker}; exec sleep 600"
    probe = {"exec": {"command": ["cat", str(marker)]}, "periodSeconds": 1, "failureThreshold": 1}
    node.pod("live", [node.shell("c", script, livenessProbe=probe)])
    try:
        restarted = wait_for(lambda: _container(node.get("live")).get("restartCount", 0) >= 1 and node.get("live"),
                             timeout=45, interval=0.3, what="a restart after the liveness probe failed")
        terminated = _container(restarted)["lastState"]["terminated"]
        assert terminated["exitCode"] in (137, 143), terminated
        unhealthy = wait_for(lambda: node.event("live", "Unhealthy", "Liveness probe failed: "), timeout=20,
                             what="Unhealthy event")
        assert "No such file" in unhealthy["message"] and unhealthy["type"] == "Warning"
        assert unhealthy["involvedObject"]["fieldPath"] == "spec.containers{c}"
        wait_for(lambda: node.event("live", "Killing", "Container c failed liveness probe, will be restarted"),
                 timeout=20, what="Killing event")
        for reason, text in (("Created", "Created container: c"), ("Started", "Started container c"),
                             ("Pulled", "already present on machine")):
            assert node.event("live", reason, text), reason
        backoff = wait_for(lambda: node.event("live", "BackOff", "Back-off restarting failed container c in pod live_"),
                           timeout=30, what="BackOff event after the second liveness failure")
        assert backoff["type"] == "Warning"
        assert pod_status(node.get("live")) in ("CrashLoopBackOff", "Running")
    finally:
        node.delete("live")


def test_readiness_flips_ready(node: Node) -> None:
    """An httpGet readiness probe on a named port: Ready follows whether the served file exists."""
    www = node.shared / "www"
    www.mkdir()
    server = {"name": "c", "image": node.python_image, "ports": [{"name": "http", "containerPort": 8080}],
              "command": [*node.python, "-m", "http.server", "8080", "--directory", str(www)],
              "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 1,
                                 "failureThreshold": 1}}
    node.pod("ready", [server])
    try:
        pod = wait_for(lambda: (p := node.get("ready"))["status"].get("phase") == "Running" and p, timeout=45,
                       what="ready Running")
        time.sleep(2)  # a few probes fail meanwhile (404): not ready
        pod = node.get("ready")
        assert (_condition(pod, "Ready"), _condition(pod, "ContainersReady"), _container(pod)["ready"]) == (
            "False", "False", False)
        assert pod_status(pod) == "Running"
        (www / "ready").write_text("ok")
        wait_for(lambda: _condition(node.get("ready"), "Ready") == "True", timeout=20, what="Ready True")
        assert _container(node.get("ready"))["ready"] is True
        (www / "ready").unlink()
        wait_for(lambda: _condition(node.get("ready"), "Ready") == "False", timeout=20, what="Ready False again")
        assert node.event("ready", "Unhealthy", "Readiness probe failed: HTTP probe failed with statuscode: 404")
    finally:
        node.delete("ready")


def test_init_containers_run_in_order_first(node: Node) -> None:
    """Two init containers run one after the other, to completion, before the app; a failing one under Never fails
    the pod with Init:Error."""
    log = node.shared / "order"
    node.pod("init", [node.shell("c", f"echo app >> {log}; exec sleep 600")],
             initContainers=[node.shell("first", f"echo first >> {log}; sleep 2"),
                             node.shell("second", f"echo second >> {log}")])
    node.pod("init-fails", [node.shell("c", "exec sleep 600")], restartPolicy="Never",
             initContainers=[node.shell("broken", "exit 3")])
    try:
        seen: set[str] = set()

        def running() -> Obj | None:
            pod = node.get("init")
            seen.add(pod_status(pod))
            return pod if pod["status"].get("phase") == "Running" else None

        pod = wait_for(running, timeout=45, interval=0.2, what="init Running")
        assert "Init:0/2" in seen, seen
        wait_for(lambda: log.read_text() == "first\nsecond\napp\n", timeout=10, what="the order of the writes")
        inits = pod["status"]["initContainerStatuses"]
        assert [(s["name"], s["state"]["terminated"]["reason"]) for s in inits] == [
            ("first", "Completed"), ("second", "Completed")]
        assert _condition(pod, "Initialized") == "True"
        failed = wait_for(lambda: (p := node.get("init-fails"))["status"].get("phase") == "Failed" and p,
                          timeout=30, what="init-fails Failed")
        assert pod_status(failed) == "Init:Error" and _condition(failed, "Initialized") == "False"
        assert "containerID" not in _container(failed)  # the app container never ran
    finally:
        node.delete("init", "init-fails")


def test_pre_stop_runs_before_sigterm(node: Node) -> None:
    """Deleting a pod runs its preStop hook, then SIGTERM: the container's trap sees it after the hook."""
    log = node.shared / "stop"
    script = (f"trap 'echo term >> {log}; exit 0' TERM; echo started >> {log}; "
              "while :; do sleep 1 & wait $!; done")
    hook = {"preStop": {"exec": {"command": ["sh", "-c", f"echo prestop >> {log}"]}}}
    node.pod("stop", [node.shell("c", script, lifecycle=hook)], terminationGracePeriodSeconds=10)
    wait_for(lambda: log.exists() and log.read_text() == "started\n", timeout=45, what="stop started")
    node.delete("stop", grace=10)
    assert log.read_text() == "started\nprestop\nterm\n"


def test_config_map_env_volume_and_update(node: Node) -> None:
    """A pod waits for its ConfigMap (CreateContainerConfigError, a clear event), starts once it exists, gets the
    value in env, command and a volume, and sees a change in the volume."""
    watched = node.shared / "seen"
    script = ("echo \"GREETING=$GREETING COLOR=$APP_color\"; echo arg=$(GREETING); "
              f"while :; do cat {node.shared}/config/greeting > {watched}.tmp; mv {watched}.tmp {watched}; "
              "sleep 0.3; done")
    container = node.shell("c", script, env=[{"name": "GREETING", "valueFrom": {"configMapKeyRef": {
        "name": "settings", "key": "greeting"}}}], envFrom=[{"configMapRef": {"name": "settings"}, "prefix": "APP_"}],
        volumeMounts=[{"name": "config", "mountPath": str(node.shared / "config")}])
    node.pod("cfg", [container], volumes=[{"name": "config", "configMap": {"name": "settings"}}])
    envonly = node.shell("c", "echo \"GREETING=$GREETING\"; exec sleep 600", env=[
        {"name": "GREETING", "valueFrom": {"configMapKeyRef": {"name": "settings", "key": "greeting"}}}])
    node.pod("cfg-env", [envonly])
    try:
        waiting = wait_for(lambda: (_container(node.get("cfg-env")).get("state") or {}).get("waiting", {}).get(
            "reason") == "CreateContainerConfigError" and _container(node.get("cfg-env"))["state"]["waiting"],
            timeout=30, what="CreateContainerConfigError")
        assert waiting["message"] == 'configmap "settings" not found'
        wait_for(lambda: node.event("cfg-env", "Failed", 'Error: configmap "settings" not found'), timeout=20,
                 what="the Failed event")
        wait_for(lambda: node.event("cfg", "FailedMount", 'configmap "settings" not found'), timeout=20,
                 what="the FailedMount event")
        node.client.create({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "settings",
                                                                                 "namespace": node.namespace},
                            "data": {"greeting": "hello", "color": "blue"}})
        for name in ("cfg", "cfg-env"):
            wait_for(lambda n=name: node.get(n)["status"].get("phase") == "Running", timeout=30, what=f"{name} runs")
        logs = wait_for(lambda: "arg=" in (text := node.client.log("cfg", namespace=node.namespace)) and text,
                        timeout=20, what="cfg logs")
        assert "GREETING=hello COLOR=blue" in logs and "arg=hello" in logs
        assert "GREETING=hello" in node.client.log("cfg-env", namespace=node.namespace)
        wait_for(lambda: watched.exists() and watched.read_text() == "hello", timeout=20, what="the mounted file")
        started = time.monotonic()
        node.client.patch("configmaps", "settings", {"data": {"greeting": "bonjour"}}, namespace=node.namespace)
        wait_for(lambda: watched.read_text() == "bonjour", timeout=60, interval=0.2, what="the updated file")
        print(f"\n{node.kind}: a ConfigMap change reached the volume in {time.monotonic() - started:.1f}s")
    finally:
        node.delete("cfg", "cfg-env")
        node.client.delete("configmaps", "settings", namespace=node.namespace)


def test_dependent_environment_variables(node: Node) -> None:
    """Kubernetes' dependent environment variables example prints the documented lines."""
    env = [{"name": "SERVICE_PORT", "value": "80"}, {"name": "SERVICE_IP", "value": "172.17.0.1"},
           {"name": "UNCHANGED_REFERENCE", "value": "$(PROTOCOL)://$(SERVICE_IP):$(SERVICE_PORT)"},
           {"name": "PROTOCOL", "value": "https"},
           {"name": "SERVICE_ADDRESS", "value": "$(PROTOCOL)://$(SERVICE_IP):$(SERVICE_PORT)"},
           {"name": "ESCAPED_REFERENCE", "value": "$$(PROTOCOL)://$(SERVICE_IP):$(SERVICE_PORT)"}]
    container = {"name": "c", "image": node.shell_image, "command": ["sh", "-c"], "env": env,
                 "args": ['echo "$UNCHANGED_REFERENCE"; echo "$SERVICE_ADDRESS"; echo "$ESCAPED_REFERENCE"; '
                          "echo port=$(SERVICE_PORT)"]}
    node.pod("envars", [container], restartPolicy="Never")
    try:
        wait_for(lambda: node.get("envars")["status"].get("phase") == "Succeeded", timeout=45, what="envars done")
        assert node.client.log("envars", namespace=node.namespace).splitlines() == [
            "$(PROTOCOL)://172.17.0.1:80", "https://172.17.0.1:80", "$(PROTOCOL)://172.17.0.1:80", "port=80"]
    finally:
        node.delete("envars")


def test_post_start_hook(node: Node) -> None:
    """postStart runs once the container started; one that fails kills the container with FailedPostStartHook."""
    log = node.shared / "poststart"
    good = node.shell("good", "exec sleep 600",
                      lifecycle={"postStart": {"exec": {"command": ["sh", "-c", f"echo hook >> {log}"]}}})
    bad = node.shell("bad", "exec sleep 600", lifecycle={"postStart": {"exec": {"command": ["sh", "-c", "exit 1"]}}})
    node.pod("hooks", [good, bad])
    try:
        wait_for(lambda: node.event("hooks", "FailedPostStartHook", "PostStartHook failed"), timeout=45,
                 what="FailedPostStartHook event")
        killing = wait_for(lambda: node.event("hooks", "Killing", "FailedPostStartHook"), timeout=20,
                           what="Killing event")
        assert killing["involvedObject"]["fieldPath"] == "spec.containers{bad}"
        status = wait_for(lambda: (s := _container(node.get("hooks"), "bad")).get("lastState", {}).get("terminated")
                          and s, timeout=30, what="bad's terminated attempt")
        assert (status.get("state") or {}).get("waiting", {}).get("reason") in ("PostStartHookError",
                                                                               "CrashLoopBackOff", None)
        assert _container(node.get("hooks"), "good")["state"].get("running") and log.read_text() == "hook\n"
    finally:
        node.delete("hooks")


def test_absent_image_is_pulled_then_backs_off(node: Node) -> None:
    """Docker: an image that is not on the node is pulled (Pulling, Failed: no registry) and the container waits
    with ErrImagePull, then ImagePullBackOff."""
    if node.kind != "docker":
        pytest.skip("the process runtime uses no images")
    node.pod("absent", [{"name": "c", "image": "minik8s/absent:1", "command": ["true"]}])
    try:
        wait_for(lambda: node.event("absent", "Pulling", 'Pulling image "minik8s/absent:1"'), timeout=30,
                 what="Pulling event")
        assert wait_for(lambda: node.event("absent", "Failed", 'Failed to pull image "minik8s/absent:1"'), timeout=20,
                        what="Failed event")["type"] == "Warning"
        reasons = {"ErrImagePull", "ImagePullBackOff"}
        wait_for(lambda: (_container(node.get("absent")).get("state") or {}).get("waiting", {}).get("reason")
                 in reasons, timeout=20, what="waiting for the image")
        assert pod_status(node.get("absent")) in reasons
    finally:
        node.delete("absent")


def test_secret_env_and_volume_never_logged(node: Node) -> None:
    """A Secret in env and in a 0400 volume reaches the container; its value is in no event and no agent log."""
    value = f"s3cr3t-{uuid.uuid4().hex[:8]}"
    node.client.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "creds", "namespace": node.namespace},
                        "stringData": {"password": value}})
    mount = node.shared / "secret"
    script = f'echo "env=$PASSWORD"; stat -L -c %a {mount}/password; cat {mount}/password; echo; exec sleep 600'
    container = node.shell("c", script, env=[{"name": "PASSWORD", "valueFrom": {"secretKeyRef": {
        "name": "creds", "key": "password"}}}], volumeMounts=[{"name": "creds", "mountPath": str(mount)}])
    node.pod("secret", [container], volumes=[{"name": "creds", "secret": {"secretName": "creds", "defaultMode": 0o400}}])
    try:
        logs = wait_for(lambda: (text := node.client.log("secret", namespace=node.namespace)).count("\n") >= 3
                        and text, timeout=45, what="the secret pod's output")
        assert logs.splitlines() == [f"env={value}", "400", value]
        events = node.client.list("events", namespace=node.namespace)["items"]
        assert events and not [e for e in events if value in e["message"]]
        agent_logs = list(node.shared.parent.glob("data/*.log"))  # the masters' and the node agent's
        assert agent_logs
        for log in agent_logs:
            assert value not in log.read_text(errors="replace"), log
    finally:
        node.delete("secret")
        node.client.delete("secrets", "creds", namespace=node.namespace)


def test_restarted_agent_keeps_a_ready_container_ready(node: Node, up: UpProcess) -> None:
    """kill -9 of the node agent and a restart: the probed container is adopted, not restarted, and its pod's
    status never says it is not Ready (every change of the pod is watched)."""
    probe = {"exec": {"command": ["true"]}, "periodSeconds": 1}
    node.pod("steady", [node.shell("c", "exec sleep 600", readinessProbe=probe, livenessProbe=probe)])
    log = up.root / "node-0.restarted.log"
    try:
        before = wait_for(lambda: _condition(p := node.get("steady"), "Ready") == "True" and p, timeout=45,
                          what="steady Ready")
        kill_agent(up.state, 0)
        restart_agent(up.state, 0, log)
        wait_for(lambda: log.exists() and "controller kubelet started" in log.read_text(), timeout=30,
                 what="the restarted kubelet")
        time.sleep(3)  # its first syncs and probes
        changes, revision = [], before["metadata"]["resourceVersion"]
        while True:
            events, revision = node.client.watch_poll("pods", namespace=node.namespace, resource_version=revision,
                                                      field_selector="metadata.name=steady", timeout_seconds=1)
            if not events:
                break
            changes += [e["object"] for e in events]
        assert all(_condition(p, "Ready") == "True" for p in changes), [_condition(p, "Ready") for p in changes]
        after = node.get("steady")
        assert _container(after)["containerID"] == _container(before)["containerID"]
        assert _container(after)["restartCount"] == 0 and _condition(after, "Ready") == "True"
    finally:
        node.delete("steady")
