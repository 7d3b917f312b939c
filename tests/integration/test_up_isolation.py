"""Issue 7 item 18: two `minik8s up` clusters on one machine never share names, and `down` of one
leaves the other alone.

Each cluster gets a random id (bridge `mk<id>br`, namespaces `mk<id>-node-i`, cgroups
`minik8s/<id>/<node>`) and a /24 no address or route of the machine uses. The second cluster
here is given the first one's subnet (as an unlucky hash would have) and must move off it;
`minik8s down` of the first then removes its own bridge, namespaces and cgroups only: the
second's namespaces, cgroups (even an empty one) and pods keep running.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pyroute2 import IPRoute, netns

from minik8s.api.client import ApiClient
from minik8s.chaos.upcluster import UpProcess
from minik8s.cli.hosts import HostNet
from minik8s.node.runtime.cgroups import Cgroup

from .cluster import configmap, wait_for

PY = sys.executable


def _sleeper(name: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "python",
                                     "command": [PY, "-c", "import time; time.sleep(100000)"]}]}}


def _running(client: ApiClient, name: str) -> dict[str, Any] | None:
    pod = client.get("pods", name, namespace="default")
    status = pod.get("status") or {}
    return pod if status.get("phase") == "Running" and all(
        c.get("ready") for c in status.get("containerStatuses") or [{}]) else None


def _bridge_exists(name: str) -> bool:
    with IPRoute() as ipr:
        return bool(ipr.link_lookup(ifname=name))


def _cgroup_dirs(relative: str) -> list[str]:
    return sorted(set(Cgroup.at(relative).dirs.values()))


def _cgroup_parent(state: dict[str, Any]) -> str:
    argv = state["node_argv"][0]
    return argv[argv.index("--cgroup-parent") + 1]


def _pids_in(relative: str) -> set[int]:
    """Processes in the cgroup `relative` or below it (pids hierarchy, v1 or v2)."""
    found: set[int] = set()
    for top in _cgroup_dirs(relative):
        for parent, _, files in os.walk(top):
            if "cgroup.procs" in files:
                found |= {int(p) for p in Path(parent, "cgroup.procs").read_text().split()}
    return found


@pytest.mark.slow  # 28 s: two minik8s up clusters
def test_two_clusters_have_their_own_names_and_down_leaves_the_other(tmp_path: Path) -> None:
    a = UpProcess(tmp_path / "a", "--nodes", "1")
    b: UpProcess | None = None
    probe: list[str] = []
    try:
        net_a = HostNet.for_cluster(str(a.root))
        assert net_a.cluster_id and _bridge_exists(net_a.bridge)

        # b's data dir records a's subnet (as a 1/250 hash collision did): b must choose another
        b_root = tmp_path / "b"
        b_root.mkdir(mode=0o700)
        b_id = next(i for i in iter(lambda: secrets.token_hex(3), None) if i != net_a.cluster_id)
        (b_root / "hostnet.json").write_text(json.dumps({"clusterId": b_id, "subnet": str(net_a.subnet)}))
        b = UpProcess(b_root, "--nodes", "1")
        net_b = HostNet.for_cluster(str(b.root))
        assert net_b.cluster_id == b_id
        assert net_b.subnet != net_a.subnet and not net_b.subnet.overlaps(net_a.subnet)
        assert net_b.bridge != net_a.bridge and _bridge_exists(net_b.bridge)
        state_a, state_b = a.state, b.state
        ns_a = {h["netns"] for h in state_a["hosts"]}
        ns_b = {h["netns"] for h in state_b["hosts"]}
        assert ns_a and ns_b and not ns_a & ns_b
        cg_a, cg_b = _cgroup_parent(state_a), _cgroup_parent(state_b)
        assert cg_a == f"minik8s/{net_a.cluster_id}/node-0" and cg_b == f"minik8s/{b_id}/node-0"
        # both nodes are called node-0, and each cluster's master serves its own node only
        assert [n["metadata"]["name"] for n in a.client.list("nodes")["items"]] == ["node-0"]
        addresses = {n["metadata"]["name"]: n["status"]["addresses"] for n in b.client.list("nodes")["items"]}
        assert any(x["type"] == "InternalIP" and ipaddress.ip_address(x["address"]) in net_b.subnet
                   for x in addresses["node-0"])

        for cluster in (a, b):
            cluster.client.create(_sleeper("sleeper"))
        pod_a = wait_for(lambda: _running(a.client, "sleeper"), timeout=60, what="a's pod Running")
        pod_b = wait_for(lambda: _running(b.client, "sleeper"), timeout=60, what="b's pod Running")
        assert pod_a["status"]["podIP"] and pod_b["status"]["podIP"]
        pids_b = wait_for(lambda: _pids_in(cg_b), timeout=10, what="b's pod processes in b's cgroup")
        assert not pids_b & _pids_in(cg_a)
        # an empty cgroup of b's node (like a container's between restarts): the old `down` removed these
        probe = [os.path.join(d, "probe") for d in _cgroup_dirs(cg_b)]
        for d in probe:
            os.makedirs(d, exist_ok=True)

        down = subprocess.run([PY, "-m", "minik8s.cli.main", "down", "--data-dir", str(a.root)],
                              capture_output=True, text=True, timeout=120)
        assert down.returncode == 0, down.stderr
        a.proc.wait(timeout=60)

        listed = set(netns.listnetns())
        assert not ns_a & listed, "a's namespaces survived its down"
        assert not _bridge_exists(net_a.bridge)
        assert not any(os.path.exists(d) for d in _cgroup_dirs(f"minik8s/{net_a.cluster_id}"))

        assert ns_b <= listed, "down of a removed b's namespaces"
        assert _bridge_exists(net_b.bridge)
        assert all(os.path.isdir(d) for d in probe), "down of a removed b's empty cgroup"
        assert all(Path(f"/proc/{pid}").exists() for pid in pids_b), "down of a killed b's pod"
        again = b.client.get("pods", "sleeper", namespace="default")
        assert again["status"]["phase"] == "Running"
        assert again["status"]["containerStatuses"][0]["restartCount"] == 0
        b.client.create(configmap("still-writable"))
    finally:
        for d in probe:
            try:
                os.rmdir(d)
            except OSError:
                pass
        a.stop()
        if b is not None:
            b.stop()


def test_subnet_choice_skips_addresses_and_routes_in_use(tmp_path: Path) -> None:
    """In a network namespace of the test's own: a subnet held by an address, and the next one by a
    route, are both skipped — for a recorded subnet and for a fresh data dir."""
    ns = f"mkt{secrets.token_hex(4)}"
    cluster_id = "00002a"  # its first candidate is 10.200.42.0/24
    data = tmp_path / "data"
    data.mkdir()
    (data / "hostnet.json").write_text(json.dumps({"clusterId": cluster_id, "subnet": "10.200.42.0/24"}))
    fresh = tmp_path / "fresh"
    fresh.mkdir()

    def inside(*argv: str) -> str:
        done = subprocess.run(["ip", "netns", "exec", ns, *argv], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return done.stdout

    subprocess.run(["ip", "netns", "add", ns], check=True)
    try:
        inside("ip", "link", "set", "lo", "up")
        inside("ip", "addr", "add", "10.200.42.7/24", "dev", "lo")
        inside("ip", "route", "add", "10.200.43.0/24", "dev", "lo")
        script = ("import sys; from minik8s.cli.hosts import HostNet; "
                  "print(HostNet.choose(sys.argv[1]).subnet)")
        assert inside(PY, "-c", script, str(data)).strip() == "10.200.44.0/24"
        assert json.loads((data / "hostnet.json").read_text()) == {"clusterId": cluster_id,
                                                                    "subnet": "10.200.44.0/24"}
        chosen = ipaddress.ip_network(inside(PY, "-c", script, str(fresh)).strip())
        assert not chosen.overlaps(ipaddress.ip_network("10.200.42.0/23"))
        assert HostNet.for_cluster(str(fresh)).cluster_id != cluster_id
    finally:
        subprocess.run(["ip", "netns", "delete", ns], check=False)
