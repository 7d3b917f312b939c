"""ApiClient against a tiny in-test HTTP server implementing the wire contract of docs/architecture.md.

The fake serves pods only: list (with `metadata.resourceVersion`), get (404 `Status` when
missing), create (409/422 `Status`), the long-poll watch (410 below the compacted floor), a
text/plain log, `/version`, `/cluster/status`, and echoes other writes. A server can be switched to
answer 503, to drop connections without answering, or to answer only after `SLOW_SECONDS`. Several fake servers may share one store, like
masters sharing a replicated store.
"""

from __future__ import annotations

import json
import queue
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from minik8s.api import errors
from minik8s.api.client import ApiClient, Backoff

TOKEN = "s3cret"
SLOW_SECONDS = 5.0  # how long a "slow" fake server holds each request (unless it is closed first)


def status(code: int, reason: str, message: str, **details: Any) -> dict[str, Any]:
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message,
            "reason": reason, "code": code}
    if details:
        body["details"] = details
    return body


class FakeStore:
    """Pods in memory with a revisioned event log (shared by the fake servers)."""

    def __init__(self) -> None:
        self.cond = threading.Condition()
        self.revision = 0
        self.pods: dict[str, dict[str, Any]] = {}
        self.events: list[tuple[int, dict[str, Any]]] = []
        self.floor = 0  # events at or below this revision are compacted away
        self.closing = False

    def put(self, name: str, *, namespace: str = "default", **spec: Any) -> dict[str, Any]:
        with self.cond:
            self.revision += 1
            key = f"{namespace}/{name}"
            kind = "MODIFIED" if key in self.pods else "ADDED"
            pod = {"kind": "Pod", "apiVersion": "v1", "spec": spec,
                   "metadata": {"name": name, "namespace": namespace, "resourceVersion": str(self.revision)}}
            self.pods[key] = pod
            self.events.append((self.revision, {"type": kind, "object": pod}))
            self.cond.notify_all()
            return pod

    def compact(self) -> None:
        with self.cond:
            self.floor = self.revision
            self.events.clear()

    def close(self) -> None:
        """Make every pending and future long poll return at once (for teardown)."""
        with self.cond:
            self.closing = True
            self.cond.notify_all()


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


