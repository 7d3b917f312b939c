"""Nodes and pods end to end: `minik8s up --masters 3 --nodes 3` with the process runtime.

One cluster for the module (each node agent in its own network namespace); the tests run in
order, the node cut-off last.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from minik8s.api import errors
from minik8s.api.client import ApiClient
from minik8s.chaos.upcluster import UpProcess

from .cluster import wait_for

PY = sys.executable
SERVER = ("import http.server, os\n"
          "os.chdir(os.environ.get('WWW', '/'))\n"
          "http.server.ThreadingHTTPServer(('0.0.0.0', 8080), http.server.SimpleHTTPRequestHandler).serve_forever()")
CLIENT = ("import time, urllib.request\n"
          "while True:\n"
          "    try:\n"
          "        urllib.request.urlopen('http://127.0.0.1:8080/', timeout=2); print('ok', flush=True); break\n"
          "    except OSError: time.sleep(0.2)\n"
          "time.sleep(100000)")


class Up(UpProcess):
    """`minik8s up --masters 3 --nodes 3` with short node timers (grace 4 s, eviction 6 s)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root, "--masters", "3", "--nodes", "3", "--node-monitor-grace-period", "4",
                         "--pod-eviction-timeout", "6")


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Up]:
    cluster = Up(tmp_path_factory.mktemp("nodes") / "data")
    try:
        yield cluster
    finally:
        cluster.stop()


def pod(name: str, containers: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": {"app": "t"}},
            "spec": {"containers": containers, **spec}}


