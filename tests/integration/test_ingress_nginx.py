"""The ingress proxy's data plane on loopback: real nginx, real HTTP backends, no cluster.

Routes are built from Ingress objects exactly as a node agent builds them and served by Debian's
nginx with the node agent's `Nginx` process manager; requests carry a Host header. The path cases
are the table of the Kubernetes documentation ("Examples" under "Path types"), plus hosts, the 404
and 503 answers, a reload under load, and the process lifecycle (adoption, leftover stop).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from minik8s.node.ingress import Nginx, ProxySettings, build_routes, render, stop_leftover

from .cluster import wait_for
from .ingress_support import ECHO_SERVER, free_port, get

pytestmark = pytest.mark.skipif(not os.access("/usr/sbin/nginx", os.X_OK), reason="Debian's nginx is not installed")

Obj = dict[str, Any]
CLASSES = [{"metadata": {"name": "nginx"}, "spec": {"controller": "minik8s.io/ingress-nginx"}}]


class Backends:
    """Echo servers on loopback, one per Service name, and the Services/EndpointSlices naming them."""

    def __init__(self, names: list[str]) -> None:
        self.ports = {name: free_port() for name in names}
        self.procs = [subprocess.Popen([sys.executable, "-c", ECHO_SERVER, name, str(port)])
                      for name, port in self.ports.items()]
        for name, port in self.ports.items():
            wait_for(lambda p=port: _answers(p), timeout=10, what=f"backend {name}")

    def services(self) -> list[Obj]:
        return [{"metadata": {"name": n, "namespace": "default"}, "spec": {"ports": [{"port": 80}]}}
                for n in self.ports]

    def slices(self) -> list[Obj]:
        return [{"metadata": {"name": f"{n}-1", "namespace": "default",
                              "labels": {"kubernetes.io/service-name": n}},
                 "addressType": "IPv4", "ports": [{"port": p}], "endpoints": [{"addresses": ["127.0.0.1"]}]}
                for n, p in self.ports.items()]

    def stop(self) -> None:
        for proc in self.procs:
            proc.kill()
            proc.wait()


def _answers(port: int) -> bool:
    try:
        return get("127.0.0.1", port, "x", "/")[0] == 200
    except OSError:
        return False


class Proxy:
    """nginx on 127.0.0.1:<free port>, configured from Ingress objects."""

    def __init__(self, prefix: Path, backends: Backends) -> None:
        self.port = free_port()
        self.backends = backends
        self.settings = ProxySettings(listen_ip="127.0.0.1", port=self.port, prefix=str(prefix),
                                      user="nobody nogroup" if os.geteuid() == 0 else None)
        self.nginx = Nginx(str(prefix))
        self.nginx.prepare()

    def serve(self, *ingresses: Obj, services: list[Obj] | None = None) -> str:
        routes = build_routes(list(ingresses), CLASSES, self.backends.services() if services is None else services,
                              self.backends.slices())
        return self.nginx.apply(render(routes, self.settings))

    def get(self, host: str, path: str) -> tuple[int, str]:
        return get("127.0.0.1", self.port, host, path)


@pytest.fixture
def proxy(tmp_path: Path) -> Iterator[Proxy]:
    backends = Backends(["a", "b", "c", "d"])
    served = Proxy(tmp_path / "ingress", backends)
    try:
        yield served
    finally:
        served.nginx.stop()
        backends.stop()


def ingress(name: str, rules: list[Obj], **spec: Any) -> Obj:
    return {"metadata": {"name": name, "namespace": "default", "creationTimestamp": "2026-01-01T00:00:00Z"},
            "spec": {"ingressClassName": "nginx", "rules": rules, **spec}}


def paths(host: str, *items: tuple[str, str, str]) -> Obj:
    return {"host": host, "http": {"paths": [
        {"path": p, "pathType": t, "backend": {"service": {"name": svc, "port": {"number": 80}}}}
        for p, t, svc in items]}}


# The Kubernetes documentation's table (concepts/services-networking/ingress, "Examples"):
# (the paths of one Ingress, request path, the backend that answers or None for no match).
DOC_TABLE = [
    pytest.param([("/", "Prefix", "a")], "/anything/at/all", "a", id="prefix-root"),
    pytest.param([("/foo", "Exact", "a")], "/foo", "a", id="exact"),
    pytest.param([("/foo", "Exact", "a")], "/bar", None, id="exact-other"),
    pytest.param([("/foo", "Exact", "a")], "/foo/", None, id="exact-no-trailing-slash"),
    pytest.param([("/foo/", "Exact", "a")], "/foo", None, id="exact-slash-vs-none"),
    pytest.param([("/foo", "Prefix", "a")], "/foo", "a", id="prefix-same"),
    pytest.param([("/foo", "Prefix", "a")], "/foo/", "a", id="prefix-trailing-slash"),
    pytest.param([("/foo/", "Prefix", "a")], "/foo", "a", id="prefix-slash-matches-bare"),
    pytest.param([("/foo/", "Prefix", "a")], "/foo/", "a", id="prefix-slash-matches-slash"),
    pytest.param([("/aaa/bb", "Prefix", "a")], "/aaa/bbb", None, id="prefix-not-a-substring"),
    pytest.param([("/aaa/bbb", "Prefix", "a")], "/aaa/bbb", "a", id="prefix-elements"),
    pytest.param([("/aaa/bbb/", "Prefix", "a")], "/aaa/bbb", "a", id="prefix-ignores-trailing-slash"),
    pytest.param([("/aaa/bbb", "Prefix", "a")], "/aaa/bbb/", "a", id="prefix-matches-trailing-slash"),
    pytest.param([("/aaa/bbb", "Prefix", "a")], "/aaa/bbb/ccc", "a", id="prefix-subpath"),
    pytest.param([("/aaa/bbb", "Prefix", "a")], "/aaa/bbbxyz", None, id="prefix-string-prefix-no-match"),
    pytest.param([("/", "Prefix", "a"), ("/aaa", "Prefix", "b")], "/aaa/ccc", "b", id="longest-prefix"),
    pytest.param([("/", "Prefix", "a"), ("/aaa", "Prefix", "b"), ("/aaa/bbb", "Prefix", "c")], "/aaa/bbb", "c",
                 id="longest-of-three"),
    pytest.param([("/", "Prefix", "a"), ("/aaa", "Prefix", "b"), ("/aaa/bbb", "Prefix", "c")], "/ccc", "a",
                 id="root-fallback"),
    pytest.param([("/aaa", "Prefix", "a")], "/ccc", None, id="no-match-default-backend"),
    pytest.param([("/foo", "Prefix", "a"), ("/foo", "Exact", "b")], "/foo", "b", id="exact-preferred"),
    pytest.param([("/foo", "Prefix", "a"), ("/foo", "Exact", "b")], "/foo/x", "a", id="exact-not-below"),
    # nginx would answer these with its 301 to the slashed path; Kubernetes routes them as written
    pytest.param([("/", "Prefix", "a"), ("/foo/", "Exact", "b")], "/foo", "a", id="no-redirect-to-slash"),
    pytest.param([("/api", "Prefix", "a"), ("/api/v1/", "Exact", "b")], "/api/v1", "a", id="no-redirect-nested"),
]


@pytest.mark.parametrize(("rules", "request_path", "answers"), DOC_TABLE)
def test_nginx_path_types_as_kubernetes_defines_them(proxy: Proxy, rules: list[tuple[str, str, str]],
                                                     request_path: str, answers: str | None) -> None:
    """Each row of the Kubernetes docs' path table, through real nginx: the matching backend answers,
    no match is the default 404."""
    proxy.serve(ingress("t", [paths("foo.bar.com", *rules)]))
    status, body = proxy.get("foo.bar.com", request_path)
    if answers is None:
        assert status == 404, body
    else:
        assert (status, body) == (200, f"{answers} {request_path}")


def test_nginx_hosts_wildcards_default_backend_and_503(proxy: Proxy) -> None:
    """Two hosts on one address, a one-label wildcard, unknown hosts (404 or the rule-less Ingress's
    defaultBackend), the Host header's case and port, and 503 for a Service without endpoints."""
    proxy.serve(ingress("t", [paths("foo.bar.com", ("/", "Prefix", "a")), paths("bar.foo.com", ("/", "Prefix", "b")),
                              paths("*.foo.com", ("/", "Prefix", "c")),
                              paths("empty.com", ("/", "Prefix", "nothing"))]))
    assert proxy.get("foo.bar.com", "/x") == (200, "a /x")
    assert proxy.get("bar.foo.com", "/x") == (200, "b /x")
    assert proxy.get("FOO.bar.com:80", "/y") == (200, "a /y")
    assert proxy.get("zzz.foo.com", "/") == (200, "c /")
    assert proxy.get("a.b.foo.com", "/")[0] == 404  # the wildcard covers one label only
    assert proxy.get("foo.com", "/")[0] == 404
    assert proxy.get("unknown.example", "/")[0] == 404
    assert proxy.get("empty.com", "/")[0] == 503
    catch_all = {**ingress("d", []), "spec": {"ingressClassName": "nginx",
                                             "defaultBackend": {"service": {"name": "d", "port": {"number": 80}}}}}
    proxy.serve(ingress("t", [paths("foo.bar.com", ("/app", "Prefix", "a"))]), catch_all)
    wait_for(lambda: proxy.get("unknown.example", "/q") == (200, "d /q"), timeout=5, interval=0.05,
             what="the catch-all defaultBackend live")
    assert proxy.get("foo.bar.com", "/other")[0] == 404  # the host's own root: no defaultBackend there