class FakeApiServer:
    """One fake API server on 127.0.0.1; `mode` is "ok", "unavailable" (503), "drop" or "slow"."""

    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.mode = "ok"
        self.closing = threading.Event()  # ends the wait of "slow" requests
        self.requests: list[Recorded] = []
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self.httpd.fake = self  # type: ignore[attr-defined]
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def set_mode(self, mode: str) -> None:
        with self.store.cond:
            self.mode = mode
            self.store.cond.notify_all()

    def requests_to(self, method: str, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.method == method and r.path == path]

    def close(self) -> None:
        self.closing.set()
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join()

    def handle(self, req: Recorded) -> tuple[int, Any]:
        """Route one request: (HTTP code, JSON body or text)."""
        parts = req.path.strip("/").split("/")
        if req.path == "/version":
            return 200, {"major": "1", "minor": "32", "gitVersion": "v1.32.0-minik8s"}
        if req.path == "/cluster/status":
            return 200, {"name": self.url, "role": "leader", "leader": self.url, "revision": self.store.revision}
        if parts[:3] != ["api", "v1", "namespaces"] and parts[:3] != ["api", "v1", "pods"]:
            return 404, status(404, "NotFound", f"the server could not find {req.path}")
        if parts[2] == "pods":
            return self.collection(req, None)
        namespace, rest = parts[3], parts[5:]
        if not rest:
            return self.collection(req, namespace)
        if rest[1:] == ["log"]:
            return 200, f"log of {rest[0]}\n"
        return self.item(req, namespace, rest[0])

    def collection(self, req: Recorded, namespace: str | None) -> tuple[int, Any]:
        if req.method == "POST":
            return self.create(req.body, namespace)
        if req.query.get("watch") == "true":
            return self.long_poll(int(req.query["resourceVersion"]), float(req.query["timeoutSeconds"]))
        with self.store.cond:
            items = [p for p in self.store.pods.values() if namespace in (None, p["metadata"]["namespace"])]
            return 200, {"kind": "PodList", "apiVersion": "v1",
                         "metadata": {"resourceVersion": str(self.store.revision)},
                         "items": [{k: v for k, v in p.items() if k not in ("kind", "apiVersion")} for p in items]}

    def create(self, obj: dict[str, Any], namespace: str | None) -> tuple[int, Any]:
        name = obj["metadata"].get("name")
        if not name:
            return 422, status(422, "Invalid", 'Pod "" is invalid: metadata.name: Required value', kind="Pod",
                               causes=[{"field": "metadata.name", "reason": "FieldValueRequired"}])
        if f"{namespace}/{name}" in self.store.pods:
            return 409, status(409, "AlreadyExists", f'pods "{name}" already exists', name=name, kind="pods")
        return 201, self.store.put(name, namespace=namespace or "default")

    def item(self, req: Recorded, namespace: str, name: str) -> tuple[int, Any]:
        if req.method != "GET":
            return 200, {"echo": {"method": req.method, "contentType": req.headers.get("Content-Type"),
                                  "query": req.query, "body": req.body}}
        pod = self.store.pods.get(f"{namespace}/{name}")
        if pod is None:
            return 404, status(404, "NotFound", f'pods "{name}" not found', name=name, kind="pods")
        return 200, pod

    def long_poll(self, after: int, timeout: float) -> tuple[int, Any]:
        store = self.store
        with store.cond:
            if after < store.floor:
                return 410, status(410, "Expired", f"too old resource version: {after} ({store.floor})")
            store.cond.wait_for(
                lambda: store.closing or self.mode != "ok" or any(rev > after for rev, _ in store.events), timeout
            )
            if self.mode != "ok":
                return 503, status(503, "ServiceUnavailable", "lost leadership")
            fresh = [(rev, ev) for rev, ev in store.events if rev > after]
            next_rev = fresh[-1][0] if fresh else max(after, store.revision)
            return 200, {"kind": "WatchEventList", "apiVersion": "minik8s.io/v1",
                         "metadata": {"resourceVersion": str(next_rev)}, "items": [ev for _, ev in fresh]}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        """Keep test output quiet."""

    def do_GET(self) -> None:
        self.serve()

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def serve(self) -> None:
        fake: FakeApiServer = self.server.fake  # type: ignore[attr-defined]
        url = urlsplit(self.path)
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        req = Recorded(self.command, url.path, {k: v[0] for k, v in parse_qs(url.query).items()},
                       dict(self.headers.items()), json.loads(raw) if raw else None)
        fake.requests.append(req)
        if fake.mode == "drop":
            self.close_connection = True
            return
        if fake.mode == "slow":
            fake.closing.wait(SLOW_SECONDS)
        code, body = (503, status(503, "ServiceUnavailable", "no leader")) if fake.mode == "unavailable" \
            else fake.handle(req)
        is_text = isinstance(body, str)
        data = body.encode() if is_text else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "text/plain" if is_text else "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


