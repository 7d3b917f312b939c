"""Pods removed by a cascade or by a namespace deletion stop gracefully: SIGTERM, then their grace period.

`minik8s up` (one master, one node, the process runtime). Each pod runs a Python process that traps
SIGTERM, writes when it got it, takes 2 seconds to wind down, writes again and exits; the file it
writes (the process runtime runs commands on the host filesystem) shows it was not killed at once.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from minik8s.api import errors
from minik8s.api.client import ApiClient
from minik8s.chaos.upcluster import UpProcess

from .cluster import wait_for

GRACE = 10
WIND_DOWN = 2.0
TRAP = f"""
import signal, sys, time
path = sys.argv[1]
def note(line):
    with open(path, 'a') as f:
        f.write(line + ' ' + repr(time.time()) + '\\n')
def term(signum, frame):
    note('TERM')
    time.sleep({WIND_DOWN})
    note('EXIT')
    sys.exit(0)
signal.signal(signal.SIGTERM, term)
note('START')
while True:
    time.sleep(0.1)
"""


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpProcess]:
    cluster = UpProcess(tmp_path_factory.mktemp("graceful") / "data", "--masters", "1", "--nodes", "1")
    try:
        yield cluster
    finally:
        cluster.stop()


def trapping_pod(name: str, namespace: str, record: Path, owner: dict[str, Any] | None = None) -> dict[str, Any]:
    meta: dict[str, Any] = {"name": name, "namespace": namespace}
    if owner is not None:
        meta["ownerReferences"] = [{"apiVersion": "v1", "kind": "ConfigMap", "name": owner["metadata"]["name"],
                                    "uid": owner["metadata"]["uid"]}]
    return {"apiVersion": "v1", "kind": "Pod", "metadata": meta,
            "spec": {"terminationGracePeriodSeconds": GRACE,
                     "containers": [{"name": "trap", "image": "python", "command": [sys.executable, "-c", TRAP,
                                                                                     str(record)]}]}}


def notes(record: Path) -> dict[str, float]:
    """What the pod's process wrote: START, TERM and EXIT with their times."""
    if not record.exists():
        return {}
    return {word: float(at) for word, at in (line.split() for line in record.read_text().splitlines())}


def gone(client: ApiClient, resource: str, name: str, namespace: str | None) -> bool:
    try:
        client.get(resource, name, namespace=namespace)
    except errors.NotFoundError:
        return True
    return False


def assert_stopped_gracefully(record: Path) -> None:
    seen = notes(record)
    assert set(seen) == {"START", "TERM", "EXIT"}, seen
    assert seen["EXIT"] - seen["TERM"] >= WIND_DOWN - 0.1  # not killed before its wind-down was over


def test_pod_collected_by_the_garbage_collector_gets_sigterm_and_its_grace_period(
        up: UpProcess, tmp_path: Path) -> None:
    """Deleting the owner (Background): the collector deletes the pod gracefully; its node SIGTERMs it."""
    client = up.client
    owner = client.create({"apiVersion": "v1", "kind": "ConfigMap",
                           "metadata": {"name": "owner", "namespace": "default"}})
    record = tmp_path / "collected"
    client.create(trapping_pod("collected", "default", record, owner=owner))
    wait_for(lambda: "START" in notes(record), timeout=60, interval=0.2, what="pod started")
    client.delete("configmaps", "owner", namespace="default")
    marked = wait_for(lambda: (p := client.get("pods", "collected", namespace="default"))["metadata"].get(
        "deletionTimestamp") and p, timeout=30, interval=0.1, what="pod marked for deletion by the collector")
    assert marked["metadata"]["deletionGracePeriodSeconds"] == GRACE
    wait_for(lambda: gone(client, "pods", "collected", "default"), timeout=GRACE + 20, interval=0.2, what="pod gone")
    assert_stopped_gracefully(record)


def test_pod_of_a_deleted_namespace_gets_sigterm_and_its_grace_period(up: UpProcess, tmp_path: Path) -> None:
    """Deleting a namespace: its pod is deleted gracefully, the namespace waits for it (the conditions
    say so), then goes."""
    client = up.client
    client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "winding-down"}})
    record = tmp_path / "namespaced"
    client.create(trapping_pod("p", "winding-down", record))
    wait_for(lambda: "START" in notes(record), timeout=60, interval=0.2, what="pod started")
    client.delete("namespaces", "winding-down")

    def pod_remaining() -> dict[str, Any] | None:
        ns = client.get("namespaces", "winding-down")
        conditions = {c["type"]: c for c in (ns.get("status") or {}).get("conditions") or []}
        found = conditions.get("NamespaceContentRemaining")
        return found if found and found["status"] == "True" else None

    remaining = wait_for(pod_remaining, timeout=30, interval=0.1, what="the namespace waiting for its pod")
    assert remaining["message"] == "Some resources are remaining: pods. has 1 resource instances"
    wait_for(lambda: gone(client, "namespaces", "winding-down", None), timeout=GRACE + 30, interval=0.2,
             what="namespace gone")
    assert_stopped_gracefully(record)
