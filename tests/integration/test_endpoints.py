"""The Endpoints and EndpointSlice controllers on real masters: slices follow pods (the kubelet's
status writes made here through the API, as a node agent makes them)."""

from __future__ import annotations

from typing import Any

import pytest

from .cluster import Cluster, running, wait_for

PODS = "/api/v1/namespaces/default/pods"
SVCS = "/api/v1/namespaces/default/services"
EPS = "/api/v1/namespaces/default/endpoints"
SLICES = "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Any:
    with running(tmp_path_factory.mktemp("endpoints"), 1) as c:
        yield c


def make_pod(cluster: Cluster, name: str, labels: dict[str, str], *, port: int = 8080, **spec: Any) -> None:
    body = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": labels},
            "spec": {"nodeName": "node-x", "containers": [{"name": "c", "image": "busybox", "ports": [
                {"name": "http", "containerPort": port}]}], **spec}}
    assert cluster.post(0, PODS, body).status_code == 201


def set_status(cluster: Cluster, name: str, ip: str, ready: bool) -> None:
    """What the kubelet writes: phase, pod IP, the Ready condition."""
    pod = cluster.get(0, f"{PODS}/{name}").json()
    pod["status"] = {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}],
                     "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}
    resp = cluster.session.put(cluster.masters[0].url + f"{PODS}/{name}/status", json=pod, timeout=10)
    assert resp.status_code == 200, resp.text


def slices_of(cluster: Cluster, service: str) -> list[dict[str, Any]]:
    items = cluster.get(0, f"{SLICES}?labelSelector=kubernetes.io/service-name={service}").json()["items"]
    return items


def endpoint_conditions(cluster: Cluster, service: str) -> dict[str, dict[str, bool]]:
    return {e["addresses"][0]: e["conditions"] for s in slices_of(cluster, service) for e in s.get("endpoints") or []}


def test_slices_and_endpoints_follow_pods(cluster: Cluster) -> None:
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "labels": {"team": "a"}},
           "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80, "targetPort": "http"}]}}
    created = cluster.post(0, SVCS, svc).json()
    placeholder = wait_for(lambda: slices_of(cluster, "web"), timeout=10, what="the placeholder slice")
    assert placeholder[0]["endpoints"] in (None, [])
    make_pod(cluster, "web-a", {"app": "web"})
    make_pod(cluster, "web-b", {"app": "web"}, port=9090)
    make_pod(cluster, "other", {"app": "other"})
    set_status(cluster, "web-a", "10.244.0.10", ready=True)
    set_status(cluster, "web-b", "10.244.0.11", ready=False)
    set_status(cluster, "other", "10.244.0.12", ready=True)

    wait_for(lambda: len(endpoint_conditions(cluster, "web")) == 2, timeout=10, what="two endpoints")
    slices = slices_of(cluster, "web")
    assert len(slices) == 2  # named targetPort resolved per pod: two port sets
    by_port = {s["ports"][0]["port"]: s for s in slices}
    assert set(by_port) == {8080, 9090}
    a = by_port[8080]
    assert a["addressType"] == "IPv4" and a["ports"] == [{"name": "http", "port": 8080, "protocol": "TCP"}]
    assert a["metadata"]["labels"] == {"team": "a", "kubernetes.io/service-name": "web",
                                       "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io"}
    assert a["metadata"]["ownerReferences"][0]["uid"] == created["metadata"]["uid"]
    (endpoint,) = a["endpoints"]
    assert endpoint["nodeName"] == "node-x" and endpoint["targetRef"]["name"] == "web-a"
    assert endpoint["conditions"] == {"ready": True, "serving": True, "terminating": False}
    assert by_port[9090]["endpoints"][0]["conditions"] == {"ready": False, "serving": False, "terminating": False}

    def endpoints() -> Any:
        ep = cluster.get(0, f"{EPS}/web").json()
        return ep if len(ep.get("subsets") or []) == 2 else None

    ep = wait_for(endpoints, timeout=10, what="the Endpoints")
    assert "endpoints.kubernetes.io/last-change-trigger-time" in ep["metadata"]["annotations"]
    assert ep["metadata"]["labels"] == {"team": "a"}
    ready = [s for s in ep["subsets"] if s.get("addresses")]
    assert ready[0]["addresses"][0]["ip"] == "10.244.0.10" and ready[0]["ports"][0]["port"] == 8080
    not_ready = [s for s in ep["subsets"] if s.get("notReadyAddresses")]
    assert not_ready[0]["notReadyAddresses"][0]["ip"] == "10.244.0.11"

    # ready -> not ready -> ready; then deleted (graceful: terminating first)
    set_status(cluster, "web-a", "10.244.0.10", ready=False)
    wait_for(lambda: endpoint_conditions(cluster, "web")["10.244.0.10"]["ready"] is False, timeout=5,
             what="not ready")
    set_status(cluster, "web-a", "10.244.0.10", ready=True)
    wait_for(lambda: endpoint_conditions(cluster, "web")["10.244.0.10"]["ready"], timeout=5, what="ready again")
    resp = cluster.session.delete(cluster.masters[0].url + f"{PODS}/web-a", timeout=10)
    assert resp.status_code == 200
    wait_for(lambda: endpoint_conditions(cluster, "web").get("10.244.0.10") ==
             {"ready": False, "serving": True, "terminating": True}, timeout=5, what="terminating")
    wait_for(lambda: "10.244.0.10" not in str(cluster.get(0, f"{EPS}/web").json()), timeout=5,
             what="left the Endpoints")
    cluster.session.delete(cluster.masters[0].url + f"{PODS}/web-a", json={"gracePeriodSeconds": 0}, timeout=10)
    wait_for(lambda: "10.244.0.10" not in endpoint_conditions(cluster, "web"), timeout=5, what="gone")

    # the Service goes: its Endpoints are deleted, its slices collected with it
    assert cluster.session.delete(cluster.masters[0].url + f"{SVCS}/web", timeout=10).status_code == 200
    wait_for(lambda: cluster.get(0, f"{EPS}/web").status_code == 404, timeout=10, what="Endpoints deleted")
    wait_for(lambda: not slices_of(cluster, "web"), timeout=20, what="slices collected")


