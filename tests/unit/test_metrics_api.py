"""Unit tests of metrics.k8s.io answers: node summaries parsed defensively, cached per node, turned into
NodeMetrics/PodMetrics with metrics-server's formats and selectors."""

from __future__ import annotations

from typing import Any

import falcon
import falcon.testing
import pytest

from minik8s.api import errors, selectors
from minik8s.api.kinds import resolve
from minik8s.api.kinds.metrics import cpu_quantity, go_duration, memory_quantity
from minik8s.api.server.metricsapi import MetricsApi, NodeStatsCache, NodeSummary, parse_summary

Obj = dict[str, Any]
NOW = 1_700_000_000.0


def container(name: str, nanocores: int | None, memory: int, window: float = 15.0) -> Obj:
    cpu: Obj = {"time": "2023-11-14T22:13:20Z", "usageCoreNanoSeconds": 1}
    if nanocores is not None:
        cpu.update(usageNanoCores=nanocores, windowSeconds=window)
    return {"name": name, "cpu": cpu, "memory": {"time": "2023-11-14T22:13:20Z", "workingSetBytes": memory}}


def summary(node_cores: int | None, *pods: tuple[str, str, str, list[Obj]]) -> Obj:
    node: Obj = {"nodeName": "n1"}
    if node_cores is not None:
        node["cpu"] = {"time": "2023-11-14T22:13:20Z", "usageNanoCores": node_cores, "windowSeconds": 10.5}
        node["memory"] = {"time": "2023-11-14T22:13:20Z", "workingSetBytes": 3 << 30}
    return {"node": node, "pods": [{"podRef": {"namespace": ns, "name": name, "uid": uid}, "containers": cs}
                                   for ns, name, uid, cs in pods]}


class FakeRegistry:
    def __init__(self, nodes: list[Obj], pods: list[Obj]) -> None:
        self.objects = {"nodes": nodes, "pods": pods}

    def list(self, rt: Any, namespace: str | None) -> tuple[list[Obj], int]:
        items = self.objects[rt.plural]
        return [o for o in items if namespace in (None, o["metadata"].get("namespace"))], 7


def node(name: str, **labels: str) -> Obj:
    return {"metadata": {"name": name, "labels": labels}}


def pod(name: str, node_name: str | None, namespace: str = "default", uid: str = "", **labels: str) -> Obj:
    return {"metadata": {"name": name, "namespace": namespace, "uid": uid or f"uid-{name}", "labels": labels},
            "spec": {"nodeName": node_name} if node_name else {}}


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(("nanocores", "text"), [(2_000_000_000, "2"), (250_000_000, "250m"), (1_500_000, "1500u"),
                                                 (1_234_567, "1234567n"), (0, "0")])
def test_metrics_cpu_quantity_is_canonical(nanocores: int, text: str) -> None:
    """CPU is written as Kubernetes' canonical quantity of nanocores."""
    assert cpu_quantity(nanocores) == text


@pytest.mark.parametrize(("size", "text"), [(5 << 20, "5Mi"), (5000 << 10, "5000Ki"), (1000, "1000"), (0, "0"),
                                            (3 << 30, "3Gi")])
def test_metrics_memory_quantity_is_binary(size: int, text: str) -> None:
    """Memory is written in binary units like metrics-server's (`Ki`, `Mi`, ...), plain bytes otherwise."""
    assert memory_quantity(size) == text


@pytest.mark.parametrize(("seconds", "text"), [(15.0, "15s"), (10.5, "10.5s"), (75.25, "1m15.25s"), (0.0, "0s")])
def test_metrics_window_is_a_go_duration(seconds: float, text: str) -> None:
    """`window` reads like Go's Duration.String()."""
    assert go_duration(seconds) == text