def dead_url() -> str:
    """A loopback URL nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{sock.getsockname()[1]}"


def wait_until(condition: Callable[[], Any], timeout: float = 5.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.01)
    raise AssertionError("condition not met in time")


@pytest.fixture
def store() -> Iterator[FakeStore]:
    s = FakeStore()
    yield s
    s.close()


@pytest.fixture
def make_server(store: FakeStore) -> Iterator[Callable[[], FakeApiServer]]:
    servers: list[FakeApiServer] = []

    def make() -> FakeApiServer:
        servers.append(FakeApiServer(store))
        return servers[-1]

    yield make
    store.close()
    for server in servers:
        server.close()


@pytest.fixture
def make_client() -> Iterator[Callable[..., ApiClient]]:
    clients: list[ApiClient] = []

    def make(servers: list[str] | str, **kwargs: Any) -> ApiClient:
        clients.append(ApiClient(servers, token=TOKEN, **kwargs))
        return clients[-1]

    yield make
    for client in clients:
        client.close()


@contextmanager
def consume(
    events: Iterator[dict[str, Any]], stop: threading.Event, store: FakeStore
) -> Iterator[queue.Queue[Any]]:
    """Drain a watch iterator on a thread into a queue (exceptions are queued too); stop it on exit."""
    out: queue.Queue[Any] = queue.Queue()

    def run() -> None:
        try:
            for event in events:
                out.put(event)
        except Exception as exc:  # handed to the test through the queue
            out.put(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    try:
        yield out
    finally:
        stop.set()
        store.close()  # release the pending long poll so the watch sees `stop` at once
        thread.join(5)
        assert not thread.is_alive()


def test_client_get_sends_token_and_parses_json(store: FakeStore, make_server, make_client) -> None:
    """get() reads the namespaced object path with the bearer token and returns the object."""
    server = make_server()
    store.put("web", image="nginx")
    pod = make_client(server.url).get("po", "web")
    assert pod["metadata"]["name"] == "web" and pod["spec"] == {"image": "nginx"}
    [req] = server.requests_to("GET", "/api/v1/namespaces/default/pods/web")
    assert req.headers["Authorization"] == f"Bearer {TOKEN}"


@pytest.mark.parametrize(
    "call, error",
    [
        pytest.param(lambda c: c.get("pods", "missing"), errors.NotFoundError, id="404-not-found"),
        pytest.param(lambda c: c.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"}}),
                     errors.AlreadyExistsError, id="409-already-exists"),
        pytest.param(lambda c: c.create({"apiVersion": "v1", "kind": "Pod", "metadata": {}}),
                     errors.InvalidError, id="422-invalid"),
        pytest.param(lambda c: c.request("GET", "/nowhere"), errors.NotFoundError, id="404-unknown-path"),
    ],
)
def test_client_raises_typed_errors_from_status(store, make_server, make_client, call, error) -> None:
    """Non-2xx answers become the errors class named by the Status reason, with its details."""
    server = make_server()
    store.put("web")
    with pytest.raises(error) as info:
        call(make_client(server.url))
    assert info.value.code == error.code and info.value.message


def test_client_not_found_carries_status_details(make_server, make_client) -> None:
    """The Status message, name and kind survive the round trip."""
    server = make_server()
    with pytest.raises(errors.NotFoundError) as info:
        make_client(server.url).get("pods", "ghost", namespace="prod")
    assert (info.value.message, info.value.name, info.value.kind) == ('pods "ghost" not found', "ghost", "pods")


def test_client_fails_over_from_dead_server(store, make_server, make_client) -> None:
    """A refused connection moves the request to the next server, which then stays preferred."""
    live = make_server()
    store.put("web")
    client = make_client([dead_url(), live.url])
    assert [p["metadata"]["name"] for p in client.list("pods")["items"]] == ["web"]
    assert client.current_server == live.url
    created = client.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "api"}})
    assert created["metadata"]["namespace"] == "default"


def test_client_fails_over_on_503(store, make_server, make_client) -> None:
    """A 503 Status (refused before doing anything) is retried elsewhere, even for a create."""
    refusing, live = make_server(), make_server()
    refusing.set_mode("unavailable")
    client = make_client(f"{refusing.url},{live.url}")
    client.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "api", "namespace": "prod"}})
    assert len(refusing.requests_to("POST", "/api/v1/namespaces/prod/pods")) == 1
    assert "prod/api" in store.pods and client.current_server == live.url


def test_client_all_servers_failing_raises_service_unavailable(make_server, make_client) -> None:
    """When every server fails, the error lists each server and why."""
    refusing, dead = make_server(), dead_url()
    refusing.set_mode("unavailable")
    with pytest.raises(errors.ServiceUnavailableError) as info:
        make_client([dead, refusing.url]).list("pods")
    assert dead in info.value.message and refusing.url in info.value.message and "no leader" in info.value.message


def test_client_never_repeats_write_that_may_have_been_received(store, make_server, make_client) -> None:
    """A connection dropped after sending a POST is not retried; a GET is."""
    dropping, live = make_server(), make_server()
    dropping.set_mode("drop")
    client = make_client([dropping.url, live.url])
    with pytest.raises(errors.TimeoutError_):
        client.create({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "once"}})
    assert live.requests == [] and store.pods == {}
    assert client.list("pods")["items"] == []
    assert len(live.requests) == 1


def test_client_write_helpers_wire_format(store, make_server, make_client) -> None:
    """patch/delete/replace/update_status use the Kubernetes paths, content types and DeleteOptions
    (with preconditions)."""
    server = make_server()
    client = make_client(server.url)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "prod"}}
    path = "/api/v1/namespaces/prod/pods/web"
    cases = [
        (client.patch("pods", "web", {"spec": {}}, namespace="prod"), "PATCH", "application/merge-patch+json"),
        (client.patch("pods", "web", [{"op": "remove", "path": "/x"}], namespace="prod", patch_type="json"),
         "PATCH", "application/json-patch+json"),
        (client.patch("pods", "web", pod, namespace="prod", patch_type="apply", field_manager="me"),
         "PATCH", "application/apply-patch+yaml"),
        (client.replace(pod), "PUT", "application/json"),
    ]
    for echoed, method, content_type in cases:
        assert (echoed["echo"]["method"], echoed["echo"]["contentType"]) == (method, content_type)
    assert cases[2][0]["echo"]["query"] == {"fieldManager": "me"}
    assert client.update_status(pod)["echo"]["method"] == "PUT"
    assert server.requests_to("PUT", path + "/status")
    deleted = client.delete("pods", "web", namespace="prod", propagation_policy="Foreground", grace_period_seconds=0)
    assert deleted["echo"]["body"] == {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0,
                                       "propagationPolicy": "Foreground"}
    assert client.delete("pods", "web", namespace="prod")["echo"]["body"] is None
    guarded = client.delete("pods", "web", namespace="prod", uid="u1", resource_version="7")
    assert guarded["echo"]["body"] == {"kind": "DeleteOptions", "apiVersion": "v1",
                                       "preconditions": {"uid": "u1", "resourceVersion": "7"}}
    with pytest.raises(ValueError):
        client.patch("pods", "web", {}, patch_type="bogus")


def test_client_text_and_cluster_status(store, make_server, make_client) -> None:
    """text/plain answers come back as text; cluster_status can target one server."""
    first, second = make_server(), make_server()
    client = make_client([first.url, second.url])
    assert client.request("GET", "/api/v1/namespaces/default/pods/web/log") == "log of web\n"
    assert client.cluster_status()["name"] == first.url
    assert client.cluster_status(second.url)["name"] == second.url


def test_client_apply_is_an_apply_patch_with_field_manager_and_force(store, make_server, make_client) -> None:
    """apply() PATCHes the object's own path as apply-patch+yaml with fieldManager, and force only when asked."""
    server = make_server()
    client = make_client(server.url)
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "prod"}, "spec": {}}
    echoed = client.apply(pod, field_manager="kubectl", force=True)["echo"]
    assert (echoed["method"], echoed["contentType"]) == ("PATCH", "application/apply-patch+yaml")
    assert echoed["query"] == {"fieldManager": "kubectl", "force": "true"} and echoed["body"] == pod
    assert server.requests_to("PATCH", "/api/v1/namespaces/prod/pods/web")
    unforced = client.apply({**pod, "metadata": {"name": "web"}}, field_manager="me", namespace="dev")["echo"]
    assert unforced["query"] == {"fieldManager": "me"}
    assert server.requests_to("PATCH", "/api/v1/namespaces/dev/pods/web")


