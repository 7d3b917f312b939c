"""OpenAPI v3 documents for the served resources, as kubectl reads them.

kubectl uses `/openapi/v3` for three things: to learn that the server validates fields itself
(a PATCH operation declaring the `fieldValidation` query parameter, so kubectl sends
`fieldValidation=Strict` instead of validating on the client), to compute client-side `apply`
patches (schemas carrying `x-kubernetes-patch-merge-key` / `x-kubernetes-patch-strategy`, found
through `x-kubernetes-group-version-kind`) and for `kubectl explain`.

The schemas are expanded from the one field schema of the served kinds (`minik8s.api.schema`):
what kubectl reads here is what the server's strategic merge, strict field validation and type
checks use. Every object is marked `x-kubernetes-preserve-unknown-fields`, so a client never refuses
an object for a field the schema lacks: the server decides (strict validation drops or refuses it).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator, Sequence
from typing import Any

import falcon

from minik8s.api import errors, schema
from minik8s.api.kinds import RESOURCES, ResourceType

from .discovery import subresource, subresource_kind

Json = dict[str, Any]

_REF = "#/components/schemas/"

_INT_OR_STRING: Json = {"x-kubernetes-int-or-string": True, "anyOf": [{"type": "integer"}, {"type": "string"}]}
_ATOMS: dict[str, Json] = {
    "str": {"type": "string"},
    "int": {"type": "integer", "format": "int64"},
    "bool": {"type": "boolean"},
    "num": {"type": "number", "format": "double"},
    "time": {"type": "string", "format": "date-time"},
    "intstr": _INT_OR_STRING,
    "quantity": _INT_OR_STRING,
    "bytes": {"type": "string", "format": "byte"},
    "map": {"type": "object", "additionalProperties": {"type": "string"}},
    "map:quantity": {"type": "object", "additionalProperties": _INT_OR_STRING},
    "map:bytes": {"type": "object", "additionalProperties": {"type": "string", "format": "byte"}},
    "obj": {"type": "object", "x-kubernetes-preserve-unknown-fields": True},
}

# ---- schemas ------------------------------------------------------------------------------------


def _field(expr: str, package: str) -> Json:
    if expr in _ATOMS:
        return dict(_ATOMS[expr])
    listed = schema.parse_list(expr)
    if listed is None:
        return {"$ref": _REF + schema.qualified(expr, package)}
    out: Json = {"type": "array", "items": _field(listed.item, package)}
    if listed.merged:
        out["x-kubernetes-patch-strategy"] = "merge"
        if listed.key:
            out["x-kubernetes-patch-merge-key"] = listed.key
    return out


def _object(fields: schema.Fields, package: str) -> Json:
    return {"type": "object", "properties": {name: _field(expr, package) for name, expr in fields.items()},
            "x-kubernetes-preserve-unknown-fields": True}


def _gvk(group: str, version: str, kind: str) -> Json:
    return {"group": group, "version": version, "kind": kind}


def _kind_schema(group: str, version: str, kind: str) -> Json:
    fields, package = schema.kind_fields(group, version, kind)
    out = _object(fields, package)
    out["x-kubernetes-group-version-kind"] = [_gvk(group, version, kind)]
    return out


def _list_schema(rt: ResourceType) -> Json:
    out = _object({"apiVersion": "str", "kind": "str", "metadata": "ListMeta"}, schema.META)
    out["properties"]["items"] = {"type": "array", "items": {"$ref": _REF + _name(rt.group, rt.version, rt.kind)}}
    out["x-kubernetes-group-version-kind"] = [_gvk(rt.group, rt.version, f"{rt.kind}List")]
    return out


def _name(group: str, version: str, kind: str) -> str:
    return f"{schema.package_of(group, version)}.{kind}"


def _kinds(resources: Sequence[ResourceType]) -> set[tuple[str, str, str]]:
    """Every (group, version, kind) a response carries: the resources and their subresources' kinds."""
    own = {(rt.group, rt.version, rt.kind) for rt in resources}
    return own | {subresource_kind(rt, sub) for rt in resources for sub in rt.subresources}