def test_metrics_summary_leaves_out_pods_without_rates_and_hostile_values() -> None:
    """A pod appears only when every container has a sane CPU rate and working set."""
    parsed = parse_summary(summary(
        1_000_000_000,
        ("default", "ok", "u1", [container("a", 5, 1), container("b", 6, 2)]),
        ("default", "new", "u2", [container("a", 5, 1), container("b", None, 2)]),
        ("default", "neg", "u3", [container("a", -5, 1)]),
        ("default", "bool", "u4", [container("a", True, 1)]),  # type: ignore[arg-type]
        ("default", "huge", "u5", [container("a", 1 << 70, 1)]),
        ("default", "empty", "u6", []),
    ))
    assert list(parsed.pods) == [("default", "ok")]
    assert parsed.node is not None and parsed.node.nanocores == 1_000_000_000
    for junk in (None, [], "x", {"pods": "x"}, {"pods": [None, {"podRef": "x"}, {"podRef": {"name": 1}}]}):
        assert parse_summary(junk) == NodeSummary(None, {})


def test_metrics_cache_keeps_answers_and_failures_per_node() -> None:
    """A node is fetched once per cache period; a failing node is not retried within it either."""
    clock, fetched = Clock(), []

    def fetch(n: Obj) -> NodeSummary:
        fetched.append(n["metadata"]["name"])
        if n["metadata"]["name"] == "dead":
            raise errors.ServiceUnavailableError("unreachable")
        return parse_summary(summary(5))

    cache = NodeStatsCache("token", cache_seconds=3.0, clock=clock, fetch=fetch)
    assert set(cache.summaries([node("a"), node("dead")])) == {"a"}
    clock.now += 2.9
    cache.summaries([node("a"), node("dead")])
    assert sorted(fetched) == ["a", "dead"]
    clock.now += 0.2
    cache.summaries([node("a"), node("dead")])
    assert sorted(fetched) == ["a", "a", "dead", "dead"]
    cache.close()


def api(nodes: list[Obj], pods: list[Obj], summaries: dict[str, Obj]) -> MetricsApi:
    cache = NodeStatsCache("token", fetch=lambda n: parse_summary(summaries[n["metadata"]["name"]]))
    return MetricsApi(FakeRegistry(nodes, pods), cache, clock=lambda: NOW)  # type: ignore[arg-type]


def test_metrics_pod_metrics_like_metrics_server() -> None:
    """PodMetrics carry the pod's labels, the newest timestamp, the window and each container's usage;
    pods with another uid (a recreated pod) or not on a node are left out."""
    pods = [pod("web-1", "n1", app="web"), pod("web-2", "n2", app="web"), pod("db", "n1", app="db"),
            pod("pending", None, app="web"), pod("old", "n1", uid="new-uid", app="web")]
    s1 = summary(5, ("default", "web-1", "uid-web-1", [container("app", 250_000_000, 64 << 20),
                                                       container("side", 1_500_000, 5000 << 10, window=10.0)]),
                 ("default", "db", "uid-db", [container("db", 10, 1 << 20)]),
                 ("default", "old", "old-uid", [container("c", 10, 1 << 20)]))
    s2 = summary(5, ("default", "web-2", "uid-web-2", [container("app", 2_000_000_000, 1 << 30)]))
    metrics = api([node("n1"), node("n2")], pods, {"n1": s1, "n2": s2})
    items = metrics.pod_metrics("default", selectors.parse_label_selector("app=web"))
    assert [i["metadata"]["name"] for i in items] == ["web-1", "web-2"]
    assert items[0] == {
        "kind": "PodMetrics", "apiVersion": "metrics.k8s.io/v1beta1",
        "metadata": {"name": "web-1", "namespace": "default", "creationTimestamp": "2023-11-14T22:13:20Z",
                     "labels": {"app": "web"}},
        "timestamp": "2023-11-14T22:13:20Z", "window": "10s",
        "containers": [{"name": "app", "usage": {"cpu": "250m", "memory": "64Mi"}},
                       {"name": "side", "usage": {"cpu": "1500u", "memory": "5000Ki"}}]}
    assert items[1]["containers"][0]["usage"] == {"cpu": "2", "memory": "1Gi"}
    assert metrics.pod_metrics("other", selectors.parse_label_selector("")) == []


