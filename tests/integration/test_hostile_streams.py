"""Watches and log streams against hostile or careless clients and nodes (issue 7, items 1, 6, 7, 8,
13, 14, 16), on one real HTTPS master (kubectl needs TLS).

- A watch that is refused (bad parameters) or whose client leaves gives its slot back.
- A streaming watch answers with headers at once, so `kubectl wait` returns when the pod is Ready.
- `resourceVersion` that is not an integer is 400 on list, get and watch.
- A verb a kind does not serve (deletecollection of namespaces) is 405 and changes nothing.
- `pods/log` from a node that never answers, or that streams for ever, cannot hold the master's
  threads: streams time out, are capped (429), and are freed when their client leaves.
"""

from __future__ import annotations

import socket
import ssl
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from minik8s.api import errors
from minik8s.api.nodeendpoint import kubelet_url

from .cluster import TOKEN, Cluster, running, wait_for
from .hostile_support import FakeNode, open_watches
from .kubectl_support import Kubectl

TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io"
PODS = "/api/v1/namespaces/default/pods"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    root = tmp_path_factory.mktemp("streams")
    kubelet_token = root / "kubelet-token"
    kubelet_token.write_text("kubelet-token-0123456789\n")
    kubelet_token.chmod(0o600)
    with running(root / "cluster", 1, tls=True,
                 extra_args=["--no-control-loops", "--kubelet-token-file", str(kubelet_token),
                             "--max-log-streams", "8"]) as c:
        yield c


def _url(cluster: Cluster, path: str) -> str:
    return cluster.masters[0].url + path


def _pod(name: str, node: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "c", "image": "busybox", "command": ["sleep", "60"]}]}
    if node:
        spec["nodeName"] = node
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}


# ------------------------------------------------------------------------------------ watch slots


@pytest.mark.parametrize("params,headers", [
    ({"timeoutSeconds": "abc"}, {}),
    ({"timeoutSeconds": "-5"}, {}),
    ({"resourceVersion": "abc"}, {}),
    ({"resourceVersion": "-1"}, {}),
    ({"includeObject": "bogus"}, {"Accept": TABLE}),
    ({"labelSelector": "a in (b"}, {}),
    ({"longPoll": "true", "resourceVersion": "x"}, {}),
    ({"longPoll": "true", "timeoutSeconds": "1e3"}, {}),
])
def test_refused_watches_give_their_slot_back(cluster: Cluster, params: dict[str, str],
                                               headers: dict[str, str]) -> None:
    for _ in range(40):
        response = cluster.session.get(_url(cluster, PODS), params={"watch": "true", **params}, headers=headers,
                                       timeout=5)
        assert response.status_code == 400, response.text
        assert response.json()["kind"] == "Status"
    wait_for(lambda: open_watches(cluster) == 0, timeout=10, what="no open watches")
    with cluster.session.get(_url(cluster, PODS), params={"watch": "true", "timeoutSeconds": "1"},
                             stream=True, timeout=5) as ok:
        assert ok.status_code == 200


def _raw_watch(cluster: Cluster, path: str, accept: str) -> ssl.SSLSocket:
    """A streaming watch on a raw TLS socket, left open after its headers arrived."""
    context = ssl.create_default_context(cafile=cluster.ca_file)
    sock = context.wrap_socket(socket.create_connection(("127.0.0.1", cluster.masters[0].api_port), timeout=5),
                               server_hostname="127.0.0.1")
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {TOKEN}\r\n"
                 f"Accept: {accept}\r\n\r\n".encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, "connection closed before the headers"
        head += chunk
    assert head.startswith(b"HTTP/1.1 200"), head[:200]
    return sock


