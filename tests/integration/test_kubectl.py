"""The real kubectl (1.32) against three real masters: output, apply/create/delete/scale/edit/patch, errors.

Every expectation here is what kubectl prints against a real Kubernetes API server. kubectl talks
to master 0; the test's own API calls (creating objects, checking what was stored) go to the
other masters, so every check also crosses Raft replication. See kubectl_support.py for why
kubectl reaches master 0 through a loopback TLS terminator.
"""

from __future__ import annotations

import json
import os
import re
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from .cluster import TOKEN, Cluster, running
from .kubectl_support import Kubectl, columns, finish_module, ph, rows

AGE = re.compile(r"^\d+(s|m|h|d|y)(\d+(s|m|h))?$")
ANY = object()  # a cell whose value the test does not pin


# --------------------------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module", autouse=True)
def _record_calls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    yield
    finish_module(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Three HTTPS masters shared by this module's tests (each test uses its own object names)."""
    with running(tmp_path_factory.mktemp("kubectl") / "cluster", 3, tls=True, extra_args=["--no-control-loops"]) as c:
        yield c


@pytest.fixture(scope="module")
def kubectl(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    """kubectl pointed at master 0 over TLS, verifying it with the cluster's CA."""
    assert cluster.ca_file is not None
    return Kubectl(tmp_path_factory.mktemp("kubectl-home"), cluster.masters[0].url, TOKEN,
                   ca_file=Path(cluster.ca_file))


class Api:
    """The test's own REST calls, to master 1 (writes) and master 2 (reads)."""

    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster

    def create(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        resp = self.cluster.post(1, path, body)
        assert resp.status_code == 201, resp.text
        return resp.json()

    def get(self, path: str) -> dict[str, Any]:
        resp = self.cluster.get(2, path)
        assert resp.status_code == 200, resp.text
        return resp.json()

    def status(self, path: str) -> int:
        return self.cluster.get(2, path).status_code

    def patch(self, path: str, body: Any, content_type: str = "application/merge-patch+json") -> dict[str, Any]:
        resp = self.cluster.session.patch(self.cluster.masters[1].url + path, data=json.dumps(body),
                                          headers={"Content-Type": content_type}, timeout=15)
        assert resp.status_code == 200, resp.text
        return resp.json()


@pytest.fixture(scope="module")
def api(cluster: Cluster) -> Api:
    return Api(cluster)


def pod(name: str, *, namespace: str = "default", labels: dict[str, str] | None = None,
        containers: int = 1) -> dict[str, Any]:
    return {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": labels or {"app": name}},
        "spec": {"containers": [{"name": f"c{i}" if i else "c", "image": "busybox:1.36",
                                 "command": ["sleep", "3600"]} for i in range(containers)]},
    }


def deployment(name: str, replicas: int = 2, containers: list[dict[str, Any]] | None = None,
               labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": labels or {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {"containers": containers or [{"name": "c", "image": "busybox:1.36"}]},
            },
        },
    }


def replicaset(name: str, replicas: int = 2) -> dict[str, Any]:
    body = deployment(name, replicas)
    body["kind"] = "ReplicaSet"
    return body


def service(name: str, app: str) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name},
            "spec": {"selector": {"app": app}, "ports": [{"port": 80, "targetPort": 8080}]}}


def write_yaml(path: Path, *docs: dict[str, Any]) -> ph:
    path.write_text(yaml.safe_dump_all(list(docs), sort_keys=False))
    return ph(str(path), "FILE")


PODS = "/api/v1/namespaces/default/pods"
DEPLOYS = "/apis/apps/v1/namespaces/default/deployments"
RSS = "/apis/apps/v1/namespaces/default/replicasets"
SVCS = "/api/v1/namespaces/default/services"


@pytest.fixture(scope="module")
def seeded(api: Api) -> None:
    """Objects every `get` test looks at: a node, a pod in default and one in `other`, deploy, rs, svc."""
    api.create("/api/v1/nodes", {
        "apiVersion": "v1", "kind": "Node",
        "metadata": {"name": "node-a", "labels": {"node-role.kubernetes.io/worker": ""}},
        "status": {
            "conditions": [{"type": "Ready", "status": "True", "reason": "KubeletReady", "message": "ready"}],
            "addresses": [{"type": "InternalIP", "address": "10.0.0.7"}],
            "nodeInfo": {"kubeletVersion": "v1.32.0", "osImage": "Debian GNU/Linux 12 (bookworm)",
                         "kernelVersion": "6.1.0-18-amd64", "containerRuntimeVersion": "containerd://1.7.13",
                         "architecture": "amd64", "operatingSystem": "linux", "bootID": "", "machineID": "",
                         "systemUUID": "", "kubeProxyVersion": ""},
        },
    })
    api.create("/api/v1/namespaces", {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "other"}})
    api.create(PODS, pod("seed-pod"))
    api.create("/api/v1/namespaces/other/pods", pod("other-pod", namespace="other"))
    api.create(DEPLOYS, deployment("seed-deploy"))
    api.create(RSS, replicaset("seed-rs"))
    api.create(SVCS, service("seed-svc", "seed-deploy"))


