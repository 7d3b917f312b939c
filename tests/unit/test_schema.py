"""One field schema per kind: OpenAPI, merge keys and strict fields all come from it and agree.

The checks walk the *served* OpenAPI documents (what kubectl reads) independently of the schema
module, and compare them with the merge keys strategic merge uses and the fields strict validation
knows. A second check compares every described type with the official Kubernetes client's model of
it, so a field a real client sends is never dropped as unknown.
"""

from __future__ import annotations

import json
from typing import Any

import falcon.testing
import pytest
from kubernetes.client import models

from minik8s.api import schema, strictfields, validation
from minik8s.api.errors import InvalidError
from minik8s.api.kinds import RESOURCES, ResourceType, resolve
from minik8s.api.server import openapi
from minik8s.api.server.discovery import subresource_kind
from minik8s.api.server.http import send_json

Json = dict[str, Any]
_REF = "#/components/schemas/"


@pytest.fixture(scope="module")
def documents() -> dict[str, Json]:
    app = falcon.App()
    app.set_error_serializer(lambda req, resp, exc: send_json(resp, {}, exc.status))
    openapi.register_openapi(app)
    client = falcon.testing.TestClient(app)
    index = client.simulate_get("/openapi/v3").json
    return {gv: client.simulate_get(f"/openapi/v3/{gv}").json for gv in index["paths"]}


def _document(documents: dict[str, Json], rt: ResourceType) -> Json:
    return documents[rt.group_version_prefix.lstrip("/")]


def _kind_schema(doc: Json, rt: ResourceType) -> Json:
    gvk = {"group": rt.group, "version": rt.version, "kind": rt.kind}
    return next(s for s in doc["components"]["schemas"].values() if s.get("x-kubernetes-group-version-kind") == [gvk])


def _walk(doc: Json, node: Json, path: str, depth: int = 0) -> Any:
    """(field path without list indexes, the property schema) of every property below `node`."""
    assert depth < 40, f"{path}: the OpenAPI document nests without end"
    if "$ref" in node:
        node = doc["components"]["schemas"][node["$ref"].removeprefix(_REF)]
    for name, prop in (node.get("properties") or {}).items():
        sub = f"{path}.{name}" if path else name
        yield sub, prop
        target = prop["items"] if prop.get("type") == "array" else prop
        if "$ref" in target or target.get("properties"):
            yield from _walk(doc, target, sub, depth + 1)


def _example(doc: Json, node: Json, depth: int = 0) -> Any:
    """An object setting every property the OpenAPI schema describes (lists get one item)."""
    if "$ref" in node:
        node = doc["components"]["schemas"][node["$ref"].removeprefix(_REF)]
    if node.get("type") == "array":
        return [_example(doc, node["items"], depth + 1)]
    if "properties" in node and depth < 40:
        return {name: _example(doc, prop, depth + 1) for name, prop in node["properties"].items()}
    if node.get("type") == "object":
        return {}
    return "x" if node.get("type") == "string" else 1


@pytest.mark.parametrize("rt", RESOURCES, ids=lambda rt: rt.group_plural)
def test_schema_merge_keys_are_the_openapi_merge_keys(documents: dict[str, Json], rt: ResourceType) -> None:
    """Every merge key strategic merge uses is declared in OpenAPI at that path, and nothing more."""
    doc = _document(documents, rt)
    declared = {}
    for path, prop in _walk(doc, _kind_schema(doc, rt), ""):
        if prop.get("x-kubernetes-patch-strategy") == "merge":
            declared[path] = prop.get("x-kubernetes-patch-merge-key", "")
    assert declared == rt.merge_keys
    assert "spec.containers" in resolve("pods").merge_keys  # the walk reaches what matters


@pytest.mark.parametrize("rt", RESOURCES, ids=lambda rt: rt.group_plural)
def test_schema_openapi_fields_are_the_strict_fields(documents: dict[str, Json], rt: ResourceType) -> None:
    """An object setting every OpenAPI field has no unknown field; any field added anywhere is unknown."""
    doc = _document(documents, rt)
    full = _example(doc, _kind_schema(doc, rt))
    assert strictfields.unknown_fields(rt, full) == []
    described = [path for path, prop in _walk(doc, _kind_schema(doc, rt), "")
                 if prop.get("properties") or "$ref" in prop]
    assert described, "no described object below the kind"
    for path in described:  # the reverse: strict knows no field OpenAPI lacks
        marked = json.loads(json.dumps(full))
        target = marked
        for step in path.split("."):
            target = target[step][0] if isinstance(target[step], list) else target[step]
        target["notAField"] = 1
        assert strictfields.unknown_fields(rt, marked) == [_indexed(marked, path) + ".notAField"]


