"""Ingress on a `minik8s up` cluster (3 masters, 3 node hosts, process runtime): nginx on port 80 of
every node host routes by host and path to the pods behind Services.

Backends are small Python HTTP servers that answer their pod name and the path they were asked;
requests go to a node host's IP with a Host header (`curl -H 'Host: foo.bar.com' http://<node-ip>/app`),
from this machine and from inside every node host. Also: the IngressClasses the masters create,
the Ingress status, the Kubernetes docs' `minimal-ingress.yaml` as written, a changed Ingress
under a load loop with no failed request, nginx outliving a killed node agent and adopted by the
restarted one, and no nginx left once the cluster is down.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from minik8s.api import errors
from minik8s.chaos.node_failure import kill_agent, restart_agent
from minik8s.chaos.upcluster import UpProcess

from .cluster import wait_for
from .ingress_support import ECHO_SERVER, get

pytestmark = pytest.mark.skipif(not os.access("/usr/sbin/nginx", os.X_OK), reason="Debian's nginx is missing")

Obj = dict[str, Any]
NS = "default"

# content/en/examples/service/networking/minimal-ingress.yaml of kubernetes/website, as written
MINIMAL_INGRESS = """\
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata:
  name: minimal-ingress
spec:
  ingressClassName: nginx-example
  rules:
  - http:
      paths:
      - path: /testpath
        pathType: Prefix
        backend:
          service:
            name: test
            port:
              number: 80
