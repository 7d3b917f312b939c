"""The real kubectl (1.32) reads metrics.k8s.io from 3 HTTPS masters: `top nodes`, `top pods`, `--containers`.

`minik8s up --masters 3 --nodes 1` (process runtime): a pod burning ~5 % of a core and an idle
sidecar; kubectl talks to master 0, which fetches the node agent's stats. Every call is recorded for
README's kubectl list (kubectl_support.py).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from minik8s.api.kubeconfig import load_kubeconfig
from minik8s.chaos.upcluster import UpProcess

from .cluster import wait_for
from .kubectl_support import Kubectl, columns, finish_module, ph, rows
from .load_pods import cpu_burner


@pytest.fixture(scope="module", autouse=True)
def _record_calls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    yield
    finish_module(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpProcess]:
    cluster = UpProcess(tmp_path_factory.mktemp("top") / "data", "--masters", "3", "--nodes", "1")
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture(scope="module")
def kubectl(up: UpProcess, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    config = load_kubeconfig(up.root / "kubeconfig")
    assert config.ca_file is not None and len(config.servers) == 3
    return Kubectl(tmp_path_factory.mktemp("top-kubectl"), config.servers[0], config.token or "",
                   ca_file=Path(config.ca_file))


@pytest.fixture(scope="module")
def burning(up: UpProcess, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A running pod `burner` with a busy container and an idle one, whose metrics are available."""
    stop = str(tmp_path_factory.mktemp("top-stop") / "stop")
    up.client.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "burner", "labels": {"app": "burn"}},
                      "spec": {"containers": [cpu_burner("busy", duty=0.05, stop_file=stop, cpu_request="10m"),
                                              {"name": "idle", "image": "python", "command": ["sleep", "3600"]}]}})
    wait_for(lambda: up.client.list("pods.metrics.k8s.io", namespace="default")["items"], timeout=90, interval=1,
             what="metrics of the burner pod")
    return "burner"


def test_top_nodes(kubectl: Kubectl, burning: str) -> None:
    """`kubectl top nodes`: the node's CPU and memory, and their share of its allocatable."""
    out = kubectl.run("top", "nodes").stdout
    assert columns(out) == ["NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)"]
    (row,) = rows(out)
    name, cpu, cpu_percent, memory, memory_percent = row
    assert name == "node-0" and cpu.endswith("m") and int(cpu[:-1]) > 0
    assert cpu_percent.endswith("%") and memory.endswith("Mi") and memory_percent.endswith("%")


def test_top_pods(kubectl: Kubectl, burning: str) -> None:
    """`kubectl top pods` (and with a label selector): the pod's summed CPU and memory."""
    out = kubectl.run("top", "pods").stdout
    assert columns(out) == ["NAME", "CPU(cores)", "MEMORY(bytes)"]
    (row,) = rows(out)
    assert row[0] == burning and row[1].endswith("m") and int(row[1][:-1]) >= 10 and row[2].endswith("Mi")
    selected = kubectl.run("top", "pods", "-l", ph("app=burn", "KEY=VALUE")).stdout
    assert [r[0] for r in rows(selected)] == [burning]
    assert "No resources found" in kubectl.run("top", "pods", "-l", ph("app=none", "KEY=VALUE")).stderr


def test_top_pods_containers(kubectl: Kubectl, burning: str) -> None:
    """`kubectl top pods --containers`: one line per container; the idle one uses almost nothing."""
    out = kubectl.run("top", "pods", "--containers").stdout
    assert columns(out) == ["POD", "NAME", "CPU(cores)", "MEMORY(bytes)"]
    cpu = {r[1]: int(r[2][:-1]) for r in rows(out) if r[0] == burning}
    assert set(cpu) == {"busy", "idle"} and cpu["busy"] > cpu["idle"]
