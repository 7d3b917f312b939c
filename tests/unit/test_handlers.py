"""Probe and hook handlers: exec through a runtime, httpGet and tcpSocket on loopback, ports by name."""

from __future__ import annotations

import http.server
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from minik8s.node.handlers import HandlerError, HandlerRunner, Outcome, Target, resolve_port
from minik8s.node.runtime.base import ContainerConfig, SandboxConfig
from minik8s.node.runtime.fake import FakeClock, FakeRuntime

Obj = dict[str, Any]
CONTAINER = {"name": "web", "ports": [{"name": "http", "containerPort": 8080}, {"name": "admin", "containerPort": 9}]}
POD = {"metadata": {"name": "p", "namespace": "default", "uid": "u1"}}


class _Handler(http.server.BaseHTTPRequestHandler):
    seen: list[dict[str, str]] = []

    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        _Handler.seen.append({"path": self.path, **dict(self.headers)})
        code = {"/ok": 200, "/moved": 302}.get(self.path, 503)
        self.send_response(code)
        self.end_headers()
        self.wfile.write(b"body")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[int]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd.server_address[1]
    httpd.shutdown()
    httpd.server_close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _target(port: int | None = None) -> Target:
    container = {**CONTAINER, "ports": [*CONTAINER["ports"], {"name": "probe", "containerPort": port or 1}]}
    return Target(pod=POD, container=container, container_id="c1", pod_ip="127.0.0.1")


def test_resolve_port_by_number_and_name() -> None:
    """A number, a container port's name, or digits as text; anything else says what is wrong."""
    assert resolve_port(80, CONTAINER) == 80 and resolve_port("http", CONTAINER) == 8080
    assert resolve_port("8081", CONTAINER) == 8081
    with pytest.raises(HandlerError, match="port metrics not found"):
        resolve_port("metrics", CONTAINER)
    with pytest.raises(HandlerError, match="invalid port number: 70000"):
        resolve_port(70000, CONTAINER)


def test_http_get_probe(server: int) -> None:
    """2xx succeeds, 3xx succeeds with a warning, 503 fails with the status; headers and User-Agent are sent."""
    runner = HandlerRunner(FakeRuntime())
    ok = runner.probe({"httpGet": {"path": "/ok", "port": "probe", "httpHeaders": [{"name": "X-Probe", "value": "1"}]}},
                      _target(server), 1.0)
    assert (ok.outcome, ok.output) == (Outcome.SUCCESS, "body")
    assert _Handler.seen[-1]["X-Probe"] == "1" and _Handler.seen[-1]["User-Agent"] == "kube-probe/1.32"
    assert runner.probe({"httpGet": {"path": "/moved", "port": server}}, _target(), 1.0).outcome is Outcome.WARNING
    failed = runner.probe({"httpGet": {"path": "/bad", "port": server}}, _target(), 1.0)
    assert (failed.outcome, failed.output) == (Outcome.FAILURE, "HTTP probe failed with statuscode: 503")
    port = _closed_port()
    refused = runner.probe({"httpGet": {"path": "/healthz", "port": port}}, _target(), 1.0)
    assert refused.outcome is Outcome.FAILURE
    assert refused.output == f'Get "http://127.0.0.1:{port}/healthz": dial tcp 127.0.0.1:{port}: connect: connection refused'


def test_tcp_socket_probe(server: int) -> None:
    """An open port succeeds; a closed one fails with Go's dial message."""
    runner = HandlerRunner(FakeRuntime())
    assert runner.probe({"tcpSocket": {"port": server}}, _target(), 1.0).outcome is Outcome.SUCCESS
    port = _closed_port()
    result = runner.probe({"tcpSocket": {"port": port}}, _target(), 1.0)
    assert (result.outcome, result.output) == (Outcome.FAILURE, f"dial tcp 127.0.0.1:{port}: connect: connection refused")
    with pytest.raises(HandlerError, match="grpc"):
        runner.probe({"grpc": {"port": 1}}, _target(), 1.0)


def _running_fake() -> tuple[FakeRuntime, FakeClock, str]:
    clock = FakeClock()
    runtime = FakeRuntime(clock=clock, sleep=clock.sleep)
    sandbox = runtime.run_pod_sandbox(SandboxConfig(pod_uid="u1", pod_name="p", namespace="default", hostname="p"))
    container = runtime.create_container(sandbox, ContainerConfig(name="web", image="x", command=["fake", "run"]))
    runtime.start_container(container)
    return runtime, clock, container


def test_exec_probe_and_hooks() -> None:
    """exec: exit 0 succeeds, else fails with the output; a timeout fails; hooks report Kubernetes' messages."""
    runtime, clock, cid = _running_fake()
    runner = HandlerRunner(runtime, sleep=clock.sleep)
    target = Target(pod=POD, container=CONTAINER, container_id=cid, pod_ip="127.0.0.1")
    assert runner.probe({"exec": {"command": ["fake", "say", "fine"]}}, target, 1).outcome is Outcome.SUCCESS
    failed = runner.probe({"exec": {"command": ["fake", "say", "no file", "exit", "1"]}}, target, 1)
    assert (failed.outcome, failed.output) == (Outcome.FAILURE, "no file\n")
    slow = runner.probe({"exec": {"command": ["fake", "after", "5"]}}, target, 1)
    assert (slow.outcome, slow.output) == (Outcome.FAILURE, 'command "fake after 5" timed out')
    assert runner.hook({"exec": {"command": ["fake"]}}, target, 30) is None
    message = runner.hook({"exec": {"command": ["fake", "say", "oops", "exit", "2"]}}, target, 30)
    assert message == ('Exec lifecycle hook ([fake say oops exit 2]) for Container "web" in Pod "p_default(u1)" '
                       'failed - error: command "fake say oops exit 2" failed, message: "oops\\n"')
    before = clock.now
    assert runner.hook({"sleep": {"seconds": 5}}, target, 2) is None and clock.now == before + 2  # cut by the time left
    assert runner.hook({"tcpSocket": {"port": 1}}, target, 1).startswith("Cannot run handler: invalid handler")
    runtime.stop_container(cid, 0)
    with pytest.raises(HandlerError, match="not running"):
        runner.probe({"exec": {"command": ["fake"]}}, target, 1)


def test_http_hook_checks_only_the_connection(server: int) -> None:
    """A lifecycle httpGet fails only when the request cannot be made, not on its status code."""
    runner = HandlerRunner(FakeRuntime())
    assert runner.hook({"httpGet": {"path": "/bad", "port": server}}, _target(), 1) is None
    port = _closed_port()
    message = runner.hook({"httpGet": {"path": "/stop", "port": port}}, _target(), 1)
    assert message is not None and message.startswith('HTTP lifecycle hook (/stop) for Container "web" in Pod')
    assert "connection refused" in message