"""


@pytest.fixture(scope="module")
def up(tmp_path_factory: pytest.TempPathFactory) -> Iterator[UpProcess]:
    cluster = UpProcess(tmp_path_factory.mktemp("ingress") / "data", "--masters", "3", "--nodes", "3", timeout=180)
    try:
        for app, node, port_name in (("web", 0, ""), ("web", 1, ""), ("api", 2, "http"), ("test", 1, "")):
            cluster.client.create(_echo_pod(f"{app}-{node}", app, f"node-{node}", port_name))
        cluster.client.create(_service("web", {"port": 80, "targetPort": 8080}))
        cluster.client.create(_service("api", {"name": "http", "port": 8000, "targetPort": "http"}))
        cluster.client.create(_service("test", {"port": 80, "targetPort": 8080}))
        for app, count in (("web", 2), ("api", 1), ("test", 1)):
            wait_for(lambda a=app, c=count: len(_ready_endpoints(cluster, a)) == c, timeout=90,
                     what=f"{count} ready endpoints of {app}")
        yield cluster
    finally:
        cluster.stop()


def _echo_pod(name: str, app: str, node: str, port_name: str) -> Obj:
    port = {"containerPort": 8080, **({"name": port_name} if port_name else {})}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": NS, "labels": {"app": app}},
            "spec": {"nodeName": node, "terminationGracePeriodSeconds": 1, "containers": [{
                "name": "echo", "image": "python", "command": [sys.executable, "-c", ECHO_SERVER, name, "8080"],
                "ports": [port], "readinessProbe": {"httpGet": {"path": "/", "port": 8080}, "periodSeconds": 1}}]}}


def _service(name: str, port: Obj) -> Obj:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": NS},
            "spec": {"selector": {"app": name}, "ports": [port]}}


def _ready_endpoints(up: UpProcess, service: str) -> list[str]:
    slices = up.client.list("endpointslices", namespace=NS,
                            label_selector=f"kubernetes.io/service-name={service}")["items"]
    return [a for s in slices for e in s.get("endpoints") or [] if (e.get("conditions") or {}).get("ready")
            for a in e.get("addresses") or []]


def _ingress(name: str, rules: list[Obj], **spec: Any) -> Obj:
    return {"apiVersion": "networking.k8s.io/v1", "kind": "Ingress", "metadata": {"name": name, "namespace": NS},
            "spec": {"ingressClassName": "nginx", "rules": rules, **spec}}


def _rule(host: str, *paths: tuple[str, str, str, int | str]) -> Obj:
    return {"host": host, "http": {"paths": [
        {"path": p, "pathType": t, "backend": {"service": {
            "name": svc, "port": {"number": port} if isinstance(port, int) else {"name": port}}}}
        for p, t, svc, port in paths]}}


def _node_ips(up: UpProcess) -> list[str]:
    return [h["ip"] for h in up.state["hosts"]]


def _get_inside(up: UpProcess, host_index: int, address: str, host: str, path: str) -> tuple[int, str]:
    """The same GET, sent from inside node host `host_index`'s network namespace."""
    script = ("import json, sys; sys.path.insert(0, sys.argv[1]); from ingress_support import get; "
              "print(json.dumps(get(*sys.argv[2:4], sys.argv[4], sys.argv[5])))")
    helper_dir = str(Path(__file__).parent)
    netns = up.state["hosts"][host_index]["netns"]
    done = subprocess.run(["nsenter", f"--net=/var/run/netns/{netns}", sys.executable, "-c", script, helper_dir,
                           address, "80", host, path], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    status, body = json.loads(done.stdout)
    return status, body


def _answer(up: UpProcess, address: str, host: str, path: str) -> tuple[int, str]:
    try:
        return get(address, 80, host, path)
    except OSError as exc:
        return 0, repr(exc)


def _settled(up: UpProcess, ip: str, host: str, path: str, ok: object) -> bool:
    """20 answers in a row pass `ok`: during a reload old workers (old routes) and new ones both accept
    for a moment, so one good answer does not yet mean every worker has the new routes."""
    return all(ok(_answer(up, ip, host, path)) for _ in range(20))  # type: ignore[operator]


def test_ingress_classes_are_created_by_the_masters(up: UpProcess) -> None:
    """`nginx` (the default) and `nginx-example` (the docs' name) exist, both served by minik8s."""
    classes = wait_for(lambda: {c["metadata"]["name"]: c for c in up.client.list("ingressclasses")["items"]}
                       if len(up.client.list("ingressclasses")["items"]) >= 2 else None, timeout=30,
                       what="the built-in IngressClasses")
    assert classes["nginx"]["spec"]["controller"] == classes["nginx-example"]["spec"]["controller"] == \
        "minik8s.io/ingress-nginx"
    assert classes["nginx"]["metadata"]["annotations"]["ingressclass.kubernetes.io/is-default-class"] == "true"


def test_ingress_routes_hosts_and_paths_from_every_node_host(up: UpProcess) -> None:
    """foo.bar.com /app (Prefix) reaches web, /api (Exact) reaches api through a named port,
    bar.foo.com on the same address reaches api, /appx and unknown hosts get 404 — from this
    machine and from inside every node host, on every node's address."""
    up.client.create(_ingress("routes", [
        _rule("foo.bar.com", ("/app", "Prefix", "web", 80), ("/api", "Exact", "api", "http")),
        _rule("bar.foo.com", ("/", "Prefix", "api", 8000))]))
    ips = _node_ips(up)
    wait_for(lambda: all(_settled(up, ip, "foo.bar.com", "/app", lambda a: a[0] == 200) for ip in ips), timeout=30,
             what="the Ingress served on every node")
    for ip in ips:
        status, body = get(ip, 80, "foo.bar.com", "/app")
        assert status == 200 and body.split()[0] in ("web-0", "web-1") and body.endswith(" /app")
        assert get(ip, 80, "foo.bar.com", "/app/x/y")[1].endswith(" /app/x/y")
        assert get(ip, 80, "foo.bar.com", "/appx")[0] == 404
        assert get(ip, 80, "foo.bar.com", "/api") == (200, "api-2 /api")
        assert get(ip, 80, "foo.bar.com", "/api/v1")[0] == 404
        assert get(ip, 80, "bar.foo.com", "/anything") == (200, "api-2 /anything")
        assert get(ip, 80, "unknown.example", "/app")[0] == 404
    for index in range(len(ips)):
        for ip in ips:
            status, body = _get_inside(up, index, ip, "foo.bar.com", "/app")
            assert status == 200 and body.split()[0] in ("web-0", "web-1"), (index, ip, body)
            assert _get_inside(up, index, ip, "bar.foo.com", "/x") == (200, "api-2 /x")
    # both web pods (on two nodes) answer through any one node
    seen = {get(ips[2], 80, "foo.bar.com", "/app")[1].split()[0] for _ in range(40)}
    assert seen == {"web-0", "web-1"}


def test_ingress_status_lists_the_node_addresses(up: UpProcess) -> None:
    """An Ingress of our class gets every Ready node's InternalIP in status.loadBalancer."""
    up.client.create(_ingress("status", [_rule("status.example", ("/", "Prefix", "web", 80))]))
    wanted = [{"ip": ip} for ip in sorted(_node_ips(up), key=lambda a: tuple(map(int, a.split("."))))]
    wait_for(lambda: (up.client.get("ingresses", "status", namespace=NS).get("status") or {})
             .get("loadBalancer", {}).get("ingress") == wanted, timeout=30, what="the Ingress status")


def test_ingress_minimal_ingress_from_the_docs_works_as_written(up: UpProcess) -> None:
    """The docs' minimal-ingress.yaml, applied with the CLI as written: /testpath on any host reaches `test`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MINIK8S_")}
    env["KUBECONFIG"] = str(up.root / "kubeconfig")
    applied = subprocess.run([sys.executable, "-m", "minik8s.cli.main", "apply", "-f", "-"], input=MINIMAL_INGRESS,
                             env=env, capture_output=True, text=True, timeout=60)
    assert applied.returncode == 0, applied.stderr
    ip = _node_ips(up)[0]
    wait_for(lambda: _settled(up, ip, "anything.example", "/testpath", lambda a: a == (200, "test-1 /testpath")),
             timeout=30, what="minimal-ingress served")
    assert get(ip, 80, "anything.example", "/testpath/sub") == (200, "test-1 /testpath/sub")


def test_ingress_change_under_load_fails_no_request(up: UpProcess) -> None:
    """A load loop (a new connection per request, like curl) against one node while the Ingress
    switches /switch between web and api 5 times: every change is routed, no request fails."""
    ip = _node_ips(up)[1]
    up.client.create(_ingress("switch", [_rule("switch.example", ("/switch", "Prefix", "web", 80))]))
    wait_for(lambda: _settled(up, ip, "switch.example", "/switch", lambda a: a[0] == 200), timeout=30,
             what="switch served by every worker")
    failures: list[str] = []
    done = threading.Event()
    count = 0

    def load() -> None:
        nonlocal count
        deadline = time.monotonic() + 120
        while not done.is_set() and time.monotonic() < deadline:
            status, body = _answer(up, ip, "switch.example", "/switch")
            if status != 200:
                failures.append(f"{status} {body[:80]}")
            count += 1

    loader = threading.Thread(target=load)
    loader.start()
    try:
        for i in range(5):
            service, port, pod = ("api", "http", "api-2") if i % 2 == 0 else ("web", 80, "web-")
            for _ in range(5):
                try:
                    current = up.client.get("ingresses", "switch", namespace=NS)
                    current["spec"]["rules"] = [_rule("switch.example", ("/switch", "Prefix", service, port))]
                    up.client.replace(current)
                    break
                except errors.ConflictError:
                    continue
            wait_for(lambda p=pod: _answer(up, ip, "switch.example", "/switch")[1].startswith(p), timeout=10,
                     interval=0.02, what=f"/switch routed to {service}")
    finally:
        done.set()
        loader.join()
    assert count > 10 and failures == []


def _nginx_masters_under(root: Path) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            # the master's title; not a `nginx -s reload` an agent runs for a moment (one was counted once)
            if cmdline.startswith("nginx: master process") and str(root) in cmdline:
                found.append(int(entry))
    return found


def test_ingress_nginx_survives_its_agent_and_goes_with_the_cluster(up: UpProcess) -> None:
    """Every node host runs one nginx master under its data dir. A killed node agent leaves its nginx
    serving; the restarted agent adopts it (same master, reloaded with new routes, not restarted);
    `minik8s down` stops every nginx: none is left."""
    assert len(_nginx_masters_under(up.root)) == 3
    master_file = up.root / "node-2" / "ingress" / "master.pid"
    master = int(master_file.read_text())
    kill_agent(up.state, 2)
    ip = _node_ips(up)[2]
    assert get(ip, 80, "foo.bar.com", "/app")[0] == 200  # the data plane outlives its agent
    restart_agent(up.state, 2, up.root / "node-2-restarted.log")
    up.client.create(_ingress("after", [_rule("after.example", ("/", "Prefix", "api", 8000))]))
    wait_for(lambda: _settled(up, ip, "after.example", "/x", lambda a: a == (200, "api-2 /x")), timeout=60,
             what="a new Ingress served by the restarted agent's nginx")
    assert int(master_file.read_text()) == master and Path(f"/proc/{master}").exists()
    assert len(_nginx_masters_under(up.root)) == 3
    down = subprocess.run([sys.executable, "-m", "minik8s.cli.main", "down", "--data-dir", str(up.root)],
                          capture_output=True, text=True, timeout=120)
    assert down.returncode == 0, down.stderr
    up.proc.wait(timeout=60)
    wait_for(lambda: not _nginx_masters_under(up.root), timeout=15, what="no nginx left")
