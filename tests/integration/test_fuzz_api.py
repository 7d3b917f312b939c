"""Bounded fuzzing of every served resource through a real master.

Hypothesis builds request bodies (valid objects of each kind with random mutations, arbitrary
JSON and YAML, raw bytes) and query parameters, and sends them with every method a resource
accepts. Two properties, whatever the input:

* the master never answers 5xx (and never drops the connection);
* whatever it stored can be read back: strict JSON (no NaN/Infinity, no lone surrogates) from
  the API, and `kubectl get <resource> -A -o json` and the table view exit 0.

The run is bounded in examples per test (`FUZZ_EXAMPLES`, default 120) and in time (hypothesis'
deadline is off; each request has a timeout).
"""

from __future__ import annotations

import copy
import json
import os
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from minik8s.api.kinds import RESOURCES, ResourceType

from .cluster import TOKEN, Cluster, running
from .kubectl_support import Kubectl

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "120"))
NAMESPACE = "fuzz"
FUZZ_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=False,
                         suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                                HealthCheck.data_too_large])

# ------------------------------------------------------------------------------------- valid templates

_CONTAINER = {"name": "c", "image": "busybox", "command": ["sleep", "3600"],
              "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}},
              "ports": [{"containerPort": 8080, "protocol": "TCP"}], "env": [{"name": "A", "value": "b"}]}
_POD_SPEC = {"containers": [_CONTAINER], "restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
             "nodeSelector": {"disk": "ssd"}}
_TEMPLATE = {"metadata": {"labels": {"app": "f"}}, "spec": _POD_SPEC}
_SELECTOR = {"matchLabels": {"app": "f"}}

TEMPLATES: dict[str, dict[str, Any]] = {
    "namespaces": {"metadata": {"labels": {"team": "a"}}},
    "pods": {"metadata": {"labels": {"app": "f"}, "annotations": {"a": "b"}}, "spec": _POD_SPEC},
    "services": {"spec": {"selector": {"app": "f"}, "type": "NodePort",
                          "ports": [{"name": "http", "port": 80, "targetPort": 8080, "nodePort": 30080,
                                     "protocol": "TCP"}]}},
    "endpoints": {"subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80, "protocol": "TCP"}]}]},
    "nodes": {"spec": {"podCIDR": "10.244.1.0/24", "unschedulable": False},
              "status": {"capacity": {"cpu": "2", "memory": "1Gi", "pods": "110"},
                         "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                         "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}},
    "events": {"involvedObject": {"kind": "Pod", "name": "p", "namespace": NAMESPACE}, "reason": "R",
               "message": "m", "type": "Normal", "count": 1},
    "configmaps": {"data": {"k": "v"}},
    "replicasets": {"spec": {"replicas": 2, "selector": _SELECTOR, "template": _TEMPLATE}},
    "deployments": {"spec": {"replicas": 2, "selector": _SELECTOR, "template": _TEMPLATE,
                             "strategy": {"type": "RollingUpdate",
                                          "rollingUpdate": {"maxSurge": 1, "maxUnavailable": "25%"}}}},
    "horizontalpodautoscalers": {"spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "d"},
        "minReplicas": 1, "maxReplicas": 5,
        "metrics": [{"type": "Resource", "resource": {"name": "cpu",
                                                       "target": {"type": "Utilization", "averageUtilization": 50}}}]}},
    "leases": {"spec": {"holderIdentity": "h", "leaseDurationSeconds": 15}},
    "ingresses": {"spec": {"rules": [{"host": "a.example", "http": {"paths": [
        {"path": "/", "pathType": "Prefix",
         "backend": {"service": {"name": "s", "port": {"number": 80}}}}]}}]}},
}
assert set(TEMPLATES) == {rt.plural for rt in RESOURCES}, "every served resource needs a fuzz template"
BY_PLURAL = {rt.plural: rt for rt in RESOURCES}

# ------------------------------------------------------------------------------------------ strategies

HOSTILE_STRINGS = ["", "\ud800", "\udfff", "a\x00b", "\u202e", "../..", "a/b", "%2F", "x" * 300, "-", "A_B",
                   "1e30", "NaN", "true", "null", "{}", "[]", "&a", "*a", "!!python/object:os.system"]
scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.sampled_from([2**31 - 1, 2**31, -(2**31) - 1, 2**63, -1, 0, 65535, 65536]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([float("nan"), float("inf"), float("-inf"), 1e30, 1e20, 1.5, 3.0]),
    st.text(max_size=12), st.sampled_from(HOSTILE_STRINGS),
)
values = st.recursive(scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(st.one_of(st.text(max_size=8), st.sampled_from(HOSTILE_STRINGS)),
                                                 inner, max_size=4)), max_leaves=12)
