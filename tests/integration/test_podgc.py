"""Pod garbage collection on a real master (no node agents): orphans of a node that does not exist are
force-deleted, so `minik8s delete` of one returns; terminated pods beyond the threshold go, oldest first."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from minik8s.api import errors
from minik8s.api.client import ApiClient

from .cluster import TOKEN, Cluster, running, wait_for
from .workload_support import minik8s

Obj = dict[str, Any]
THRESHOLD = 3


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    # the quarantine outlasts starting the CLI on a loaded machine (1 s did not in one CI run: the pod was gone
    # before `minik8s delete` asked for it)
    args = ["--terminated-pod-gc-threshold", str(THRESHOLD), "--pod-gc-period", "0.5", "--pod-gc-quarantine", "4"]
    with running(tmp_path_factory.mktemp("podgc") / "cluster", 1, extra_args=args) as c:
        yield c


@pytest.fixture(scope="module")
def client(cluster: Cluster) -> Iterator[ApiClient]:
    with ApiClient(cluster.masters[0].url, token=TOKEN) as c:
        yield c


def pod(name: str, node: str | None = None) -> Obj:
    spec: Obj = {"containers": [{"name": "c", "image": "busybox", "command": ["sleep", "1"]}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


def gone(client: ApiClient, name: str) -> bool:
    try:
        client.get("pods", name, namespace="default")
    except errors.NotFoundError:
        return True
    return False


@pytest.mark.slow  # 11 s; the pod GC rules are unit-tested, its quarantine test stays
def test_podgc_deletes_pods_of_a_node_that_does_not_exist(cluster: Cluster, client: ApiClient, tmp_path: Path) -> None:
    """A pod bound to a missing node is force-deleted after the quarantine; deleting one no longer hangs."""
    client.create(pod("ghost-pod", node="ghost"))
    wait_for(lambda: gone(client, "ghost-pod"), timeout=20, interval=0.2, what="orphan force-deleted")
    client.create(pod("ghost-deleted", node="ghost-2"))
    config = tmp_path / "kubeconfig"
    cluster.write_kubeconfig(config)
    proc = subprocess.run(minik8s("delete", "pod", "ghost-deleted", "--timeout", "30", "--kubeconfig", str(config)),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == 'pod "ghost-deleted" deleted'


def test_podgc_keeps_only_threshold_terminated_pods(client: ApiClient) -> None:
    """5 Succeeded pods with a threshold of 3: the 2 oldest are deleted, running ones are not touched."""
    names = [f"done-{i}" for i in range(5)]
    for name in names:
        client.create(pod(name))
    client.create(pod("pending"))
    for name in names:
        for _ in range(10):  # the scheduler writes conditions on these unschedulable pods meanwhile
            current = client.get("pods", name, namespace="default")
            current["status"]["phase"] = "Succeeded"
            try:
                client.update_status(current)
                break
            except errors.ConflictError:
                continue
    wait_for(lambda: gone(client, "done-0") and gone(client, "done-1"), timeout=20, interval=0.2,
             what="the 2 oldest terminated pods deleted")
    assert not any(gone(client, name) for name in ["done-2", "done-3", "done-4", "pending"])
