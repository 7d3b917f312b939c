"""`minik8s up --runtime docker --nodes 2`: a dockerd per node host on the node's pod network, images from
real registries (Debian's docker-registry), and a `down` that leaves nothing behind.

Two nodes, not three: each node engine is a dockerd plus its containerd (about 60 MB and a second of CPU
to start), and the CI machine has two cores shared with the masters; cross-node traffic needs two.

The registries listen on the cluster's hosts gateway (a bridge address of this machine that `up` made,
reached from every node host; the node engines take it as an insecure registry), since a node engine
lives in its node's network namespace where 127.0.0.1 is the node's own loopback. The cluster's own
registry serves this machine's images as a Docker Hub mirror; the tests start a second one that
requires a password (htpasswd, basic auth over http) for `imagePullSecrets`.
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from pyroute2 import IPRoute, netns

from minik8s.api.client import ApiClient
from minik8s.chaos.upcluster import UpProcess
from minik8s.cli import registry as clusterregistry
from minik8s.cli.engines import Engine

from .cluster import free_port, wait_for
from .docker_fixture import docker_runtime  # noqa: F401  (the fixture)

ROOT = Path(__file__).resolve().parents[2]
PUSH = ROOT / "scripts" / "push-images.sh"
RUN_MY_NGINX = Path(__file__).parent / "manifests" / "run-my-nginx.yaml"
BUSYBOX = "minik8s/busybox:1.35"


@pytest.fixture(scope="module")
def up(docker_runtime: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpProcess]:  # noqa: F811
    if os.geteuid() != 0:
        pytest.skip("`minik8s up` needs root")
    cluster = UpProcess(tmp_path_factory.mktemp("docker-cluster") / "data", "--masters", "1", "--nodes", "2",
                        "--runtime", "docker", timeout=180)
    cluster.saved = cluster.state  # type: ignore[attr-defined]  # `down` deletes cluster.json
    try:
        yield cluster
    finally:
        cluster.stop()


def _gateway(up: UpProcess) -> str:
    subnet = up.saved["net"]["subnet"]  # type: ignore[attr-defined]
    return str(ipaddress.ip_network(subnet).network_address + 1)


def _pod(name: str, image: str, node: str, command: list[str] | None = None, **spec: Any) -> dict[str, Any]:
    container: dict[str, Any] = {"name": "c", "image": image}
    if command:
        container["command"] = command
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"nodeName": node, "containers": [container], "terminationGracePeriodSeconds": 2, **spec}}


def _running(client: ApiClient, name: str) -> dict[str, Any] | None:
    pod = client.get("pods", name, namespace="default")
    statuses = (pod.get("status") or {}).get("containerStatuses") or []
    if pod.get("status", {}).get("phase") == "Running" and statuses and all(c.get("ready") for c in statuses):
        return pod
    return None


def _waiting(client: ApiClient, name: str) -> dict[str, Any]:
    statuses = (client.get("pods", name, namespace="default").get("status") or {}).get("containerStatuses") or []
    return (statuses[0].get("state") or {}).get("waiting") or {} if statuses else {}


def _events(client: ApiClient, name: str) -> list[dict[str, Any]]:
    items = client.list("events", namespace="default").get("items") or []
    return [e for e in items if (e.get("involvedObject") or {}).get("name") == name]


def _delete(client: ApiClient, *names: str) -> None:
    for name in names:
        try:
            client.delete("pods", name, namespace="default")
        except Exception:  # noqa: BLE001 - already gone
            pass


def _push(registry: str, image: str, name: str, env: dict[str, str] | None = None) -> None:
    done = subprocess.run([str(PUSH), registry, f"{image}={name}"], capture_output=True, text=True, timeout=120,
                          env={**os.environ, **(env or {})}, check=False)
    assert done.returncode == 0, done.stdout + done.stderr


def test_each_node_runs_its_own_engine_in_its_network_namespace(up: UpProcess) -> None:
    engines = [Engine.from_json(e) for e in up.saved["engines"]]  # type: ignore[attr-defined]
    assert [e.node for e in engines] == ["node-0", "node-1"]
    for engine, host in zip(engines, up.saved["hosts"]):  # type: ignore[attr-defined]
        pid = int(Path(engine.pidfile).read_text())
        assert Path(f"/proc/{pid}/comm").read_text().strip() == "dockerd"
        assert os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(f"/var/run/netns/{host['netns']}").st_ino
        assert os.readlink(f"/proc/{pid}/ns/net") != os.readlink("/proc/self/ns/net")


def test_pods_on_two_nodes_talk_without_masquerade_and_route_through_the_node(up: UpProcess) -> None:
    client = up.client
    server, probe = f"web-{uuid.uuid4().hex[:6]}", f"probe-{uuid.uuid4().hex[:6]}"
    client.create(_pod(server, "nginx:1.14.2", "node-1"))
    try:
        pod = wait_for(lambda: _running(client, server), timeout=90, what="the nginx pod on node-1 running")
        ip = pod["status"]["podIP"]
        cidr = client.get("nodes", "node-1")["spec"]["podCIDR"]
        assert ipaddress.ip_address(ip) in ipaddress.ip_network(cidr)
        client.create(_pod(probe, BUSYBOX, "node-0", [
            "sh", "-c", f"ip -4 addr show eth0; ip route; until timeout 3 wget -qO- http://{ip}/; do sleep 0.5; done; "
                        "echo fetched; exec sleep 3600"]))
        wait_for(lambda: "fetched" in client.log(probe, namespace="default"), timeout=90,
                 what="the pod on node-0 fetching the page of the pod on node-1")
        out = client.log(probe, namespace="default")
        # the container can print before the kubelet reports the pod (it looks 100 ms after a start)
        probe_ip = wait_for(lambda: _running(client, probe), timeout=30, what="the probe pod reported running")[
            "status"]["podIP"]
        node0 = client.get("nodes", "node-0")["spec"]["podCIDR"]
        gateway = str(ipaddress.ip_network(node0).network_address + 1)
        assert "Welcome to nginx!" in out and f"inet {probe_ip}/" in out
        assert f"default via {gateway} dev eth0" in out  # the node host's bridge: its rules and DNS apply
        # nginx saw the client pod's own address: no masquerade between pod networks
        wait_for(lambda: f"{probe_ip} - -" in client.log(server, namespace="default"), timeout=10,
                 what="nginx's access log naming the client pod's IP")
    finally:
        _delete(client, server, probe)


def test_run_my_nginx_deployment_from_the_docs_runs(up: UpProcess) -> None:
    """The Kubernetes docs' run-my-nginx.yaml: `image: nginx` is nginx:latest, pulled (Always) through the mirror."""
    client = up.client
    deployment = yaml.safe_load(RUN_MY_NGINX.read_text())
    client.create(deployment, namespace="default")
    try:
        def ready() -> list[dict[str, Any]] | None:
            pods = [p for p in client.list("pods", namespace="default", label_selector="run=my-nginx")["items"]
                    if _running(client, p["metadata"]["name"])]
            return pods if len(pods) == 2 else None

        pods = wait_for(ready, timeout=120, what="both my-nginx replicas running")
        assert all(c["imagePullPolicy"] == "Always" for p in pods for c in p["spec"]["containers"])
        reasons = {e["reason"] for p in pods for e in _events(client, p["metadata"]["name"])}
        assert {"Pulling", "Pulled", "Started"} <= reasons
    finally:
        client.delete("deployments", "my-nginx", namespace="default")


