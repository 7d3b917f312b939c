"""Hostile and careless request bodies against a real master: refused with a Status, nothing stored.

Every class from issue 7 (aliases, duplicate keys, non-finite numbers, lone surrogates, deep
nesting, decoded size, integer ranges, unknown fields, node addresses) with several variants;
after each the master still answers and the namespace still lists and reads back.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from .cluster import TOKEN, Cluster, running, wait_for

CM = "/api/v1/namespaces/{ns}/configmaps"
PODS = "/api/v1/namespaces/{ns}/pods"
DEPLOYS = "/apis/apps/v1/namespaces/{ns}/deployments"
NODES = "/api/v1/nodes"
JSON = {"Content-Type": "application/json"}
YAML = {"Content-Type": "application/yaml"}


def alias_bomb(depth: int = 8) -> str:
    """The issue's ~400-byte ConfigMap whose unknown fields expand to 9**depth leaves through aliases."""
    lines = ["apiVersion: v1", "kind: ConfigMap", "metadata: {name: bomb}", "x0: &a0 [1,1,1,1,1,1,1,1,1]"]
    lines += [f"x{i}: &a{i} [{','.join([f'*a{i - 1}'] * 9)}]" for i in range(1, depth + 1)]
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def master(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    # No control loops and no kubernetes-endpoints reconciler: their Lease renewals would move the
    # global revision that tests compare; the kubernetes Service is created once, before the tests.
    with running(tmp_path_factory.mktemp("hostile") / "cluster", 1,
                 extra_args=["--no-control-loops", "--endpoint-reconciler-type", "none"]) as cluster:
        wait_for(lambda: cluster.get(0, "/api/v1/namespaces/default/services/kubernetes").status_code == 200,
                 timeout=20, what="the kubernetes Service")
        yield cluster


@pytest.fixture
def ns(master: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace for one test, deleted afterwards."""
    name = "h-" + request.node.name.split("[")[0].removeprefix("test_").replace("_", "-")[:40].strip("-") + \
        f"-{int(time.monotonic() * 1000) % 100000}"
    created = master.post(0, "/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace",
                                                     "metadata": {"name": name}})
    assert created.status_code == 201, created.text
    yield name
    master.session.delete(f"{master.masters[0].url}/api/v1/namespaces/{name}", timeout=15)


def send(master: Cluster, method: str, path: str, data: str | bytes, headers: dict[str, str],
         **params: Any) -> requests.Response:
    return master.session.request(method, master.masters[0].url + path, data=data, headers=headers,
                                  params=params or None, timeout=30)


def revision(master: Cluster, ns: str) -> str:
    listing = master.get(0, CM.format(ns=ns))
    assert listing.status_code == 200, listing.text
    return listing.json()["metadata"]["resourceVersion"]


def assert_healthy(master: Cluster, ns: str) -> None:
    """/readyz answers, the namespace lists and reads back as JSON, and a write commits within 2 s."""
    assert requests.get(master.masters[0].url + "/readyz", timeout=5).status_code == 200
    for path in (CM, PODS, DEPLOYS):
        listing = master.get(0, path.format(ns=ns))
        assert listing.status_code == 200, listing.text
        json.loads(listing.text)  # strict JSON: NaN would not parse here... and must not be served
        assert "NaN" not in listing.text and "Infinity" not in listing.text
    start = time.monotonic()
    probe = master.post(0, CM.format(ns=ns), {"apiVersion": "v1", "kind": "ConfigMap",
                                             "metadata": {"generateName": "probe-"}})
    assert probe.status_code == 201 and time.monotonic() - start < 2.0, probe.text


def refused(resp: requests.Response, code: int, *words: str) -> dict[str, Any]:
    assert resp.status_code == code, f"{resp.status_code}: {resp.text[:500]}"
    status = resp.json()
    assert status["kind"] == "Status" and status["code"] == code
    for word in words:
        assert word in status["message"], status["message"]
    return status


def pod(name: str, **spec: Any) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name},
            "spec": {"containers": [{"name": "c", "image": "busybox"}], **spec}}


def deployment(name: str, replicas: Any) -> dict[str, Any]:
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name}, "spec": {
        "replicas": replicas, "selector": {"matchLabels": {"app": name}},
        "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [{"name": "c", "image": "i"}]}}}}


# --- aliases ---------------------------------------------------------------------------------------

def test_alias_bomb_is_refused_by_every_yaml_route(master: Cluster, ns: str) -> None:
    """POST, PUT and server-side apply of the 409-byte bomb: 400 at once; the master stays fine."""
    bomb = alias_bomb()
    assert 350 < len(bomb) < 500
    before = revision(master, ns)
    start = time.monotonic()
    refused(send(master, "POST", CM.format(ns=ns), bomb, YAML), 400, "aliases are not allowed")
    refused(send(master, "PUT", CM.format(ns=ns) + "/bomb", bomb, YAML), 400, "aliases")
    refused(send(master, "PATCH", CM.format(ns=ns) + "/bomb", bomb, {"Content-Type": "application/apply-patch+yaml"},
                 fieldManager="t"), 400, "aliases")
    refused(send(master, "POST", CM.format(ns=ns), bomb, JSON), 400, "not valid JSON")  # YAML sent as JSON
    assert time.monotonic() - start < 10
    assert revision(master, ns) == before
    assert_healthy(master, ns)


# --- duplicate keys --------------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "headers", "words"), [
    ('{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "name": "b"}}', JSON,
     ('duplicate field "name"', "line 1")),
    ('{"apiVersion": "v1", "kind": "ConfigMap",\n "metadata": {"name": "a"},\n "data": {"k": "1"},\n "data": {}}',
     JSON, ('duplicate field "data"', "line 4")),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\ndata:\n  k: '1'\n  k: '2'\n", YAML,
     ('duplicate key "k"', "line 7")),
])
def test_duplicate_keys_are_refused(master: Cluster, ns: str, body: str, headers: dict[str, str],
                                    words: tuple[str, ...]) -> None:
    before = revision(master, ns)
    refused(send(master, "POST", CM.format(ns=ns), body, headers), 400, *words)
    assert revision(master, ns) == before


# --- non-finite numbers ----------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "body", "headers"), [
    (CM, '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "n"}, "extra": NaN}', JSON),
    (DEPLOYS, json.dumps(deployment("d", 1)).replace('"replicas": 1', '"replicas": NaN'), JSON),
    (PODS, json.dumps(pod("p", terminationGracePeriodSeconds=1)).replace(": 1}", ": Infinity}"), JSON),
    (PODS, json.dumps(pod("p", terminationGracePeriodSeconds=1)).replace(": 1}", ": -Infinity}"), JSON),
    (PODS, json.dumps(pod("p", terminationGracePeriodSeconds=1)).replace(": 1}", ": 1e999}"), JSON),
    (CM, "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: n}\nextra: .nan\n", YAML),
    (DEPLOYS, "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: d}\nspec: {replicas: .inf}\n", YAML),
])
def test_non_finite_numbers_are_refused(master: Cluster, ns: str, path: str, body: str,
                                        headers: dict[str, str]) -> None:
    before = revision(master, ns)
    refused(send(master, "POST", path.format(ns=ns), body, headers), 400, "non-finite number")
    assert revision(master, ns) == before
    assert_healthy(master, ns)


def test_non_finite_numbers_are_refused_in_patches(master: Cluster, ns: str) -> None:
    assert master.post(0, CM.format(ns=ns), {"apiVersion": "v1", "kind": "ConfigMap",
                                             "metadata": {"name": "p"}}).status_code == 201
    for content_type in ("application/merge-patch+json", "application/strategic-merge-patch+json"):
        refused(send(master, "PATCH", CM.format(ns=ns) + "/p", '{"extra": NaN}', {"Content-Type": content_type}),
                400, "non-finite")
    refused(send(master, "PATCH", CM.format(ns=ns) + "/p", '[{"op": "add", "path": "/x", "value": Infinity}]',
                 {"Content-Type": "application/json-patch+json"}), 400, "non-finite")
    assert_healthy(master, ns)


# --- lone surrogates -------------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "field"), [
    ('{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a\\ud800"}}', "metadata.name"),
    ('{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "labels": {"k": "\\udc00"}}}',
     "metadata.labels.k"),
    ('{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a"}, "data": {"k\\ud83d": "v"}}',
     "a key of data"),
])
def test_lone_surrogates_are_refused_before_anything_is_committed(master: Cluster, ns: str, body: str,
                                                                  field: str) -> None:
    before = revision(master, ns)
    refused(send(master, "POST", CM.format(ns=ns), body, JSON), 400, f"invalid Unicode in {field}")
    assert revision(master, ns) == before
    assert_healthy(master, ns)


def test_yaml_lone_surrogate_and_valid_pairs(master: Cluster, ns: str) -> None:
    refused(send(master, "POST", CM.format(ns=ns), 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: y}\n'
                 'data: {k: "\\ud800"}\n', YAML), 400, "lone surrogate")
    ok = send(master, "POST", CM.format(ns=ns), '{"apiVersion": "v1", "kind": "ConfigMap", "metadata": '
              '{"name": "pair"}, "data": {"k": "\\ud83d\\ude00"}}', JSON)
    assert ok.status_code == 201 and master.get(0, CM.format(ns=ns) + "/pair").json()["data"]["k"] == "\U0001F600"


# --- deep nesting ----------------------------------------------------------------------------------

@pytest.mark.parametrize(("body", "headers"), [
    ('{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "deep"}, "extra": '
     + "[" * 100_000 + "]" * 100_000 + "}", JSON),
    ('{"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "deep"}, "extra": '
     + '{"a":' * 150 + "1" + "}" * 150 + "}", JSON),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: deep}\nextra: " + "[" * 100_000 + "]" * 100_000 + "\n",
     YAML),
])
def test_deep_nesting_is_400_not_a_recursion_error(master: Cluster, ns: str, body: str,
                                                   headers: dict[str, str]) -> None:
    refused(send(master, "POST", CM.format(ns=ns), body, headers), 400, "nested deeper than 100 levels")
    assert_healthy(master, ns)
    assert "RecursionError" not in master.masters[0].log_path.read_text()


# --- decoded size ----------------------------------------------------------------------------------

def test_bodies_that_decode_larger_than_the_limit_are_413(tmp_path: Path) -> None:
    """In YAML `-` is null and `k:` is {"k": null}: 64 KB of them decode to well over 64 KiB of JSON."""
    with running(tmp_path / "small", 1, extra_args=["--max-body-bytes", "65536"]) as small:
        head = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\n"
        nulls = head + "extra:\n" + "-\n" * 30_000
        keys = head + "extra:\n" + "".join(f" k{i}:\n" for i in range(8_000))
        for body in (nulls, keys):
            assert len(body) < 65536
            refused(send(small, "POST", CM.format(ns="default"), body, YAML), 413, "decodes to more than")
        fine = head + "extra:\n" + "-\n" * 1_000
        assert send(small, "POST", CM.format(ns="default"), fine, YAML).status_code == 201


# --- integer ranges --------------------------------------------------------------------------------

@pytest.mark.parametrize(("path", "body", "field"), [
    (PODS, pod("p", terminationGracePeriodSeconds=1e30), "spec.terminationGracePeriodSeconds"),
    (PODS, pod("p", terminationGracePeriodSeconds=-1), "spec.terminationGracePeriodSeconds"),
    (PODS, pod("p", priority=2**31), "spec.priority"),
    (PODS, pod("p", activeDeadlineSeconds=1.5), "spec.activeDeadlineSeconds"),
    (DEPLOYS, deployment("d", 1e20), "spec.replicas"),
    (DEPLOYS, deployment("d", 2**31), "spec.replicas"),
    (DEPLOYS, deployment("d", -1), "spec.replicas"),
    (DEPLOYS, deployment("d", 10**30), "spec.replicas"),
])
def test_integer_fields_are_range_checked(master: Cluster, ns: str, path: str, body: dict[str, Any],
                                          field: str) -> None:
    before = revision(master, ns)
    status = refused(master.post(0, path.format(ns=ns), body), 422)
    assert field in [c["field"] for c in status["details"]["causes"]], status
    assert revision(master, ns) == before


def test_huge_grace_periods_never_break_delete(master: Cluster, ns: str) -> None:
    """The largest int64 grace period is valid and deletes; out-of-range query values are 400."""
    biggest = master.post(0, PODS.format(ns=ns), pod("big", terminationGracePeriodSeconds=2**63 - 1,
                                                     nodeName="nowhere"))
    assert biggest.status_code == 201, biggest.text
    url = master.masters[0].url + PODS.format(ns=ns) + "/big"
    marked = master.session.delete(url, timeout=15)
    assert marked.status_code == 200, marked.text
    assert marked.json()["metadata"]["deletionTimestamp"] == "9999-12-31T23:59:59Z"
    for value in ("1e30", "99999999999999999999", "1.5", "abc"):
        refused(master.session.delete(url, params={"gracePeriodSeconds": value}, timeout=15), 400,
                "gracePeriodSeconds")
    refused(master.session.delete(url, data=json.dumps({"gracePeriodSeconds": 1e30}), headers=JSON, timeout=15),
            400, "gracePeriodSeconds")
    assert master.session.delete(url, params={"gracePeriodSeconds": "0"}, timeout=15).status_code == 200
    for name, value in (("limit", "-1"), ("limit", "1e3"), ("timeoutSeconds", "-5"), ("timeoutSeconds", "1.5")):
        refused(master.get(0, CM.format(ns=ns), params={name: value}), 400, name)
    assert master.get(0, CM.format(ns=ns), params={"limit": "500"}).status_code == 200


# --- unknown fields --------------------------------------------------------------------------------

def test_unknown_fields_are_dropped_with_a_warning_or_refused_when_strict(master: Cluster, ns: str) -> None:
    url = master.masters[0].url + CM.format(ns=ns)
    body = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "u", "colour": "red"},
            "data": {"k": "v"}, "extra": {"big": [1, 2, 3]}}
    strict = master.session.post(url, json=body, params={"fieldValidation": "Strict"}, timeout=15)
    refused(strict, 400, 'unknown field "metadata.colour"', 'unknown field "extra"')
    refused(master.session.post(url, json=body, params={"fieldValidation": "Bogus"}, timeout=15), 400,
            "fieldValidation")

    created = master.session.post(url, json=body, timeout=15)
    assert created.status_code == 201, created.text
    warning = created.headers.get("Warning", "")
    assert '299 - "unknown field \\"extra\\""' in warning and "metadata.colour" in warning, warning
    stored = master.get(0, CM.format(ns=ns) + "/u").json()
    assert "extra" not in stored and "colour" not in stored["metadata"] and stored["data"] == {"k": "v"}

    replaced = master.session.put(f"{url}/u", json=dict(stored, more=1), timeout=15)
    assert replaced.status_code == 200 and "more" in replaced.headers.get("Warning", "")
    patched = master.session.patch(f"{url}/u", data='{"again": 1, "data": {"k": "w"}}',
                                   headers={"Content-Type": "application/merge-patch+json"}, timeout=15)
    assert patched.status_code == 200 and "again" in patched.headers.get("Warning", "")
    applied = master.session.patch(f"{url}/u", data="apiVersion: v1\nkind: ConfigMap\nmetadata: {name: u}\n"
                                   "applied: 1\ndata: {k: x}\n", params={"fieldManager": "t"},
                                   headers={"Content-Type": "application/apply-patch+yaml"}, timeout=15)
    assert applied.status_code == 200 and "applied" in applied.headers.get("Warning", ""), applied.text
    ignored = master.session.post(url, json=dict(body, metadata={"name": "i", "x": 1}),
                                  params={"fieldValidation": "Ignore"}, timeout=15)
    assert ignored.status_code == 201 and "Warning" not in ignored.headers
    final = master.get(0, CM.format(ns=ns) + "/u").json()
    assert set(final) == {"apiVersion", "kind", "metadata", "data"} and final["data"] == {"k": "x"}
    assert not any("applied" in json.dumps(m) for m in final["metadata"].get("managedFields") or [])


def test_unknown_fields_in_a_pod_are_dropped_at_every_described_depth(master: Cluster, ns: str) -> None:
    body = pod("deep-unknown")
    body["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    body["spec"]["containers"][0]["ports"] = [{"containerPort": 80, "prot": "TCP"}]
    body["spec"]["typo"] = True
    created = master.post(0, PODS.format(ns=ns), body)
    assert created.status_code == 201, created.text
    for path in ("spec.containers[0].imagePullPolicyy", "spec.containers[0].ports[0].prot", "spec.typo"):
        assert path in created.headers.get("Warning", "")
    container = created.json()["spec"]["containers"][0]
    assert "imagePullPolicyy" not in container and container["ports"] == [{"containerPort": 80, "protocol": "TCP"}]
    assert "typo" not in created.json()["spec"]


# --- node addresses and ports ----------------------------------------------------------------------

@pytest.mark.parametrize(("status", "field"), [
    ({"addresses": [{"type": "InternalIP", "address": "127.0.0.1:9999/steal?x="}]}, "status.addresses[0].address"),
    ({"addresses": [{"type": "InternalIP", "address": "not-an-ip"}]}, "status.addresses[0].address"),
    ({"addresses": [{"type": "Hostname", "address": "evil:80/x"}]}, "status.addresses[0].address"),
    ({"daemonEndpoints": {"kubeletEndpoint": {"Port": 70000}}}, "status.daemonEndpoints.kubeletEndpoint.Port"),
    ({"daemonEndpoints": {"kubeletEndpoint": {"Port": "80/x"}}}, "status.daemonEndpoints.kubeletEndpoint.Port"),
])
def test_node_addresses_must_be_ips_and_ports_ports(master: Cluster, status: dict[str, Any], field: str) -> None:
    """On create and on the status subresource (what the node agent writes)."""
    name = f"bad-node-{abs(hash(field + json.dumps(status))) % 10000}"
    good = {"addresses": [{"type": "InternalIP", "address": "10.1.2.3"}, {"type": "Hostname", "address": name}],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}}}
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": name}}
    try:
        causes = refused(master.post(0, NODES, dict(node, status=status)), 422)["details"]["causes"]
        assert field in [c["field"] for c in causes]
        created = master.post(0, NODES, dict(node, status=good))
        assert created.status_code == 201, created.text
        bad = dict(created.json(), status=status)
        causes = refused(master.session.put(f"{master.masters[0].url}{NODES}/{name}/status", json=bad, timeout=15),
                         422)["details"]["causes"]
        assert field in [c["field"] for c in causes]
        assert master.get(0, f"{NODES}/{name}").json()["status"]["addresses"] == good["addresses"]
    finally:
        master.session.delete(f"{master.masters[0].url}{NODES}/{name}", timeout=15)


# --- YAML the reader refuses (control characters): every PyYAML error is a 400 --------------------

@pytest.mark.parametrize("body", [
    b"\x00", b"apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bel}\ndata: {k: \x07}\n",
    "metadata: {name: nc}\ndata: {k: \ufffe}\n".encode(), b"\x1b[31m",
])
def test_yaml_with_control_characters_is_400(master: Cluster, ns: str, body: bytes) -> None:
    refused(send(master, "POST", CM.format(ns=ns), body, YAML), 400, "unacceptable character")
    refused(send(master, "PATCH", CM.format(ns=ns) + "/x", body, {"Content-Type": "application/apply-patch+yaml"},
                 fieldManager="t"), 400, "unacceptable character")
    assert master.get(0, CM.format(ns=ns)).json()["items"] == []
    assert_healthy(master, ns)


# --- field types: checked before anything reads the object; null is absent -------------------------

LEASES = "/apis/coordination.k8s.io/v1/namespaces/{ns}/leases"
RSS = "/apis/apps/v1/namespaces/{ns}/replicasets"
SERVICES = "/api/v1/namespaces/{ns}/services"


def contents(master: Cluster, ns: str) -> dict[str, str]:
    """kind/name -> resourceVersion of everything in the namespace (unchanged when nothing was written
    there; the global revision also moves with leases and events elsewhere)."""
    found = {}
    for path in (CM, PODS, DEPLOYS, LEASES, RSS, SERVICES):
        listing = master.get(0, path.format(ns=ns))
        assert listing.status_code == 200, listing.text
        found.update({f"{path}/{o['metadata']['name']}": o["metadata"]["resourceVersion"]
                      for o in listing.json()["items"]})
    return found


def _container(**fields: Any) -> dict[str, Any]:
    return {"name": "c", "image": "busybox", **fields}


@pytest.mark.parametrize(("method", "path", "body", "field"), [
    ("PUT", LEASES + "/l", {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": [None]}, "metadata"),
    ("POST", LEASES, {"metadata": {"name": "l"}, "spec": {"acquireTime": "now"}}, "spec.acquireTime"),
    ("POST", PODS, pod("p", containers=[_container(ports="80")]), "spec.containers[0].ports"),
    ("POST", PODS, pod("p", containers=[_container(command=[None])]), "spec.containers[0].command[0]"),
    ("POST", PODS, pod("p", volumes=[{"name": "v", "hostPath": {"path": {"p": "/"}}}]),
     "spec.volumes[0].hostPath.path"),
    ("POST", SERVICES, {"metadata": {"name": "s"}, "spec": {"ports": {"port": 80}}}, "spec.ports"),
    ("POST", DEPLOYS, dict(deployment("d", 1), metadata=["d"]), "metadata"),
])
def test_wrong_field_types_are_422_naming_the_field(master: Cluster, ns: str, method: str, path: str,
                                                    body: dict[str, Any], field: str) -> None:
    before = contents(master, ns)
    status = refused(send(master, method, path.format(ns=ns), json.dumps(body), JSON), 422)
    assert field in [c["field"] for c in status["details"]["causes"]], status
    assert contents(master, ns) == before
    assert_healthy(master, ns)


def test_wrong_types_in_updates_patches_and_subresources_are_refused(master: Cluster, ns: str) -> None:
    """The same pass on PUT, every patch type, apply, /status, /scale and DELETE options."""
    assert master.post(0, PODS.format(ns=ns), pod("t")).status_code == 201
    created = master.post(0, DEPLOYS.format(ns=ns), deployment("t", 1))
    assert created.status_code == 201, created.text
    url = master.masters[0].url + PODS.format(ns=ns) + "/t"
    live = master.get(0, PODS.format(ns=ns) + "/t").json()
    cases = [
        ("PUT", url, dict(live, spec="x"), JSON, "spec"),
        ("PUT", url + "/status", dict(live, status={"containerStatuses": [{"name": "c", "restartCount": "1"}]}),
         JSON, "status.containerStatuses[0].restartCount"),
        ("PUT", url + "/status", dict(live, status={"conditions": "Ready"}), JSON, "status.conditions"),
        ("PATCH", url, [{"op": "replace", "path": "/spec/containers", "value": "c"}],
         {"Content-Type": "application/json-patch+json"}, "spec.containers"),
        ("PATCH", url, {"metadata": {"labels": ["a"]}}, {"Content-Type": "application/merge-patch+json"},
         "metadata.labels"),
        ("PATCH", url, {"spec": {"containers": [{"name": "c", "env": {"A": "b"}}]}},
         {"Content-Type": "application/strategic-merge-patch+json"}, "spec.containers[0].env"),
        ("PATCH", url + "?fieldManager=t", {"apiVersion": "v1", "kind": "Pod", "metadata": ["t"]},
         {"Content-Type": "application/apply-patch+yaml"}, "metadata"),
        ("PUT", master.masters[0].url + DEPLOYS.format(ns=ns) + "/t/scale", {"spec": ["2"]}, JSON, "spec"),
        ("PATCH", master.masters[0].url + DEPLOYS.format(ns=ns) + "/t/scale", {"spec": {"replicas": "2"}},
         {"Content-Type": "application/merge-patch+json"}, "spec.replicas"),
    ]
    before = contents(master, ns)
    for method, target, body, headers, field in cases:
        answer = master.session.request(method, target, data=json.dumps(body), headers=headers, timeout=15)
        status = refused(answer, 422)
        assert field in [c["field"] for c in status["details"]["causes"]], (method, target, status)
    for options in ({"preconditions": ["uid"]}, {"propagationPolicy": ["Orphan"]}, {"dryRun": "All"}):
        refused(master.session.delete(url, data=json.dumps(options), headers=JSON, timeout=15), 400,
                next(iter(options)))
    assert contents(master, ns) == before
    assert master.get(0, PODS.format(ns=ns) + "/t").json()["spec"] == live["spec"]
    assert_healthy(master, ns)


@pytest.mark.parametrize(("path", "body", "absent"), [
    (PODS, pod("n1", containers=[_container(command=None, env=None)]), ("spec", "containers", 0, "command")),
    (PODS, dict(pod("n2"), metadata={"name": "n2", "labels": None, "creationTimestamp": None}),
     ("metadata", "labels")),
    (RSS, {"apiVersion": "apps/v1", "kind": "ReplicaSet", "metadata": {"name": "n3"}, "spec": {
        "replicas": None, "selector": {"matchLabels": {"a": "b"}}, "template": {
            "metadata": {"labels": {"a": "b"}}, "spec": {"containers": [_container(ports=None)]}}}},
     ("spec", "template", "spec", "containers", 0, "ports")),
])
def test_null_fields_are_stored_absent(master: Cluster, ns: str, path: str, body: dict[str, Any],
                                       absent: tuple[Any, ...]) -> None:
    """null for a field means "not set" (kube-apiserver decodes it to the zero value): defaults apply."""
    created = master.post(0, path.format(ns=ns), body)
    assert created.status_code == 201, created.text
    stored = master.get(0, f"{path.format(ns=ns)}/{body['metadata']['name']}").json()
    parent: Any = stored
    for step in absent[:-1]:
        parent = parent[step]
    assert absent[-1] not in parent, stored
    assert not re.search(r"[:\[,] ?null\b", json.dumps(stored)), stored  # no JSON null stored anywhere
    if path == RSS:
        assert stored["spec"]["replicas"] == 1  # the default, as for an absent field


def test_hostile_managed_fields_never_break_server_side_apply(master: Cluster, ns: str) -> None:
    """managedFields are the server's, but any patch can write them: entries that do not decode are
    ignored (as kube-apiserver does), merge keys of any JSON type are fine, apply goes on working."""
    url = master.masters[0].url + CM.format(ns=ns) + "/m"
    apply = {"Content-Type": "application/apply-patch+yaml"}
    manifest = ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: m, finalizers: [x.example/f]}\n"
                "data: {a: '1', b: '2'}\n")
    first = master.session.patch(url, data=manifest, headers=apply, params={"fieldManager": "t"}, timeout=15)
    assert first.status_code == 201, first.text
    garbage = [
        {"f:data": {"f:a": {}, "k:{bad json": {}, "v:": {}}},
        {"f:data": "not a set", "f:metadata": []},
        {"f:subsets": {'k:{"ip":{"a":1}}': {"f:x": {}}, "k:[1]": {}, 'k:{"port":[80]}': {}}},
        {"f:metadata": {"f:finalizers": {'v:{"a":1}': {}, "v:[": {}, 'v:"x.example/f"': {}}}},
        {"f:metadata": {"f:finalizers": "x", "f:ownerReferences": {'k:{"uid":{"a":1}}': {}, "k:{": {}}}},
    ]
    for fields in garbage:
        entry = {"manager": "t", "operation": "Apply", "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": fields}
        patched = master.session.patch(url, data=json.dumps([{"op": "add", "path": "/metadata/managedFields",
                                                              "value": [entry]}]),
                                       headers={"Content-Type": "application/json-patch+json"}, timeout=15)
        assert patched.status_code == 200, patched.text
        again = master.session.patch(url, data=manifest.replace("b: '2'", "c: '3'"), headers=apply,
                                     params={"fieldManager": "t"}, timeout=15)
        assert again.status_code == 200, again.text
        assert again.json()["data"]["c"] == "3"
    refused(master.session.patch(url, data=json.dumps([{"op": "add", "path": "/metadata/managedFields",
                                                        "value": "x"}]),
                                 headers={"Content-Type": "application/json-patch+json"}, timeout=15),
            422, "metadata.managedFields")
    assert_healthy(master, ns)


def test_scale_patches_apply_to_the_current_scale(master: Cluster, ns: str) -> None:
    """A JSON patch `replace /spec/replicas` (or `test`) needs the current Scale to patch."""
    assert master.post(0, DEPLOYS.format(ns=ns), deployment("sc", 2)).status_code == 201
    url = master.masters[0].url + DEPLOYS.format(ns=ns) + "/sc/scale"
    json_patch = {"Content-Type": "application/json-patch+json"}
    ops = [{"op": "test", "path": "/spec/replicas", "value": 2},
           {"op": "replace", "path": "/spec/replicas", "value": 3}]
    scaled = master.session.patch(url, data=json.dumps(ops), headers=json_patch, timeout=15)
    assert scaled.status_code == 200 and scaled.json()["spec"]["replicas"] == 3, scaled.text
    stale = master.session.patch(url, data=json.dumps(ops), headers=json_patch, timeout=15)
    assert stale.status_code == 422, stale.text  # the test op fails: replicas is 3 now
    merged = master.session.patch(url, data='{"spec": {"replicas": 1}}',
                                  headers={"Content-Type": "application/merge-patch+json"}, timeout=15)
    assert merged.status_code == 200 and merged.json()["spec"]["replicas"] == 1, merged.text
    assert master.get(0, DEPLOYS.format(ns=ns) + "/sc").json()["spec"]["replicas"] == 1


# --- the CLI ---------------------------------------------------------------------------------------

def _apply(master: Cluster, path: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "minik8s.cli.main", "apply", "-f", str(path), "--server",
                           master.masters[0].url, "--token", TOKEN], capture_output=True, text=True, timeout=60)


@pytest.mark.parametrize(("text", "message"), [
    (alias_bomb(), ":5: YAML aliases are not allowed"),
    (alias_bomb(9), ":5: YAML aliases are not allowed"),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: dup\n  name: dup2\n", ':5: duplicate key "name"'),
    ("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: n}\ndata: {k: .nan}\n", ":4: non-finite number"),
    ("", "error: no objects passed to apply"),
    ("# nothing here\n---\n---\n", "error: no objects passed to apply"),
])
def test_cli_apply_refuses_in_one_line_and_fast(master: Cluster, tmp_path: Path, text: str, message: str) -> None:
    manifest = tmp_path / "m.yaml"
    manifest.write_text(text)
    start = time.monotonic()
    result = _apply(master, manifest)
    assert time.monotonic() - start < 30, "the CLI must not hang"
    assert result.returncode == 1, result
    assert result.stdout == "" and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert message in result.stderr, result.stderr
    names = [o["metadata"]["name"] for o in master.get(0, CM.format(ns="default")).json()["items"]]
    assert not {"bomb", "dup", "dup2", "n"} & set(names)


def test_cli_apply_json_duplicate_keys(master: Cluster, tmp_path: Path) -> None:
    manifest = tmp_path / "m.json"
    manifest.write_text('{"apiVersion": "v1", "kind": "ConfigMap",\n "metadata": {"name": "j", "name": "k"}}\n')
    result = _apply(master, manifest)
    assert result.returncode == 1 and f"{manifest}:2: duplicate field \"name\"" in result.stderr, result.stderr