def _all_schemas(resources: Sequence[ResourceType]) -> dict[str, Json]:
    schemas = {f"{package}.{name}": _object(fields, package)
               for package, types in schema.packages() for name, fields in types.items()}
    for group, version, kind in _kinds(resources):
        schemas[_name(group, version, kind)] = _kind_schema(group, version, kind)
    for rt in resources:
        schemas[_name(rt.group, rt.version, f"{rt.kind}List")] = _list_schema(rt)
    return schemas


# ---- paths --------------------------------------------------------------------------------------

_WRITE_PARAMS = ("dryRun", "fieldManager", "fieldValidation")
_LIST_PARAMS = ("labelSelector", "fieldSelector", "resourceVersion", "limit", "continue", "watch",
                "allowWatchBookmarks", "timeoutSeconds")
_PARAM_TYPES = {"limit": "integer", "timeoutSeconds": "integer", "watch": "boolean", "allowWatchBookmarks": "boolean",
                "force": "boolean", "wait": "boolean"}
_PATCH_TYPES = ("application/json-patch+json", "application/merge-patch+json",
                "application/strategic-merge-patch+json", "application/apply-patch+yaml")
_LOG_PARAMS = ("container", "follow", "previous", "sinceSeconds", "tailLines", "timestamps")
# verb → (HTTP method, x-kubernetes-action, on the collection?); `watch` is a list parameter, not a path
_VERBS = {"list": ("get", "list", True), "create": ("post", "post", True),
          "deletecollection": ("delete", "deletecollection", True), "get": ("get", "get", False),
          "update": ("put", "put", False), "patch": ("patch", "patch", False), "delete": ("delete", "delete", False)}


def _query(names: Sequence[str]) -> list[Json]:
    return [{"name": n, "in": "query", "schema": {"type": _PARAM_TYPES.get(n, "string")}} for n in names]


def _path_params(namespaced: bool, named: bool) -> list[Json]:
    names = (["namespace"] if namespaced else []) + (["name"] if named else [])
    return [{"name": n, "in": "path", "required": True, "schema": {"type": "string"}} for n in names]


def _json_content(ref: str) -> Json:
    return {"application/json": {"schema": {"$ref": _REF + ref}}}


def _operation(action: str, op_id: str, gvk: Json, body: str, response: str) -> Json:
    op: Json = {"operationId": op_id, "x-kubernetes-action": action, "x-kubernetes-group-version-kind": gvk,
                "responses": {"200": {"description": "OK", "content": _json_content(response)}}}
    if action in ("post", "put"):
        op["parameters"] = _query(_WRITE_PARAMS)
        op["requestBody"] = {"required": True, "content": _json_content(body)}
    elif action == "patch":
        op["parameters"] = _query((*_WRITE_PARAMS, "force"))
        op["requestBody"] = {"required": True,
                             "content": {t: {"schema": {"type": "object"}} for t in _PATCH_TYPES}}
    elif action == "list":
        op["parameters"] = _query(_LIST_PARAMS)
    if action == "post":
        op["responses"]["201"] = op["responses"]["200"]
    return op


def _resource_paths(rt: ResourceType) -> Iterator[tuple[str, Json]]:
    """(URL template, path item) for the resource, its subresources and its all-namespaces list."""
    base = rt.collection_path("{namespace}")
    scope = "Namespaced" if rt.namespaced else ""
    gvk = _gvk(rt.group, rt.version, rt.kind)
    kind, kind_list = _name(rt.group, rt.version, rt.kind), _name(rt.group, rt.version, f"{rt.kind}List")
    for collection, url in ((True, base), (False, f"{base}/{{name}}")):
        item: Json = {"parameters": _path_params(rt.namespaced, not collection)}
        for verb in (v for v in rt.verbs if v in _VERBS and _VERBS[v][2] == collection):
            method, action, _ = _VERBS[verb]
            response = kind_list if action in ("list", "deletecollection") else kind
            item[method] = _operation(action, f"{action}{scope}{rt.kind}", gvk, kind, response)
        yield url, item
    if rt.namespaced and "list" in rt.verbs:
        list_op = _operation("list", f"list{rt.kind}ForAllNamespaces", gvk, kind, kind_list)
        yield rt.collection_path(), {"parameters": [], "get": list_op}
    for sub in rt.subresources:
        yield f"{base}/{{name}}/{sub}", _subresource_item(rt, sub, scope)