def test_client_bind_posts_a_binding(store, make_server, make_client) -> None:
    """bind() POSTs a v1 Binding naming the node to the pod's binding subresource."""
    server = make_server()
    echoed = make_client(server.url).bind("web", "node-a", namespace="prod")["echo"]
    assert echoed["method"] == "POST"
    assert echoed["body"] == {"apiVersion": "v1", "kind": "Binding", "metadata": {"name": "web"},
                              "target": {"apiVersion": "v1", "kind": "Node", "name": "node-a"}}
    assert server.requests_to("POST", "/api/v1/namespaces/prod/pods/web/binding")


def test_client_log_text_and_stream(store, make_server, make_client) -> None:
    """log() returns the text with the options as query parameters; follow=True gives a closable stream."""
    server = make_server()
    client = make_client(server.url)
    assert client.log("web", namespace="prod", container="c", previous=True, tail_lines=5, timestamps=True,
                      since_seconds=60) == "log of web\n"
    [req] = server.requests_to("GET", "/api/v1/namespaces/prod/pods/web/log")
    assert req.query == {"container": "c", "previous": "true", "tailLines": "5", "timestamps": "true",
                         "sinceSeconds": "60"}
    with client.log("web", follow=True) as stream:
        assert b"".join(stream) == b"log of web\n"
    assert server.requests_to("GET", "/api/v1/namespaces/default/pods/web/log")[0].query == {"follow": "true"}


def test_client_server_version(make_server, make_client) -> None:
    """server_version() reads /version."""
    assert make_client(make_server().url).server_version()["minor"] == "32"


POD = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web"}}
VERBS_WITH_TIMEOUT = [
    pytest.param(lambda c, t: c.get("pods", "web", timeout=t), id="get"),
    pytest.param(lambda c, t: c.list("pods", timeout=t), id="list"),
    pytest.param(lambda c, t: c.create(POD, timeout=t), id="create"),
    pytest.param(lambda c, t: c.replace(POD, timeout=t), id="replace"),
    pytest.param(lambda c, t: c.update_status(POD, timeout=t), id="update_status"),
    pytest.param(lambda c, t: c.patch("pods", "web", {}, timeout=t), id="patch"),
    pytest.param(lambda c, t: c.apply(POD, field_manager="me", timeout=t), id="apply"),
    pytest.param(lambda c, t: c.delete("pods", "web", timeout=t), id="delete"),
    pytest.param(lambda c, t: c.bind("web", "node-a", timeout=t), id="bind"),
    pytest.param(lambda c, t: c.log("web", timeout=t), id="log"),
    pytest.param(lambda c, t: c.invoke("functions", "hello", {}, timeout=t), id="invoke"),
    pytest.param(lambda c, t: c.watch_poll("pods", resource_version="1", timeout_seconds=0, timeout=t),
                 id="watch_poll"),
    pytest.param(lambda c, t: next(c.watch("pods", timeout=t)), id="watch"),
    pytest.param(lambda c, t: c.server_version(timeout=t), id="server_version"),
    pytest.param(lambda c, t: c.cluster_status(timeout=t), id="cluster_status"),
]


