"""OpenAPI v3: the index and its hashes, schema names and GVKs, what kubectl apply looks up."""

from __future__ import annotations

import hashlib
import re
from typing import Any

import falcon
import falcon.testing
import pytest

from minik8s.api import errors, schema
from minik8s.api.kinds import RESOURCES, ResourceType
from minik8s.api.server import openapi
from minik8s.api.server.http import send_json

Json = dict[str, Any]
REF = "#/components/schemas/"
PROTOBUF = "application/com.github.proto-openapi.spec.v3@v1.0+protobuf"


def _status(req: falcon.Request, resp: falcon.Response, exc: errors.ApiError, params: Any) -> None:
    send_json(resp, exc.to_status(), exc.code)


def make_client(resources: tuple[ResourceType, ...] = RESOURCES) -> falcon.testing.TestClient:
    """A bare app with only the OpenAPI routes and the `ApiError` → `Status` handler."""
    app = falcon.App()
    app.add_error_handler(errors.ApiError, _status)
    openapi.register_openapi(app, resources)
    return falcon.testing.TestClient(app)


@pytest.fixture(scope="module")
def client() -> falcon.testing.TestClient:
    return make_client()


def index(client: falcon.testing.TestClient) -> dict[str, str]:
    """group-version → serverRelativeURL."""
    result = client.simulate_get("/openapi/v3")
    assert result.status_code == 200 and result.headers["Content-Type"] == "application/json"
    return {gv: entry["serverRelativeURL"] for gv, entry in result.json["paths"].items()}


def document(client: falcon.testing.TestClient, rt: ResourceType) -> Json:
    url = index(client)[rt.group_version_prefix.lstrip("/")]
    path, _, query = url.partition("?")
    return client.simulate_get(path, query_string=query).json


def schema_at(doc: Json, name: str, dotted: str) -> Json:
    """The schema of a field path (`spec.template.spec.containers`), resolving refs like kubectl does."""
    schemas = doc["components"]["schemas"]
    *parents, last = dotted.split(".")
    node = schemas[name]
    for key in parents:
        field = node["properties"][key]
        node = schemas[field.get("items", field)["$ref"].removeprefix(REF)]
    return node["properties"][last]


# ---- the index ----------------------------------------------------------------------------------

def test_index_lists_every_group_version_with_a_hash(client: falcon.testing.TestClient) -> None:
    paths = index(client)
    assert set(paths) == {rt.group_version_prefix.lstrip("/") for rt in RESOURCES}
    for gv, url in paths.items():
        assert re.fullmatch(rf"/openapi/v3/{re.escape(gv)}\?hash=[0-9a-f]{{64}}", url)


def test_hash_is_the_digest_of_the_served_document(client: falcon.testing.TestClient) -> None:
    for url in index(client).values():
        path, _, query = url.partition("?")
        result = client.simulate_get(path, query_string=query)
        assert result.status_code == 200 and result.headers["Content-Type"] == "application/json"
        assert query == f"hash={hashlib.sha256(result.content).hexdigest()}"
        assert "immutable" in result.headers["Cache-Control"]


def test_protobuf_accept_still_gets_json(client: falcon.testing.TestClient) -> None:
    result = client.simulate_get("/openapi/v3/api/v1", headers={"Accept": PROTOBUF})
    assert result.headers["Content-Type"] == "application/json"
    assert result.json["openapi"].startswith("3.")


def test_hash_changes_when_a_schema_changes(monkeypatch: pytest.MonkeyPatch) -> None:
    before = index(make_client())
    monkeypatch.setitem(schema.lookup("Container", schema.CORE)[0], "newField", "str")
    after = index(make_client())
    assert after["api/v1"] != before["api/v1"]
    assert after["apis/apps/v1"] != before["apis/apps/v1"]  # Deployments embed containers
    assert after["apis/coordination.k8s.io/v1"] == before["apis/coordination.k8s.io/v1"]


def test_hash_changes_when_a_resource_is_added() -> None:
    before = index(make_client())
    after = index(make_client((*RESOURCES, ResourceType("apps", "v1", "statefulsets", "StatefulSet", True))))
    assert after["apis/apps/v1"] != before["apis/apps/v1"]
    assert after["api/v1"] == before["api/v1"]


@pytest.mark.parametrize("path", ["/openapi/v3/apis/nope/v1", "/openapi/v3/api/v2", "/openapi/v3/apis/batch/v1"])
def test_unknown_documents_are_404_statuses(client: falcon.testing.TestClient, path: str) -> None:
    result = client.simulate_get(path)
    assert result.status_code == 404 and result.json["reason"] == "NotFound"


