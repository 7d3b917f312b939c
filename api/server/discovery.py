"""API discovery: how kubectl and client libraries learn which resources the server has.

Two shapes, both generated once from `kinds.RESOURCES`:

- aggregated (`apidiscovery.k8s.io/v2` `APIGroupDiscoveryList` at `/api` and `/apis`), which
  kubectl asks for first; it must be answered with the exact media type it requested, or kubectl
  treats the body as legacy discovery and finds no resources;
- legacy (`APIVersions`, `APIGroupList`, `APIGroup`, `APIResourceList`), which the python
  `kubernetes` client (and kubectl, as a fallback) walks group by group.

Response kinds follow kube-apiserver: a resource's `responseKind` leaves group and version empty
(meaning "this group-version"); only subresources answering another group's kind name it
(`deployments/scale` answers `autoscaling/v1` `Scale`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import falcon

from minik8s.api import errors
from minik8s.api.kinds import RESOURCES, ResourceType

from .http import send_json

AGGREGATED_V2 = "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList"
AGGREGATED_V2BETA1 = "application/json;g=apidiscovery.k8s.io;v=v2beta1;as=APIGroupDiscoveryList"
_AGGREGATED = {"v2": AGGREGATED_V2, "v2beta1": AGGREGATED_V2BETA1}
_LEGACY_TYPES = ("application/json", "application/*", "*/*")

Json = dict[str, Any]


@dataclass(frozen=True)
class Subresource:
    """How a subresource answers: the (group, version, kind) of its response and its verbs.

    `kind` None means the parent's kind; an empty group and version mean the parent's group-version.
    """

    kind: tuple[str, str, str] | None
    verbs: tuple[str, ...]


SUBRESOURCES: dict[str, Subresource] = {
    "status": Subresource(None, ("get", "patch", "update")),
    "scale": Subresource(("autoscaling", "v1", "Scale"), ("get", "patch", "update")),
    "log": Subresource(None, ("get",)),
    "binding": Subresource(("", "", "Binding"), ("create",)),
    "finalize": Subresource(None, ("update",)),  # namespaces: PUT spec.finalizers
    "invoke": Subresource(None, ("create",)),  # functions: POST a call (its JSON answer); workflows: start a run
}


def subresource(name: str) -> Subresource:
    """The description of a subresource named in `kinds.RESOURCES`; KeyError names the missing one."""
    try:
        return SUBRESOURCES[name]
    except KeyError:
        raise KeyError(f"subresource {name!r} has no entry in discovery.SUBRESOURCES") from None


def _response_kind(rt: ResourceType, sub: str) -> tuple[str, str, str]:
    """As discovery shows it: group and version empty when they are the resource's own."""
    return subresource(sub).kind or ("", "", rt.kind)


def subresource_kind(rt: ResourceType, sub: str) -> tuple[str, str, str]:
    """The full (group, version, kind) a subresource of `rt` answers with."""
    group, version, kind = _response_kind(rt, sub)
    return (group, version, kind) if version else (rt.group, rt.version, kind)


# ---- legacy shapes ------------------------------------------------------------------------------

def _legacy_resources(rts: Sequence[ResourceType]) -> list[Json]:
    out: list[Json] = []
    for rt in rts:
        out.append({"name": rt.plural, "singularName": rt.singular, "namespaced": rt.namespaced, "kind": rt.kind,
                    "verbs": list(rt.verbs), "shortNames": list(rt.short_names),
                    "categories": list(rt.categories)})
        for sub in rt.subresources:
            group, version, kind = _response_kind(rt, sub)
            entry: Json = {"name": f"{rt.plural}/{sub}", "singularName": "", "namespaced": rt.namespaced,
                           "kind": kind, "verbs": list(subresource(sub).verbs)}
            if version:
                entry.update(group=group, version=version)
            out.append(entry)
    return out


def _group_versions(resources: Sequence[ResourceType]) -> dict[str, dict[str, list[ResourceType]]]:
    """group → version → resources: groups in table order (the first version of a group is preferred),
    resources sorted by name as kube-apiserver lists them (kubectl's `get all` prints in this order)."""
    groups: dict[str, dict[str, list[ResourceType]]] = {}
    for rt in resources:
        groups.setdefault(rt.group, {}).setdefault(rt.version, []).append(rt)
    for versions in groups.values():
        for listed in versions.values():
            listed.sort(key=lambda rt: rt.plural)
    return groups


def _api_group(name: str, versions: Sequence[str]) -> Json:
    listed = [{"groupVersion": f"{name}/{v}", "version": v} for v in versions]
    return {"name": name, "versions": listed, "preferredVersion": listed[0]}


# ---- aggregated shape ---------------------------------------------------------------------------

def _aggregated_resource(rt: ResourceType) -> Json:
    subs = []
    for sub in rt.subresources:
        group, version, kind = _response_kind(rt, sub)
        subs.append({"subresource": sub, "responseKind": {"group": group, "version": version, "kind": kind},
                     "verbs": list(subresource(sub).verbs)})
    return {
        "resource": rt.plural,
        "responseKind": {"group": "", "version": "", "kind": rt.kind},
        "scope": "Namespaced" if rt.namespaced else "Cluster",
        "singularResource": rt.singular,
        "verbs": list(rt.verbs),
        "shortNames": list(rt.short_names),
        "categories": list(rt.categories),
        "subresources": subs,
    }


