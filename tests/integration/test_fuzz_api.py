"""Bounded fuzzing of every served resource through a real master.

Hypothesis builds request bodies (valid objects of each kind with random mutations, arbitrary
JSON and YAML, raw bytes) and query parameters, and sends them with every method a resource
accepts; a second test keeps one stored object of each kind (with a status) and sends it hostile
PUTs, `/status` and `/scale` writes, every patch type, applies, rewritten `managedFields` and
deletes with hostile options. Two properties, whatever the input:

* the master never answers 5xx (and never drops the connection);
* whatever it stored can be read back: strict JSON (no NaN/Infinity, no lone surrogates) from
  the API, as an object and as a Table row after every successful write, and at the end
  `kubectl get <resource> -A -o json` and the table view exit 0.

The run is bounded in examples per test (`FUZZ_EXAMPLES`: 30 by default, as CI runs it;
`FUZZ_EXAMPLES=400` for the long run) and in time (hypothesis'
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

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "30"))
NAMESPACE = "fuzz"
FUZZ_SETTINGS = settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=False,
                         suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                                HealthCheck.data_too_large])

# ------------------------------------------------------------------------------------- valid templates

_CONTAINER = {"name": "c", "image": "busybox", "command": ["sleep", "3600"],
              "resources": {"limits": {"cpu": "100m", "memory": "64Mi"}},
              "ports": [{"containerPort": 8080, "protocol": "TCP"}], "env": [{"name": "A", "value": "b"}]}
_POD_SPEC = {"containers": [_CONTAINER], "restartPolicy": "Always", "terminationGracePeriodSeconds": 30,
             "nodeSelector": {"disk": "ssd"}, "initContainers": [{"name": "i", "image": "busybox",
                                                                  "restartPolicy": "Always"}],
             "readinessGates": [{"conditionType": "x.example/ok"}], "tolerations": [{"key": "k", "operator": "Exists"}],
             "volumes": [{"name": "v", "emptyDir": {}}]}
_TEMPLATE = {"metadata": {"labels": {"app": "f"}}, "spec": _POD_SPEC}
_SELECTOR = {"matchLabels": {"app": "f"}}

TEMPLATES: dict[str, dict[str, Any]] = {
    "namespaces": {"metadata": {"labels": {"team": "a"}}},
    "pods": {"metadata": {"labels": {"app": "f"}, "annotations": {"a": "b"}}, "spec": _POD_SPEC},
    "services": {"spec": {"selector": {"app": "f"}, "type": "NodePort",
                          # the node port is allocated: a fixed one would conflict with the other tests' Services
                          "ports": [{"name": "http", "port": 80, "targetPort": 8080, "protocol": "TCP"}]}},
    "endpoints": {"subsets": [{"addresses": [{"ip": "10.0.0.1"}], "ports": [{"port": 80, "protocol": "TCP"}]}]},
    "nodes": {"spec": {"podCIDR": "10.244.1.0/24", "unschedulable": False},
              "status": {"capacity": {"cpu": "2", "memory": "1Gi", "pods": "110"},
                         "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
                         "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}},
    "events": {"involvedObject": {"kind": "Pod", "name": "p", "namespace": NAMESPACE}, "reason": "R",
               "message": "m", "type": "Normal", "count": 1, "source": {"component": "c", "host": "h"},
               "series": {"count": 2, "lastObservedTime": "2024-01-01T00:00:00.000000Z"},
               "firstTimestamp": "2024-01-01T00:00:00Z"},
    "configmaps": {"data": {"k": "v"}},
    "secrets": {"type": "Opaque", "data": {"k": "dg=="}, "stringData": {"s": "v"}},
    "endpointslices": {"addressType": "IPv4", "ports": [{"name": "http", "port": 80, "protocol": "TCP"}],
                       "endpoints": [{"addresses": ["10.0.0.1"], "conditions": {"ready": True}}]},
    "ingressclasses": {"spec": {"controller": "minik8s.io/ingress-nginx"}},
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
TEMPLATES.update({
    "horizontalpodautoscalers.autoscaling/v1": {"spec": {
        "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "d"},
        "minReplicas": 1, "maxReplicas": 5, "targetCPUUtilizationPercentage": 50}},
    "nodes.metrics.k8s.io/v1beta1": {"timestamp": "2024-01-01T00:00:00Z", "window": "15s",
                                     "usage": {"cpu": "100m", "memory": "1Mi"}},  # only read: writes are 405
    "pods.metrics.k8s.io/v1beta1": {"timestamp": "2024-01-01T00:00:00Z", "window": "15s",
                                    "containers": [{"name": "c", "usage": {"cpu": "1m", "memory": "1Ki"}}]},
    "functions": {"spec": {"source": {"inline": "def handle(params):\n    return params\n"}, "handler": "main:handle",
                           "env": [{"name": "A", "value": "b"}], "resources": {"limits": {"memory": "64Mi"}},
                           "containerConcurrency": 2, "timeoutSeconds": 30, "scale": {"maxScale": 3, "target": 2},
                           "schedule": "*/5 * * * *", "scheduleInput": "{\"a\": 1}", "startingDeadlineSeconds": 60}},
    "workflows": {"spec": {"definition": {"StartAt": "Go", "States": {"Go": {"Type": "Pass", "End": True}}},
                           "maxSteps": 10, "schedule": "@hourly", "scheduleInput": "{}",
                           "successfulRunsHistoryLimit": 2, "failedRunsHistoryLimit": 0}},
    "workflowruns": {"spec": {"workflowRef": {"name": "w"}, "input": "{\"a\": 1}"}},
    "gpujobs": {"spec": {"cluster": {"host": "127.0.0.1", "port": 2222, "user": "u", "credentialsSecret": "s"},
                         "sources": {"inline": {"a.cu": "int main() { return 0; }"}}, "build": "nvcc a.cu",
                         "run": "./a.out", "resources": {"partition": "debug", "gpus": 1, "memory": "1G",
                                                         "time": "10"},
                         "sbatchOptions": ["--exclusive"], "artifacts": ["*.csv"]}},
})


def key(rt: ResourceType) -> str:
    """A resource's key here: its plural when it is the stored version (plurals are unique among those),
    else `plural.group/version` (other versions of stored resources, metrics)."""
    return rt.plural if rt.stored and rt.conversion is None else f"{rt.plural}.{rt.api_version}"


assert set(TEMPLATES) == {key(rt) for rt in RESOURCES}, "every served resource needs a fuzz template"
_TIME = "2024-01-01T00:00:00Z"
_CONDITIONS = [{"type": "Ready", "status": "True", "reason": "R", "lastTransitionTime": _TIME}]
# Status shapes the readers look into, for the kinds whose status is written through `/status`.
STATUSES: dict[str, dict[str, Any]] = {
    "pods": {"phase": "Running", "podIP": "10.0.0.9", "podIPs": [{"ip": "10.0.0.9"}], "startTime": _TIME,
             "conditions": _CONDITIONS, "initContainerStatuses": [
                 {"name": "i", "ready": True, "started": True, "restartCount": 0,
                  "state": {"running": {"startedAt": _TIME}}}],
             "containerStatuses": [{"name": "c", "ready": True, "restartCount": 2, "image": "busybox",
                                    "state": {"running": {"startedAt": _TIME}},
                                    "lastState": {"terminated": {"exitCode": 1, "reason": "Error",
                                                                 "finishedAt": _TIME}}}]},
    "services": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}, {"hostname": "lb.example"}]}},
    "nodes": {"conditions": [{**_CONDITIONS[0], "lastHeartbeatTime": _TIME}],
              "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "linux"},
              "capacity": {"cpu": "2", "memory": "1Gi", "pods": "110"},
              "addresses": [{"type": "InternalIP", "address": "127.0.0.1"}],
              "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}},
    "namespaces": {"phase": "Active"},
    "replicasets": {"replicas": 2, "readyReplicas": 1, "availableReplicas": 1, "observedGeneration": 1,
                    "conditions": _CONDITIONS},
    "deployments": {"replicas": 2, "readyReplicas": 1, "updatedReplicas": 2, "availableReplicas": 1,
                    "conditions": _CONDITIONS},
    "horizontalpodautoscalers": {"currentReplicas": 2, "desiredReplicas": 2, "conditions": _CONDITIONS,
                                 "currentMetrics": [{"type": "Resource", "resource": {
                                     "name": "cpu", "current": {"averageUtilization": 40, "averageValue": "100m"}}}]},
    "ingresses": {"loadBalancer": {"ingress": [{"ip": "192.0.2.1"}]}},
    "horizontalpodautoscalers.autoscaling/v1": {"currentReplicas": 2, "desiredReplicas": 2,
                                                "currentCPUUtilizationPercentage": 40},
    "functions": {"observedGeneration": 1, "readyInstances": 1, "desiredInstances": 2,
                  "url": "http://127.0.0.1/fn/fuzz/f", "conditions": _CONDITIONS, "lastScheduleTime": _TIME},
    "workflows": {"lastScheduleTime": _TIME},
    "workflowruns": {"phase": "Succeeded", "steps": 2, "output": "{}"},
    "gpujobs": {"phase": "Succeeded", "jobId": "12", "nodeList": "n1", "exitCode": 0, "conditions": _CONDITIONS,
                "artifacts": [{"name": "a.csv", "size": 3}]},
}
assert set(STATUSES) == {key(rt) for rt in RESOURCES if "status" in rt.subresources}
BY_KEY = {key(rt): rt for rt in RESOURCES}

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
                **copy.deepcopy(TEMPLATES[key(rt)]), }
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
    rt = BY_KEY[plural]

    @FUZZ_SETTINGS
    @given(request=requests_for(rt))
    def run(request: tuple[str, str, bytes | None, str | None, dict[str, str]]) -> None:
        method, path, body, content_type, query = request
        response = _send(cluster, method, path, body, content_type, query)
        _check_answer(response, f"{method} {path} {query} {content_type} {body[:300] if body else b''!r}")
        answer = response.json() if response.status_code in (200, 201) else None
        name = (answer.get("metadata") or {}).get("name") if isinstance(answer, dict) else None
        if method in ("POST", "PUT", "PATCH") and isinstance(name, str) and name:
            _check_read_back(cluster, rt, urllib.parse.quote(name, safe=""))

    run()
    assert cluster.get(0, "/readyz").status_code == 200


# A stored object of each kind that the updates below change: most random names in the test above
# name nothing, so PUT, PATCH, apply, `/status` and `/scale` would mostly meet a 404.
TARGET = "fuzz-target"
TABLE = "application/json;as=Table;v=v1;g=meta.k8s.io, application/json"
# FieldsV1 sets, sound and not: what `managedFields` may say a manager applied
FIELDS_V1: list[Any] = [
    {"f:metadata": {"f:labels": {"f:app": {}}}, "f:spec": {"f:replicas": {}}},
    {"f:spec": {"f:containers": {'k:{"name":"c"}': {".": {}, "f:image": {}}}}},
    {"f:spec": {"f:containers": {'k:{"name":': {}, "k:[1]": {}, 'k:{"name":{"a":1}}': {"f:x": 1}, "v:": {}}}},
    {"f:metadata": {"f:finalizers": {'v:"a"': {}, "v:{": {}}}, "f:status": "x"},
    {"f:spec": {"f:ports": {'k:{"port":80}': {"f:name": []}, 'k:{"port":[1]}': {}}}},
    {"f:data": {"f:k": {}}, "f:subsets": {"k:{}": {}}}, "x", [], {},
]
PATCH_KEYS = ["$patch", "$retainKeys", "$setElementOrder/containers", "$deleteFromPrimitiveList/finalizers",
              "$setElementOrder/ports"]


def _object_path(rt: ResourceType, name: str = TARGET, subresource: str | None = None) -> str:
    return f"{rt.collection_path(NAMESPACE)}/{name}" + (f"/{subresource}" if subresource else "")


def _ensure_target(cluster: Cluster, rt: ResourceType) -> dict[str, Any]:
    """The stored target object (created from the template, with its status, when missing)."""
    response = cluster.get(0, _object_path(rt))
    if response.status_code == 200:  # perhaps being deleted (finalizers, bound to a node): still a target
        return response.json()
    assert response.status_code == 404, response.text
    body = {"apiVersion": rt.api_version, "kind": rt.kind, **copy.deepcopy(TEMPLATES[key(rt)])}
    body["metadata"] = {**body.get("metadata", {}), "name": TARGET}
    created = cluster.post(0, rt.collection_path(NAMESPACE), body)
    assert created.status_code == 201, f"the {rt.plural} template is refused: {created.text}"
    stored = cluster.get(0, _object_path(rt)).json()
    if key(rt) in STATUSES:
        stored["status"] = copy.deepcopy(STATUSES[key(rt)])
        updated = cluster.session.put(cluster.masters[0].url + _object_path(rt, subresource="status"), json=stored,
                                      timeout=10)
        assert updated.status_code == 200, f"the {rt.plural} status template is refused: {updated.text}"
        stored = updated.json()
    return stored


def _pointer(path: tuple[Any, ...]) -> str:
    return "".join("/" + str(step).replace("~", "~0").replace("/", "~1") for step in path)


@st.composite
def _mutated(draw: st.DrawFn, obj: Any, changes: int = 3) -> Any:
    """`obj` with up to `changes` values replaced by random ones or random keys added."""
    obj = copy.deepcopy(obj)
    for _ in range(draw(st.integers(1, changes))):
        if not isinstance(obj, dict):
            break
        path = draw(st.sampled_from(list(_paths(obj))))
        if draw(st.booleans()):
            obj = _set(obj, path, draw(values))
        else:
            target = obj
            for step in path:
                target = target[step]
            if isinstance(target, dict):
                key = draw(st.one_of(st.text(max_size=8), st.sampled_from(HOSTILE_STRINGS + PATCH_KEYS)))
                target[key] = draw(values)
    return obj


@st.composite
def _update(draw: st.DrawFn, rt: ResourceType, live: dict[str, Any]) -> tuple[str, str, bytes | None, str | None,
                                                                                dict[str, str]]:
    """One hostile write to the stored target: PUT (object, status, scale), a patch of every type, an
    apply, or a delete with hostile options."""
    kinds = ["put", "merge", "strategic", "json", "apply", "apply", "managed", "delete"] + [
        s for s in rt.subresources if s in ("status", "scale")]
    how = draw(st.sampled_from(kinds))
    query = draw(queries) if draw(st.integers(0, 3)) == 0 else {}
    if how in ("put", "status"):
        body = draw(_mutated(live))
        if isinstance(body, dict) and isinstance(body.get("metadata"), dict) and draw(st.booleans()):
            body["metadata"].pop("resourceVersion", None)
        raw, content_type = _encode(draw, body)
        return "PUT", _object_path(rt, subresource="status" if how == "status" else None), raw, content_type, query
    if how == "scale":
        scale = {"apiVersion": "autoscaling/v1", "kind": "Scale", "metadata": {"name": TARGET},
                 "spec": {"replicas": draw(st.one_of(st.integers(0, 5), values))}}
        if draw(st.booleans()):
            raw, content_type = _encode(draw, draw(_mutated(scale)))
            return "PUT", _object_path(rt, subresource="scale"), raw, content_type, query
        patch = draw(st.one_of(st.just({"spec": {"replicas": draw(st.integers(0, 5))}}), _mutated(scale)))
        return ("PATCH", _object_path(rt, subresource="scale"), json.dumps(patch).encode(),
                draw(st.sampled_from(["application/merge-patch+json", "application/strategic-merge-patch+json"])),
                query)
    if how == "delete":
        options = draw(st.one_of(st.just({"gracePeriodSeconds": 0}), _mutated(
            {"kind": "DeleteOptions", "apiVersion": "v1", "gracePeriodSeconds": 0, "propagationPolicy": "Background",
             "preconditions": {"uid": (live.get("metadata") or {}).get("uid", "")}, "dryRun": []})))
        return "DELETE", _object_path(rt), json.dumps(options).encode(), "application/json", query
    if how == "managed":  # managedFields are server-owned, but a patch can write anything into them
        entry = draw(_mutated({"manager": draw(st.sampled_from(["fuzz-a", "fuzz-b"])), "operation": "Apply",
                               "apiVersion": rt.api_version, "time": "2024-01-01T00:00:00Z", "fieldsType": "FieldsV1",
                               "fieldsV1": draw(st.sampled_from(FIELDS_V1))}))
        ops = [{"op": "add", "path": "/metadata/managedFields", "value": [entry]}]
        return "PATCH", _object_path(rt), json.dumps(ops).encode(), "application/json-patch+json", query
    if how == "json":
        paths = [p for p in _paths(live) if p]
        ops = [{"op": draw(st.sampled_from(["add", "replace", "remove", "copy", "move", "test"])),
                "path": _pointer(draw(st.sampled_from(paths))) + draw(st.sampled_from(["", "", "/-", "/0", "/x"])),
                "from": _pointer(draw(st.sampled_from(paths))), "value": draw(values)}
               for _ in range(draw(st.integers(1, 3)))]
        return "PATCH", _object_path(rt), json.dumps(ops).encode(), "application/json-patch+json", query
    if how == "apply":
        applied = draw(_mutated({k: v for k, v in live.items() if k != "status"}))
        if isinstance(applied, dict) and isinstance(applied.get("metadata"), dict):
            for key in ("resourceVersion", "uid", "creationTimestamp", "managedFields", "generation"):
                applied["metadata"].pop(key, None)
        query.setdefault("fieldManager", draw(st.sampled_from(["fuzz-a", "fuzz-b"])))
        raw, _ = _encode(draw, applied)
        return "PATCH", _object_path(rt), raw, "application/apply-patch+yaml", query
    # merge / strategic: a sparse patch along existing paths, or the whole mutated object
    if draw(st.booleans()):
        patch: Any = draw(_mutated(live))
    else:
        path = draw(st.sampled_from([p for p in _paths(live) if p and all(isinstance(k, str) for k in p)] or [()]))
        patch = draw(values)
        for step in reversed(path):
            patch = {step: patch}
    content_type = "application/merge-patch+json" if how == "merge" else "application/strategic-merge-patch+json"
    return "PATCH", _object_path(rt), json.dumps(patch, allow_nan=True).encode(), content_type, query


def _check_read_back(cluster: Cluster, rt: ResourceType, name: str = TARGET) -> None:
    """The object as JSON and as a Table row (what `kubectl get` asks for) reads back: never 5xx."""
    for accept in ("application/json", TABLE):
        response = cluster.session.get(cluster.masters[0].url + _object_path(rt, name), headers={"Accept": accept},
                                       timeout=10)
        _check_answer(response, f"GET {name} as {accept}")
    listed = cluster.session.get(cluster.masters[0].url + rt.collection_path(NAMESPACE), headers={"Accept": TABLE},
                                 params={"includeObject": "Object"}, timeout=10)
    _check_answer(listed, f"list {rt.plural} as a Table")


@pytest.mark.parametrize("plural", sorted(k for k in TEMPLATES if BY_KEY[k].stored))
def test_updates_of_stored_objects_never_answer_5xx(cluster: Cluster, plural: str) -> None:
    """Hostile PUT, status, scale, every patch type, apply and delete of a stored object of every kind:
    never 5xx, and whatever was stored reads back as JSON and as a Table."""
    rt = BY_KEY[plural]
    # Writes are drawn from the object as first stored (hypothesis replays draws, so they may not depend
    # on server state); they go to the object as it is now, changed by every write before.
    base = _ensure_target(cluster, rt)

    @FUZZ_SETTINGS
    @given(data=st.data())
    def run(data: st.DataObject) -> None:
        _ensure_target(cluster, rt)
        method, path, body, content_type, query = data.draw(_update(rt, base))
        response = _send(cluster, method, path, body, content_type, query)
        _check_answer(response, f"{method} {path} {query} {content_type} {body[:600] if body else b''!r}")
        if response.status_code < 300:
            _check_read_back(cluster, rt)

    run()
    assert cluster.get(0, "/readyz").status_code == 200


@FUZZ_SETTINGS
@given(plural=st.sampled_from(sorted(TEMPLATES)), query=queries)
def test_watch_queries_never_answer_5xx(cluster: Cluster, plural: str, query: dict[str, str]) -> None:
    """Streaming and long-poll watches with random parameters answer headers at once, never 5xx."""
    query = {**query, "watch": "true", "timeoutSeconds": query.get("timeoutSeconds", "1")}
    if query.get("timeoutSeconds") not in ("", "abc", "-1", "0", "1", "2"):
        query["timeoutSeconds"] = "1"
    path = BY_KEY[plural].collection_path(NAMESPACE)
    params = {k: v.encode("utf-8", "surrogatepass") for k, v in query.items()}  # as _send: lone surrogates too
    with cluster.session.get(cluster.masters[0].url + path, params=params, stream=True, timeout=(5, 5)) as response:
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