def test_an_image_only_in_the_registry_is_pulled_and_runs(up: UpProcess) -> None:
    client = up.client
    registry = f"{_gateway(up)}:{clusterregistry.PORT}"
    repo = f"only-here/{uuid.uuid4().hex[:8]}"
    _push(registry, BUSYBOX, f"{repo}:1")
    name = f"reg-{uuid.uuid4().hex[:6]}"
    image = f"{registry}/{repo}:1"
    assert subprocess.run(["docker", "image", "inspect", image], capture_output=True).returncode != 0
    client.create(_pod(name, image, "node-1", ["sh", "-c", "echo from-the-registry; exec sleep 3600"]))
    try:
        wait_for(lambda: _running(client, name), timeout=90, what="the pod of the registry-only image running")
        messages = [(e["reason"], e["message"]) for e in _events(client, name)]
        assert ("Pulling", f'Pulling image "{image}"') in messages
        assert any(r == "Pulled" and m.startswith(f'Successfully pulled image "{image}"') for r, m in messages)
        wait_for(lambda: "from-the-registry" in client.log(name, namespace="default"), timeout=10,
                 what="the container's output")
    finally:
        _delete(client, name)


def test_a_missing_image_backs_off_with_the_registrys_message(up: UpProcess) -> None:
    client = up.client
    image = f"{_gateway(up)}:{clusterregistry.PORT}/missing/{uuid.uuid4().hex[:8]}:1"
    name = f"miss-{uuid.uuid4().hex[:6]}"
    client.create(_pod(name, image, "node-0"))
    try:
        wait_for(lambda: _waiting(client, name).get("reason") == "ImagePullBackOff", timeout=60,
                 what="ImagePullBackOff")
        assert _waiting(client, name)["message"] == f'Back-off pulling image "{image}"'
        failed = [e["message"] for e in _events(client, name) if e["reason"] == "Failed"]
        assert any(m.startswith(f'Failed to pull image "{image}"') and "manifest unknown" in m for m in failed), failed
        assert client.get("pods", name, namespace="default")["status"]["phase"] == "Pending"
    finally:
        _delete(client, name)