def test_nginx_sets_forwarded_headers_from_the_connection(proxy: Proxy) -> None:
    """X-Forwarded-For is the client's address, not what the client claims."""
    proxy.serve(ingress("t", [paths("foo.bar.com", ("/", "Prefix", "a"))]))
    import http.client

    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
    conn.request("GET", "/", headers={"Host": "foo.bar.com", "X-Forwarded-For": "6.6.6.6"})
    response = conn.getresponse()
    response.read()
    conn.close()
    assert response.getheader("X-Seen-Forwarded-For") == "127.0.0.1"


def test_nginx_reload_under_load_fails_no_request(proxy: Proxy) -> None:
    """A loop of requests (a new connection each, like curl) while the routes change 20 times: every
    request succeeds, and the change is visible once applied."""
    proxy.serve(ingress("t", [paths("foo.bar.com", ("/", "Prefix", "a"))]))
    failures: list[str] = []
    done = threading.Event()
    count = 0

    def load() -> None:
        nonlocal count
        deadline = time.monotonic() + 60
        while not done.is_set() and time.monotonic() < deadline:
            try:
                status, body = proxy.get("foo.bar.com", "/x")
                if status != 200:
                    failures.append(f"{status} {body}")
            except OSError as exc:
                failures.append(repr(exc))
            count += 1

    loader = threading.Thread(target=load)
    loader.start()
    try:
        for i in range(20):
            backend = "ab"[i % 2]
            assert proxy.serve(ingress("t", [paths("foo.bar.com", ("/", "Prefix", backend))])) == "reloaded"
            wait_for(lambda b=backend: proxy.get("foo.bar.com", "/x")[1] == f"{b} /x", timeout=5,
                     interval=0.01, what=f"backend {backend} live")
    finally:
        done.set()
        loader.join()
    assert count > 20 and failures == []