def _subresource_item(rt: ResourceType, sub: str, scope: str) -> Json:
    group, version, kind = subresource_kind(rt, sub)
    gvk, name = _gvk(group, version, kind), _name(group, version, kind)
    item: Json = {"parameters": _path_params(rt.namespaced, True)}
    for verb in subresource(sub).verbs:
        method, action, _ = _VERBS[verb]
        item[method] = _operation(action, f"{action}{scope}{rt.kind}{sub.title()}", gvk, name, name)
    if sub == "log":
        item["get"]["parameters"] = _query(_LOG_PARAMS)
        item["get"]["responses"]["200"]["content"] = {"text/plain": {"schema": {"type": "string"}}}
    if sub == "invoke":  # the call's parameters and its result are whatever JSON the function takes and gives
        free_form = {"application/json": {"schema": dict(_ATOMS["obj"])}}
        item["post"].update(parameters=[], requestBody={"required": False, "content": free_form},
                            responses={"200": {"description": "OK", "content": free_form}})
        if rt.plural == "workflows":  # the body is the run's input; the answer is the WorkflowRun it starts
            run = _json_content(_name(rt.group, rt.version, "WorkflowRun"))
            item["post"].update(parameters=_query(("wait", "timeoutSeconds")), responses={
                "201": {"description": "Created: the run started", "content": run},
                "200": {"description": "OK: the run ended (wait=true)", "content": run}})
    return item


# ---- documents ----------------------------------------------------------------------------------

def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str):
            yield ref.removeprefix(_REF)
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _closure(roots: Sequence[str], schemas: dict[str, Json]) -> dict[str, Json]:
    """The named schemas and every schema they reference, sorted by name."""
    found: dict[str, Json] = {}
    pending = list(roots)
    while pending:
        name = pending.pop()
        if name not in found:
            found[name] = schemas[name]
            pending.extend(_refs(found[name]))
    return dict(sorted(found.items()))


def _document(rts: Sequence[ResourceType], schemas: dict[str, Json]) -> Json:
    paths = dict(sorted(p for rt in rts for p in _resource_paths(rt)))
    return {"openapi": "3.0.0", "info": {"title": "Kubernetes", "version": "v1.32.0-minik8s"}, "paths": paths,
            "components": {"schemas": _closure(list(_refs(paths)), schemas)}}


def build_documents(resources: Sequence[ResourceType] = RESOURCES) -> dict[str, Json]:
    """OpenAPI v3 document per group-version, keyed like the index: `api/v1`, `apis/apps/v1`."""
    schemas = _all_schemas(resources)
    by_gv: dict[str, list[ResourceType]] = {}
    for rt in resources:
        by_gv.setdefault(rt.group_version_prefix.lstrip("/"), []).append(rt)
    return {gv: _document(rts, schemas) for gv, rts in by_gv.items()}


# ---- OpenAPI v2 ---------------------------------------------------------------------------------
#
# kube-apiserver always serves `/openapi/v2`, and kubectl depends on it for kinds the v3 documents
# do not describe: `kubectl apply -f` of such a kind (a StatefulSet, an autoscaling/v1 HPA, a CRD's
# kind) first asks whether the server validates it (v3, then v2 when the group-version has no v3
# document), then validates it on the client against v2 — skipping kinds v2 does not describe
# either — and only then maps the kind through discovery, which prints `no matches for kind "X" in
# version "G/V"` / `ensure CRDs are installed first`. With a 404 here kubectl stopped at "failed to
# download openapi" instead. So v2 is served, describing no kinds: the v3 documents stay the only
# description of the served ones (they declare server-side field validation, so kubectl never
# validates them against v2).

