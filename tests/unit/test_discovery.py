"""Discovery: aggregated vs legacy negotiation, exact media types, every served resource listed."""

from __future__ import annotations

from typing import Any

import falcon
import falcon.testing
import pytest

from minik8s.api import errors
from minik8s.api.kinds import RESOURCES, ResourceType
from minik8s.api.server.discovery import AGGREGATED_V2, AGGREGATED_V2BETA1, negotiate, register_discovery
from minik8s.api.server.http import send_json

Json = dict[str, Any]

KUBECTL_ACCEPT = f"{AGGREGATED_V2},{AGGREGATED_V2BETA1},application/json"


def _status(req: falcon.Request, resp: falcon.Response, exc: errors.ApiError, params: Any) -> None:
    send_json(resp, exc.to_status(), exc.code)


def make_client(resources: tuple[ResourceType, ...] = RESOURCES) -> falcon.testing.TestClient:
    """A bare app with only the discovery routes and the `ApiError` → `Status` handler."""
    app = falcon.App()
    app.add_error_handler(errors.ApiError, _status)
    register_discovery(app, resources)
    return falcon.testing.TestClient(app)


@pytest.fixture(scope="module")
def client() -> falcon.testing.TestClient:
    return make_client()


def aggregated(client: falcon.testing.TestClient, path: str) -> Json:
    result = client.simulate_get(path, headers={"Accept": KUBECTL_ACCEPT})
    assert result.status_code == 200
    assert result.headers["Content-Type"] == AGGREGATED_V2
    return result.json


def aggregated_resources(client: falcon.testing.TestClient) -> dict[tuple[str, str, str], Json]:
    """(group, version, plural) → aggregated resource entry, from `/api` and `/apis`."""
    out = {}
    for path in ("/api", "/apis"):
        for group in aggregated(client, path)["items"]:
            for version in group["versions"]:
                assert version["freshness"] == "Current"
                for res in version["resources"]:
                    out[(group["metadata"]["name"], version["version"], res["resource"])] = res
    return out


# ---- negotiation --------------------------------------------------------------------------------

@pytest.mark.parametrize(("accept", "expected"), [
    pytest.param(KUBECTL_ACCEPT, AGGREGATED_V2, id="kubectl-1.32"),
    pytest.param(f"{AGGREGATED_V2BETA1},application/json", AGGREGATED_V2BETA1, id="v2beta1-only"),
    pytest.param("application/json; g=apidiscovery.k8s.io; v=v2; as=APIGroupDiscoveryList", AGGREGATED_V2,
                 id="spaces-around-parameters"),
    pytest.param(f"application/json;q=0.9,{AGGREGATED_V2};q=0.5", None, id="legacy-has-higher-q"),
    pytest.param(f"application/json;q=0.5,{AGGREGATED_V2BETA1};q=0.8,{AGGREGATED_V2};q=0.7", AGGREGATED_V2BETA1,
                 id="highest-q-wins"),
    pytest.param(f"{AGGREGATED_V2};q=0", None, id="q-zero-refuses"),
    pytest.param("application/json;g=apidiscovery.k8s.io;v=v3;as=APIGroupDiscoveryList", None, id="unknown-version"),
    pytest.param("application/vnd.kubernetes.protobuf;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList", None,
                 id="protobuf-only"),
    pytest.param("application/json, */*", None, id="plain-json"),
    pytest.param(None, None, id="no-accept"),
])
def test_negotiate(accept: str | None, expected: str | None) -> None:
    assert negotiate(accept) == expected


@pytest.mark.parametrize("path", ["/api", "/apis"])
def test_aggregated_content_type_is_exactly_the_requested_type(client: falcon.testing.TestClient, path: str) -> None:
    body = aggregated(client, path)
    assert body["kind"] == "APIGroupDiscoveryList"
    assert body["apiVersion"] == "apidiscovery.k8s.io/v2"
    assert client.simulate_get(path, headers={"Accept": KUBECTL_ACCEPT}).headers["Vary"] == "Accept"


@pytest.mark.parametrize("path", ["/api", "/apis"])
def test_v2beta1_gets_its_own_media_type(client: falcon.testing.TestClient, path: str) -> None:
    result = client.simulate_get(path, headers={"Accept": AGGREGATED_V2BETA1})
    assert result.headers["Content-Type"] == AGGREGATED_V2BETA1
    assert result.json["apiVersion"] == "apidiscovery.k8s.io/v2beta1"


def test_plain_json_gets_legacy_shapes(client: falcon.testing.TestClient) -> None:
    api = client.simulate_get("/api", headers={"Accept": "application/json, */*"})
    assert api.headers["Content-Type"] == "application/json"
    assert api.json["kind"] == "APIVersions" and api.json["versions"] == ["v1"]
    assert api.json["serverAddressByClientCIDRs"][0]["clientCIDR"] == "0.0.0.0/0"
    apis = client.simulate_get("/apis")
    assert apis.json["kind"] == "APIGroupList"
    named = {rt.group for rt in RESOURCES if rt.group}
    assert {g["name"] for g in apis.json["groups"]} == named


# ---- aggregated content -------------------------------------------------------------------------

def test_api_lists_only_the_core_group_and_apis_only_named_groups(client: falcon.testing.TestClient) -> None:
    assert [g["metadata"]["name"] for g in aggregated(client, "/api")["items"]] == [""]
    assert "" not in [g["metadata"]["name"] for g in aggregated(client, "/apis")["items"]]