@pytest.mark.parametrize("call", VERBS_WITH_TIMEOUT)
def test_client_every_verb_takes_a_timeout(make_server, make_client, call) -> None:
    """A verb's `timeout=` replaces the client's default: a server slower than it fails the call."""
    slow = make_server()
    slow.set_mode("slow")
    client = make_client(slow.url, timeout=SLOW_SECONDS * 10)  # with the default, the slow answer would come
    with pytest.raises((errors.ServiceUnavailableError, errors.TimeoutError_)):
        call(client, 0.2)


def test_client_watch_poll_resumes_from_returned_revision(store, make_server, make_client) -> None:
    """Each poll returns the events after the asked revision and the revision to ask for next."""
    server = make_server()
    store.put("a")
    client = make_client(server.url)
    start = client.list("pods", namespace="default")["metadata"]["resourceVersion"]
    store.put("b")
    store.put("a", image="v2")
    events, next_rv = client.watch_poll("pods", namespace="default", resource_version=start, timeout_seconds=5)
    assert [(e["type"], e["object"]["metadata"]["name"]) for e in events] == [("ADDED", "b"), ("MODIFIED", "a")]
    assert next_rv == "3"
    threading.Timer(0.1, store.put, args=("c",)).start()
    events, final_rv = client.watch_poll("pods", namespace="default", resource_version=next_rv, timeout_seconds=5)
    assert [e["object"]["metadata"]["name"] for e in events] == ["c"] and final_rv == "4"
    polls = [r.query["resourceVersion"] for r in server.requests_to("GET", "/api/v1/namespaces/default/pods")
             if r.query.get("watch")]
    assert polls == ["1", "3"]


def test_client_watch_poll_expired_raises_410(store, make_server, make_client) -> None:
    """A revision below the compacted floor is a 410 ExpiredError."""
    server = make_server()
    store.put("a")
    store.put("b")
    store.compact()
    with pytest.raises(errors.ExpiredError):
        make_client(server.url).watch_poll("pods", resource_version="1", timeout_seconds=1)


def test_client_watch_continues_on_other_server_from_last_revision(store, make_server, make_client) -> None:
    """watch() yields every event once, moving to another server when one becomes unavailable."""
    first, second = make_server(), make_server()
    store.put("a")
    client = make_client([first.url, second.url])
    stop = threading.Event()
    with consume(client.watch("pods", stop=stop, timeout_seconds=5), stop, store) as out:
        assert out.get(timeout=5)["object"]["metadata"]["name"] == "a"  # synthetic ADDED from the list
        wait_until(lambda: first.requests_to("GET", "/api/v1/pods")[-1].query.get("watch"))
        store.put("b")
        assert out.get(timeout=5)["object"]["metadata"]["name"] == "b"
        first.set_mode("unavailable")
        wait_until(lambda: second.requests)
        store.put("c")
        event = out.get(timeout=5)
        assert (event["type"], event["object"]["metadata"]["name"]) == ("ADDED", "c")
        assert second.requests[0].query["resourceVersion"] == "2"
        assert out.empty()


def test_client_watch_raises_expired_for_relist(store, make_server, make_client) -> None:
    """watch() from a compacted revision raises ExpiredError to its consumer."""
    server = make_server()
    store.put("a")
    store.put("b")
    store.compact()
    stop = threading.Event()
    with consume(make_client(server.url).watch("pods", resource_version="1", stop=stop), stop, store) as out:
        assert isinstance(out.get(timeout=5), errors.ExpiredError)


def test_backoff_doubles_to_cap_and_resets() -> None:
    """Back-off delays go 0.2, 0.4, ... capped at 5 s, and restart after reset()."""
    backoff = Backoff()
    assert [backoff.next() for _ in range(7)] == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]
    backoff.reset()
    assert backoff.next() == 0.2
