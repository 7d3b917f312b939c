"""Issue 10, the node proxy: Services on a `minik8s up` cluster (3 masters + 3 nodes, process runtime).

Every node agent runs in a network namespace of its own ("host") and programs the table
`ip minik8s` there. Backends are pods pinned to the three nodes answering their pod name over HTTP;
clients run in a pod's network namespace (the test enters it with nsenter, as traffic from that
pod) or in a node host's. Everything here is real: the API allocates the ClusterIP and NodePort,
the EndpointSlice controller writes the slices, the kernel DNATs.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from minik8s.api import errors
from minik8s.api.client import ApiClient
from minik8s.chaos.node_failure import kill_agent, restart_agent
from minik8s.chaos.upcluster import UpProcess

from .cluster import wait_for
from .proxy_netns import chi_square_p, require_root_and_nft

Obj = dict[str, Any]
PY = sys.executable
NODES = ["node-0", "node-1", "node-2"]

SERVER = """
import http.server, os, signal
signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
name = os.environ["POD_NAME"].encode()
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_GET(self):
        body = self.client_address[0].encode() if self.path == "/from" else name
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer.daemon_threads = True
http.server.ThreadingHTTPServer(("0.0.0.0", 8080), Handler).serve_forever()
"""

CLIENT = """
import collections, http.client, json, sys
host, port, count, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
seen = collections.Counter()
for _ in range(count):
    try:
        c = http.client.HTTPConnection(host, port, timeout=5)
        c.request("GET", path)
        seen[c.getresponse().read().decode()] += 1
        c.close()
    except OSError as exc:
        seen["error: " + type(exc).__name__] += 1
print(json.dumps(seen))
"""

LOOP = """
import collections, http.client, json, os, sys, time
host, port, stop = sys.argv[1], int(sys.argv[2]), sys.argv[3]
seen, failures = collections.Counter(), []
while not os.path.exists(stop):
    try:
        c = http.client.HTTPConnection(host, port, timeout=5)
        c.request("GET", "/")
        seen[c.getresponse().read().decode()] += 1
        c.close()
    except OSError as exc:
        failures.append(repr(exc))
    time.sleep(0.01)
print(json.dumps({"seen": seen, "failures": failures}))
"""

HOLDER = """
import http.client, sys
c = http.client.HTTPConnection(sys.argv[1], int(sys.argv[2]), timeout=30)
for line in sys.stdin:
    c.request("GET", "/")
    print(c.getresponse().read().decode(), flush=True)