def test_services_without_selector_are_left_alone(cluster: Cluster) -> None:
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "manual"},
           "spec": {"ports": [{"port": 80}]}}
    assert cluster.post(0, SVCS, svc).status_code == 201
    mine = {"apiVersion": "v1", "kind": "Endpoints", "metadata": {"name": "manual"},
            "subsets": [{"addresses": [{"ip": "192.0.2.1"}], "ports": [{"port": 80}]}]}
    assert cluster.post(0, EPS, mine).status_code == 201
    wait_for(lambda: cluster.get(0, f"{SLICES}").status_code == 200, timeout=5)
    make_pod(cluster, "trigger", {"app": "whatever"})
    external = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "ext"},
                "spec": {"type": "ExternalName", "externalName": "db.example.com", "selector": {"app": "whatever"}}}
    assert cluster.post(0, SVCS, external).status_code == 201
    selected = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "selected"},
                "spec": {"selector": {"app": "whatever"}, "ports": [{"port": 80}]}}
    assert cluster.post(0, SVCS, selected).status_code == 201
    wait_for(lambda: slices_of(cluster, "selected"), timeout=10, what="a slice for a selecting Service")
    assert cluster.get(0, f"{EPS}/manual").json()["subsets"][0]["addresses"] == [{"ip": "192.0.2.1"}]
    assert not slices_of(cluster, "manual")
    assert not slices_of(cluster, "ext")  # ExternalName: no slices, as upstream


@pytest.mark.slow  # 10 s; slicing at 100 endpoints is unit-tested
def test_more_than_100_endpoints_split_into_slices(cluster: Cluster) -> None:
    svc = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "many"},
           "spec": {"selector": {"app": "many"}, "ports": [{"port": 80, "targetPort": 8080}]}}
    assert cluster.post(0, SVCS, svc).status_code == 201
    for i in range(130):
        make_pod(cluster, f"many-{i}", {"app": "many"})
        set_status(cluster, f"many-{i}", f"10.244.{1 + i // 200}.{i % 200 + 1}", ready=True)
    wait_for(lambda: len(endpoint_conditions(cluster, "many")) == 130, timeout=30, what="130 endpoints")
    sizes = sorted(len(s["endpoints"]) for s in slices_of(cluster, "many"))
    assert sizes == [30, 100] or (len(sizes) == 2 and max(sizes) <= 100 and sum(sizes) == 130)
