"""The Kubernetes docs' Service and Ingress examples, as written, on a Docker cluster of 3 masters and 3
node hosts (`minik8s up --runtime docker`, what `./scripts/up.sh` starts where Docker runs): the parts
of the networking (ClusterIP proxy, cluster DNS, Ingress, per-node engines) working together.

- `run-my-nginx.yaml` + `nginx-svc.yaml` ("Connecting Applications with Services"), applied with kubectl:
  two nginx pods Running, pulled through the cluster's registry, the Service answering on its ClusterIP.
- A client pod (Python image) on a third node calls `http://my-nginx/` (the search path of its
  resolv.conf, the node-local DNS, the nftables ClusterIP rules, pods on other nodes), the full name,
  and `http://foo.bar.com/app`: an Ingress host resolved by cluster DNS to its node's ingress proxy.
- `minimal-ingress.yaml` (class `nginx-example`) routes `/testpath` of every node's address to the
  Service `test`.
"""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from minik8s.chaos.upcluster import UpProcess

from .cluster import wait_for
from .docker_fixture import docker_runtime  # noqa: F401  (the fixture)
from .ingress_support import ECHO_SERVER, get

MANIFESTS = Path(__file__).parent / "manifests"
PYTHON = "minik8s/python:3.11"
Obj = dict[str, Any]

# Runs in the client pod: GET every URL until it answers 200 (or 60 s pass), print one JSON line each.
CLIENT = r"""
import json, sys, time, urllib.request
for url in sys.argv[1:]:
    deadline, last = time.time() + 60, ""
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=3) as r:
                print(json.dumps({"url": url, "status": r.status, "body": r.read(300).decode(errors="replace")}),
                      flush=True)
                break
        except Exception as exc:
            last = repr(exc)
            time.sleep(0.2)
    else:
        print(json.dumps({"url": url, "error": last}), flush=True)
print("DONE", flush=True)
time.sleep(3600)
"""


@pytest.fixture(scope="module")
def up(docker_runtime: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpProcess]:  # noqa: F811
    if os.geteuid() != 0:
        pytest.skip("`minik8s up` needs root")
    cluster = UpProcess(tmp_path_factory.mktemp("net-docs") / "data", "--masters", "3", "--nodes", "3",
                        "--runtime", "docker", timeout=240)
    try:
        yield cluster
    finally:
        cluster.stop()


def kubectl(up: UpProcess, *args: str) -> str:
    done = subprocess.run(["kubectl", "--kubeconfig", str(up.root / "kubeconfig"), *args],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def _ready_addresses(up: UpProcess, service: str) -> list[str]:
    slices = up.client.list("endpointslices", namespace="default",
                            label_selector=f"kubernetes.io/service-name={service}")["items"]
    return [a for s in slices for e in s.get("endpoints") or [] if (e.get("conditions") or {}).get("ready")
            for a in e.get("addresses") or []]


def _echo(name: str, node: str) -> Obj:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": name}},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 1, "containers": [{
                "name": "echo", "image": PYTHON, "command": ["python3", "-c", ECHO_SERVER, name, "8080"],
                "ports": [{"containerPort": 8080}],
                "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1}}]}}


def test_docs_service_and_ingress_examples_work_together(up: UpProcess) -> None:
    kubectl(up, "apply", "-f", str(MANIFESTS / "run-my-nginx.yaml"), "-f", str(MANIFESTS / "nginx-svc.yaml"))
    wait_for(lambda: len(_ready_addresses(up, "my-nginx")) == 2, timeout=120, what="two ready nginx endpoints")
    pods = up.client.list("pods", namespace="default", label_selector="run=my-nginx")["items"]
    assert [p["status"]["phase"] for p in pods] == ["Running", "Running"]
    service = up.client.get("services", "my-nginx", namespace="default")
    assert service["spec"]["clusterIP"].startswith("10.")

    # the backend of minimal-ingress.yaml, and one for a host name a pod resolves through cluster DNS
    up.client.create(_echo("test", "node-0"))
    up.client.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "test"},
                      "spec": {"selector": {"app": "test"}, "ports": [{"port": 80, "targetPort": 8080}]}})
    kubectl(up, "apply", "-f", str(MANIFESTS / "minimal-ingress.yaml"))
    up.client.create({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": "foo"},
                      "spec": {"ingressClassName": "nginx", "rules": [{"host": "foo.bar.com", "http": {"paths": [
                          {"path": "/app", "pathType": "Prefix",
                           "backend": {"service": {"name": "test", "port": {"number": 80}}}}]}}]}})
    wait_for(lambda: len(_ready_addresses(up, "test")) == 1, timeout=90, what="the test pod ready")

    # every node's address routes /testpath to `test` (the Ingress proxy on port 80 of every node host)
    for host in up.state["hosts"]:
        wait_for(lambda ip=host["ip"]: _get(ip, "/testpath") == (200, "test /testpath"), timeout=30,
                 what=f"/testpath through {host['ip']}")

    # a pod on the third node calls the Services by name: DNS search path, ClusterIP proxy, Ingress host
    urls = ["http://my-nginx/", "http://my-nginx.default.svc.cluster.local/", "http://foo.bar.com/app/x"]
    client = f"client-{uuid.uuid4().hex[:6]}"
    up.client.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": client},
                      "spec": {"nodeName": "node-2", "terminationGracePeriodSeconds": 1, "containers": [{
                          "name": "c", "image": PYTHON, "command": ["python3", "-c", CLIENT, *urls]}]}})
    log = wait_for(lambda: "DONE" in (text := _log(up, client)) and text, timeout=150,
                   what="the client pod's answers")
    answers = {a["url"]: a for a in map(json.loads, [line for line in log.splitlines() if line.startswith("{")])}
    for url in urls[:2]:
        assert answers[url].get("status") == 200, answers[url]
        assert "Welcome to nginx" in answers[url]["body"]
    assert answers[urls[2]].get("status") == 200, answers[urls[2]]
    assert answers[urls[2]]["body"].strip() == "test /app/x"


def _get(ip: str, path: str) -> tuple[int, str] | None:
    try:
        return get(ip, 80, "anything.example", path)
    except OSError:
        return None


def _log(up: UpProcess, pod: str) -> str:
    return up.client.log(pod, namespace="default")  # an error before it starts: wait_for's "not yet"