names = st.one_of(st.from_regex(r"[a-z0-9]([-a-z0-9]{0,12}[a-z0-9])?", fullmatch=True),
                  st.sampled_from(HOSTILE_STRINGS), st.text(max_size=20))
QUERY_KEYS = ["resourceVersion", "timeoutSeconds", "limit", "gracePeriodSeconds", "labelSelector", "fieldSelector",
              "fieldValidation", "propagationPolicy", "fieldManager", "dryRun", "allowWatchBookmarks",
              "includeObject", "continue", "pretty", "force", "orphanDependents", "container", "tailLines"]
QUERY_VALUES = ["", "abc", "-1", "0", "1", "2", "1e30", "99999999999999999999", "NaN", "true", "false", "Strict",
                "Ignore", "Warn", "Foreground", "Orphan", "x=y", "a in (b)", "!x", "x,y", "metadata.name=x",
                "spec.nodeName!=y", ",,", "\x00", "%ff", "\ud800", "All", "Object", "None"]
queries = st.dictionaries(st.sampled_from(QUERY_KEYS), st.one_of(st.sampled_from(QUERY_VALUES), st.text(max_size=8)),
                          max_size=4)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, (*prefix, index))


def _set(obj: Any, path: tuple[Any, ...], value: Any) -> Any:
    if not path:
        return value
    parent = obj
    for step in path[:-1]:
        parent = parent[step]
    parent[path[-1]] = value
    return obj


@st.composite
def mutated_object(draw: st.DrawFn, rt: ResourceType) -> Any:
    """A valid object of the kind, then up to three random replacements or additions."""
    obj: Any = {"apiVersion": rt.api_version, "kind": rt.kind,
                **copy.deepcopy(TEMPLATES[rt.plural]), }
    obj.setdefault("metadata", {})["name"] = draw(names)
    for _ in range(draw(st.integers(0, 3))):
        if not isinstance(obj, dict):
            break
        paths = list(_paths(obj))
        path = draw(st.sampled_from(paths))
        if draw(st.booleans()):
            obj = _set(obj, path, draw(values))
        else:
            target = obj
            for step in path:
                target = target[step]
            if isinstance(target, dict):
                target[draw(st.one_of(st.text(max_size=8), st.sampled_from(HOSTILE_STRINGS)))] = draw(values)
    return obj


def _encode(draw: st.DrawFn, body: Any) -> tuple[bytes, str]:
    """The body as JSON (NaN allowed on the wire), YAML, or raw bytes."""
    how = draw(st.sampled_from(["json", "json", "yaml", "raw"]))
    if how == "raw":
        return draw(st.binary(max_size=200)), draw(st.sampled_from(["application/json", "application/yaml"]))
    if how == "yaml":
        try:
            return yaml.safe_dump(body, allow_unicode=False).encode("utf-8", "surrogatepass"), "application/yaml"
        except yaml.YAMLError:
            pass
    return json.dumps(body, allow_nan=True).encode(), "application/json"


@st.composite
def requests_for(draw: st.DrawFn, rt: ResourceType) -> tuple[str, str, bytes | None, str | None, dict[str, str]]:
    """(method, path, body, content type, query) aimed at one resource."""
    body_obj = draw(st.one_of(mutated_object(rt), mutated_object(rt), values))
    name = draw(names) if draw(st.booleans()) else (body_obj.get("metadata", {}).get("name")
                                                     if isinstance(body_obj, dict)
                                                     and isinstance(body_obj.get("metadata"), dict) else "x")
    if not isinstance(name, str) or not name:
        name = "x"
    quoted = urllib.parse.quote(name.encode("utf-8", "surrogatepass"), safe="")
    collection = rt.collection_path(NAMESPACE)
    subresource = draw(st.sampled_from([None, None, None, *rt.subresources, "bogus"]))
    obj_path = f"{collection}/{quoted}" + (f"/{subresource}" if subresource else "")
    method = draw(st.sampled_from(["POST", "POST", "PUT", "PATCH", "DELETE", "GET", "LIST", "DELETECOLLECTION"]))
    query = draw(queries)
    if method == "LIST":
        return "GET", collection, None, None, query
    if method == "DELETECOLLECTION":
        return "DELETE", collection, None, None, query
    if method == "GET":
        return "GET", obj_path, None, None, query
    if method == "PATCH":
        content_type = draw(st.sampled_from(["application/merge-patch+json", "application/strategic-merge-patch+json",
                                             "application/json-patch+json", "application/apply-patch+yaml"]))
        if content_type == "application/json-patch+json" and draw(st.booleans()):
            body_obj = [{"op": draw(st.sampled_from(["add", "replace", "remove", "move", "copy", "test", "bad"])),
                         "path": draw(st.sampled_from(["/spec", "/metadata/labels/x", "/spec/replicas", "/", "",
                                                       "/status/phase", "/metadata/name", "/a/~1b", "/spec/0"])),
                         "value": draw(values), "from": "/spec"}]
        raw, _ = _encode(draw, body_obj)
        if content_type == "application/apply-patch+yaml":
            query.setdefault("fieldManager", "fuzz")
        return "PATCH", obj_path, raw, content_type, query
    raw, content_type = _encode(draw, body_obj)
    if method == "DELETE":
        return "DELETE", obj_path, raw if draw(st.booleans()) else None, "application/json", query
    return method, collection if method == "POST" else obj_path, raw, content_type, query