"""


class Cluster:
    """The running cluster, its namespace for this module, and ways into pods' and hosts' namespaces."""

    def __init__(self, up: UpProcess, namespace: str) -> None:
        self.up = up
        self.client: ApiClient = up.client
        self.namespace = namespace
        self.hosts = {h["name"]: h for h in up.state["hosts"]}

    def host_prefix(self, node: str) -> list[str]:
        return ["nsenter", f"--net=/var/run/netns/{self.hosts[node]['netns']}"]

    def pod_prefix(self, name: str) -> list[str]:
        uid = self.client.get("pods", name, namespace=self.namespace)["metadata"]["uid"]
        for record in self.up.root.glob("node-*/**/sandboxes/*.json"):
            data = json.loads(record.read_text())
            if data["config"]["pod_uid"] == uid:
                return ["nsenter", f"--net=/var/run/netns/{data['netns']}"]
        raise AssertionError(f"no sandbox of pod {name}")

    def requests(self, prefix: list[str], host: str, port: int, count: int, path: str = "/") -> dict[str, int]:
        done = subprocess.run([*prefix, PY, "-c", CLIENT, host, str(port), str(count), path], capture_output=True,
                              text=True, timeout=300, check=True)
        return json.loads(done.stdout)

    def pod(self, name: str, node: str, labels: dict[str, str], **container: Any) -> Obj:
        body = {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": self.namespace, "labels": labels},
                "spec": {"nodeName": node, "terminationGracePeriodSeconds": 2, "containers": [{
                    "name": "c", "image": "python", "command": [PY, "-c", SERVER],
                    "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}],
                    **container}]}}
        return self.client.create(body)

    def service(self, name: str, selector: dict[str, str], **spec: Any) -> Obj:
        body = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": self.namespace},
                "spec": {"selector": selector, "ports": [{"name": "http", "port": 80, "targetPort": 8080}], **spec}}
        return self.client.create(body)

    def ready(self, name: str) -> bool:
        try:
            pod = self.client.get("pods", name, namespace=self.namespace)
        except errors.NotFoundError:
            return False
        return any(c["type"] == "Ready" and c["status"] == "True" for c in (pod.get("status") or {}).get("conditions")
                   or [])

    def delete_pod(self, name: str, grace: int = 0) -> None:
        try:
            self.client.delete("pods", name, namespace=self.namespace, grace_period_seconds=grace)
        except errors.NotFoundError:
            pass

    def table(self, node: str) -> dict[str, Any]:
        """Node `node`'s table as data, less the clients the affinity sets learnt (they expire)."""
        done = subprocess.run([*self.host_prefix(node), "nft", "-j", "list", "table", "ip", "minik8s"],
                              capture_output=True, text=True, check=True)
        items = json.loads(done.stdout)["nftables"]
        for item in items:
            body = item.get("set") or {}
            if body.get("name", "").startswith("affinity-"):
                body.pop("elem", None)
            for part in (item.get("chain"), item.get("rule"), item.get("set"), item.get("map")):
                if isinstance(part, dict):
                    part.pop("handle", None)
        return {"items": sorted(json.dumps(i, sort_keys=True) for i in items if "metainfo" not in i)}

    def settled_table(self, node: str, timeout: float = 30.0) -> dict[str, Any]:
        """`table(node)` once two reads half a second apart agree (earlier tests' Services may still
        be converging)."""
        last: list[dict[str, Any]] = []

        def same_twice() -> dict[str, Any] | None:
            now = self.table(node)
            agreed = bool(last) and last[0] == now
            last[:] = [now]
            return now if agreed else None

        return wait_for(same_twice, timeout=timeout, interval=0.5, what=f"{node}'s table to settle")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    require_root_and_nft()
    up = UpProcess(tmp_path_factory.mktemp("proxy") / "data", "--masters", "3", "--nodes", "3",
                   "--runtime", "process")
    try:
        namespace = f"px-{uuid.uuid4().hex[:8]}"
        up.client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        yield Cluster(up, namespace)
    finally:
        up.stop()


@pytest.fixture(scope="module")
def web(cluster: Cluster) -> Obj:
    """Service `web` (NodePort) over three pods, one per node, and a client pod on node-1; every backend
    reached from the client before the tests start."""
    for i, node in enumerate(NODES):
        cluster.pod(f"web-{i}", node, {"app": "web"})
    cluster.pod("client", "node-1", {"app": "client"}, command=[PY, "-c", "import time; time.sleep(100000)"])
    service = cluster.service("web", {"app": "web"}, type="NodePort")
    wait_for(lambda: all(cluster.ready(n) for n in ["web-0", "web-1", "web-2", "client"]), timeout=90,
             what="backends and client Ready")
    ip = service["spec"]["clusterIP"]
    wait_for(lambda: set(cluster.requests(cluster.pod_prefix("client"), ip, 80, 30)) == {"web-0", "web-1", "web-2"},
             timeout=30, interval=0.2, what="every backend reachable")
    return service


def _uniform(seen: dict[str, int], names: list[str]) -> None:
    assert set(seen) == set(names), seen
    assert chi_square_p([seen[n] for n in names]) > 0.001, seen


def test_cluster_ip_from_a_pod_reaches_every_node_evenly(cluster: Cluster, web: Obj) -> None:
    """300 requests from a pod on node-1 to the ClusterIP reach the 3 backends on 3 nodes evenly."""
    seen = cluster.requests(cluster.pod_prefix("client"), web["spec"]["clusterIP"], 80, 300)
    _uniform(seen, ["web-0", "web-1", "web-2"])