def test_metrics_node_metrics_and_http_answers() -> None:
    """NodeMetrics for reporting nodes; get, list, label selectors, 404, Tables and no watch over HTTP."""
    metrics = api([node("n1", zone="a"), node("n2", zone="b"), node("quiet")], [],
                  {"n1": summary(1_500_000_000), "n2": summary(2_000_000_000), "quiet": summary(None)})
    app = falcon.App()
    app.add_error_handler(errors.ApiError, lambda req, resp, exc, params: (
        setattr(resp, "status", falcon.code_to_http_status(exc.code)), setattr(resp, "media", exc.to_status())))

    class Route:
        def on_get(self, req: falcon.Request, resp: falcon.Response, name: str | None = None) -> None:
            metrics.get(req, resp, resolve("nodes.metrics.k8s.io"), None, name)

    app.add_route("/nodes", Route())
    app.add_route("/nodes/{name}", Route())
    client = falcon.testing.TestClient(app)
    listed = client.simulate_get("/nodes").json
    assert listed["kind"] == "NodeMetricsList"
    assert [(i["metadata"]["name"], i["usage"], i["window"]) for i in listed["items"]] == [
        ("n1", {"cpu": "1500m", "memory": "3Gi"}, "10.5s"), ("n2", {"cpu": "2", "memory": "3Gi"}, "10.5s")]
    assert [i["metadata"]["name"] for i in client.simulate_get("/nodes", params={"labelSelector": "zone=b"}).json[
        "items"]] == ["n2"]
    assert client.simulate_get("/nodes/n1").json["metadata"]["labels"] == {"zone": "a"}
    assert client.simulate_get("/nodes/quiet").status_code == 404
    assert client.simulate_get("/nodes", params={"watch": "true"}).status_code == 405
    table = client.simulate_get("/nodes", headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}).json
    assert [r["cells"] for r in table["rows"]] == [["n1", "1500m", "3Gi", "10.5s"], ["n2", "2", "3Gi", "10.5s"]]


class _NodeAgent:
    """A loopback HTTP server standing in for a node agent; `behavior` decides each answer."""

    def __init__(self, behavior: str) -> None:
        import http.server
        import json
        import threading
        import time

        self.seen_tokens: list[str] = []
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 - the http.server API
                outer.seen_tokens.append(self.headers.get("Authorization", ""))
                if behavior == "unauthorized":
                    self.send_response(401)
                    self.end_headers()
                    return
                body = {"ok": json.dumps(summary(7, ("default", "web", "u", [container("c", 5, 1)]))).encode(),
                        "garbage": b"{not json", "nan": b'{"node": {"cpu": {"usageNanoCores": NaN}}}',
                        "huge": b" " * (17 << 20), "trickle": b" " * 64}[behavior]
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if behavior == "trickle":
                    for byte in body:
                        self.wfile.write(bytes([byte]))
                        self.wfile.flush()
                        time.sleep(0.05)
                    return
                self.wfile.write(body)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def node(self) -> Obj:
        return {"metadata": {"name": "n1"}, "status": {
            "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": self.server.server_address[1]}}}}

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize(("behavior", "answers"), [
    pytest.param("ok", True, id="ok"),
    pytest.param("unauthorized", False, id="401"),
    pytest.param("garbage", False, id="not-json"),
    pytest.param("nan", False, id="nan"),
    pytest.param("huge", False, id="over-16MiB"),
    pytest.param("trickle", False, id="trickling"),
])
def test_metrics_fetch_from_hostile_nodes(behavior: str, answers: bool) -> None:
    """A node's stats are fetched with the kubelet token from its parsed address; a node answering an
    error, malformed JSON, NaN, more than 16 MiB or too slowly is left out, never an exception."""
    agent = _NodeAgent(behavior)
    cache = NodeStatsCache("kubelet-secret", total_timeout=1.0)
    try:
        got = cache.summaries([agent.node])
        assert ("n1" in got) is answers
        if answers:
            assert got["n1"].pods[("default", "web")].containers["c"].nanocores == 5
        assert agent.seen_tokens == ["Bearer kubelet-secret"]
    finally:
        cache.close()
        agent.close()