@pytest.fixture
def auth_registry(up: UpProcess, tmp_path: Path) -> Iterator[tuple[str, str, str]]:
    """A registry that needs a password, on the hosts gateway; yields (address, user, password)."""
    user, password = "puller", uuid.uuid4().hex
    htpasswd = tmp_path / "htpasswd"
    subprocess.run(["htpasswd", "-Bbc", str(htpasswd), user, password], check=True, capture_output=True)
    registry = clusterregistry.ClusterRegistry(f"{_gateway(up)}:{free_port()}", tmp_path, htpasswd=htpasswd)
    pid = registry.start()
    try:
        yield registry.address, user, password
    finally:
        clusterregistry.stop(pid)


def test_image_pull_secrets_open_a_registry_that_needs_a_password(
        up: UpProcess, auth_registry: tuple[str, str, str]) -> None:
    client = up.client
    address, user, password = auth_registry
    image = f"{address}/private/app:1"
    _push(address, BUSYBOX, "private/app:1", env={"REGISTRY_USER": user, "REGISTRY_PASSWORD": password})
    secret_name = f"regcred-{uuid.uuid4().hex[:6]}"
    config = {"auths": {address: {"auth": base64.b64encode(f"{user}:{password}".encode()).decode()}}}
    client.create({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": secret_name},
                   "type": "kubernetes.io/dockerconfigjson",
                   "data": {".dockerconfigjson": base64.b64encode(json.dumps(config).encode()).decode()}},
                  namespace="default")
    without, with_secret = f"nocred-{uuid.uuid4().hex[:6]}", f"cred-{uuid.uuid4().hex[:6]}"
    client.create(_pod(without, image, "node-0", ["sleep", "3600"]))
    client.create(_pod(with_secret, image, "node-1", ["sleep", "3600"], imagePullSecrets=[{"name": secret_name}]))
    try:
        wait_for(lambda: _running(client, with_secret), timeout=90, what="the pod with the pull secret running")
        wait_for(lambda: _waiting(client, without).get("reason") in ("ErrImagePull", "ImagePullBackOff"),
                 timeout=60, what="the pod without credentials failing to pull")
        failed = [e["message"] for e in _events(client, without) if e["reason"] == "Failed"]
        assert any("no basic auth credentials" in m or "unauthorized" in m for m in failed), failed
        # the password appears nowhere the cluster shows or logs
        shown = json.dumps([client.get("pods", n, namespace="default") for n in (without, with_secret)]) \
            + json.dumps(client.list("events", namespace="default"))
        logs = "".join(p.read_text(errors="replace") for p in up.root.glob("*.log"))
        encoded = base64.b64encode(f"{user}:{password}".encode()).decode()
        assert password not in shown and encoded not in shown
        assert password not in logs and encoded not in logs
    finally:
        _delete(client, without, with_secret)
        client.delete("secrets", secret_name, namespace="default")


def test_down_leaves_no_engine_namespace_link_or_data(up: UpProcess) -> None:
    """Last in this module: stops the cluster (the fixture's stop is then a no-op)."""
    saved = up.saved  # type: ignore[attr-defined]
    engines = [Engine.from_json(e) for e in saved["engines"]]
    pids = [int(Path(e.pidfile).read_text()) for e in engines] + [int(saved["registry_pid"])]
    up.stop()
    assert up.proc.returncode == 0
    for pid in pids:
        assert not Path(f"/proc/{pid}").exists() or "Z" in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1][:3]
    leftovers = [int(p) for p in os.listdir("/proc") if p.isdigit() and _names(int(p), engines)]
    assert leftovers == []
    assert not any(Path(e.data_root).exists() or Path(e.exec_root).exists() for e in engines)
    assert not (up.root / "engines").exists()
    listed = set(netns.listnetns())
    assert not any(h["netns"] in listed for h in saved["hosts"])
    prefix = "mk" + saved["net"]["clusterId"]
    with IPRoute() as ipr:
        links = [link.get_attr("IFLA_IFNAME") for link in ipr.get_links()]
    assert not [name for name in links if name.startswith(prefix)]


def _names(pid: int, engines: list[Engine]) -> bool:
    """Whether process `pid` belongs to one of the engines (its command line names an exec root)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return any(e.exec_root.encode() + b"/" in cmdline or e.data_root.encode() in cmdline for e in engines) \
        and pid != os.getpid()