def test_every_resource_is_in_aggregated_discovery(client: falcon.testing.TestClient) -> None:
    found = aggregated_resources(client)
    assert set(found) == {(rt.group, rt.version, rt.plural) for rt in RESOURCES}
    for rt in RESOURCES:
        entry = found[(rt.group, rt.version, rt.plural)]
        assert entry["responseKind"] == {"group": "", "version": "", "kind": rt.kind}
        assert entry["scope"] == ("Namespaced" if rt.namespaced else "Cluster")
        assert entry["singularResource"] == rt.singular
        assert entry["verbs"] == list(rt.verbs)
        assert entry["shortNames"] == list(rt.short_names)
        assert entry["categories"] == list(rt.categories)
        assert [s["subresource"] for s in entry["subresources"]] == list(rt.subresources)


def test_short_names_and_all_category_that_kubectl_needs(client: falcon.testing.TestClient) -> None:
    found = aggregated_resources(client)
    assert found[("", "v1", "pods")]["shortNames"] == ["po"]
    assert found[("apps", "v1", "deployments")]["shortNames"] == ["deploy"]
    assert found[("apps", "v1", "replicasets")]["shortNames"] == ["rs"]
    assert found[("autoscaling", "v2", "horizontalpodautoscalers")]["shortNames"] == ["hpa"]
    in_all = {key[2] for key, entry in found.items() if "all" in entry["categories"]}
    assert {"pods", "services", "deployments", "replicasets"} <= in_all


def test_aggregated_subresources(client: falcon.testing.TestClient) -> None:
    found = aggregated_resources(client)
    deploy = {s["subresource"]: s for s in found[("apps", "v1", "deployments")]["subresources"]}
    assert deploy["scale"] == {"subresource": "scale", "verbs": ["get", "patch", "update"],
                               "responseKind": {"group": "autoscaling", "version": "v1", "kind": "Scale"}}
    assert deploy["status"]["responseKind"] == {"group": "", "version": "", "kind": "Deployment"}
    pods = {s["subresource"]: s for s in found[("", "v1", "pods")]["subresources"]}
    assert pods["log"] == {"subresource": "log", "verbs": ["get"],
                           "responseKind": {"group": "", "version": "", "kind": "Pod"}}
    assert pods["binding"]["responseKind"]["kind"] == "Binding" and pods["binding"]["verbs"] == ["create"]
    functions = {s["subresource"]: s for s in found[("minik8s.io", "v1", "functions")]["subresources"]}
    assert functions["invoke"] == {"subresource": "invoke", "verbs": ["create"],
                                   "responseKind": {"group": "", "version": "", "kind": "Function"}}


# ---- legacy content -----------------------------------------------------------------------------

def legacy_list(client: falcon.testing.TestClient, rt: ResourceType) -> Json:
    result = client.simulate_get(rt.group_version_prefix)
    assert result.status_code == 200
    assert result.json["kind"] == "APIResourceList" and result.json["groupVersion"] == rt.api_version
    return {r["name"]: r for r in result.json["resources"]}


@pytest.mark.parametrize("rt", RESOURCES, ids=lambda rt: f"{rt.group_plural}")
def test_every_resource_is_in_its_legacy_resource_list(client: falcon.testing.TestClient, rt: ResourceType) -> None:
    entry = legacy_list(client, rt)[rt.plural]
    assert entry == {"name": rt.plural, "singularName": rt.singular, "namespaced": rt.namespaced, "kind": rt.kind,
                     "verbs": list(rt.verbs), "shortNames": list(rt.short_names), "categories": list(rt.categories)}


def test_legacy_subresource_entries(client: falcon.testing.TestClient) -> None:
    deploy = next(rt for rt in RESOURCES if rt.plural == "deployments")
    pods = next(rt for rt in RESOURCES if rt.plural == "pods")
    apps = legacy_list(client, deploy)
    assert apps["deployments/scale"] == {"name": "deployments/scale", "singularName": "", "namespaced": True,
                                         "kind": "Scale", "group": "autoscaling", "version": "v1",
                                         "verbs": ["get", "patch", "update"]}
    assert apps["deployments/status"]["kind"] == "Deployment" and "group" not in apps["deployments/status"]
    core = legacy_list(client, pods)
    assert core["pods/status"]["kind"] == "Pod" and core["pods/log"]["verbs"] == ["get"]
    functions = legacy_list(client, next(rt for rt in RESOURCES if rt.plural == "functions"))
    assert functions["functions/invoke"]["verbs"] == ["create"]
    assert functions["functions"]["shortNames"] == ["fn"] and functions["functions"]["categories"] == []


def test_api_group(client: falcon.testing.TestClient) -> None:
    body = client.simulate_get("/apis/apps").json
    assert body["kind"] == "APIGroup" and body["name"] == "apps"
    assert body["preferredVersion"] == {"groupVersion": "apps/v1", "version": "v1"}
    assert body["versions"] == [body["preferredVersion"]]


@pytest.mark.parametrize("path", ["/apis/nope", "/apis/nope/v1", "/apis/apps/v9", "/api/v2"])
def test_unknown_group_or_version_is_a_404_status(client: falcon.testing.TestClient, path: str) -> None:
    result = client.simulate_get(path)
    assert result.status_code == 404
    assert result.json["kind"] == "Status" and result.json["reason"] == "NotFound"


def test_a_subresource_without_a_description_fails_at_registration() -> None:
    odd = ResourceType("apps", "v1", "widgets", "Widget", True, subresources=("eviction",))
    with pytest.raises(KeyError, match="eviction"):
        make_client((odd,))