def _indexed(obj: Json, path: str) -> str:
    """`path` with `[0]` after each list it crosses, as strict validation reports it."""
    out, node = [], obj
    for step in path.split("."):
        node = node[step]
        out.append(f"{step}[0]" if isinstance(node, list) else step)
        node = node[0] if isinstance(node, list) else node
    return ".".join(out)


_MODEL_PREFIX = {schema.META: "V1", schema.CORE: "V1", "io.k8s.api.apps.v1": "V1", "io.k8s.api.autoscaling.v1": "V1",
                 "io.k8s.api.autoscaling.v2": "V2", "io.k8s.api.coordination.v1": "V1",
                 "io.k8s.api.networking.v1": "V1", "io.k8s.api.discovery.v1": "V1"}


def test_schema_knows_every_field_of_the_official_client_models() -> None:
    """For every described type the `kubernetes` client models, each of the model's fields is described."""
    compared, missing = 0, []
    for package, types in schema.packages():
        prefix = _MODEL_PREFIX.get(package)
        for name, fields in types.items():
            model = getattr(models, f"{prefix}{name}", None) or getattr(models, f"CoreV1{name}", None)
            if prefix is None or model is None:
                continue
            compared += 1
            top = {"apiVersion", "kind", "metadata"} if resolve_kind(package, name) else set()
            missing += [f"{package}.{name}.{field}" for field in model.attribute_map.values()
                        if field not in fields and field not in top]
    assert compared > 150
    assert missing == []


def resolve_kind(package: str, name: str) -> bool:
    """Whether `name` in `package` is the kind of a served resource or subresource (whose apiVersion,
    kind and metadata `schema.kind_fields` adds)."""
    kinds = {(rt.group, rt.version, rt.kind) for rt in RESOURCES}
    kinds |= {subresource_kind(rt, sub) for rt in RESOURCES for sub in rt.subresources}
    return any(schema.package_of(group, version) == package and kind == name for group, version, kind in kinds)


# The node-affinity example of the Kubernetes docs with `key`/`operator`/`values` put straight under
# `nodeSelectorTerms` (no `matchExpressions`): kube-apiserver refuses it; minik8s accepted it before.
_MALFORMED_AFFINITY = {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
    {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["antarctica-east1"]}]}}}


def _pod(affinity: Json) -> Json:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
            "spec": {"affinity": affinity, "containers": [{"name": "c", "image": "i"}]}}


def test_schema_malformed_node_affinity_is_unknown_to_strict_validation() -> None:
    assert strictfields.unknown_fields(resolve("pods"), _pod(_MALFORMED_AFFINITY)) == [
        f"spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].{field}"
        for field in ("key", "operator", "values")]


@pytest.mark.parametrize(("affinity", "field"), [
    pytest.param({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}},
                 "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms",
                 id="no-terms"),
    pytest.param({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "zone", "operator": "Near", "values": ["a"]}]}]}}},
        "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"
        ".matchExpressions[0].operator", id="bad-operator"),
    pytest.param({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": [
        {"matchExpressions": [{"key": "zone", "operator": "In"}]}]}}},
        "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]"
        ".matchExpressions[0].values", id="in-without-values"),
    pytest.param({"nodeAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": [
        {"weight": 101, "preference": {}}]}},
        "spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight", id="weight"),
    pytest.param({"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [{"labelSelector": {}}]}},
                 "spec.affinity.podAntiAffinity.requiredDuringSchedulingIgnoredDuringExecution[0].topologyKey",
                 id="no-topology-key"),
    pytest.param({"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": {
        "matchExpressions": []}}}},
        "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms",
        id="terms-not-a-list"),
])
def test_schema_affinity_is_validated_like_kube_apiserver(affinity: Json, field: str) -> None:
    with pytest.raises(InvalidError) as caught:
        validation.validate(resolve("pods"), _pod(affinity))
    assert field in {cause["field"] for cause in caught.value.causes}