# ------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One HTTPS master (so kubectl can read back); no control loops, nothing else writes."""
    with running(tmp_path_factory.mktemp("fuzz") / "cluster", 1, tls=True,
                 extra_args=["--no-control-loops"]) as c:
        response = c.post(0, "/api/v1/namespaces", {"metadata": {"name": NAMESPACE}})
        assert response.status_code == 201, response.text
        yield c


@pytest.fixture(scope="module")
def kubectl(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    assert cluster.ca_file is not None
    return Kubectl(tmp_path_factory.mktemp("fuzz-kubectl"), cluster.masters[0].url, TOKEN,
                   ca_file=Path(cluster.ca_file))


def _send(cluster: Cluster, method: str, path: str, body: bytes | None, content_type: str | None,
          query: dict[str, str]) -> requests.Response:
    headers = {"Content-Type": content_type} if content_type else {}
    params = {k: v.encode("utf-8", "surrogatepass") for k, v in query.items()}
    return cluster.session.request(method, cluster.masters[0].url + path, data=body, headers=headers,
                                   params=params, timeout=10)


def _strict_json(raw: bytes) -> Any:
    def refuse(constant: str) -> Any:
        raise AssertionError(f"the server emitted {constant}")

    text = raw.decode("utf-8")  # a lone surrogate cannot be valid UTF-8; a \ud800 escape is checked below
    value = json.loads(text, parse_constant=refuse)
    json.dumps(value, allow_nan=False).encode("utf-8")  # raises on a decoded lone surrogate
    return value


def _check_answer(response: requests.Response, what: str) -> None:
    assert response.status_code < 500, f"{what} -> {response.status_code}: {response.text[:500]}"
    if response.headers.get("Content-Type", "").startswith("application/json") and response.content:
        _strict_json(response.content)


# ---------------------------------------------------------------------------------------------- tests


@pytest.mark.parametrize("plural", sorted(TEMPLATES))
def test_requests_never_answer_5xx(cluster: Cluster, plural: str) -> None:
    rt = BY_PLURAL[plural]

    @FUZZ_SETTINGS
    @given(request=requests_for(rt))
    def run(request: tuple[str, str, bytes | None, str | None, dict[str, str]]) -> None:
        method, path, body, content_type, query = request
        response = _send(cluster, method, path, body, content_type, query)
        _check_answer(response, f"{method} {path} {query} {content_type} {body[:300] if body else b''!r}")

    run()
    assert cluster.get(0, "/readyz").status_code == 200


@FUZZ_SETTINGS
@given(plural=st.sampled_from(sorted(TEMPLATES)), query=queries)
def test_watch_queries_never_answer_5xx(cluster: Cluster, plural: str, query: dict[str, str]) -> None:
    """Streaming and long-poll watches with random parameters answer headers at once, never 5xx."""
    query = {**query, "watch": "true", "timeoutSeconds": query.get("timeoutSeconds", "1")}
    if query.get("timeoutSeconds") not in ("", "abc", "-1", "0", "1", "2"):
        query["timeoutSeconds"] = "1"
    path = BY_PLURAL[plural].collection_path(NAMESPACE)
    with cluster.session.get(cluster.masters[0].url + path, params=query, stream=True, timeout=(5, 5)) as response:
        assert response.status_code < 500, f"watch {query} -> {response.status_code}"


def test_stored_objects_read_back(cluster: Cluster, kubectl: Kubectl) -> None:
    """Runs after the fuzzing above: every list reads back as strict JSON, and kubectl reads it."""
    for rt in RESOURCES:
        response = cluster.get(0, rt.collection_path())
        assert response.status_code == 200, response.text
        _strict_json(response.content)
        listed = json.loads(kubectl.run("get", rt.plural if not rt.group else f"{rt.plural}.{rt.group}",
                                        "-A", "-o", "json", record=False).stdout)
        assert listed["kind"] == "List"
        kubectl.run("get", rt.plural if not rt.group else f"{rt.plural}.{rt.group}", "-A", record=False)