def test_openapi_v2_is_served_without_kinds(client: falcon.testing.TestClient) -> None:
    """kubectl reads v2 as protobuf for kinds v3 does not describe; an empty one makes it name the kind."""
    pb = client.simulate_get("/openapi/v2",
                             headers={"Accept": "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"})
    assert pb.status_code == 200
    assert pb.headers["Content-Type"] == "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"
    # swagger="2.0" (field 1), info{title, version} (field 2), empty paths (field 8)
    assert pb.content == (b"\x0a\x032.0" + b"\x12\x1d\x0a\x0aKubernetes\x12\x0fv1.32.0-minik8s" + b"\x42\x00")
    js = client.simulate_get("/openapi/v2", headers={"Accept": "application/json"})
    assert js.headers["Content-Type"] == "application/json"
    assert js.json == {"swagger": "2.0", "info": {"title": "Kubernetes", "version": "v1.32.0-minik8s"},
                       "paths": {}, "definitions": {}}


# ---- schemas ------------------------------------------------------------------------------------

@pytest.mark.parametrize(("group", "version", "expected"), [
    ("", "v1", "io.k8s.api.core.v1"), ("apps", "v1", "io.k8s.api.apps.v1"),
    ("coordination.k8s.io", "v1", "io.k8s.api.coordination.v1"), ("minik8s.io", "v1", "io.minik8s.v1"),
])
def test_schema_packages_are_named_like_kubernetes(group: str, version: str, expected: str) -> None:
    assert schema.package_of(group, version) == expected


@pytest.mark.parametrize("rt", RESOURCES, ids=lambda rt: rt.group_plural)
def test_every_kind_has_a_schema_with_its_gvk(client: falcon.testing.TestClient, rt: ResourceType) -> None:
    schemas = document(client, rt)["components"]["schemas"]
    name = f"{schema.package_of(rt.group, rt.version)}.{rt.kind}"
    gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}
    assert schemas[name]["x-kubernetes-group-version-kind"] == [gvk]
    assert {"apiVersion", "kind", "metadata"} <= set(schemas[name]["properties"])
    assert schemas[f"{name}List"]["x-kubernetes-group-version-kind"] == [{**gvk, "kind": f"{rt.kind}List"}]


def test_well_known_schema_names(client: falcon.testing.TestClient) -> None:
    names = {n for rt in RESOURCES for n in document(client, rt)["components"]["schemas"]}
    assert {"io.k8s.api.core.v1.Pod", "io.k8s.api.apps.v1.Deployment", "io.k8s.api.autoscaling.v1.Scale",
            "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler", "io.k8s.api.networking.v1.Ingress",
            "io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"} <= names


@pytest.mark.parametrize("rt", RESOURCES, ids=lambda rt: rt.group_plural)
def test_every_reference_resolves_and_objects_keep_unknown_fields(client: falcon.testing.TestClient,
                                                                  rt: ResourceType) -> None:
    doc = document(client, rt)
    schemas = doc["components"]["schemas"]
    assert set(openapi._refs(doc)) <= set(schemas)
    for schema in schemas.values():
        assert schema["x-kubernetes-preserve-unknown-fields"] is True


@pytest.mark.parametrize(("field", "key"), [
    ("spec.template.spec.containers", "name"),
    ("spec.template.spec.initContainers", "name"),
    ("spec.template.spec.volumes", "name"),
    ("spec.template.spec.imagePullSecrets", "name"),
    ("spec.template.spec.containers.ports", "containerPort"),
    ("spec.template.spec.containers.env", "name"),
    ("spec.template.spec.containers.volumeMounts", "mountPath"),
    ("metadata.ownerReferences", "uid"),
])
def test_deployment_lists_carry_kubernetes_merge_keys(client: falcon.testing.TestClient, field: str,
                                                      key: str) -> None:
    deploy = next(rt for rt in RESOURCES if rt.kind == "Deployment")
    schema = schema_at(document(client, deploy), "io.k8s.api.apps.v1.Deployment", field)
    assert schema["x-kubernetes-patch-merge-key"] == key
    assert schema["x-kubernetes-patch-strategy"] == "merge"


def test_atomic_lists_have_no_patch_strategy(client: falcon.testing.TestClient) -> None:
    pods = next(rt for rt in RESOURCES if rt.kind == "Pod")
    doc = document(client, pods)
    for field in ("spec.tolerations", "spec.containers.command", "spec.containers.args"):
        assert "x-kubernetes-patch-strategy" not in schema_at(doc, "io.k8s.api.core.v1.Pod", field)


