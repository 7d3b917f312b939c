"""Node agents against hostile Node objects and pods that cannot start, on a real `minik8s up`.

One `minik8s up --masters 1 --nodes 2` (process runtime, each agent in its own network namespace)
with a 4 s node-monitor grace period and a 6 s eviction timeout, so a node agent that stopped
renewing its Lease would show within seconds. The tests run in order; the last one kills an agent.
"""

from __future__ import annotations

import ipaddress
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from minik8s.api import errors
from minik8s.api.client import ApiClient
from minik8s.chaos.node_failure import agent_pids
from minik8s.chaos.upcluster import UpProcess

from .cluster import wait_for

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="`minik8s up` with the process runtime needs root")

PY = sys.executable
GRACE, EVICTION = 4.0, 6.0
NODES = ("node-0", "node-1")
SERVER = ("import http.server\n"
          "http.server.ThreadingHTTPServer(('0.0.0.0', 8080), http.server.SimpleHTTPRequestHandler).serve_forever()")


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpProcess]:
    cluster = UpProcess(tmp_path_factory.mktemp("hardening") / "data", "--masters", "1", "--nodes", "2",
                        "--node-monitor-grace-period", str(GRACE), "--pod-eviction-timeout", str(EVICTION))
    try:
        yield cluster
    finally:
        cluster.stop()


def _pod(name: str, container: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": [container], **spec}}


def _on(node: str) -> dict[str, Any]:
    return {"nodeSelector": {"kubernetes.io/hostname": node}}


def _running(client: ApiClient, name: str) -> dict[str, Any] | None:
    p = client.get("pods", name, namespace="default")
    statuses = (p.get("status") or {}).get("containerStatuses") or []
    return p if p["status"].get("phase") == "Running" and statuses and all(s.get("ready") for s in statuses) else None


def _ready(client: ApiClient, node: str) -> str | None:
    conditions = (client.get("nodes", node).get("status") or {}).get("conditions") or []
    return next((c.get("status") for c in conditions if c.get("type") == "Ready"), None)


def _renew_time(client: ApiClient, node: str) -> str:
    return client.get("leases", node, namespace="kube-node-lease")["spec"]["renewTime"]


def _delete(client: ApiClient, resource: str, name: str, **kw: Any) -> None:
    try:
        client.delete(resource, name, **kw)
    except errors.NotFoundError:
        pass


def _events(client: ApiClient, name: str, reason: str, namespace: str = "default") -> list[dict[str, Any]]:
    items = client.list("events", namespace=namespace)["items"]
    return [e for e in items if e.get("reason") == reason and (e.get("involvedObject") or {}).get("name") == name]


def _bad_node(name: str, cidr: Any, ip: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}, "spec": {"podCIDR": cidr},
            "status": {"addresses": [{"type": "InternalIP", "address": ip}]}}


def _watch_healthy(client: ApiClient, seconds: float, pods: list[str]) -> int:
    """For `seconds`, every 0.5 s: both nodes Ready, no pod marked for deletion; returns Lease renewals seen."""
    renewals = {node: {_renew_time(client, node)} for node in NODES}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for node in NODES:
            assert _ready(client, node) == "True", f"{node} went NotReady"
            renewals[node].add(_renew_time(client, node))
        for name in pods:
            assert not client.get("pods", name, namespace="default")["metadata"].get("deletionTimestamp"), \
                f"pod {name} was evicted"
        time.sleep(0.5)
    return min(len(seen) for seen in renewals.values())


