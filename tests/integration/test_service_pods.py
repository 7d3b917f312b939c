"""Services with real pods on `minik8s up --masters 1 --nodes 1` (process runtime): EndpointSlices and
Endpoints follow a pod through a readiness probe and its deletion; containers see the Service
environment variables."""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from minik8s.api import errors
from minik8s.chaos.upcluster import UpProcess

from .cluster import wait_for

Obj = dict[str, Any]


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpProcess]:
    if os.geteuid() != 0:
        pytest.skip("`minik8s up` needs root")
    cluster = UpProcess(tmp_path_factory.mktemp("svc-pods") / "data", "--masters", "1", "--nodes", "1",
                        "--runtime", "process")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def namespace(up: UpProcess) -> str:
    name = f"svc-{uuid.uuid4().hex[:8]}"
    up.client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name}})
    return name


def conditions(up: UpProcess, namespace: str, service: str) -> dict[str, Obj]:
    """pod name -> its endpoint's conditions, across the Service's slices."""
    slices = up.client.list("endpointslices.discovery.k8s.io", namespace=namespace,
                            label_selector=f"kubernetes.io/service-name={service}")["items"]
    return {e["targetRef"]["name"]: e["conditions"] for s in slices for e in s.get("endpoints") or []}


def test_slices_follow_readiness_and_deletion(up: UpProcess, namespace: str, tmp_path: Path) -> None:
    www = tmp_path / "www"
    www.mkdir()
    os.chmod(tmp_path, 0o755)
    up.client.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": namespace},
                      "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": "http"}]}})
    server = {"name": "c", "image": "python", "ports": [{"name": "http", "containerPort": 8080}],
              "command": [sys.executable, "-m", "http.server", "8080", "--directory", str(www)],
              "readinessProbe": {"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 1,
                                 "failureThreshold": 1},
              "volumeMounts": [{"name": "www", "mountPath": str(www)}]}
    up.client.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-0", "namespace": namespace,
                                                                      "labels": {"app": "web"}},
                      "spec": {"containers": [server], "terminationGracePeriodSeconds": 3,
                               "volumes": [{"name": "www", "hostPath": {"path": str(www)}}]}})
    not_ready = wait_for(lambda: conditions(up, namespace, "web").get("web-0"), timeout=60, interval=0.1,
                         what="the pod in the slice (not ready)")
    assert not_ready == {"ready": False, "serving": False, "terminating": False}
    (www / "ready").write_text("ok")
    wait_for(lambda: conditions(up, namespace, "web")["web-0"]["ready"], timeout=20, interval=0.1, what="ready")
    pod = up.client.get("pods", "web-0", namespace=namespace)
    ep = up.client.get("endpoints", "web", namespace=namespace)
    (subset,) = ep["subsets"]
    assert subset["addresses"][0]["ip"] == pod["status"]["podIP"] and subset["ports"][0]["port"] == 8080
    assert subset["addresses"][0]["nodeName"] == pod["spec"]["nodeName"]

    (www / "ready").unlink()  # the probe fails: not ready, still in the slice
    wait_for(lambda: conditions(up, namespace, "web")["web-0"] ==
             {"ready": False, "serving": False, "terminating": False}, timeout=20, interval=0.1, what="not ready")
    wait_for(lambda: (up.client.get("endpoints", "web", namespace=namespace)["subsets"][0]
                      .get("notReadyAddresses") or [{}])[0].get("ip") == pod["status"]["podIP"],
             timeout=10, what="notReadyAddresses")

    (www / "ready").write_text("ok")
    wait_for(lambda: conditions(up, namespace, "web")["web-0"]["ready"], timeout=20, interval=0.1, what="ready")
    up.client.delete("pods", "web-0", namespace=namespace)
    wait_for(lambda: conditions(up, namespace, "web").get("web-0", {}).get("terminating"), timeout=5, interval=0.02,
             what="terminating")
    assert conditions(up, namespace, "web")["web-0"]["ready"] is False

    def gone() -> bool:
        try:
            up.client.get("pods", "web-0", namespace=namespace)
            return False
        except errors.NotFoundError:
            return "web-0" not in conditions(up, namespace, "web")

    wait_for(gone, timeout=30, interval=0.1, what="the pod gone from the slice")


def test_containers_see_service_variables(up: UpProcess, namespace: str) -> None:
    svc = up.client.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "redis-primary",
                                                                               "namespace": namespace},
                            "spec": {"selector": {"app": "redis"},
                                     "ports": [{"name": "redis", "port": 6379, "targetPort": 6379}]}})
    ip = svc["spec"]["clusterIP"]

    def printing_pod(name: str, **spec: Any) -> None:
        up.client.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
                          "spec": {"restartPolicy": "Never", "containers": [{
                              "name": "c", "image": "busybox", "command": ["sh", "-c", "env | sort"],
                              "env": [{"name": "MINE", "value": "$(REDIS_PRIMARY_SERVICE_HOST)"}]}], **spec}})

    def printed(name: str) -> dict[str, str]:
        def done() -> bool:
            return (up.client.get("pods", name, namespace=namespace).get("status") or {}).get("phase") == "Succeeded"

        wait_for(done, timeout=60, interval=0.2, what=f"{name} finished")
        lines = up.client.log(name, namespace=namespace).splitlines()
        return dict(line.split("=", 1) for line in lines if "=" in line)

    printing_pod("env-links")
    printing_pod("env-nolinks", enableServiceLinks=False)
    env = printed("env-links")
    assert env["KUBERNETES_SERVICE_HOST"] == "10.96.0.1" and env["KUBERNETES_SERVICE_PORT"] == "443"
    assert env["KUBERNETES_SERVICE_PORT_HTTPS"] == "443" and env["KUBERNETES_PORT"] == "tcp://10.96.0.1:443"
    assert env["REDIS_PRIMARY_SERVICE_HOST"] == ip and env["REDIS_PRIMARY_SERVICE_PORT"] == "6379"
    assert env["REDIS_PRIMARY_SERVICE_PORT_REDIS"] == "6379"
    assert env["REDIS_PRIMARY_PORT"] == f"tcp://{ip}:6379"
    assert env["REDIS_PRIMARY_PORT_6379_TCP"] == f"tcp://{ip}:6379"
    assert env["REDIS_PRIMARY_PORT_6379_TCP_PROTO"] == "tcp" and env["REDIS_PRIMARY_PORT_6379_TCP_ADDR"] == ip
    assert env["REDIS_PRIMARY_PORT_6379_TCP_PORT"] == "6379"
    assert env["MINE"] == ip  # $(VAR) sees the Service variables
    bare = printed("env-nolinks")
    assert bare["KUBERNETES_SERVICE_HOST"] == "10.96.0.1" and "REDIS_PRIMARY_SERVICE_HOST" not in bare
    assert bare["MINE"] == "$(REDIS_PRIMARY_SERVICE_HOST)"