def _aggregated_list(groups: dict[str, dict[str, list[ResourceType]]], api_version: str) -> bytes:
    items = [{"metadata": {"name": name},
              "versions": [{"version": version, "resources": [_aggregated_resource(rt) for rt in rts],
                            "freshness": "Current"} for version, rts in versions.items()]}
             for name, versions in groups.items()]
    body = {"kind": "APIGroupDiscoveryList", "apiVersion": api_version, "metadata": {}, "items": items}
    return json.dumps(body, separators=(",", ":")).encode()


# ---- content negotiation ------------------------------------------------------------------------

def _media_range(text: str) -> tuple[str, dict[str, str], float]:
    """`type/subtype;k=v;q=0.5` → (type, params without q, q)."""
    kind, *raw_params = [p.strip() for p in text.split(";")]
    params = {}
    for raw in raw_params:
        key, _, value = raw.partition("=")
        params[key.strip().lower()] = value.strip().strip('"')
    try:
        q = float(params.pop("q", "1"))
    except ValueError:
        q = 0.0
    return kind.lower(), params, q


def negotiate(accept: str | None) -> str | None:
    """The aggregated media type the Accept header prefers, or None for legacy discovery.

    Highest q wins; on a tie the earlier entry wins. Unknown types are skipped, and an Accept
    header naming nothing we serve gets legacy JSON.
    """
    best: tuple[float, str | None] = (0.0, None)
    for part in (accept or "").split(","):
        kind, params, q = _media_range(part)
        if kind == "application/json" and params.get("g") == "apidiscovery.k8s.io" \
                and params.get("as") == "APIGroupDiscoveryList" and params.get("v") in _AGGREGATED:
            choice: str | None = _AGGREGATED[params["v"]]
        elif kind in _LEGACY_TYPES and not params:
            choice = None
        else:
            continue
        if q > best[0]:
            best = (q, choice)
    return best[1]


# ---- the Falcon resource ------------------------------------------------------------------------

class _Discovery:
    """Serves every discovery document; all bodies but `/api`'s are built once."""

    def __init__(self, resources: Sequence[ResourceType]) -> None:
        groups = _group_versions(resources)
        core = {g: v for g, v in groups.items() if g == ""}
        named = {g: v for g, v in groups.items() if g != ""}
        self._core_versions = list(core.get("", {}))
        self._aggregated = {
            (prefix, media): _aggregated_list(part, f"apidiscovery.k8s.io/{version}")
            for prefix, part in (("api", core), ("apis", named))
            for version, media in _AGGREGATED.items()
        }
        self._groups = {name: _api_group(name, list(versions)) for name, versions in named.items()}
        self._resource_lists = {
            (group, version): {"kind": "APIResourceList", "apiVersion": "v1",
                               "groupVersion": f"{group}/{version}" if group else version,
                               "resources": _legacy_resources(rts)}
            for group, versions in groups.items() for version, rts in versions.items()
        }

    def _send_aggregated(self, req: falcon.Request, resp: falcon.Response, prefix: str) -> bool:
        resp.vary = ("Accept",)
        media = negotiate(req.get_header("Accept"))
        if media is None:
            return False
        resp.content_type = media
        resp.data = self._aggregated[(prefix, media)]
        return True

    def on_get_core(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not self._send_aggregated(req, resp, "api"):
            send_json(resp, {"kind": "APIVersions", "versions": self._core_versions,
                             "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0",
                                                             "serverAddress": req.netloc}]})

    def on_get_groups(self, req: falcon.Request, resp: falcon.Response) -> None:
        if not self._send_aggregated(req, resp, "apis"):
            send_json(resp, {"kind": "APIGroupList", "apiVersion": "v1", "groups": list(self._groups.values())})

    def on_get_group(self, req: falcon.Request, resp: falcon.Response, group: str) -> None:
        if group not in self._groups:
            raise _not_found(req)
        send_json(resp, {"kind": "APIGroup", "apiVersion": "v1", **self._groups[group]})

    def on_get_core_version(self, req: falcon.Request, resp: falcon.Response, version: str) -> None:
        self.on_get_group_version(req, resp, "", version)

    def on_get_group_version(self, req: falcon.Request, resp: falcon.Response, group: str, version: str) -> None:
        body = self._resource_lists.get((group, version))
        if body is None:
            raise _not_found(req)
        send_json(resp, body)


def _not_found(req: falcon.Request) -> errors.NotFoundError:
    return errors.NotFoundError(f"the server could not find the requested resource ({req.path})")


def register_discovery(app: falcon.App, resources: Sequence[ResourceType] = RESOURCES) -> None:
    """Route `/api`, `/apis`, `/api/<v>`, `/apis/<g>` and `/apis/<g>/<v>` on `app`."""
    discovery = _Discovery(resources)
    app.add_route("/api", discovery, suffix="core")
    app.add_route("/apis", discovery, suffix="groups")
    app.add_route("/api/{version}", discovery, suffix="core_version")
    app.add_route("/apis/{group}", discovery, suffix="group")
    app.add_route("/apis/{group}/{version}", discovery, suffix="group_version")