def test_custom_kinds_get_a_free_form_schema() -> None:
    widget = ResourceType("minik8s.io", "v1", "widgets", "Widget", True)
    doc = document(make_client((widget,)), widget)
    schema = doc["components"]["schemas"]["io.minik8s.v1.Widget"]
    assert schema["x-kubernetes-group-version-kind"] == [{"group": "minik8s.io", "version": "v1", "kind": "Widget"}]
    assert schema["properties"]["spec"]["x-kubernetes-preserve-unknown-fields"] is True


# ---- paths (what kubectl checks before apply) ---------------------------------------------------

def patch_operations(doc: Json, gvk: Json) -> list[Json]:
    return [item["patch"] for item in doc["paths"].values()
            if "patch" in item and item["patch"]["x-kubernetes-group-version-kind"] == gvk]


@pytest.mark.parametrize("rt", [rt for rt in RESOURCES if "patch" in rt.verbs], ids=lambda rt: rt.group_plural)
def test_patch_operations_declare_field_validation_and_strategic_merge(client: falcon.testing.TestClient,
                                                                       rt: ResourceType) -> None:
    ops = patch_operations(document(client, rt), {"group": rt.group, "version": rt.version, "kind": rt.kind})
    assert ops
    for op in ops:
        assert {"name": "fieldValidation", "in": "query", "schema": {"type": "string"}} in op["parameters"]
        assert "application/strategic-merge-patch+json" in op["requestBody"]["content"]


def test_resource_paths(client: falcon.testing.TestClient) -> None:
    deploy = next(rt for rt in RESOURCES if rt.kind == "Deployment")
    paths = document(client, deploy)["paths"]
    base = "/apis/apps/v1/namespaces/{namespace}/deployments"
    assert {"get", "post", "delete"} <= set(paths[base])
    assert {"get", "put", "patch", "delete"} <= set(paths[f"{base}/{{name}}"])
    assert paths["/apis/apps/v1/deployments"]["get"]["x-kubernetes-action"] == "list"
    answers = {method: op["responses"]["200"]["content"]["application/json"]["schema"]["$ref"].removeprefix(REF)
               for method, op in paths[base].items() if method != "parameters"}
    assert answers == {"get": "io.k8s.api.apps.v1.DeploymentList", "post": "io.k8s.api.apps.v1.Deployment",
                       "delete": "io.k8s.api.apps.v1.DeploymentList"}
    scale = paths[f"{base}/{{name}}/scale"]["patch"]
    assert scale["x-kubernetes-group-version-kind"] == {"group": "autoscaling", "version": "v1", "kind": "Scale"}
    namespaces = document(client, next(rt for rt in RESOURCES if rt.plural == "namespaces"))["paths"]
    assert "/api/v1/namespaces/{name}/status" in namespaces


def test_invoke_takes_and_answers_free_form_json(client: falcon.testing.TestClient) -> None:
    """A Function's invoke POST takes and answers any JSON object (the call's own), not a Function."""
    functions = next(rt for rt in RESOURCES if rt.plural == "functions")
    doc = document(client, functions)
    post = doc["paths"]["/apis/minik8s.io/v1/namespaces/{namespace}/functions/{name}/invoke"]["post"]
    free_form = {"application/json": {"schema": {"type": "object", "x-kubernetes-preserve-unknown-fields": True}}}
    assert post["requestBody"] == {"required": False, "content": free_form}
    assert post["responses"] == {"200": {"description": "OK", "content": free_form}}
    assert post["parameters"] == []
    assert "io.minik8s.v1.Function" in doc["components"]["schemas"]


def test_workflow_invoke_takes_the_input_and_answers_the_run(client: falcon.testing.TestClient) -> None:
    """A Workflow's invoke POST takes the run's input (any JSON) and answers the WorkflowRun: 201 when it
    started, 200 when `wait=true` saw it end."""
    workflows = next(rt for rt in RESOURCES if rt.plural == "workflows")
    doc = document(client, workflows)
    post = doc["paths"]["/apis/minik8s.io/v1/namespaces/{namespace}/workflows/{name}/invoke"]["post"]
    run = {"application/json": {"schema": {"$ref": "#/components/schemas/io.minik8s.v1.WorkflowRun"}}}
    assert post["responses"]["201"]["content"] == run and post["responses"]["200"]["content"] == run
    assert [(p["name"], p["schema"]["type"]) for p in post["parameters"]] == [("wait", "boolean"),
                                                                             ("timeoutSeconds", "integer")]
    assert "io.minik8s.v1.WorkflowRun" in doc["components"]["schemas"]