@pytest.mark.parametrize("style", ["plain", "table"])
def test_dropped_watch_clients_release_slots(cluster: Cluster, style: str) -> None:
    """50 quiet watches whose clients vanish (sockets closed, no FIN-ACK dance) free their slots."""
    rv = cluster.get(0, "/api/v1/namespaces/default/configmaps").json()["metadata"]["resourceVersion"]
    path = f"/api/v1/namespaces/default/configmaps?watch=true&resourceVersion={rv}"
    accept = TABLE if style == "table" else "application/json"
    socks = []
    for _ in range(50):
        sock = _raw_watch(cluster, path, accept)
        socks.append(sock)
    wait_for(lambda: open_watches(cluster) >= 50, timeout=10, what="50 open watches")
    for sock in socks:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")  # RST
        sock.close()
    wait_for(lambda: open_watches(cluster) == 0, timeout=15, what="slots of vanished watchers released")


@pytest.mark.parametrize("accept", ["application/json", TABLE])
def test_streaming_watch_sends_headers_at_once(cluster: Cluster, accept: str) -> None:
    rv = cluster.get(0, "/api/v1/namespaces/default/configmaps").json()["metadata"]["resourceVersion"]
    started = time.monotonic()
    with cluster.session.get(_url(cluster, "/api/v1/namespaces/default/configmaps"), stream=True,
                             params={"watch": "true", "resourceVersion": rv, "timeoutSeconds": "30"},
                             headers={"Accept": accept}, timeout=(5, 5)) as response:
        assert response.status_code == 200
        assert time.monotonic() - started < 5  # a quiet resource: only the headers can have arrived


def test_kubectl_wait_returns_when_the_pod_is_ready(cluster: Cluster, tmp_path: Path) -> None:
    created = cluster.post(0, PODS, _pod("ready-pod"))
    assert created.status_code == 201, created.text
    status = {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}
    patched = cluster.session.patch(_url(cluster, f"{PODS}/ready-pod/status"), json={"status": status},
                                    headers={"Content-Type": "application/merge-patch+json"}, timeout=5)
    assert patched.status_code == 200, patched.text
    assert cluster.ca_file is not None
    kubectl = Kubectl(tmp_path, cluster.masters[0].url, TOKEN, ca_file=Path(cluster.ca_file))
    for condition in ("--for=condition=Ready", "--for=jsonpath={.status.phase}=Running"):
        done = kubectl.run("wait", condition, "pod/ready-pod", "--timeout=20s", record=False, timeout=30,
                           check=False)
        assert done.returncode == 0, done.stderr
    # and a pod that never gets Ready makes kubectl give up at its own --timeout, not hang
    assert cluster.post(0, PODS, _pod("never-ready")).status_code == 201
    started = time.monotonic()
    done = kubectl.run("wait", "--for=condition=Ready", "pod/never-ready", "--timeout=3s", record=False, timeout=30,
                       check=False)
    assert done.returncode != 0 and "timed out" in done.stderr, done.stderr
    assert time.monotonic() - started < 20


# ----------------------------------------------------------------------------- resourceVersion, verbs


@pytest.mark.parametrize("rv", ["abc", "-1", "1.5", "99999999999999999999999", "\u00b2"])
def test_resource_version_must_be_an_integer(cluster: Cluster, rv: str) -> None:
    for path, params in ((PODS, {}), (f"{PODS}/nope", {}), (PODS, {"watch": "true"})):
        response = cluster.session.get(_url(cluster, path), params={"resourceVersion": rv, **params}, timeout=5)
        assert response.status_code == 400, (path, response.status_code, response.text)
        assert response.json()["reason"] == "BadRequest"


def test_unserved_verbs_are_405_and_change_nothing(cluster: Cluster) -> None:
    before = sorted(n["metadata"]["name"] for n in cluster.get(0, "/api/v1/namespaces").json()["items"])
    response = cluster.session.delete(_url(cluster, "/api/v1/namespaces"), timeout=5)
    assert response.status_code == 405, response.text
    assert response.json()["reason"] == "MethodNotAllowed"
    after = sorted(n["metadata"]["name"] for n in cluster.get(0, "/api/v1/namespaces").json()["items"])
    assert after == before
    assert cluster.session.put(_url(cluster, "/api/v1/namespaces/default/configmaps"), json={},
                               timeout=5).status_code == 405
    # A kind that serves deletecollection still does.
    assert cluster.post(0, "/api/v1/namespaces/default/configmaps",
                        {"metadata": {"name": "dc", "labels": {"dc": "1"}}}).status_code == 201
    gone = cluster.session.delete(_url(cluster, "/api/v1/namespaces/default/configmaps"),
                                  params={"labelSelector": "dc=1"}, timeout=5)
    assert gone.status_code == 200 and [o["metadata"]["name"] for o in gone.json()["items"]] == ["dc"]