# --------------------------------------------------------------------------------------------- get


def test_kubectl_uses_every_master_with_its_token(cluster: Cluster, tmp_path: Path) -> None:
    """kubectl authenticates against each master's own HTTPS URL with the bearer token."""
    for index in (1, 2):
        direct = Kubectl(tmp_path / f"direct-{index}", cluster.masters[index].url, TOKEN,
                         ca_file=Path(cluster.ca_file or ""))
        out = direct.run("get", "ns", record=False)
        assert columns(out.stdout) == ["NAME", "STATUS", "AGE"]


POD_HEADER = ["NAME", "READY", "STATUS", "RESTARTS", "AGE"]
POD_WIDE = [*POD_HEADER, "IP", "NODE", "NOMINATED NODE", "READINESS GATES"]
POD_ROW = ["seed-pod", "0/1", "Pending", "0", AGE]
POD_WIDE_ROW = [*POD_ROW, "<none>", "<none>", "<none>", "<none>"]
NODE_HEADER = ["NAME", "STATUS", "ROLES", "AGE", "VERSION"]
NODE_ROW = ["node-a", "Ready", "worker", AGE, "v1.32.0"]
DEPLOY_HEADER = ["NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"]
DEPLOY_ROW = ["seed-deploy", "0/2", "0", "0", AGE]
RS_HEADER = ["NAME", "DESIRED", "CURRENT", "READY", "AGE"]
RS_ROW = ["seed-rs", "2", "0", "0", AGE]
SVC_HEADER = ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
SVC_ROW = ["seed-svc", "ClusterIP", ANY, "<none>", "80/TCP", AGE]  # CLUSTER-IP: see the module report

GET_TABLES = [
    pytest.param(["get", "po"], POD_HEADER, POD_ROW, id="po"),
    pytest.param(["get", "pods"], POD_HEADER, POD_ROW, id="pods"),
    pytest.param(["get", "pods", "-o", "wide"], POD_WIDE, POD_WIDE_ROW, id="pods-wide"),
    pytest.param(["get", "pods", "-A"], ["NAMESPACE", *POD_HEADER], ["other", "other-pod", "0/1", "Pending", "0", AGE],
                 id="pods-all-namespaces"),
    pytest.param(["get", "pods", "-A", "-o", "wide"], ["NAMESPACE", *POD_WIDE], ["default", *POD_WIDE_ROW],
                 id="pods-all-namespaces-wide"),
    pytest.param(["get", "nodes"], NODE_HEADER, NODE_ROW, id="nodes"),
    pytest.param(["get", "nodes", "-o", "wide"],
                 [*NODE_HEADER, "INTERNAL-IP", "EXTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME"],
                 [*NODE_ROW, "10.0.0.7", "<none>", "Debian GNU/Linux 12 (bookworm)", "6.1.0-18-amd64",
                  "containerd://1.7.13"], id="nodes-wide"),
    pytest.param(["get", "ns"], ["NAME", "STATUS", "AGE"], ["kube-system", "Active", AGE], id="ns"),
    pytest.param(["get", "ns", "-A"], ["NAME", "STATUS", "AGE"], ["other", "Active", AGE],
                 id="ns-all-namespaces"),  # cluster-scoped: no NAMESPACE column
    pytest.param(["get", "rs"], RS_HEADER, RS_ROW, id="rs"),
    pytest.param(["get", "rs", "-o", "wide"], [*RS_HEADER, "CONTAINERS", "IMAGES", "SELECTOR"],
                 [*RS_ROW, "c", "busybox:1.36", "app=seed-rs"], id="rs-wide"),
    pytest.param(["get", "rs", "-A"], ["NAMESPACE", *RS_HEADER], ["default", *RS_ROW], id="rs-all-namespaces"),
    pytest.param(["get", "deploy"], DEPLOY_HEADER, DEPLOY_ROW, id="deploy"),
    pytest.param(["get", "deploy", "-o", "wide"], [*DEPLOY_HEADER, "CONTAINERS", "IMAGES", "SELECTOR"],
                 [*DEPLOY_ROW, "c", "busybox:1.36", "app=seed-deploy"], id="deploy-wide"),
    pytest.param(["get", "deploy", "-A"], ["NAMESPACE", *DEPLOY_HEADER], ["default", *DEPLOY_ROW],
                 id="deploy-all-namespaces"),
    pytest.param(["get", "svc"], SVC_HEADER, SVC_ROW, id="svc"),
    pytest.param(["get", "svc", "-o", "wide"], [*SVC_HEADER, "SELECTOR"], [*SVC_ROW, "app=seed-deploy"],
                 id="svc-wide"),
    pytest.param(["get", "svc", "-A"], ["NAMESPACE", *SVC_HEADER], ["default", *SVC_ROW], id="svc-all-namespaces"),
]


def _row_matches(row: list[str], expected: list[Any]) -> bool:
    if len(row) != len(expected):
        return False
    for cell, want in zip(row, expected):
        if want is ANY:
            continue
        if isinstance(want, re.Pattern):
            if not want.match(cell):
                return False
        elif cell != want:
            return False
    return True