def test_cluster_ip_from_a_node_host(cluster: Cluster, web: Obj) -> None:
    """The same from node-1's host namespace (masqueraded, so replies from other nodes come back)."""
    _uniform(cluster.requests(cluster.host_prefix("node-1"), web["spec"]["clusterIP"], 80, 300),
             ["web-0", "web-1", "web-2"])


def test_node_port_from_another_node_host(cluster: Cluster, web: Obj) -> None:
    """node-0's host reaches the Service through node-2's address and the NodePort."""
    node_port = web["spec"]["ports"][0]["nodePort"]
    seen = cluster.requests(cluster.host_prefix("node-0"), cluster.hosts["node-2"]["ip"], node_port, 150)
    _uniform(seen, ["web-0", "web-1", "web-2"])


def test_client_ip_affinity_sticks(cluster: Cluster, web: Obj) -> None:
    """sessionAffinity ClientIP: every request of one client reaches the same backend."""
    sticky = cluster.service("sticky", {"app": "web"}, sessionAffinity="ClientIP")
    prefix = cluster.pod_prefix("client")
    ip = sticky["spec"]["clusterIP"]
    wait_for(lambda: not any(k.startswith("error") for k in cluster.requests(prefix, ip, 80, 1)),
             timeout=30, interval=0.2, what="sticky programmed")
    seen = cluster.requests(prefix, ip, 80, 40)
    assert len(seen) == 1 and next(iter(seen)) in {"web-0", "web-1", "web-2"}, seen
    from_host = cluster.requests(cluster.host_prefix("node-2"), ip, 80, 40)  # another client, on another node
    assert len(from_host) == 1 and next(iter(from_host)) in {"web-0", "web-1", "web-2"}, from_host


def test_a_pod_reaches_itself_through_its_service(cluster: Cluster, web: Obj) -> None:
    """Hairpin: web-1 asking its own Service is sometimes sent to itself, and that works too (masqueraded)."""
    seen = cluster.requests(cluster.pod_prefix("web-1"), web["spec"]["clusterIP"], 80, 90)
    _uniform(seen, ["web-0", "web-1", "web-2"])


def test_traffic_policies_local(cluster: Cluster, web: Obj) -> None:
    """internalTrafficPolicy Local: a pod on node-1 reaches node-1's backend only. externalTrafficPolicy Local:
    the NodePort of node-2 reaches node-2's backend only (and the client's address is kept)."""
    internal = cluster.service("web-itp", {"app": "web"}, internalTrafficPolicy="Local")
    prefix = cluster.pod_prefix("client")
    wait_for(lambda: cluster.requests(prefix, internal["spec"]["clusterIP"], 80, 1) == {"web-1": 1}, timeout=30,
             interval=0.2, what="web-itp programmed")
    assert cluster.requests(prefix, internal["spec"]["clusterIP"], 80, 60) == {"web-1": 60}
    external = cluster.service("web-etp", {"app": "web"}, type="NodePort", externalTrafficPolicy="Local")
    node_port = external["spec"]["ports"][0]["nodePort"]
    node_0, node_2 = cluster.host_prefix("node-0"), cluster.hosts["node-2"]["ip"]
    wait_for(lambda: cluster.requests(node_0, node_2, node_port, 1) == {"web-2": 1}, timeout=30, interval=0.2,
             what="web-etp programmed")
    assert cluster.requests(node_0, node_2, node_port, 60) == {"web-2": 60}
    assert cluster.requests(node_0, node_2, node_port, 1, "/from") == {cluster.hosts["node-0"]["ip"]: 1}
    masqueraded = cluster.requests(node_0, node_2, web["spec"]["ports"][0]["nodePort"], 30, "/from")
    assert cluster.hosts["node-0"]["ip"] not in masqueraded, masqueraded  # Cluster policy: masqueraded


