"""The manifests in examples/ work on a `minik8s up` cluster with either runtime: the process runtime
(the command runs on the node's filesystem) and Docker (the images `scripts/build-images.sh` tags
`busybox` and `python:3.11`, pulled through the cluster's registry like any image).

Every file is applied with the `minik8s` CLI as the README shows, and every pod in it must reach
Running with all containers ready; a few print what they are meant to.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from minik8s.chaos.upcluster import UpProcess

from .cluster import wait_for
from .docker_fixture import docker_runtime  # noqa: F401  (the fixture)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
FILES = sorted(EXAMPLES.glob("*.yaml"))
# what a container of an example prints once it works: (namespace, pod, container) -> text
EXPECTED_LOGS = {
    ("default", "shared-volume", "reader"): "line 2",
    ("demo", "hello", "hello"): "hello from hello in demo on node-0",
    ("default", "web-probed", "web"): "hello from web-probed",
}
# pods that serve HTTP: (namespace, pod) -> port, fetched from the node's network namespace
EXPECTED_HTTP = {("default", "http-server"): 8080, ("default", "web-probed"): 8080}


@pytest.fixture(scope="module", params=["process", pytest.param("docker", marks=pytest.mark.slow)])  # docker: 34 s, --slow
def up(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpProcess]:
    if request.param == "docker":
        request.getfixturevalue("docker_runtime")  # installs and starts the engine, builds the images
    cluster = UpProcess(tmp_path_factory.mktemp("examples") / "data", "--nodes", "1", "--runtime", request.param,
                        timeout=180)
    try:
        yield cluster
    finally:
        cluster.stop()


def _minik8s(up: UpProcess, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIK8S_")}
    env["KUBECONFIG"] = str(up.root / "kubeconfig")
    return subprocess.run([sys.executable, "-m", "minik8s.cli.main", *args], env=env, capture_output=True,
                          text=True, timeout=60)


def _pods_in(path: Path) -> list[tuple[str, str]]:
    return [((doc.get("metadata") or {}).get("namespace") or "default", doc["metadata"]["name"])
            for doc in yaml.safe_load_all(path.read_text()) if doc and doc.get("kind") == "Pod"]


def _running(up: UpProcess, namespace: str, name: str) -> dict[str, Any] | None:
    pod = up.client.get("pods", name, namespace=namespace)
    status = pod.get("status") or {}
    statuses = status.get("containerStatuses") or []
    ready = status.get("phase") == "Running" and len(statuses) == len(pod["spec"]["containers"]) \
        and all(c.get("ready") for c in statuses)
    return pod if ready else None


def _http_status(up: UpProcess, ip: str, port: int) -> str:
    """GET / of a pod, from inside the (only) node's network namespace."""
    fetch = f"import urllib.request; print(urllib.request.urlopen('http://{ip}:{port}/', timeout=3).status)"
    netns = up.state["hosts"][0]["netns"]
    done = subprocess.run(["nsenter", f"--net=/var/run/netns/{netns}", sys.executable, "-c", fetch],
                          capture_output=True, text=True, timeout=30)
    return done.stdout.strip()


def test_there_are_examples() -> None:
    assert len(FILES) >= 3 and all(_pods_in(f) for f in FILES)


@pytest.mark.parametrize("path", FILES, ids=[f.name for f in FILES])
def test_example_applies_and_its_pods_run(up: UpProcess, path: Path) -> None:
    applied = _minik8s(up, "apply", "-f", str(path))
    assert applied.returncode == 0, applied.stderr
    assert applied.stdout.strip() and "created" in applied.stdout
    for namespace, name in _pods_in(path):
        pod = wait_for(lambda: _running(up, namespace, name), timeout=90, interval=0.5,
                       what=f"pod {namespace}/{name} of {path.name} Running")
        for container in pod["spec"]["containers"]:
            expected = EXPECTED_LOGS.get((namespace, name, container["name"]))
            if expected:
                wait_for(lambda: expected in _minik8s(up, "logs", name, "-n", namespace, "-c", container["name"]).stdout,
                         timeout=60, interval=1, what=f"{expected!r} in the log of {name}/{container['name']}")
        port = EXPECTED_HTTP.get((namespace, name))
        if port:
            wait_for(lambda: _http_status(up, pod["status"]["podIP"], port) == "200", timeout=30, interval=0.5,
                     what=f"{name} answering on {pod['status']['podIP']}:{port}")
    again = _minik8s(up, "apply", "-f", str(path))
    assert again.returncode == 0 and all(line.endswith(" unchanged") for line in again.stdout.splitlines())