@pytest.mark.parametrize("args", [
    pytest.param(["get", "pods", "-o", "wide"], id="pods-wide"),
    pytest.param(["get", "ns"], id="ns"),
    pytest.param(["get", "deploy", "-A"], id="deploy-all-ns"),
    pytest.param(["get", "svc", "-o", "wide"], id="svc-wide"),
    pytest.param(["get", "all"], id="all"),
])
def test_minik8s_get_prints_what_kubectl_prints(kubectl: Kubectl, cluster: Cluster, seeded: None,
                                               args: list[str]) -> None:
    """`minik8s get` and `kubectl get` print the same table for the same objects (AGE aside)."""
    expected = kubectl.run(*args, record=False).stdout
    env = dict(os.environ, MINIK8S_SERVER=cluster.masters[0].url, MINIK8S_TOKEN=TOKEN,
               MINIK8S_CA_FILE=cluster.ca_file or "")
    ours = subprocess.run([sys.executable, "-m", "minik8s.cli.main", *args], capture_output=True, text=True,
                          env=env, timeout=60)
    assert ours.returncode == 0, ours.stderr

    def without_age(text: str) -> list[list[str]]:
        return [[cell for cell in re.split(r"\s{2,}", line.strip()) if not re.fullmatch(r"\d+[smhd]", cell)]
                for line in text.splitlines()]

    assert without_age(ours.stdout) == without_age(expected)


@pytest.mark.parametrize(("args", "header", "row"), GET_TABLES)
def test_get_prints_kubernetes_columns(kubectl: Kubectl, seeded: None, args: list[str], header: list[str],
                                       row: list[Any]) -> None:
    out = kubectl.run(*args).stdout
    assert columns(out) == header, out
    assert any(_row_matches(r, row) for r in rows(out)), f"no row like {row} in:\n{out}"


@pytest.mark.parametrize("all_namespaces", [pytest.param(False, id="default"), pytest.param(True, id="-A")])
def test_get_all_prints_one_table_per_workload_kind(kubectl: Kubectl, seeded: None, all_namespaces: bool) -> None:
    out = kubectl.run("get", "all", *(["-A"] if all_namespaces else [])).stdout
    tables = [t for t in out.strip().split("\n\n") if t.strip()]
    extra = ["NAMESPACE"] if all_namespaces else []
    by_header = {tuple(columns(t)): rows(t) for t in tables}
    headers = {name: tuple(extra + h) for name, h in
               [("pod", POD_HEADER), ("service", SVC_HEADER), ("deployment.apps", DEPLOY_HEADER),
                ("replicaset.apps", RS_HEADER)]}
    assert set(by_header) == set(headers.values()), out
    first = 1 if all_namespaces else 0
    for prefix, name in [("pod", "seed-pod"), ("service", "seed-svc"), ("deployment.apps", "seed-deploy"),
                         ("replicaset.apps", "seed-rs")]:
        assert any(r[first] == f"{prefix}/{name}" for r in by_header[headers[prefix]]), out
    if all_namespaces:
        assert any(r[:2] == ["other", "pod/other-pod"] for r in by_header[headers["pod"]]), out


@pytest.mark.parametrize(("args", "expected"), [
    pytest.param(["get", "pods", "-o", "name"], "pod/seed-pod", id="pods"),
    pytest.param(["get", "deploy", "-o", "name"], "deployment.apps/seed-deploy", id="deploy"),
    pytest.param(["get", "nodes", "-o", "name"], "node/node-a", id="nodes"),
])
def test_get_output_name(kubectl: Kubectl, seeded: None, args: list[str], expected: str) -> None:
    assert expected in kubectl.run(*args).stdout.splitlines()


@pytest.mark.parametrize("fmt", ["yaml", "json"])
@pytest.mark.parametrize(("resource", "kind", "name"), [
    pytest.param("pods", "Pod", "seed-pod", id="pods"),
    pytest.param("svc", "Service", "seed-svc", id="svc"),
])
def test_get_output_yaml_and_json(kubectl: Kubectl, seeded: None, fmt: str, resource: str, kind: str,
                                  name: str) -> None:
    out = kubectl.run("get", resource, "-o", fmt).stdout
    doc = yaml.safe_load(out) if fmt == "yaml" else json.loads(out)
    assert doc["kind"] == "List" and doc["apiVersion"] == "v1"
    item = next(i for i in doc["items"] if i["metadata"]["name"] == name)
    assert item["kind"] == kind and item["apiVersion"] == "v1"
    assert item["metadata"]["namespace"] == "default" and item["metadata"]["resourceVersion"]


def test_get_one_object_yaml(kubectl: Kubectl, seeded: None) -> None:
    doc = yaml.safe_load(kubectl.run("get", "deploy", ph("seed-deploy", "NAME"), "-o", "yaml").stdout)
    assert doc["kind"] == "Deployment" and doc["apiVersion"] == "apps/v1"
    assert doc["spec"]["replicas"] == 2 and doc["metadata"]["name"] == "seed-deploy"


