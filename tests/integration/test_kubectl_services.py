"""The real kubectl against a master with its controllers: `expose`, `create service`, and the
`get svc`/`get endpoints`/`get endpointslices` tables as kubectl prints them against Kubernetes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from .cluster import TOKEN, Cluster, running, wait_for
from .kubectl_support import Kubectl, columns, finish_module, ph, rows

AGE = re.compile(r"^\d+(s|m|h|d|y)(\d+(s|m|h))?$")
IP = re.compile(r"^10\.(9[6-9]|10[0-9]|11[01])\.\d+\.\d+$")  # in 10.96.0.0/12
PODS = "/api/v1/namespaces/default/pods"


@pytest.fixture(scope="module", autouse=True)
def _record_calls(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    yield
    finish_module(tmp_path_factory.getbasetemp())


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with running(tmp_path_factory.mktemp("kubectl-svc") / "cluster", 1, tls=True) as c:
        yield c


@pytest.fixture(scope="module")
def kubectl(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Kubectl:
    assert cluster.ca_file is not None
    return Kubectl(tmp_path_factory.mktemp("kubectl-home"), cluster.masters[0].url, TOKEN,
                   ca_file=Path(cluster.ca_file))


def row_of(out: str, name: str) -> list[str]:
    found = [r for r in rows(out) if r[0] == name]
    assert found, f"no row {name} in:\n{out}"
    return found[0]


def ready_pod(cluster: Cluster, name: str, labels: dict[str, str], ip: str) -> None:
    """A pod whose status is written as a node agent writes it (Running, Ready, an IP)."""
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"nodeName": "node-x", "containers": [{"name": "c", "image": "busybox"}]}}
    pod = cluster.post(0, PODS, body).json()
    pod["status"] = {"phase": "Running", "podIP": ip, "conditions": [{"type": "Ready", "status": "True"}]}
    assert cluster.session.put(cluster.masters[0].url + f"{PODS}/{name}/status", json=pod, timeout=10).ok


def test_expose_deployment_and_endpoints_tables(kubectl: Kubectl, cluster: Cluster, tmp_path: Path) -> None:
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                  "spec": {"replicas": 0, "selector": {"matchLabels": {"app": "web"}},
                           "template": {"metadata": {"labels": {"app": "web"}},
                                        "spec": {"containers": [{"name": "c", "image": "busybox:1.36"}]}}}}
    manifest = tmp_path / "web.yaml"
    manifest.write_text(yaml.safe_dump(deployment))
    kubectl.run("apply", "-f", ph(str(manifest), "FILE"))
    out = kubectl.run("expose", "deployment", ph("web", "NAME"), "--port=80", "--target-port=8080").stdout
    assert out.strip() == "service/web exposed"
    out = kubectl.run("get", "svc", ph("web", "NAME")).stdout
    assert columns(out) == ["NAME", "TYPE", "CLUSTER-IP", "EXTERNAL-IP", "PORT(S)", "AGE"]
    name, kind, ip, external, ports, age = row_of(out, "web")
    assert (kind, external, ports) == ("ClusterIP", "<none>", "80/TCP") and IP.match(ip) and AGE.match(age)
    kubernetes = row_of(kubectl.run("get", "svc").stdout, "kubernetes")
    assert kubernetes[1:5] == ["ClusterIP", "10.96.0.1", "<none>", "443/TCP"]

    ready_pod(cluster, "web-1", {"app": "web"}, "10.244.0.21")
    ready_pod(cluster, "web-2", {"app": "web"}, "10.244.0.22")

    def endpoints_table() -> Any:
        text = kubectl.run("get", "endpoints", ph("web", "NAME"), record=False, check=False).stdout
        return text if "10.244.0.22" in text else None

    wait_for(endpoints_table, timeout=15, what="endpoints of web")
    out = kubectl.run("get", "endpoints", ph("web", "NAME")).stdout
    assert columns(out) == ["NAME", "ENDPOINTS", "AGE"]
    assert row_of(out, "web")[1] == "10.244.0.21:8080,10.244.0.22:8080"
    out = kubectl.run("get", "endpointslices", "-l", "kubernetes.io/service-name=web").stdout
    assert columns(out) == ["NAME", "ADDRESSTYPE", "PORTS", "ENDPOINTS", "AGE"]
    (row,) = rows(out)
    assert row[0].startswith("web-") and row[1:4] == ["IPv4", "8080", "10.244.0.21,10.244.0.22"]
    out = kubectl.run("describe", "svc", ph("web", "NAME")).stdout
    assert re.search(r"Endpoints:\s+10\.244\.0\.21:8080,10\.244\.0\.22:8080", out), out


def test_create_service_nodeport_conflict_and_headless(kubectl: Kubectl) -> None:
    out = kubectl.run("create", "service", "nodeport", ph("np", "NAME"), "--tcp=80:8080",
                      "--node-port=30555").stdout
    assert out.strip() == "service/np created"
    row = row_of(kubectl.run("get", "svc", ph("np", "NAME")).stdout, "np")
    assert row[1] == "NodePort" and row[4] == "80:30555/TCP"
    err = kubectl.fails("create", "service", "nodeport", ph("np2", "NAME"), "--tcp=81:8080", "--node-port=30555")
    assert ('error: failed to create NodePort service: Service "np2" is invalid: spec.ports[0].nodePort: Invalid '
            "value: 30555: provided port is already allocated") in err
    kubectl.run("create", "service", "clusterip", ph("hl", "NAME"), "--clusterip=None", "--tcp=80:80")
    row = row_of(kubectl.run("get", "svc", ph("hl", "NAME")).stdout, "hl")
    assert row[1:5] == ["ClusterIP", "None", "<none>", "80/TCP"]
    kubectl.run("create", "service", "clusterip", ph("fixed", "NAME"), "--clusterip=10.96.100.100", "--tcp=80:80")
    err = kubectl.fails("create", "service", "clusterip", ph("fixed2", "NAME"), "--clusterip=10.96.100.100",
                        "--tcp=80:80")
    assert ('spec.clusterIPs: Invalid value: []string{"10.96.100.100"}: failed to allocate IP 10.96.100.100: '
            "provided IP is already allocated") in err
    kubectl.run("delete", "svc", ph("fixed", "NAME"))
    kubectl.run("create", "service", "clusterip", ph("fixed2", "NAME"), "--clusterip=10.96.100.100", "--tcp=80:80")