# kubectl asks for `...spec.v2@v1.0+protobuf`; kube-apiserver answers with this name (Go's mime
# parser rejects the `@` in a Content-Type)
OPENAPI_V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"


def _pb_bytes(field: int, value: bytes) -> bytes:
    """One length-delimited protobuf field (wire type 2)."""
    length, varint = len(value), bytearray()
    while True:
        byte, length = length & 0x7F, length >> 7
        varint.append(byte | (0x80 if length else 0))
        if not length:
            break
    return bytes([field << 3 | 2]) + bytes(varint) + value


_V2_INFO = {"title": "Kubernetes", "version": "v1.32.0-minik8s"}
# gnostic openapi_v2.Document: swagger = 1, info = 2 (Info: title = 1, version = 2), paths = 8
_V2_PROTOBUF = (_pb_bytes(1, b"2.0")
                + _pb_bytes(2, _pb_bytes(1, _V2_INFO["title"].encode()) + _pb_bytes(2, _V2_INFO["version"].encode()))
                + _pb_bytes(8, b""))
_V2_JSON = json.dumps({"swagger": "2.0", "info": _V2_INFO, "paths": {}, "definitions": {}},
                      separators=(",", ":")).encode()


# ---- the Falcon resource ------------------------------------------------------------------------

class _OpenAPI:
    """Serves the index and the per-group-version documents, all encoded once."""

    def __init__(self, resources: Sequence[ResourceType]) -> None:
        self._bodies: dict[str, tuple[bytes, str]] = {}
        for gv, doc in build_documents(resources).items():
            body = json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()
            self._bodies[gv] = (body, hashlib.sha256(body).hexdigest())
        index = {"paths": {gv: {"serverRelativeURL": f"/openapi/v3/{gv}?hash={digest}"}
                           for gv, (_, digest) in self._bodies.items()}}
        self._index = json.dumps(index, separators=(",", ":")).encode()

    def on_get(self, req: falcon.Request, resp: falcon.Response) -> None:
        resp.content_type, resp.data = "application/json", self._index
        resp.cache_control = ("no-cache", "private")

    def on_get_v2(self, req: falcon.Request, resp: falcon.Response) -> None:
        if "protobuf" in (req.get_header("Accept") or ""):
            resp.content_type, resp.data = OPENAPI_V2_PROTOBUF, _V2_PROTOBUF
        else:
            resp.content_type, resp.data = "application/json", _V2_JSON
        resp.cache_control = ("no-cache", "private")

    def on_get_core(self, req: falcon.Request, resp: falcon.Response, version: str) -> None:
        self._send(req, resp, f"api/{version}")

    def on_get_group(self, req: falcon.Request, resp: falcon.Response, group: str, version: str) -> None:
        self._send(req, resp, f"apis/{group}/{version}")

    def _send(self, req: falcon.Request, resp: falcon.Response, gv: str) -> None:
        if gv not in self._bodies:
            raise errors.NotFoundError(f"the server could not find the requested resource ({req.path})")
        body, digest = self._bodies[gv]
        resp.content_type, resp.data, resp.etag = "application/json", body, digest
        fresh = req.get_param("hash") == digest
        resp.cache_control = ("public", "immutable", "max-age=31536000") if fresh else ("no-cache", "private")


def register_openapi(app: falcon.App, resources: Sequence[ResourceType] = RESOURCES) -> None:
    """Route `/openapi/v3` (the index), `/openapi/v3/api/<v>` and `/openapi/v3/apis/<g>/<v>` on `app`.

    `/openapi/v2` is a document without kinds (see `OPENAPI_V2_PROTOBUF`): kubectl relies on v3 for
    the served kinds and names an unserved kind instead of failing to download OpenAPI.
    """
    openapi = _OpenAPI(resources)
    app.add_route("/openapi/v2", openapi, suffix="v2")
    app.add_route("/openapi/v3", openapi)
    app.add_route("/openapi/v3/api/{version}", openapi, suffix="core")
    app.add_route("/openapi/v3/apis/{group}/{version}", openapi, suffix="group")