def test_get_pods_watch_prints_new_pod(kubectl: Kubectl, api: Api, seeded: None) -> None:
    """`kubectl get pods -w` lists, then prints a row for a pod created afterwards."""
    watcher = kubectl.watch("get", "pods", "-w")
    try:
        header = watcher.wait_line(lambda line: line.startswith("NAME"), 30, "the header")
        assert columns(header) == POD_HEADER
        watcher.wait_line(lambda line: line.startswith("seed-pod "), 30, "the existing pod")
        api.create(PODS, pod("watched"))
        line = watcher.wait_line(lambda line: line.startswith("watched "), 30, "the new pod")
        assert _row_matches(re.split(r"\s{2,}", line.strip()), ["watched", "0/1", "Pending", "0", AGE]), line
    finally:
        watcher.stop()


# --------------------------------------------------------------------------------------------- apply


def _app_docs(replicas: int, containers: list[dict[str, Any]], labels: dict[str, str]) -> list[dict[str, Any]]:
    return [deployment("applied", replicas, containers, labels), service("applied", "applied")]


NGINX = {"name": "nginx", "image": "nginx:1.27", "ports": [{"containerPort": 80}]}
SIDECAR = {"name": "sidecar", "image": "busybox:1.36", "command": ["sleep", "infinity"]}


