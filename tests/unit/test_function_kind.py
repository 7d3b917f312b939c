"""Unit tests of the minik8s.io/v1 Function kind: defaults, validation, the 413 source limit, the table,
and the `invoke` subresource as the API server serves it (handed to a pluggable invoker)."""

from __future__ import annotations

import base64
import copy
import io
import json
import random
import threading
import zipfile
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, make_server

import falcon
import falcon.testing
import pytest

from minik8s.api import objects, tables
from minik8s.api.client import ApiClient
from minik8s.api.errors import ApiError, InternalError, InvalidError, NotFoundError, RequestEntityTooLargeError
from minik8s.api.kinds import resolve
from minik8s.api.kinds.function import MAX_SOURCE_BYTES, valid_handler
from minik8s.api.server.http import send_json
from minik8s.api.server.registry import Registry
from minik8s.api.server.resources import Invoker, ResourceSink
from minik8s.api.validation import validate
from minik8s.store import Create, Store

from .allocation_support import DirectConsensus

Obj = dict[str, Any]
FN = resolve("fn")
NOW = datetime(2024, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
SOURCE = "def handle(params):\n    return {'hello': params.get('name', 'world')}\n"
BASE: Obj = {"apiVersion": "minik8s.io/v1", "kind": "Function", "metadata": {"name": "hello", "namespace": "default"},
             "spec": {"source": {"inline": SOURCE}}}
FUNCTIONS = "/apis/minik8s.io/v1/namespaces/default/functions"


def function(name: str = "hello", **spec: Any) -> Obj:
    obj = copy.deepcopy(BASE)
    obj["metadata"]["name"] = name
    obj["spec"].update(spec)
    return obj


def created(obj: Obj) -> Obj:
    """What a create stores: identity, defaults, the source limit (the registry's first steps)."""
    return objects.prepare_create(FN, obj, namespace="default", now="2024-03-01T11:55:00Z", uid="u1",
                                  name_suffix="abcde")


def problems(obj: Obj) -> list[tuple[str, str]]:
    try:
        validate(FN, obj)
    except InvalidError as err:
        assert err.code == 422
        return [(c["field"], c["message"]) for c in err.causes]
    return []


# ---- the resource --------------------------------------------------------------------------------

def test_function_resource_is_served_in_minik8s_io() -> None:
    """functions.minik8s.io/v1: namespaced, short name fn, in no category, status and invoke subresources."""
    assert (FN.api_version, FN.plural, FN.kind, FN.namespaced) == ("minik8s.io/v1", "functions", "Function", True)
    assert FN.short_names == ("fn",) and FN.categories == () and FN.subresources == ("status", "invoke")
    assert FN.strategy.generation
    assert resolve("functions.minik8s.io") is FN and resolve("Function") is FN
    assert FN.store_key("hello", "default") == "/registry/functions.minik8s.io/default/hello"


# ---- defaults ------------------------------------------------------------------------------------

def test_function_defaults() -> None:
    """handler main:handle, unlimited concurrency, 60 s timeout, scale 0..10, 60 s idle and stable windows;
    target stays unset (the autoscaler computes it); generation 1 and an empty status."""
    obj = created(function())
    assert obj["spec"] == {"source": {"inline": SOURCE}, "handler": "main:handle", "containerConcurrency": 0,
                           "timeoutSeconds": 60, "scale": {"minScale": 0, "maxScale": 10, "idleSeconds": 60,
                                                           "stableWindowSeconds": 60}}
    assert obj["metadata"]["generation"] == 1 and obj["status"] == {}
    assert problems(obj) == []


def test_function_defaults_keep_what_is_given() -> None:
    """Given values win; a given scale block gets only what it leaves out."""
    obj = created(function(handler="app.util:run", containerConcurrency=4, timeoutSeconds=5,
                           scale={"maxScale": 3, "target": 2}))
    spec = obj["spec"]
    assert (spec["handler"], spec["containerConcurrency"], spec["timeoutSeconds"]) == ("app.util:run", 4, 5)
    assert spec["scale"] == {"minScale": 0, "maxScale": 3, "target": 2, "idleSeconds": 60, "stableWindowSeconds": 60}
    assert problems(obj) == []


def test_function_with_env_and_resources_is_valid() -> None:
    """env and resources take the pod's own types and rules."""
    obj = created(function(env=[{"name": "MODE", "value": "prod"}],
                           resources={"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"memory": "128Mi"}}))
    assert problems(obj) == []


# ---- validation ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("spec", "field"), [
    pytest.param({"source": None}, "spec.source", id="no-source"),
    pytest.param({"source": {}}, "spec.source.inline", id="no-inline"),
    pytest.param({"source": {"inline": ""}}, "spec.source.inline", id="empty-inline"),
    pytest.param({"handler": "handle"}, "spec.handler", id="handler-no-colon"),
    pytest.param({"handler": "main:"}, "spec.handler", id="handler-no-function"),
    pytest.param({"handler": ":handle"}, "spec.handler", id="handler-no-module"),
    pytest.param({"handler": "main:han-dle"}, "spec.handler", id="handler-not-identifier"),
    pytest.param({"handler": "my-mod:handle"}, "spec.handler", id="module-not-identifier"),
    pytest.param({"handler": "pkg..mod:handle"}, "spec.handler", id="module-empty-part"),
    pytest.param({"handler": "main:class"}, "spec.handler", id="handler-keyword"),
    pytest.param({"handler": "main:a:b"}, "spec.handler", id="handler-two-colons"),
    pytest.param({"env": [{"value": "x"}]}, "spec.env[0].name", id="env-no-name"),
    pytest.param({"resources": {"requests": {"cpu": "lots"}}}, "spec.resources.requests[cpu]", id="bad-quantity"),
    pytest.param({"resources": {"requests": {"memory": "2Gi"}, "limits": {"memory": "1Gi"}}},
                 "spec.resources.requests[memory]", id="request-over-limit"),
    pytest.param({"containerConcurrency": -1}, "spec.containerConcurrency", id="concurrency-negative"),
    pytest.param({"containerConcurrency": 1001}, "spec.containerConcurrency", id="concurrency-too-high"),
    pytest.param({"timeoutSeconds": 0}, "spec.timeoutSeconds", id="timeout-zero"),
    pytest.param({"timeoutSeconds": 901}, "spec.timeoutSeconds", id="timeout-too-long"),
    pytest.param({"scale": {"minScale": -1}}, "spec.scale.minScale", id="min-negative"),
    pytest.param({"scale": {"minScale": 5, "maxScale": 4}}, "spec.scale.minScale", id="min-over-max"),
    pytest.param({"scale": {"maxScale": 0}}, "spec.scale.maxScale", id="max-zero"),
    pytest.param({"scale": {"maxScale": 101}}, "spec.scale.maxScale", id="max-too-high"),
    pytest.param({"scale": {"target": 0}}, "spec.scale.target", id="target-zero"),
    pytest.param({"scale": {"target": 1001}}, "spec.scale.target", id="target-too-high"),
    pytest.param({"scale": {"idleSeconds": 0}}, "spec.scale.idleSeconds", id="idle-zero"),
    pytest.param({"scale": {"idleSeconds": 3601}}, "spec.scale.idleSeconds", id="idle-too-long"),
    pytest.param({"scale": {"stableWindowSeconds": 5}}, "spec.scale.stableWindowSeconds", id="window-too-short"),
    pytest.param({"scale": {"stableWindowSeconds": 3601}}, "spec.scale.stableWindowSeconds", id="window-too-long"),
])
def test_function_validation_rejects(spec: Obj, field: str) -> None:
    """Every bad field is a 422 cause naming it."""
    obj = created(function(**spec))
    assert field in [f for f, _ in problems(obj)], problems(obj)


def test_function_min_over_max_message() -> None:
    assert problems(created(function(scale={"minScale": 5, "maxScale": 4}))) == [
        ("spec.scale.minScale", "Invalid value: 5: must be less than or equal to `maxScale`")]


@pytest.mark.parametrize("handler", ["main:handle", "pkg.sub.mod:run", "_m:_f", "main:handle2"])
def test_function_handler_forms(handler: str) -> None:
    """`<module>:<function>` with Python identifiers; the module may be dotted."""
    assert valid_handler(handler)
    assert problems(created(function(handler=handler))) == []


def test_function_spec_is_required() -> None:
    obj = created(function())
    del obj["spec"]
    assert ("spec", "Required value") in problems(obj)


def test_function_status_counts_are_not_negative() -> None:
    obj = created(function())
    obj["status"] = {"readyInstances": -1, "desiredInstances": 2, "url": "http://x", "observedGeneration": 1}
    assert [f for f, _ in problems(obj)] == ["status.readyInstances"]


# ---- names ---------------------------------------------------------------------------------------

def test_function_name_at_most_50_characters() -> None:
    """`fn-<name>` Deployments and their pods must stay valid names: 50 characters at most."""
    assert problems(created(function("a" * 50))) == []
    assert problems(created(function("a" * 51))) == [("metadata.name", f'Invalid value: "{"a" * 51}": must be no '
                                                                       "more than 50 characters")]


def test_function_name_is_a_dns_label() -> None:
    assert [f for f, _ in problems(created(function("a.b")))] == ["metadata.name"]


# ---- the source limit ----------------------------------------------------------------------------

def test_function_source_at_the_limit_is_accepted() -> None:
    source = "#" * (MAX_SOURCE_BYTES - 1) + "\n"
    assert problems(created(function(source={"inline": source}))) == []


def test_function_source_over_the_limit_is_413_on_create_and_update() -> None:
    """A source over 512 KiB of UTF-8 is a 413 naming the field and the limit, on create and on update."""
    big = "é" * (MAX_SOURCE_BYTES // 2 + 1)  # fewer characters than the limit, more bytes
    with pytest.raises(RequestEntityTooLargeError) as caught:
        created(function(source={"inline": big}))
    assert caught.value.code == 413
    assert "spec.source.inline" in caught.value.message and "524288 bytes" in caught.value.message
    old = created(function())
    with pytest.raises(RequestEntityTooLargeError):
        objects.prepare_update(FN, function(source={"inline": big}), old, now="2024-03-01T12:00:00Z")


# ---- zip sources ---------------------------------------------------------------------------------

def zipped(files: dict[str, bytes | str]) -> str:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return base64.b64encode(buffer.getvalue()).decode()


APP = {"app/__init__.py": "", "app/api.py": "from app import util\ndef run(p):\n    return util.f(p)\n",
       "app/util.py": "def f(p):\n    return p\n"}


@pytest.mark.parametrize(("files", "handler"), [
    pytest.param({"main.py": SOURCE}, "main:handle", id="main"),
    pytest.param(APP, "app.api:run", id="dotted-module"),
    pytest.param({"app/api/__init__.py": "def run(p):\n    return p\n"}, "app.api:run", id="package"),
])
def test_function_zip_source_with_the_handlers_module_is_valid(files: dict[str, bytes | str], handler: str) -> None:
    obj = created(function(source={"zip": zipped(files)}, handler=handler))
    assert problems(obj) == []


def _link() -> str:
    info = zipfile.ZipInfo("main.py")
    info.create_system, info.external_attr = 3, 0o120777 << 16
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(info, "/etc/passwd")
    return base64.b64encode(buffer.getvalue()).decode()


@pytest.mark.parametrize(("source", "words"), [
    pytest.param({"zip": "not base64!"}, "must be the base64 text of a zip archive", id="not-base64"),
    pytest.param({"zip": zipped({"main.py": SOURCE})[:-1]}, "must be the base64 text", id="bad-padding"),
    pytest.param({"zip": base64.b64encode(b"just text").decode()}, "not a readable zip archive", id="not-a-zip"),
    pytest.param({"zip": zipped({"main.py": SOURCE, "zeros": bytes(9 << 20)})}, "at most 8388608", id="bomb"),
    pytest.param({"zip": zipped({"main.py": SOURCE, "../evil.py": "x"})}, "'..' parts", id="zip-slip"),
    pytest.param({"zip": zipped({"/abs.py": "x"})}, "absolute paths", id="absolute"),
    pytest.param({"zip": _link()}, "symbolic link", id="symlink"),
    pytest.param({"zip": zipped({"other.py": SOURCE})}, "neither main.py nor main/__init__.py", id="no-module"),
    pytest.param({"zip": zipped({"main.py": SOURCE}), "inline": SOURCE}, "either `inline` or `zip`", id="both"),
])
def test_function_zip_source_problems_are_422_naming_spec_source_zip(source: Obj, words: str) -> None:
    found = problems(created(function(source=source)))
    assert [f for f, _ in found] == ["spec.source.zip"] and words in found[0][1], found
    assert "<value omitted>" in found[0][1] or "Forbidden" in found[0][1]  # the blob is not echoed back


def test_function_zip_with_a_bad_handler_names_only_the_handler() -> None:
    found = problems(created(function(source={"zip": zipped(APP)}, handler="app.api")))
    assert [f for f, _ in found] == ["spec.handler"]


def test_function_zip_module_is_checked_against_the_handler_on_update() -> None:
    """An unchanged archive is not decompressed again on update, but a new handler must still be in it."""
    old = created(function(source={"zip": zipped(APP)}, handler="app.api:run"))
    new = copy.deepcopy(old)
    new["spec"]["handler"] = "app.missing:run"
    with pytest.raises(InvalidError) as raised:
        validate(FN, new, old=old)
    causes = [(c["field"], c["message"]) for c in raised.value.causes]
    assert [f for f, _ in causes] == ["spec.source.zip"] and "app/missing.py" in causes[0][1]


def test_function_zip_source_over_the_limit_is_413() -> None:
    """The base64 text counts against the 512 KiB limit (the archive it decodes to is smaller still)."""
    noise = random.Random(7).randbytes(MAX_SOURCE_BYTES * 4 // 5)  # does not compress; base64 adds a third
    with pytest.raises(RequestEntityTooLargeError) as caught:
        created(function(source={"zip": zipped({"main.py": SOURCE, "noise.bin": noise})}))
    assert "spec.source.zip is" in caught.value.message and "bytes of base64" in caught.value.message
    assert "524288 bytes" in caught.value.message


# ---- table ---------------------------------------------------------------------------------------

def test_function_table_columns_and_cells() -> None:
    """NAME READY MIN MAX CONCURRENCY AGE; READY is ready/desired from the status."""
    assert [c["name"] for c in tables.columns_for(FN)] == ["Name", "Ready", "Min", "Max", "Concurrency", "Age"]
    obj = created(function(containerConcurrency=8, scale={"minScale": 1, "maxScale": 4}))
    assert tables.cells_for(FN, obj, now=NOW) == ["hello", "0/0", 1, 4, 8, "5m"]
    obj["status"] = {"readyInstances": 2, "desiredInstances": 3}
    assert tables.cells_for(FN, obj, now=NOW)[1] == "2/3"


# ---- the invoke subresource ----------------------------------------------------------------------

class RecordingInvoker:
    """An invoker answering every call with a fixed response, remembering what it was handed."""

    def __init__(self, code: int = 200, body: bytes = b'{"hello":"world"}') -> None:
        self.calls: list[tuple[str | None, str, bytes, dict[str, str]]] = []
        self.code, self.body = code, body

    def __call__(self, namespace: str | None, name: str, body: bytes, headers: Mapping[str, str],
                 params: Mapping[str, str]) -> tuple[int, Mapping[str, str], bytes]:
        self.calls.append((namespace, name, body, dict(headers)))
        return self.code, {"Content-Type": "application/json", "X-Minik8s-Duration-Ms": "3",
                           "Content-Length": "999"}, self.body


def _status(req: falcon.Request, resp: falcon.Response, exc: ApiError, params: Any) -> None:
    send_json(resp, exc.to_status(), exc.code)


@pytest.fixture
def store(tmp_path: Any) -> Iterator[Store]:
    s = Store(str(tmp_path / "db"))
    s.apply(Create(key=resolve("namespaces").store_key("default"), object={"metadata": {"name": "default"}}))
    yield s
    s.close()


def make_app(store: Store, invokers: dict[str, Invoker] | None = None) -> falcon.App:
    """The resource sink over a real store (Raft replaced by direct applies), as the API server mounts it."""
    registry = Registry(DirectConsensus(store), store)  # type: ignore[arg-type]
    app = falcon.App()
    app.req_options.strip_url_path_trailing_slash = True
    app.add_error_handler(ApiError, _status)
    app.add_sink(ResourceSink(registry, None, body_limit=3 << 20, kubelet_token=None,  # type: ignore[arg-type]
                              metrics=None, invokers=invokers),  # type: ignore[arg-type]
                 prefix=r"^/apis?/")
    return app


def test_function_create_over_http_defaults_and_refuses_big_sources(store: Store) -> None:
    """POST stores the defaulted Function; a big source is a 413 Status, a bad one a 422 naming the field."""
    client = falcon.testing.TestClient(make_app(store))
    made = client.simulate_post(FUNCTIONS, json=function())
    assert made.status_code == 201 and made.json["spec"]["handler"] == "main:handle"
    big = client.simulate_post(FUNCTIONS, json=function("big", source={"inline": "x" * (MAX_SOURCE_BYTES + 1)}))
    assert (big.status_code, big.json["reason"]) == (413, "RequestEntityTooLarge")
    assert "spec.source.inline" in big.json["message"]
    bad = client.simulate_post(FUNCTIONS, json=function("bad", handler="nope"))
    assert (bad.status_code, [c["field"] for c in bad.json["details"]["causes"]]) == (422, ["spec.handler"])
    listed = client.simulate_get(FUNCTIONS, headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    assert [row["cells"][:5] for row in listed.json["rows"]] == [["hello", "0/0", 0, 10, 0]]


def test_function_zip_create_over_http(store: Store) -> None:
    """A zip source is stored as sent; a hostile one is a 422 naming spec.source.zip, a big one a 413."""
    client = falcon.testing.TestClient(make_app(store))
    source = {"zip": zipped(APP)}
    made = client.simulate_post(FUNCTIONS, json=function("zipped", source=source, handler="app.api:run"))
    assert made.status_code == 201 and made.json["spec"]["source"] == source
    for bad in ({"zip": "%%%"}, {"zip": zipped({"../x.py": ""})}, {"zip": zipped(APP)}):
        refused = client.simulate_post(FUNCTIONS, json=function("bad", source=bad))
        assert (refused.status_code, [c["field"] for c in refused.json["details"]["causes"]]) == \
            (422, ["spec.source.zip"]), refused.json
    big = {"zip": base64.b64encode(bytes(MAX_SOURCE_BYTES)).decode()}
    assert client.simulate_post(FUNCTIONS, json=function("big", source=big)).status_code == 413


def test_invoke_without_an_invoker_is_a_404_status(store: Store) -> None:
    """A server with nothing plugged in for functions answers invoke with a NotFound Status."""
    client = falcon.testing.TestClient(make_app(store))
    result = client.simulate_post(f"{FUNCTIONS}/hello/invoke", json={"name": "x"})
    assert (result.status_code, result.json["kind"], result.json["reason"]) == (404, "Status", "NotFound")
    assert "invoke subresource is not served" in result.json["message"]


def test_invoke_hands_the_call_to_the_invoker_and_returns_its_answer(store: Store) -> None:
    """namespace, name, raw body and headers (without the caller's credentials) go to the invoker; its
    status, headers and body come back as they are (hop-by-hop headers left to the server)."""
    invoker = RecordingInvoker(code=202, body=b'{"hello":"x"}')
    client = falcon.testing.TestClient(make_app(store, {"functions.minik8s.io": invoker}))
    result = client.simulate_post(f"{FUNCTIONS}/hello/invoke", body=b'{"name": "x"}',
                                  headers={"Content-Type": "application/json", "Authorization": "Bearer secret",
                                           "X-Minik8s-Invocation-Id": "abc"})
    assert result.status_code == 202 and result.content == b'{"hello":"x"}'
    assert result.headers["X-Minik8s-Duration-Ms"] == "3" and result.headers["Content-Length"] == "13"
    [(namespace, name, body, headers)] = invoker.calls
    assert (namespace, name, body) == ("default", "hello", b'{"name": "x"}')
    assert headers["X-MINIK8S-INVOCATION-ID"] == "abc"
    assert "AUTHORIZATION" not in {k.upper() for k in headers}


def test_invoke_accepts_only_post(store: Store) -> None:
    """invoke serves `create` only (discovery's verbs): GET is a 405."""
    client = falcon.testing.TestClient(make_app(store, {"functions.minik8s.io": RecordingInvoker()}))
    assert client.simulate_get(f"{FUNCTIONS}/hello/invoke").status_code == 405


class _Quiet(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - signature of the base class
        """Keep test output quiet."""


def test_client_invoke_round_trip(store: Store) -> None:
    """ApiClient.invoke POSTs the JSON body to the invoke subresource and returns the decoded answer;
    an error answer raises the ApiError of its Status."""
    invoker = RecordingInvoker()
    server = make_server("127.0.0.1", 0, make_app(store, {"functions.minik8s.io": invoker}), handler_class=_Quiet)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        with ApiClient(f"http://127.0.0.1:{server.server_port}", timeout=5) as client:
            assert client.invoke("fn", "hello", {"name": "x"}, namespace="default") == {"hello": "world"}
            assert json.loads(invoker.calls[0][2]) == {"name": "x"}
            invoker.code = 500
            invoker.body = json.dumps({"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 500,
                                       "reason": "InternalError", "message": "function raised"}).encode()
            with pytest.raises(InternalError, match="function raised"):
                client.invoke("functions", "hello", None)
            with ApiClient(f"http://127.0.0.1:{server.server_port}", timeout=5) as bare:
                invoker.code = 404
                invoker.body = b'{"kind":"Status","code":404,"reason":"NotFound","message":"gone"}'
                with pytest.raises(NotFoundError):
                    bare.invoke(FN, "gone", b"{}", namespace="other")
            assert invoker.calls[-1][:2] == ("other", "gone")
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