@pytest.mark.slow  # 22 s; the hostile-node parsing it drives is unit-tested
def test_bad_node_objects_are_skipped_and_reported_not_fatal(up: UpProcess) -> None:
    """Off-link, malformed and copycat Node objects: agents skip and report them, nodes stay Ready, no eviction,
    pods still reach pods across nodes; deleting the bad Nodes changes nothing."""
    client = up.client
    client.create(_pod("server", {"name": "c", "image": "python", "command": [PY, "-c", SERVER]}, **_on("node-1")))
    wait_for(lambda: _running(client, "server"), timeout=60, what="server Running")
    node1 = client.get("nodes", "node-1")
    node1_ip = next(a["address"] for a in node1["status"]["addresses"] if a["type"] == "InternalIP")
    spare_ip = str(ipaddress.ip_network(f"{node1_ip}/24", strict=False).network_address + 250)  # on-link, nobody
    bad = {
        "bad-offlink": _bad_node("bad-offlink", "10.244.200.0/24", "198.51.100.7"),
        "bad-not-an-ip": _bad_node("bad-not-an-ip", "10.244.201.0/24", "not-an-ip"),
        "bad-cidr": _bad_node("bad-cidr", "10.244.202.0/33", spare_ip),
        "bad-cidr-text": _bad_node("bad-cidr-text", "garbage", spare_ip),
        "bad-copycat": _bad_node("bad-copycat", node1["spec"]["podCIDR"], spare_ip),  # would steal node-1's pods
        "bad-host-net": _bad_node("bad-host-net", f"{ipaddress.ip_network(f'{node1_ip}/16', strict=False)}", spare_ip),
    }
    stored = []
    for name, node in bad.items():
        try:
            client.create(node)
            stored.append(name)
        except (errors.InvalidError, errors.BadRequestError):
            pass  # rejected by the API: cannot reach the agents at all
    assert {"bad-offlink", "bad-copycat", "bad-host-net"} <= set(stored)  # valid IPs and CIDRs are stored

    # Each stored bad node is reported (FailedToCreateRoute on the Node), by both agents.
    for name in stored:
        wait_for(lambda n=name: len(_events(client, n, "FailedToCreateRoute")) >= 2, timeout=30,
                 what=f"{name} reported by both agents")
    renewals = _watch_healthy(client, 3 * GRACE, ["server"])
    assert renewals >= 3, "the Lease was not renewed while bad nodes existed"

    # Pods on node-0 still reach node-1's pod by its IP (the copycat did not take its route).
    server_ip = client.get("pods", "server", namespace="default")["status"]["podIP"]
    fetch = f"import urllib.request; print(urllib.request.urlopen('http://{server_ip}:8080/', timeout=5).status)"
    client.create(_pod("prober", {"name": "c", "image": "python", "command": [PY, "-c", fetch]},
                       restartPolicy="Never", **_on("node-0")))
    done = wait_for(lambda: (p := client.get("pods", "prober", namespace="default"))["status"].get("phase")
                    in ("Succeeded", "Failed") and p, timeout=60, what="prober finished")
    assert done["status"]["phase"] == "Succeeded"

    for name in stored:
        client.delete("nodes", name)
    renewals = _watch_healthy(client, 2 * GRACE, ["server"])
    assert renewals >= 2
    assert all(pids for pids in (agent_pids(up.state, i) for i in range(len(NODES))))
    for name in ("server", "prober"):
        _delete(client, "pods", name, namespace="default", grace_period_seconds=0)


def _waiting(client: ApiClient, name: str, reason: str) -> dict[str, Any] | None:
    status = client.get("pods", name, namespace="default").get("status") or {}
    for container in status.get("containerStatuses") or []:
        waiting = (container.get("state") or {}).get("waiting") or {}
        if waiting.get("reason") == reason:
            return {**waiting, "restartCount": container.get("restartCount"), "lastState": container.get("lastState")}
    return None


def _failed_event(client: ApiClient, name: str, *words: str) -> dict[str, Any] | None:
    for event in _events(client, name, "Failed"):
        if event.get("type") == "Warning" and event["message"].startswith("Error: ") and \
                all(w in event["message"] for w in words):
            return event
    return None


def test_container_without_command_says_why_and_what_to_do(up: UpProcess) -> None:
    """`image: nginx` without `command` on the process runtime: CreateContainerConfigError, a message naming the
    way out, and a Warning event; a second container shape (args only) the same."""
    client = up.client
    client.create(_pod("nginx", {"name": "web", "image": "nginx"}))
    client.create(_pod("args-only", {"name": "web", "image": "nginx", "args": ["-g", "daemon off;"]}))
    for name in ("nginx", "args-only"):
        # args alone still run nothing here: the image's entrypoint is what they would be passed to
        waiting = wait_for(lambda n=name: _waiting(client, n, "CreateContainerConfigError"), timeout=30,
                           what=f"{name}: waiting reason")
        if name == "nginx":
            for words in ("no command", "process runtime", "`command`", "Docker"):
                assert words in waiting["message"]
            assert client.get("pods", name, namespace="default")["status"]["phase"] == "Pending"
            wait_for(lambda n=name: _failed_event(client, n, "no command"), timeout=30, what=f"{name}: Failed event")
    for name in ("nginx", "args-only"):
        _delete(client, "pods", name, namespace="default", grace_period_seconds=0)