def test_apply_create_unchanged_configured(kubectl: Kubectl, api: Api, tmp_path: Path) -> None:
    """Client-side apply with default validation: created, unchanged, configured; the store matches the file."""
    path = tmp_path / "app.yaml"
    f = write_yaml(path, *_app_docs(2, [NGINX, SIDECAR], {"app": "applied"}))
    out = kubectl.run("apply", "-f", f).stdout
    assert out.splitlines() == ["deployment.apps/applied created", "service/applied created"]
    stored = api.get(f"{DEPLOYS}/applied")
    assert "kubectl.kubernetes.io/last-applied-configuration" in stored["metadata"]["annotations"]

    out = kubectl.run("apply", "-f", f).stdout
    assert out.splitlines() == ["deployment.apps/applied unchanged", "service/applied unchanged"]

    f = write_yaml(path, *_app_docs(3, [NGINX], {"app": "applied", "tier": "front"}))
    out = kubectl.run("apply", "-f", f).stdout
    assert out.splitlines() == ["deployment.apps/applied configured", "service/applied unchanged"]
    stored = api.get(f"{DEPLOYS}/applied")
    assert stored["spec"]["replicas"] == 3
    assert [c["name"] for c in stored["spec"]["template"]["spec"]["containers"]] == ["nginx"]
    assert stored["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.27"
    assert stored["metadata"]["labels"] == {"app": "applied", "tier": "front"}
    assert api.get(f"{SVCS}/applied")["spec"]["selector"] == {"app": "applied"}


def test_apply_server_side_create_and_update(kubectl: Kubectl, api: Api, tmp_path: Path) -> None:
    path = tmp_path / "ssa.yaml"
    f = write_yaml(path, deployment("ssa", 1, [NGINX, SIDECAR]))
    out = kubectl.run("apply", "--server-side", "-f", f).stdout
    assert out.splitlines() == ["deployment.apps/ssa serverside-applied"]
    stored = api.get(f"{DEPLOYS}/ssa")
    assert stored["spec"]["replicas"] == 1
    assert [c["name"] for c in stored["spec"]["template"]["spec"]["containers"]] == ["nginx", "sidecar"]

    f = write_yaml(path, deployment("ssa", 4, [NGINX], {"app": "ssa", "tier": "back"}))
    out = kubectl.run("apply", "--server-side", "-f", f).stdout
    assert out.splitlines() == ["deployment.apps/ssa serverside-applied"]
    stored = api.get(f"{DEPLOYS}/ssa")
    assert stored["spec"]["replicas"] == 4
    assert [c["name"] for c in stored["spec"]["template"]["spec"]["containers"]] == ["nginx"]
    assert stored["metadata"]["labels"] == {"app": "ssa", "tier": "back"}


def test_apply_server_side_records_field_manager(kubectl: Kubectl, api: Api, tmp_path: Path) -> None:
    """As on Kubernetes: managedFields names kubectl's Apply, and no private annotation leaks into metadata."""
    f = write_yaml(tmp_path / "ssa-fm.yaml", deployment("ssa-fm", 1))
    kubectl.run("apply", "--server-side", "-f", f)
    meta = api.get(f"{DEPLOYS}/ssa-fm")["metadata"]
    assert any(m.get("manager") == "kubectl" and m.get("operation") == "Apply"
               and m.get("apiVersion") == "apps/v1" for m in meta.get("managedFields", [])), meta
    assert not meta.get("annotations"), meta


def _minik8s(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    """The `minik8s` CLI against master 0 (as kubectl is), checked to exit 0."""
    env = dict(os.environ, MINIK8S_SERVER=cluster.masters[0].url, MINIK8S_TOKEN=TOKEN,
               MINIK8S_CA_FILE=cluster.ca_file or "")
    proc = subprocess.run([sys.executable, "-m", "minik8s.cli.main", *args], capture_output=True, text=True,
                          env=env, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc


def _appliers(meta: dict[str, Any]) -> list[tuple[str, str]]:
    return [(m.get("manager"), m.get("operation")) for m in meta.get("managedFields") or []]


def test_minik8s_apply_and_kubectl_server_side_apply_agree(kubectl: Kubectl, api: Api, cluster: Cluster,
                                                           tmp_path: Path) -> None:
    """`minik8s apply -f` is server-side apply as manager kubectl: `kubectl apply --server-side -f` of the
    same file after it changes nothing and sees no conflict, and the other way round."""
    f = write_yaml(tmp_path / "both.yaml", deployment("both", 2, [NGINX, SIDECAR]), service("both", "both"))
    out = _minik8s(cluster, "apply", "-f", f).stdout
    assert out.splitlines() == ["deployment.apps/both created", "service/both created"]
    before = {path: api.get(path)["metadata"] for path in (f"{DEPLOYS}/both", f"{SVCS}/both")}

    out = kubectl.run("apply", "--server-side", "-f", f).stdout  # no --force-conflicts: a conflict would fail
    assert out.splitlines() == ["deployment.apps/both serverside-applied", "service/both serverside-applied"]
    for path, meta in before.items():
        after = api.get(path)["metadata"]
        assert after["resourceVersion"] == meta["resourceVersion"], path  # nothing was written
        assert _appliers(after) == _appliers(meta) == [("kubectl", "Apply")], after
    out = _minik8s(cluster, "apply", "-f", f).stdout
    assert out.splitlines() == ["deployment.apps/both unchanged", "service/both unchanged"]

    f = write_yaml(tmp_path / "both.yaml", deployment("both", 3, [NGINX]), service("both", "both"))
    kubectl.run("apply", "--server-side", "-f", f)
    stored = api.get(f"{DEPLOYS}/both")
    assert stored["spec"]["replicas"] == 3
    assert [c["name"] for c in stored["spec"]["template"]["spec"]["containers"]] == ["nginx"]
    out = _minik8s(cluster, "apply", "-f", f).stdout
    assert out.splitlines() == ["deployment.apps/both unchanged", "service/both unchanged"]
    f = write_yaml(tmp_path / "both.yaml", deployment("both", 1, [NGINX]), service("both", "both"))
    out = _minik8s(cluster, "apply", "-f", f).stdout
    assert out.splitlines() == ["deployment.apps/both configured", "service/both unchanged"]
    assert api.get(f"{DEPLOYS}/both")["spec"]["replicas"] == 1
    assert _appliers(api.get(f"{DEPLOYS}/both")["metadata"]) == [("kubectl", "Apply")]


# --------------------------------------------------------------------------------------------- create/delete/scale


def test_create_and_delete_from_file(kubectl: Kubectl, api: Api, tmp_path: Path) -> None:
    f = write_yaml(tmp_path / "cd.yaml", deployment("made"), service("made", "made"))
    out = kubectl.run("create", "-f", f).stdout
    assert out.splitlines() == ["deployment.apps/made created", "service/made created"]
    assert api.get(f"{DEPLOYS}/made")["spec"]["replicas"] == 2
    assert api.get(f"{SVCS}/made")["spec"]["ports"][0]["port"] == 80
    out = kubectl.run("delete", "-f", f).stdout
    assert out.splitlines() == ['deployment.apps "made" deleted', 'service "made" deleted']
    assert api.status(f"{DEPLOYS}/made") == 404 and api.status(f"{SVCS}/made") == 404


def test_delete_pod_by_name(kubectl: Kubectl, api: Api) -> None:
    api.create(PODS, pod("doomed"))
    out = kubectl.run("delete", "pod", ph("doomed", "NAME")).stdout
    assert out.strip() == 'pod "doomed" deleted'
    assert api.status(f"{PODS}/doomed") == 404


def test_scale_replicaset(kubectl: Kubectl, api: Api) -> None:
    api.create(RSS, replicaset("scaled", 1))
    out = kubectl.run("scale", ph("rs/scaled", "rs/NAME"), "--replicas=3").stdout
    assert out.strip() == "replicaset.apps/scaled scaled"
    assert api.get(f"{RSS}/scaled")["spec"]["replicas"] == 3


HPAS = "/apis/autoscaling/{version}/namespaces/default/horizontalpodautoscalers"


def test_autoscale_creates_an_hpa_both_versions_read(kubectl: Kubectl, api: Api) -> None:
    """`kubectl autoscale` (an autoscaling/v1 body in protobuf) creates an HPA that v2 and v1 both read."""
    api.create(DEPLOYS, deployment("auto", 1))
    out = kubectl.run("autoscale", ph("deployment/auto", "deployment/NAME"), "--min=2", "--max=5",
                      "--cpu-percent=60").stdout
    assert out.strip() == "horizontalpodautoscaler.autoscaling/auto autoscaled"
    v2 = api.get(HPAS.format(version="v2") + "/auto")
    assert v2["spec"] == {"scaleTargetRef": {"kind": "Deployment", "name": "auto", "apiVersion": "apps/v1"},
                          "minReplicas": 2, "maxReplicas": 5, "metrics": [{"type": "Resource", "resource": {
                              "name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}}]}
    v1 = api.get(HPAS.format(version="v1") + "/auto")
    assert (v1["apiVersion"], v1["spec"]["targetCPUUtilizationPercentage"]) == ("autoscaling/v1", 60)
    table = kubectl.run("get", "hpa").stdout
    assert columns(table) == ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"]
    assert ["auto", "Deployment/auto", "cpu: <unknown>/60%", "2", "5", "0"] in [r[:6] for r in rows(table)]
    assert "already exists" in kubectl.fails("autoscale", ph("deployment/auto", "deployment/NAME"), "--max=3")


def test_apply_autoscaling_v1_twice(kubectl: Kubectl, api: Api, tmp_path: Path) -> None:
    """An autoscaling/v1 manifest applies (created, then strategic-merge patched in v1) onto the v2 object,
    keeping what v1 cannot say."""
    body = {"apiVersion": "autoscaling/v1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "hpa-v1"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "x"},
                     "maxReplicas": 3, "targetCPUUtilizationPercentage": 70}}
    assert kubectl.run("apply", "-f", write_yaml(tmp_path / "v1.yaml", body)).stdout.strip() == \
        "horizontalpodautoscaler.autoscaling/hpa-v1 created"
    api.patch(HPAS.format(version="v2") + "/hpa-v1", {"spec": {"behavior": {"scaleDown": {
        "stabilizationWindowSeconds": 60}}}})
    body["spec"]["maxReplicas"] = 4
    assert kubectl.run("apply", "-f", write_yaml(tmp_path / "v1.yaml", body)).stdout.strip() == \
        "horizontalpodautoscaler.autoscaling/hpa-v1 configured"
    v2 = api.get(HPAS.format(version="v2") + "/hpa-v1")
    assert v2["spec"]["maxReplicas"] == 4 and v2["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 60
    assert v2["spec"]["metrics"][0]["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}


def test_describe_pod_shows_events(kubectl: Kubectl, api: Api) -> None:
    created = api.create(PODS, pod("described"))
    api.create("/api/v1/namespaces/default/events", {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "described.1", "namespace": "default"},
        "involvedObject": {"apiVersion": "v1", "kind": "Pod", "name": "described", "namespace": "default",
                           "uid": created["metadata"]["uid"]},
        "reason": "FailedScheduling", "message": "0/1 nodes are available: no node agent yet",
        "type": "Warning", "count": 1, "source": {"component": "default-scheduler"},
        "firstTimestamp": created["metadata"]["creationTimestamp"],
        "lastTimestamp": created["metadata"]["creationTimestamp"],
    })
    out = kubectl.run("describe", "pod", ph("described", "NAME")).stdout
    fields = dict(re.match(r"^(\w[\w ]*):\s*(.*)$", line).groups()  # type: ignore[union-attr]
                  for line in out.splitlines() if re.match(r"^\w[\w ]*:", line))
    assert fields["Name"] == "described" and fields["Namespace"] == "default"
    assert fields["Status"] == "Pending" and fields["Node"] == "<none>"
    events = out.split("\nEvents:", 1)[1]
    row = next(line for line in events.splitlines() if "FailedScheduling" in line)
    assert _row_matches(re.split(r"\s{2,}", row.strip()), [
        "Warning", "FailedScheduling", ANY, "default-scheduler", "0/1 nodes are available: no node agent yet"]), row


def test_label_and_annotate(kubectl: Kubectl, api: Api) -> None:
    api.create(PODS, pod("tagged"))
    name = ph("tagged", "NAME")
    assert kubectl.run("label", "pod", name, ph("tier=db", "KEY=VALUE")).stdout.strip() == "pod/tagged labeled"
    assert kubectl.run("annotate", "pod", name, ph("note=hello", "KEY=VALUE")).stdout.strip() == \
        "pod/tagged annotated"
    meta = api.get(f"{PODS}/tagged")["metadata"]
    assert meta["labels"] == {"app": "tagged", "tier": "db"} and meta["annotations"] == {"note": "hello"}

    assert kubectl.run("label", "pod", name, ph("tier=web", "KEY=VALUE"), "--overwrite").stdout.strip() == \
        "pod/tagged labeled"
    assert kubectl.run("label", "pod", name, ph("app-", "KEY-")).stdout.strip() == "pod/tagged unlabeled"
    assert kubectl.run("annotate", "pod", name, ph("note-", "KEY-")).stdout.strip() == "pod/tagged annotated"
    meta = api.get(f"{PODS}/tagged")["metadata"]
    assert meta["labels"] == {"tier": "web"} and not meta.get("annotations")

    err = kubectl.fails("label", "pod", name, ph("tier=db", "KEY=VALUE"))
    assert "'tier' already has a value (web), and --overwrite is false" in err


def test_edit_with_kube_editor(kubectl: Kubectl, api: Api, tmp_path: Path) -> None:
    api.create(DEPLOYS, deployment("edited"))
    editor = tmp_path / "editor.py"
    editor.write_text(
        f"#!{sys.executable}\n"
        "import sys, yaml\n"
        "path = sys.argv[-1]\n"
        "lines = [l for l in open(path) if not l.startswith('#')]\n"
        "obj = yaml.safe_load(''.join(lines))\n"
        "obj['spec']['replicas'] = 5\n"
        "obj['metadata'].setdefault('labels', {})['edited'] = 'yes'\n"
        "open(path, 'w').write(yaml.safe_dump(obj))\n"
    )
    editor.chmod(editor.stat().st_mode | stat.S_IXUSR)
    out = kubectl.run("edit", ph("deployment/edited", "deployment/NAME"), env={"KUBE_EDITOR": str(editor)}).stdout
    assert out.strip() == "deployment.apps/edited edited"
    stored = api.get(f"{DEPLOYS}/edited")
    assert stored["spec"]["replicas"] == 5 and stored["metadata"]["labels"] == {"app": "edited", "edited": "yes"}


def test_patch_merge_json_strategic(kubectl: Kubectl, api: Api) -> None:
    api.create(DEPLOYS, deployment("patched", 1, [NGINX, SIDECAR]))
    name = ph("patched", "NAME")

    out = kubectl.run("patch", "deployment", name, "--type", "merge",
                      "-p", ph('{"spec":{"replicas":4},"metadata":{"labels":{"m":"1"}}}', "PATCH")).stdout
    assert out.strip() == "deployment.apps/patched patched"
    stored = api.get(f"{DEPLOYS}/patched")
    assert stored["spec"]["replicas"] == 4 and stored["metadata"]["labels"] == {"app": "patched", "m": "1"}

    out = kubectl.run("patch", "deployment", name, "--type", "json", "-p", ph(json.dumps([
        {"op": "replace", "path": "/spec/template/spec/containers/0/image", "value": "nginx:1.28"},
        {"op": "remove", "path": "/metadata/labels/m"},
    ]), "PATCH")).stdout
    assert out.strip() == "deployment.apps/patched patched"
    stored = api.get(f"{DEPLOYS}/patched")
    assert stored["spec"]["template"]["spec"]["containers"][0]["image"] == "nginx:1.28"
    assert stored["metadata"]["labels"] == {"app": "patched"}

    # Strategic merge: containers merge by name, the other container stays.
    out = kubectl.run("patch", "deployment", name, "--type", "strategic", "-p", ph(json.dumps(
        {"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "image": "busybox:1.37"}]}}}}),
        "PATCH")).stdout
    assert out.strip() == "deployment.apps/patched patched"
    containers = api.get(f"{DEPLOYS}/patched")["spec"]["template"]["spec"]["containers"]
    assert [(c["name"], c["image"]) for c in containers] == [("nginx", "nginx:1.28"), ("sidecar", "busybox:1.37")]
    assert containers[1]["command"] == ["sleep", "infinity"]

    # Strategic is kubectl's default type; $patch: delete removes one list element by its key.
    out = kubectl.run("patch", "deployment", name, "-p", ph(json.dumps(
        {"spec": {"template": {"spec": {"containers": [{"name": "sidecar", "$patch": "delete"}]}}}}),
        "PATCH")).stdout
    assert out.strip() == "deployment.apps/patched patched"
    containers = api.get(f"{DEPLOYS}/patched")["spec"]["template"]["spec"]["containers"]
    assert [c["name"] for c in containers] == ["nginx"]


def test_patch_that_changes_nothing(kubectl: Kubectl, api: Api) -> None:
    """A no-op patch leaves the object (and its resourceVersion) alone: kubectl says `(no change)`."""
    before = api.create(DEPLOYS, deployment("unpatched", 4))
    out = kubectl.run("patch", "deployment", ph("unpatched", "NAME"), "--type", "merge",
                      "-p", ph('{"spec":{"replicas":4}}', "PATCH")).stdout
    assert out.strip() == "deployment.apps/unpatched patched (no change)"
    after = api.get(f"{DEPLOYS}/unpatched")
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]


# --------------------------------------------------------------------------------------------- errors


def test_error_not_found(kubectl: Kubectl) -> None:
    err = kubectl.fails("get", "pod", ph("nope", "NAME"))
    assert err.strip() == 'Error from server (NotFound): pods "nope" not found'
    err = kubectl.fails("delete", "deployment", ph("nope", "NAME"))
    assert err.strip() == 'Error from server (NotFound): deployments.apps "nope" not found'


def test_error_already_exists(kubectl: Kubectl, tmp_path: Path) -> None:
    f = write_yaml(tmp_path / "twice.yaml", pod("twice"))
    kubectl.run("create", "-f", f)
    err = kubectl.fails("create", "-f", f)
    assert err.strip() == f'Error from server (AlreadyExists): error when creating "{f}": pods "twice" already exists'


def test_error_conflict_on_stale_replace(kubectl: Kubectl, api: Api, tmp_path: Path) -> None:
    api.create(PODS, pod("stale"))
    stale = tmp_path / "stale.yaml"
    stale.write_text(kubectl.run("get", "pod", ph("stale", "NAME"), "-o", "yaml").stdout)
    api.patch(f"{PODS}/stale", {"metadata": {"labels": {"moved": "on"}}})
    err = kubectl.fails("replace", "-f", ph(str(stale), "FILE"))
    assert err.strip() == (
        f'Error from server (Conflict): error when replacing "{stale}": Operation cannot be fulfilled on pods '
        '"stale": the object has been modified; please apply your changes to the latest version and try again')


@pytest.mark.parametrize(("body", "message"), [
    pytest.param(
        pod("Bad_Name"),
        'The Pod "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain '
        "must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an "
        "alphanumeric character (e.g. 'example.com', regex used for validation is "
        "'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')",
        id="invalid-name"),
    pytest.param(
        {**pod("nocontainers"), "spec": {"containers": []}},
        'The Pod "nocontainers" is invalid: spec.containers: Required value',
        id="missing-containers"),
])
def test_error_invalid_names_the_field(kubectl: Kubectl, tmp_path: Path, body: dict[str, Any], message: str) -> None:
    f = write_yaml(tmp_path / "invalid.yaml", body)
    err = kubectl.fails("create", "-f", f)
    assert err.strip() == message


def test_error_unknown_field_rejected_by_strict_validation(kubectl: Kubectl, tmp_path: Path) -> None:
    """kubectl's default `--validate=strict` sends fieldValidation=Strict: the server rejects an unknown field."""
    body = pod("typo")
    body["spec"]["containers"][0]["imagePullPolicyy"] = "Always"
    f = write_yaml(tmp_path / "typo.yaml", body)
    err = kubectl.fails("create", "-f", f).strip()
    assert err.startswith(f'Error from server (BadRequest): error when creating "{f}": '), err
    assert err.endswith('strict decoding error: unknown field "spec.containers[0].imagePullPolicyy"'), err


def test_what_kubectl_wrote_is_on_every_master(kubectl: Kubectl, cluster: Cluster, tmp_path: Path) -> None:
    """An object kubectl created through master 0 is readable from every master."""
    f = write_yaml(tmp_path / "cm.yaml", {"apiVersion": "v1", "kind": "ConfigMap",
                                          "metadata": {"name": "everywhere"}, "data": {"k": "v"}})
    kubectl.run("create", "-f", f)
    for i in range(3):
        resp = cluster.get(i, "/api/v1/namespaces/default/configmaps/everywhere")
        assert resp.status_code == 200 and resp.json()["data"] == {"k": "v"}


# --------------------------------------------------------------------------------------------- secrets


def test_secret_apply_get_describe_never_print_values(kubectl: Kubectl, cluster: Cluster, api: Api,
                                                      tmp_path: Path) -> None:
    """A Secret applied with stringData is stored base64 in data; `get` shows its key count and
    `describe` its byte sizes (kubectl's and minik8s'), never the values."""
    f = write_yaml(tmp_path / "secret.yaml", {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db-creds"}, "type": "Opaque",
        "stringData": {"username": "admin", "password": "hunter2-secret"}})
    # `create`, not client-side `apply`: its last-applied annotation would hold stringData in clear, as in Kubernetes
    assert kubectl.run("create", "-f", f).stdout.strip() == "secret/db-creds created"
    stored = api.get("/api/v1/namespaces/default/secrets/db-creds")
    assert stored["data"] == {"username": "YWRtaW4=", "password": "aHVudGVyMi1zZWNyZXQ="}
    assert "stringData" not in stored
    out = kubectl.run("get", "secrets").stdout
    assert columns(out) == ["NAME", "TYPE", "DATA", "AGE"]
    assert any(_row_matches(r, ["db-creds", "Opaque", "2", ANY]) for r in rows(out)), out
    described = kubectl.run("describe", "secret", ph("db-creds", "NAME")).stdout
    env = dict(os.environ, MINIK8S_SERVER=cluster.masters[0].url, MINIK8S_TOKEN=TOKEN,
               MINIK8S_CA_FILE=cluster.ca_file or "")
    ours = subprocess.run([sys.executable, "-m", "minik8s.cli.main", "describe", "secret", "db-creds"],
                          capture_output=True, text=True, env=env, timeout=60)
    assert ours.returncode == 0, ours.stderr
    for text in (described, ours.stdout):
        assert re.search(r"^password:\s+14 bytes$", text, re.M) and re.search(r"^username:\s+5 bytes$", text, re.M)
        assert "hunter2" not in text and "aHVudGVy" not in text and "admin" not in text
    bad = kubectl.run("replace", "-f", write_yaml(tmp_path / "bad.yaml", {
        "apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db-creds"}, "type": "kubernetes.io/tls"}),
        check=False)
    assert bad.returncode != 0 and "type: Invalid value" in bad.stderr and "field is immutable" in bad.stderr