# ---------------------------------------------------------------------------------------- pods/log


def _node_and_pod(cluster: Cluster, name: str, port: int) -> str:
    node = {"metadata": {"name": name}, "status": {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                                                   "daemonEndpoints": {"kubeletEndpoint": {"Port": port}}}}
    assert cluster.post(0, "/api/v1/nodes", node).status_code == 201
    assert cluster.post(0, PODS, _pod(f"on-{name}", name)).status_code == 201
    return f"{PODS}/on-{name}/log"


def test_log_streams_from_a_silent_node_time_out_and_are_capped(cluster: Cluster) -> None:
    node = FakeNode("silent")
    try:
        path = _node_and_pod(cluster, "silent-node", node.port)
        answers: list[int] = []

        def one() -> None:
            response = cluster.session.get(_url(cluster, path), params={"follow": "true"}, timeout=60)
            answers.append(response.status_code)

        threads = [threading.Thread(target=one) for _ in range(20)]
        for t in threads:
            t.start()
        started = time.monotonic()
        while any(t.is_alive() for t in threads) and time.monotonic() - started < 45:
            ready = cluster.session.get(_url(cluster, "/readyz"), timeout=2)
            assert ready.status_code == 200
            time.sleep(0.2)
        for t in threads:
            t.join(timeout=30)
        assert sorted(set(answers)) == [429, 503], answers  # 8 waited for the node, the rest were refused
        assert answers.count(503) == 8
    finally:
        node.close()


def test_log_streams_end_when_their_client_leaves(cluster: Cluster) -> None:
    """An endless log stream is closed towards the node once its client hangs up, so the cap (8)
    never fills up with streams nobody reads."""
    node = FakeNode("endless")
    try:
        path = _node_and_pod(cluster, "endless-node", node.port)
        for i in range(12):  # more than the cap: leaked streams would make these 429
            with cluster.session.get(_url(cluster, path), params={"follow": "true"}, stream=True,
                                     timeout=10) as response:
                assert response.status_code == 200, (i, response.text)
                assert next(response.iter_content(chunk_size=None))
            wait_for(lambda: node.open_streams == 0, timeout=10, what="the master hung up on the node")
    finally:
        node.close()


@pytest.mark.parametrize("status", [
    {"addresses": [{"type": "InternalIP", "address": "127.0.0.1:80/x?"}], "daemonEndpoints": {
        "kubeletEndpoint": {"Port": 10250}}},
    {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}], "daemonEndpoints": {
        "kubeletEndpoint": {"Port": "80/evil"}}},
    {"addresses": [{"type": "InternalIP", "address": "127.0.0.1"}], "daemonEndpoints": {
        "kubeletEndpoint": {"Port": 70000}}},
    {"addresses": [{"type": "Hostname", "address": "evil.example"}], "daemonEndpoints": {
        "kubeletEndpoint": {"Port": 10250}}},
    {"addresses": "nope"},
])
def test_kubelet_url_is_built_from_parsed_values_only(status: dict[str, Any]) -> None:
    with pytest.raises(errors.ServiceUnavailableError):
        kubelet_url({"metadata": {"name": "n"}, "status": status})