def test_a_service_without_endpoints_is_refused(cluster: Cluster, web: Obj) -> None:
    """No endpoint at all: connections are refused at once (TCP reset), from a pod and from a host."""
    empty = cluster.service("nobody", {"app": "nobody"})
    ip = empty["spec"]["clusterIP"]
    wait_for(lambda: cluster.requests(cluster.pod_prefix("client"), ip, 80, 1) == {"error: ConnectionRefusedError": 1},
             timeout=30, interval=0.2, what="nobody programmed")
    assert cluster.requests(cluster.host_prefix("node-0"), ip, 80, 5) == {"error: ConnectionRefusedError": 5}


def test_a_pod_that_is_not_ready_receives_no_traffic(cluster: Cluster, web: Obj) -> None:
    """A fourth pod whose readiness probe fails is listed not ready and never reached."""
    cluster.pod("web-unready", "node-1", {"app": "web"},
                readinessProbe={"exec": {"command": ["false"]}, "periodSeconds": 1})

    def listed() -> bool:
        slices = cluster.client.list("endpointslices", namespace=cluster.namespace,
                                     label_selector="kubernetes.io/service-name=web")["items"]
        return any(e.get("targetRef", {}).get("name") == "web-unready" for s in slices for e in s.get("endpoints") or [])
    try:
        wait_for(listed, timeout=60, what="web-unready in the slice (not ready)")
        pod_ip = cluster.client.get("pods", "web-unready", namespace=cluster.namespace)["status"]["podIP"]
        wait_for(lambda: cluster.requests(cluster.pod_prefix("client"), pod_ip, 8080, 1) == {"web-unready": 1},
                 timeout=30, interval=0.2, what="web-unready serving on its pod IP")  # it would answer if chosen
        assert not cluster.ready("web-unready")
        seen = cluster.requests(cluster.pod_prefix("client"), web["spec"]["clusterIP"], 80, 150)
        assert "web-unready" not in seen and set(seen) == {"web-0", "web-1", "web-2"}, seen
    finally:
        cluster.delete_pod("web-unready")


def test_a_deleted_pod_gets_no_new_connections_while_it_still_serves(cluster: Cluster, web: Obj) -> None:
    """A pod being deleted (long grace, its server ignores SIGTERM) stops getting new connections as soon as its
    endpoint is terminating, while a connection it had keeps working."""
    server = SERVER.replace("lambda *_: os._exit(0)", "signal.SIG_IGN")
    cluster.pod("web-going", "node-2", {"app": "web"}, command=[PY, "-c", server])
    prefix, ip = cluster.pod_prefix("client"), web["spec"]["clusterIP"]
    wait_for(lambda: "web-going" in cluster.requests(prefix, ip, 80, 20), timeout=60, interval=0.2,
             what="web-going reached")
    cluster.delete_pod("web-going", grace=30)
    wait_for(lambda: "web-going" not in cluster.requests(prefix, ip, 80, 10), timeout=10, interval=0.05,
             what="web-going out of the rules")
    seen = cluster.requests(prefix, ip, 80, 100)
    assert "web-going" not in seen and not any(k.startswith("error") for k in seen), seen
    assert cluster.client.get("pods", "web-going", namespace=cluster.namespace)  # still there, still serving
    cluster.delete_pod("web-going", grace=0)