@pytest.mark.slow  # 31 s of real back-off; the back-off itself is unit-tested
def test_missing_program_and_bad_working_dir_retry_with_backoff(up: UpProcess) -> None:
    """A missing program: RunContainerError with the reason, an event, and retries spaced by a growing back-off;
    a bad working dir reports the same way."""
    client = up.client
    client.create(_pod("missing", {"name": "c", "image": "nginx", "command": ["no-such-program-xyz"]}))
    client.create(_pod("bad-dir", {"name": "c", "image": "python", "command": [PY, "-c", "pass"],
                                   "workingDir": "/no/such/dir"}))
    waiting = wait_for(lambda: _waiting(client, "bad-dir", "RunContainerError"), timeout=30, what="bad-dir waiting")
    assert "working dir" in waiting["message"]
    wait_for(lambda: _failed_event(client, "bad-dir", "working dir"), timeout=30, what="bad-dir event")

    waiting = wait_for(lambda: _waiting(client, "missing", "RunContainerError"), timeout=30, what="missing waiting")
    assert 'exec: "no-such-program-xyz": executable file not found in $PATH' in waiting["message"]
    assert waiting["lastState"]["terminated"]["reason"] == "StartError"
    # Attempts: the first, a retry at once, then after 10 s, then after 20 s (not every 10 s for ever).
    seen: dict[int, float] = {}
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and 3 not in seen:
        status = (client.get("pods", "missing", namespace="default").get("status") or {})
        count = ((status.get("containerStatuses") or [{}])[0]).get("restartCount", 0)
        seen.setdefault(count, time.monotonic())
        time.sleep(0.2)
    assert {1, 2, 3} <= set(seen), f"restarts seen: {sorted(seen)}"
    first_gap, second_gap = seen[2] - seen[1], seen[3] - seen[2]
    print(f"\nretries of a missing program {first_gap:.1f}s then {second_gap:.1f}s apart (back-off 10 s, 20 s)")
    assert first_gap >= 5 and second_gap >= 1.3 * first_gap, (first_gap, second_gap)
    event = _failed_event(client, "missing", "executable file not found")
    assert event is not None and event["count"] >= 3  # one event, counted, as `kubectl describe` shows it
    for name in ("missing", "bad-dir"):
        _delete(client, "pods", name, namespace="default", grace_period_seconds=0)


def test_nul_bytes_are_rejected_or_reported(up: UpProcess) -> None:
    """A NUL byte in an env value or in args: refused by the API, or reported by the kubelet without starting."""
    client = up.client
    shapes = {"nul-env": {"name": "c", "image": "python", "command": [PY, "-c", "pass"],
                          "env": [{"name": "GREETING", "value": "hel\u0000lo"}]},
              "nul-args": {"name": "c", "image": "python", "command": [PY, "-c"], "args": ["print('a\u0000b')"]}}
    created = []
    for name, container in shapes.items():
        try:
            client.create(_pod(name, container))
            created.append(name)
        except (errors.InvalidError, errors.BadRequestError) as exc:
            assert "NUL" in str(exc) or "null" in str(exc).lower() or exc.code in (400, 422)
    for name in created:
        waiting = wait_for(lambda n=name: _waiting(client, n, "CreateContainerConfigError"), timeout=30,
                           what=f"{name}: waiting reason")
        assert "NUL" in waiting["message"]
        wait_for(lambda n=name: _failed_event(client, n, "NUL"), timeout=30, what=f"{name}: Failed event")
        status = client.get("pods", name, namespace="default")["status"]["containerStatuses"][0]
        assert "containerID" not in status  # nothing was created, let alone started
    for name in created:
        _delete(client, "pods", name, namespace="default", grace_period_seconds=0)
    for node in NODES:
        assert _ready(client, node) == "True"


def test_up_reports_a_node_agent_that_exits(up: UpProcess) -> None:
    """`minik8s up` says so when a node agent process ends (a thread that died exits it with 70)."""
    [pid] = agent_pids(up.state, 1)
    os.kill(pid, signal.SIGKILL)
    assert up.proc.stdout is not None
    fd = up.proc.stdout.fileno()
    os.set_blocking(fd, False)
    output = b""

    def reported() -> bool:
        nonlocal output
        try:
            output += os.read(fd, 65536) or b""
        except BlockingIOError:
            pass
        return b"error: node agent node-1 exited with code -9" in output

    wait_for(reported, timeout=15, interval=0.2, what="`up` reporting the dead agent")