def test_kubelet_url_of_valid_addresses() -> None:
    def node(ip: str) -> dict[str, Any]:
        return {"metadata": {"name": "n"}, "status": {
            "addresses": [{"type": "InternalIP", "address": ip}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}}

    assert kubelet_url(node("10.0.0.7")) == "http://10.0.0.7:10250"
    assert kubelet_url(node("fd00::7")) == "http://[fd00::7]:10250"


@pytest.mark.parametrize("handshake", [False, pytest.param(True, marks=pytest.mark.slow)])  # True: 30 s deadline
def test_idle_tls_connections_do_not_pin_the_master(cluster: Cluster, handshake: bool) -> None:
    """300 clients that connect to the TLS port and then say nothing (before or after the TLS
    handshake): the master keeps answering, and closes the silent ones by itself."""
    context = ssl.create_default_context(cafile=cluster.ca_file)
    socks = []
    try:
        for _ in range(300):
            sock = socket.create_connection(("127.0.0.1", cluster.masters[0].api_port), timeout=5)
            if handshake:
                sock = context.wrap_socket(sock, server_hostname="127.0.0.1")
            socks.append(sock)
        for _ in range(5):
            assert cluster.session.get(_url(cluster, "/readyz"), timeout=2).status_code == 200
            created = cluster.session.post(_url(cluster, "/api/v1/namespaces/default/configmaps"), timeout=2,
                                           json={"metadata": {"generateName": "idle-"}})
            assert created.status_code == 201, created.text
        socks[0].settimeout(45)
        try:  # the handshake (10 s) or the first request (30 s) timed out: closed or reset
            assert socks[0].recv(1) == b""
        except (ConnectionResetError, ssl.SSLError):
            pass
    finally:
        for sock in socks:
            sock.close()


def _keepalive_request(sock: socket.socket, path: str, *, token: str | None = None) -> bytes:
    """Send one HTTP/1.1 keep-alive request on `sock` and read its head and Content-Length body."""
    auth = f"Authorization: Bearer {token}\r\n" if token else ""
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: x\r\n{auth}\r\n".encode())
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, "the server closed the connection instead of answering"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = next(int(line.split(b":", 1)[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
    while len(body) < length:
        body += sock.recv(65536)
    return head


@pytest.mark.parametrize("tls", [False, True], ids=["plain", "tls"])
def test_idle_keepalive_connections_close_but_quiet_watches_stay(tmp_path: Path, tls: bool) -> None:
    """With --idle-timeout 3: keep-alive connections left idle after a request are closed by the master
    (directly, or through the TLS front), while a quiet watch on another connection stays open."""
    with running(tmp_path / "c", 1, tls=tls, extra_args=["--no-control-loops", "--idle-timeout", "3"]) as cluster:
        context = ssl.create_default_context(cafile=cluster.ca_file) if tls else None

        def connect() -> socket.socket:
            sock = socket.create_connection(("127.0.0.1", cluster.masters[0].api_port), timeout=10)
            return context.wrap_socket(sock, server_hostname="127.0.0.1") if context else sock

        idle = [connect() for _ in range(20)]
        watcher = connect()
        try:
            for sock in idle:
                assert b" 200 " in _keepalive_request(sock, "/readyz").split(b"\r\n")[0]
            watcher.sendall(f"GET {PODS}?watch=true&timeoutSeconds=40 HTTP/1.1\r\nHost: x\r\n"
                            f"Authorization: Bearer {TOKEN}\r\n\r\n".encode())
            started = time.monotonic()
            for sock in idle:  # idle 3 s, noticed by a sweep every 3 s: closed well within 20 s
                sock.settimeout(max(0.1, 20 - (time.monotonic() - started)))
                try:
                    assert sock.recv(1) == b""
                except (ConnectionResetError, ssl.SSLError):
                    pass
            closed_after = time.monotonic() - started
            assert closed_after >= 2.5, f"closed after {closed_after:.1f}s, before the idle timeout"
            # the watch had a request in progress the whole time: still open, nothing but its headers sent
            watcher.settimeout(0.5)
            head = watcher.recv(65536)
            assert head.startswith(b"HTTP/1.1 200"), head[:100]
            with pytest.raises((socket.timeout, ssl.SSLWantReadError, TimeoutError)):
                while watcher.recv(65536):
                    pass
        finally:
            for sock in [*idle, watcher]:
                sock.close()
