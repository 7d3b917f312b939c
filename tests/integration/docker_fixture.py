"""A real Docker engine for the docker runtime tests: installed, started and given images on demand.

`docker_runtime` (session scope) runs scripts/install-docker.sh, scripts/start-dockerd.sh and
scripts/build-images.sh, yields a `DockerRuntime`, and afterwards removes every container
labelled with this session's `TEST_LABELS`; dockerd is stopped again unless it was already
running before the session. The tests are skipped only when the engine cannot be installed
(not root, or no Debian mirror); any later failure is a test failure.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import docker
import pytest

from minik8s.node.runtime.docker import DockerRuntime

ROOT = Path(__file__).resolve().parents[2]
RUN_LABEL = "minik8s.io/test-run"
TEST_LABELS = {RUN_LABEL: uuid.uuid4().hex[:12]}


def _script(name: str, *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(ROOT / "scripts" / name), *args], capture_output=True, text=True,
                          timeout=timeout, check=False)


def _check(result: subprocess.CompletedProcess[str]) -> None:
    if result.returncode != 0:
        pytest.fail(f"{result.args[0]} failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")


def _dockerd_answers() -> bool:
    return subprocess.run(["docker", "info"], capture_output=True, check=False).returncode == 0


def _remove_test_containers(client: docker.DockerClient) -> None:
    selector = f"{RUN_LABEL}={TEST_LABELS[RUN_LABEL]}"
    for container in client.containers.list(all=True, filters={"label": selector}, sparse=True):
        container.remove(force=True)


@pytest.fixture(scope="session")
def docker_runtime() -> Iterator[DockerRuntime]:
    """A DockerRuntime over the local engine; cleans up after the session (see module doc)."""
    if os.geteuid() != 0:
        pytest.skip("the docker runtime tests install and start dockerd, which needs root")
    install = _script("install-docker.sh", timeout=900)
    if install.returncode != 0:
        pytest.skip(f"cannot install the Docker engine (docker.io): {install.stderr.strip()[-500:]}")
    was_running = _dockerd_answers()
    _check(_script("start-dockerd.sh", timeout=60))
    try:
        _check(_script("build-images.sh", timeout=900))
        client = docker.from_env()
        try:
            yield DockerRuntime(client)
        finally:
            _remove_test_containers(client)
            client.close()
    finally:
        if not was_running:
            _check(_script("start-dockerd.sh", "--stop", timeout=60))