def test_rolling_update_with_pre_stop_drops_no_request(cluster: Cluster, web: Obj, tmp_path: Path) -> None:
    """A request loop through a Service while its Deployment rolls (preStop sleep) sees no failed request."""
    template = {"metadata": {"labels": {"app": "roll"}}, "spec": {
        "terminationGracePeriodSeconds": 10,
        "containers": [{"name": "c", "image": "python", "command": [PY, "-c", SERVER],
                        "env": [{"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}},
                                {"name": "VERSION", "value": "1"}],
                        "readinessProbe": {"tcpSocket": {"port": 8080}, "periodSeconds": 1},
                        "lifecycle": {"preStop": {"exec": {"command": ["sleep", "2"]}}}}]}}
    cluster.client.create({"apiVersion": "apps/v1", "kind": "Deployment",
                           "metadata": {"name": "roll", "namespace": cluster.namespace},
                           "spec": {"replicas": 3, "selector": {"matchLabels": {"app": "roll"}},
                                    "strategy": {"rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
                                    "template": template}})
    service = cluster.service("roll", {"app": "roll"})
    prefix, ip = cluster.pod_prefix("client"), service["spec"]["clusterIP"]

    def names() -> set[str]:
        return {k for k in cluster.requests(prefix, ip, 80, 30) if not k.startswith("error")}
    first = wait_for(lambda: len(n := names()) == 3 and n, timeout=90, interval=0.5, what="3 replicas reached")
    stop = tmp_path / "stop"
    loop = subprocess.Popen([*prefix, PY, "-c", LOOP, ip, "80", str(stop)], stdout=subprocess.PIPE, text=True)
    try:
        deployment = cluster.client.get("deployments", "roll", namespace=cluster.namespace)
        deployment["spec"]["template"]["spec"]["containers"][0]["env"][1]["value"] = "2"
        cluster.client.replace(deployment)
        wait_for(lambda: not (names() & first) and len(names()) == 3, timeout=120, interval=0.5,
                 what="every request served by new pods")
    finally:
        stop.touch()
        out, _ = loop.communicate(timeout=30)
    result = json.loads(out)
    assert result["failures"] == [] and sum(result["seen"].values()) > 100, result


def test_agent_restart_keeps_connections_and_rebuilds_the_same_rules(cluster: Cluster, web: Obj) -> None:
    """kill -9 of node-1's agent and a restart: a connection through the ClusterIP made before keeps working
    (while the agent is down and after), and the restarted agent writes an identical table."""
    before = cluster.settled_table("node-1")
    holder = subprocess.Popen([*cluster.pod_prefix("client"), PY, "-c", HOLDER, web["spec"]["clusterIP"], "80"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert holder.stdin is not None and holder.stdout is not None

    def ask() -> str:
        holder.stdin.write("\n")  # type: ignore[union-attr]
        holder.stdin.flush()  # type: ignore[union-attr]
        return holder.stdout.readline().strip()  # type: ignore[union-attr]
    log = cluster.up.root / "node-1.restarted.log"
    try:
        backend = ask()
        assert backend in {"web-0", "web-1", "web-2"}
        kill_agent(cluster.up.state, 1)
        assert ask() == backend
        restart_agent(cluster.up.state, 1, log)
        wait_for(lambda: log.exists() and "proxy rules: full sync" in log.read_text(), timeout=60,
                 what="the restarted agent's full sync")
        assert ask() == backend  # the same connection, the same backend
        assert cluster.settled_table("node-1") == before
    finally:
        holder.kill()
        holder.wait(10)


def test_down_leaves_no_table(cluster: Cluster, web: Obj) -> None:
    """Stopping the cluster (what `minik8s down` runs) deletes each node's table: a process the test keeps in
    node-0's namespace holds it open past the cleanup, and it has no `ip minik8s` left."""
    keeper = subprocess.Popen([*cluster.host_prefix("node-0"), "sleep", "600"])
    try:
        wait_for(lambda: os.readlink(f"/proc/{keeper.pid}/ns/net") != os.readlink("/proc/self/ns/net"), timeout=10,
                 what="keeper in node-0's namespace")
        assert "ip minik8s" in _tables(keeper.pid)
        cluster.up.stop()
        assert "minik8s" not in _tables(keeper.pid)
    finally:
        os.kill(keeper.pid, signal.SIGKILL)
        keeper.wait(10)


def _tables(pid: int) -> str:
    return subprocess.run(["nsenter", f"--net=/proc/{pid}/ns/net", "nft", "list", "tables"], capture_output=True,
                          text=True, check=True).stdout