def test_nginx_refused_config_keeps_the_live_one(proxy: Proxy, tmp_path: Path) -> None:
    """A configuration `nginx -t` refuses never replaces the live one."""
    from minik8s.node.ingress import NginxConfigError

    proxy.serve(ingress("t", [paths("foo.bar.com", ("/", "Prefix", "a"))]))
    live = proxy.nginx.conf.read_text()
    with pytest.raises(NginxConfigError):
        proxy.nginx.apply(live.replace("http {", "http {\n    no_such_directive on;", 1))
    assert proxy.nginx.conf.read_text() == live
    assert proxy.get("foo.bar.com", "/") == (200, "a /")


def test_nginx_is_adopted_and_stopped_as_a_leftover(proxy: Proxy) -> None:
    """A master left by a killed agent is adopted by the next one (reloaded, not restarted), and
    `stop_leftover` (what `minik8s down` runs) stops it and its workers."""
    proxy.serve(ingress("t", [paths("foo.bar.com", ("/", "Prefix", "a"))]))
    master = proxy.nginx.pid
    assert master is not None
    workers = Path(f"/proc/{master}/task/{master}/children").read_text().split()
    successor = Nginx(str(proxy.nginx.prefix))
    successor.prepare()
    assert successor.pid == master
    assert successor.apply(proxy.nginx.conf.read_text().replace("/x", "/x")) == "reloaded"
    assert stop_leftover(str(proxy.nginx.prefix))
    proxy.nginx._proc.wait(timeout=10)  # our child: reap it
    assert not Path(f"/proc/{master}").exists()
    wait_for(lambda: not any(Path(f"/proc/{w}").exists() for w in workers), timeout=10, what="workers gone")
    assert not stop_leftover(str(proxy.nginx.prefix))