def py_container(name: str, code: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": "python", "command": [PY, "-c", code], **extra}


def running(client: ApiClient, names: list[str]) -> list[dict[str, Any]]:
    pods = {p["metadata"]["name"]: p for p in client.list("pods", namespace="default")["items"]}
    ready = [pods[n] for n in names if n in pods and (pods[n].get("status") or {}).get("phase") == "Running"
             and all(c.get("ready") for c in pods[n]["status"].get("containerStatuses") or [])]
    return ready if len(ready) == len(names) else []


def logs(client: ApiClient, name: str, container: str, **options: Any) -> str:
    return client.log(name, namespace="default", container=container, **options)


def test_nodes_are_ready_with_distinct_pod_cidrs(up: Up) -> None:
    """Three nodes register, become Ready and get distinct podCIDRs."""
    nodes = up.client.list("nodes")["items"]
    assert sorted(n["metadata"]["name"] for n in nodes) == ["node-0", "node-1", "node-2"]
    assert len({n["spec"]["podCIDR"] for n in nodes}) == 3


@pytest.mark.slow  # 20 s; the ten-pod and cross-node tests cover the same in CI
def test_sixty_pods_run_spread_and_reach_each_other(up: Up) -> None:
    """60 two-container pods run within 60 s on all nodes with unique IPs; pods reach pods across nodes."""
    names = [f"web-{i}" for i in range(60)]
    started = time.monotonic()
    for name in names:
        up.client.create(pod(name, [py_container("server", SERVER), py_container("client", CLIENT)]))
    pods = wait_for(lambda: running(up.client, names), timeout=60, interval=0.5, what="60 pods Running")
    print(f"\n60 pods Running {time.monotonic() - started:.1f}s after the first create")
    assert {p["spec"]["nodeName"] for p in pods} == {"node-0", "node-1", "node-2"}
    ips = [p["status"]["podIP"] for p in pods]
    assert len(set(ips)) == 60
    wait_for(lambda: "ok" in (logs(up.client, "web-0", "client") or ""), timeout=30, what="client reached server")

    target = next(p for p in pods if p["spec"]["nodeName"] == "node-1")
    fetch = (f"import urllib.request; print(urllib.request.urlopen('http://{target['status']['podIP']}:8080/', "
             f"timeout=5).status)")
    up.client.create(pod("prober", [py_container("fetch", fetch)], restartPolicy="Never",
                         nodeSelector={"kubernetes.io/hostname": "node-0"}))
    done = wait_for(lambda: (p := up.client.get("pods", "prober", namespace="default"))["status"].get("phase")
                    in ("Succeeded", "Failed") and p, timeout=30, what="prober finished")
    assert done["status"]["phase"] == "Succeeded", logs(up.client, "prober", "fetch")
    assert logs(up.client, "prober", "fetch").strip() == "200"
    for name in names:
        up.client.delete("pods", name, namespace="default", grace_period_seconds=1)


@pytest.mark.slow  # 11 s of real back-off; the back-off and restart rules are unit-tested
def test_restart_policy_backoff_and_previous_logs(up: Up) -> None:
    """A crashing container restarts with back-off (CrashLoopBackOff) and `previous` shows the last run."""
    up.client.create(pod("crash", [py_container("c", "import sys; print('attempt'); sys.exit(3)")]))
    up.client.create(pod("once", [py_container("c", "import sys; sys.exit(4)")], restartPolicy="Never"))

    def crashed_twice() -> dict[str, Any] | None:
        status = up.client.get("pods", "crash", namespace="default").get("status") or {}
        container = (status.get("containerStatuses") or [{}])[0]
        return container if container.get("restartCount", 0) >= 2 else None

    container = wait_for(crashed_twice, timeout=60, what="two restarts")
    assert container["lastState"]["terminated"]["exitCode"] == 3
    assert logs(up.client, "crash", "c", previous=True).strip() == "attempt"
    once = wait_for(lambda: (p := up.client.get("pods", "once", namespace="default"))["status"].get("phase")
                    == "Failed" and p, timeout=30, what="Never pod Failed")
    assert once["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 4


def test_graceful_deletion_runs_sigterm_handler(up: Up, tmp_path: Path) -> None:
    """Deleting a pod sends SIGTERM; the handler runs within the grace period, then the pod is gone."""
    marker = tmp_path / "stopped"
    code = ("import signal, sys, time, pathlib\n"
            f"def bye(*_):\n    pathlib.Path({str(marker)!r}).write_text('bye'); sys.exit(0)\n"
            "signal.signal(signal.SIGTERM, bye)\nprint('up', flush=True)\ntime.sleep(100000)")
    up.client.create(pod("graceful", [py_container("c", code)], terminationGracePeriodSeconds=5))
    wait_for(lambda: running(up.client, ["graceful"]), timeout=30, what="graceful Running")
    wait_for(lambda: "up" in logs(up.client, "graceful", "c"), timeout=30, what="SIGTERM handler installed")
    up.client.delete("pods", "graceful", namespace="default")

    def gone() -> bool:
        try:
            up.client.get("pods", "graceful", namespace="default")
            return False
        except errors.NotFoundError:
            return True

    wait_for(gone, timeout=20, what="pod removed after graceful stop")
    assert marker.read_text() == "bye"


def test_unschedulable_pod_stays_pending_with_reason(up: Up) -> None:
    """A pod no node can fit stays Pending with the scheduler's reason."""
    up.client.create(pod("huge", [py_container("c", "pass", resources={"requests": {"cpu": "100"}})]))

    def reason() -> str | None:
        status = up.client.get("pods", "huge", namespace="default").get("status") or {}
        cond = next((c for c in status.get("conditions") or [] if c.get("type") == "PodScheduled"), {})
        return cond.get("message") if cond.get("reason") == "Unschedulable" else None

    assert wait_for(reason, timeout=30, what="Unschedulable") == "0/3 nodes are available: 3 Insufficient cpu."
    up.client.delete("pods", "huge", namespace="default")


def _agent_pid(up: Up, index: int) -> int | None:
    argv = up.state["node_argv"][index]
    python_part = argv[argv.index(PY):]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().rstrip(b"\0").split(b"\0")
            except OSError:
                continue
            if [c.decode() for c in cmdline] == python_part:
                return int(entry)
    return None


def _kill_agent(up: Up, index: int) -> None:
    pid = _agent_pid(up, index)
    assert pid is not None, f"node agent {index} not running"
    os.kill(pid, signal.SIGKILL)


def _restart_agent(up: Up, index: int) -> None:
    argv = up.state["node_argv"][index]
    with open(up.root / f"node-{index}.log", "ab") as log:
        subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def test_agent_kill_keeps_pods_and_restart_adopts_them(up: Up) -> None:
    """kill -9 of a node agent: its pods keep running; restarted, it adopts them without restarts."""
    up.client.create(pod("steady", [py_container("c", "import time; time.sleep(100000)")],
                         nodeSelector={"kubernetes.io/hostname": "node-0"}))
    before = wait_for(lambda: running(up.client, ["steady"]), timeout=30, what="steady Running")[0]
    _kill_agent(up, 0)
    _restart_agent(up, 0)
    wait_for(lambda: _agent_pid(up, 0), timeout=10, what="agent restarted")
    after = wait_for(lambda: running(up.client, ["steady"]), timeout=30, what="steady still Running")[0]
    old, new = before["status"]["containerStatuses"][0], after["status"]["containerStatuses"][0]
    assert new["containerID"] == old["containerID"] and new["restartCount"] == old["restartCount"] == 0


def _container_pid(up: Up, container_id: str) -> int:
    """The host pid of a running process-runtime container (`minik8s://<id>`)."""
    raw_id = container_id.split("://", 1)[1]
    for node_dir in up.state["node_dirs"]:
        status = Path(node_dir, "runtime", "containers", raw_id, "status.json")
        if status.exists():
            return int(json.loads(status.read_text())["pid"])
    raise AssertionError(f"container {container_id} not found on any node")


@pytest.mark.slow  # 31 s: every master stopped for 30 s
def test_pods_keep_running_while_every_master_is_down(up: Up) -> None:
    """All masters stopped for 30 s: pods keep running; afterwards their status is right."""
    up.client.create(pod("survivor", [py_container("c", "import time; time.sleep(100000)")]))
    up.client.create(pod("finisher", [py_container("c", "import time; time.sleep(8)")], restartPolicy="Never"))
    before = wait_for(lambda: running(up.client, ["survivor", "finisher"]), timeout=30, what="both Running")
    survivor_id = before[0]["status"]["containerStatuses"][0]["containerID"]
    survivor_pid = _container_pid(up, survivor_id)
    masters = up.state["pids"]
    for pid in masters:
        os.kill(pid, signal.SIGSTOP)
    try:
        time.sleep(30)  # the outage itself, not a wait for something to happen
        survived = Path(f"/proc/{survivor_pid}").exists()
    finally:
        for pid in masters:
            os.kill(pid, signal.SIGCONT)
    assert survived, "a pod's process died while the masters were down"
    finisher = wait_for(lambda: (p := up.client.get("pods", "finisher", namespace="default"))["status"]
                        .get("phase") == "Succeeded" and p, timeout=30, what="finisher Succeeded after the outage")
    assert finisher["status"]["containerStatuses"][0]["state"]["terminated"]["exitCode"] == 0
    survivor = wait_for(lambda: running(up.client, ["survivor"]), timeout=30, what="survivor Running")[0]
    status = survivor["status"]["containerStatuses"][0]
    assert status["containerID"] == survivor_id and status["restartCount"] == 0
    assert up.client.get("pods", "survivor", namespace="default")["metadata"].get("deletionTimestamp") is None


@pytest.mark.slow  # 11 s; node-lifecycle's silent-node test and the pod chaos run's agent kills cover it in CI
def test_node_cut_off_goes_not_ready_and_pods_are_evicted(up: Up) -> None:
    """A killed agent's node is NotReady within grace + 2 s, its pods marked for deletion, then Ready again."""
    up.client.create(pod("victim", [py_container("c", "import time; time.sleep(100000)")],
                         nodeSelector={"kubernetes.io/hostname": "node-2"}))
    wait_for(lambda: running(up.client, ["victim"]), timeout=30, what="victim Running")
    _kill_agent(up, 2)
    killed = time.monotonic()

    def ready_status() -> str:
        node = up.client.get("nodes", "node-2")
        return next(c["status"] for c in node["status"]["conditions"] if c["type"] == "Ready")

    wait_for(lambda: ready_status() == "Unknown", timeout=4 + 2, interval=0.1, what="NotReady within grace + 2 s")
    print(f"\nnode NotReady {time.monotonic() - killed:.1f}s after the agent was killed (grace 4 s)")
    wait_for(lambda: up.client.get("pods", "victim", namespace="default")["metadata"].get("deletionTimestamp"),
             timeout=6 + 10, what="victim marked for deletion")
    _restart_agent(up, 2)
    wait_for(lambda: ready_status() == "True", timeout=30, what="Ready again")


def test_empty_dir_is_shared_between_containers(up: Up, tmp_path: Path) -> None:
    """Two containers of a pod see the same emptyDir at their own mount paths (mounted for them only)."""
    mine, theirs = tmp_path / "writer-mount", tmp_path / "reader-mount"
    writer = f"import pathlib, time; pathlib.Path({str(mine)!r}, 'hello').write_text('from writer'); time.sleep(100000)"
    reader = ("import pathlib, time\n"
              f"p = pathlib.Path({str(theirs)!r}, 'hello')\n"
              "while not p.exists(): time.sleep(0.1)\n"
              "print(p.read_text(), flush=True); time.sleep(100000)")
    up.client.create(pod("volumes", [
        py_container("writer", writer, volumeMounts=[{"name": "data", "mountPath": str(mine)}]),
        py_container("reader", reader, volumeMounts=[{"name": "data", "mountPath": str(theirs)}]),
    ], volumes=[{"name": "data", "emptyDir": {}}]))
    wait_for(lambda: "from writer" in logs(up.client, "volumes", "reader"), timeout=30, what="reader sees the file")
    assert not (mine / "hello").exists(), "the volume must be mounted for the containers only"
    up.client.delete("pods", "volumes", namespace="default", grace_period_seconds=1)


def test_logs_follow_streams_new_lines(up: Up) -> None:
    """`pods/log?follow=true` through a master streams lines as the container writes them."""
    ticker = "import time\nfor i in range(1000):\n    print(f'tick {i}', flush=True); time.sleep(0.2)"
    up.client.create(pod("ticker", [py_container("c", ticker)]))
    wait_for(lambda: running(up.client, ["ticker"]), timeout=30, what="ticker Running")
    lines: list[str] = []
    with up.client.log("ticker", namespace="default", follow=True, timeout=15) as stream:
        text = ""
        for chunk in stream:
            text += chunk.decode()
            lines = text.split("\n")[:-1]
            if len(lines) >= 5:
                break
    assert lines[:5] == [f"tick {i}" for i in range(5)]
    up.client.delete("pods", "ticker", namespace="default", grace_period_seconds=1)
