"""Service cluster IPs and node ports on real masters: never handed out twice, across masters and failover."""

from __future__ import annotations

import ipaddress
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests

from .cluster import Cluster, running, wait_for

SVC_PATH = "/api/v1/namespaces/default/services"


def service(name: str, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"ports": [{"port": 80, "targetPort": 8080}], "selector": {"app": name}}
    body.update(spec)
    return {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": body}


def create_through(cluster: Cluster, master: int, body: dict[str, Any]) -> requests.Response:
    """POST through one master, retrying only while that master cannot reach a quorum (failover)."""
    session = requests.Session()
    session.trust_env = False
    session.headers.update(cluster.session.headers)
    try:
        for _ in range(60):
            m = cluster.masters[master]
            if not m.alive:
                master = (master + 1) % len(cluster.masters)
                continue
            try:
                resp = session.post(m.url + SVC_PATH, json=body, timeout=15)
            except requests.RequestException:
                master = (master + 1) % len(cluster.masters)
                continue
            if resp.status_code in (500, 503, 504) and "quorum" in resp.text or resp.status_code == 503:
                master = (master + 1) % len(cluster.masters)
                continue
            if resp.status_code == 409 and "already exists" in resp.text:
                return session.get(m.url + f"{SVC_PATH}/{body['metadata']['name']}", timeout=10)
            return resp
        raise AssertionError(f"no master answered for {body['metadata']['name']}")
    finally:
        session.close()


def all_services(cluster: Cluster, master: int = 0) -> list[dict[str, Any]]:
    return cluster.get(master, SVC_PATH).json()["items"]


def assert_distinct(services: list[dict[str, Any]]) -> None:
    ips = [s["spec"]["clusterIP"] for s in services]
    assert len(ips) == len(set(ips)), "a cluster IP was handed out twice"
    ports = [p["nodePort"] for s in services for p in s["spec"].get("ports") or [] if p.get("nodePort")]
    assert len(ports) == len(set(ports)), "a node port was handed out twice"


def test_concurrent_creates_through_three_masters_never_share_an_ip(tmp_path: Path) -> None:
    with running(tmp_path, 3) as cluster:
        kubernetes = wait_for(lambda: cluster.get(0, f"{SVC_PATH}/kubernetes").json().get("spec"), timeout=20,
                              what="the kubernetes Service")
        assert kubernetes["clusterIP"] == "10.96.0.1"
        assert kubernetes["ports"][0]["name"] == "https" and kubernetes["ports"][0]["port"] == 443
        names = [f"s{i}" for i in range(200)]
        with ThreadPoolExecutor(12) as pool:
            kinds = ["NodePort" if i % 4 == 0 else "ClusterIP" for i in range(200)]
            answers = list(pool.map(lambda i: create_through(cluster, i % 3, service(names[i], type=kinds[i])),
                                    range(200)))
        assert [a.status_code for a in answers] == [201] * 200, [a.text for a in answers if a.status_code != 201][:3]
        created = [a.json() for a in answers]
        for svc in created:
            spec = svc["spec"]
            assert ipaddress.ip_address(spec["clusterIP"]) in ipaddress.ip_network("10.96.0.0/12")
            assert spec["clusterIPs"] == [spec["clusterIP"]]
            assert spec["ipFamilies"] == ["IPv4"] and spec["ipFamilyPolicy"] == "SingleStack"
        assert_distinct(created + [{"spec": kubernetes}])
        for i in range(3):  # every master's replica agrees
            wait_for(lambda i=i: len(all_services(cluster, i)) == 201, timeout=10, what="replicas agree")
        assert_distinct(all_services(cluster, 1))

        # delete and reuse: the freed values may be taken again, still never twice at once
        with ThreadPoolExecutor(12) as pool:
            gone = list(pool.map(lambda n: cluster.session.delete(cluster.masters[0].url + f"{SVC_PATH}/{n}",
                                                                  timeout=15), names[:100]))
        assert all(r.status_code == 200 for r in gone)
        freed_ip = created[0]["spec"]["clusterIP"]
        reuse = create_through(cluster, 2, service("reuse", clusterIP=freed_ip))
        assert reuse.status_code == 201, reuse.text
        with ThreadPoolExecutor(12) as pool:
            again = list(pool.map(lambda i: create_through(cluster, i % 3, service(f"t{i}", type="NodePort")),
                                  range(100)))
        assert all(a.status_code == 201 for a in again)
        assert_distinct(all_services(cluster, 0))


def test_requested_values_conflicts_and_type_changes(tmp_path: Path) -> None:
    with running(tmp_path, 1) as cluster:
        first = cluster.post(0, SVC_PATH, service("a", type="NodePort", clusterIP="10.96.5.5",
                                                  ports=[{"port": 80, "nodePort": 30080}]))
        assert first.status_code == 201, first.text
        assert first.json()["spec"]["clusterIP"] == "10.96.5.5"
        taken_ip = cluster.post(0, SVC_PATH, service("b", clusterIP="10.96.5.5"))
        assert taken_ip.status_code == 422
        assert ('spec.clusterIPs: Invalid value: []string{"10.96.5.5"}: failed to allocate IP 10.96.5.5: '
                "provided IP is already allocated") in taken_ip.json()["message"]
        outside = cluster.post(0, SVC_PATH, service("c", clusterIP="192.168.1.1"))
        assert outside.status_code == 422
        assert "the provided IP (192.168.1.1) is not in the valid range. The range of valid IPs is 10.96.0.0/12" \
            in outside.json()["message"]
        taken_port = cluster.post(0, SVC_PATH, service("d", type="NodePort", ports=[{"port": 81, "nodePort": 30080}]))
        assert taken_port.status_code == 422
        assert "spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated" \
            in taken_port.json()["message"]
        headless = cluster.post(0, SVC_PATH, service("h", clusterIP="None"))
        assert headless.status_code == 201 and headless.json()["spec"]["clusterIPs"] == ["None"]

        # an update without the allocated values keeps them; a type change to ClusterIP frees the node port
        current = cluster.get(0, f"{SVC_PATH}/a").json()
        current["spec"]["ports"] = [{"port": 80}]
        current["spec"].pop("clusterIP")
        current["spec"].pop("clusterIPs")
        kept = cluster.session.put(cluster.masters[0].url + f"{SVC_PATH}/a", json=current, timeout=10)
        assert kept.status_code == 200, kept.text
        assert kept.json()["spec"]["clusterIP"] == "10.96.5.5" and kept.json()["spec"]["ports"][0]["nodePort"] == 30080
        patched = cluster.session.patch(cluster.masters[0].url + f"{SVC_PATH}/a", json={"spec": {"type": "ClusterIP"}},
                                        headers={"Content-Type": "application/merge-patch+json"}, timeout=10)
        assert patched.status_code == 200, patched.text
        assert "nodePort" not in patched.json()["spec"]["ports"][0]
        reuse = cluster.post(0, SVC_PATH, service("d", type="NodePort", ports=[{"port": 81, "nodePort": 30080}]))
        assert reuse.status_code == 201, reuse.text
        # deleting frees the address
        assert cluster.session.delete(cluster.masters[0].url + f"{SVC_PATH}/a", timeout=10).status_code == 200
        assert cluster.post(0, SVC_PATH, service("b", clusterIP="10.96.5.5")).status_code == 201


def test_kubernetes_service_points_at_every_master(tmp_path: Path) -> None:
    with running(tmp_path, 3) as cluster:
        ports = sorted(m.api_port for m in cluster.masters)

        def endpoints() -> Any:
            ep = cluster.get(0, "/api/v1/namespaces/default/endpoints/kubernetes").json()
            got = sorted(p["port"] for s in ep.get("subsets") or [] for p in s["ports"])
            return ep if got == ports else None

        def slice_ports() -> list[int]:
            slices = cluster.get(0, "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices").json()["items"]
            mine = [s for s in slices if s["metadata"]["labels"].get("kubernetes.io/service-name") == "kubernetes"]
            return sorted(s["ports"][0]["port"] for s in mine)

        ep = wait_for(endpoints, timeout=30, what="kubernetes endpoints with every master")
        assert all(s["addresses"] == [{"ip": "127.0.0.1"}] for s in ep["subsets"])
        # the slices follow the Endpoints (another write): wait for them too, then they match exactly
        wait_for(lambda: slice_ports() == ports, timeout=30, what="an EndpointSlice per master")


def test_failover_mid_burst_never_duplicates(tmp_path: Path) -> None:
    with running(tmp_path, 3) as cluster:
        leader = cluster.leader_index()
        with ThreadPoolExecutor(9) as pool:
            futures = [pool.submit(create_through, cluster, i % 3, service(f"f{i}", type="NodePort"))
                       for i in range(150)]
            wait_for(lambda: len(all_services(cluster, leader)) >= 30, timeout=30, what="burst under way")
            cluster.kill(leader)
            at_kill = sum(f.done() for f in futures)
        assert at_kill < 150, "the burst ended before the leader was killed"
        answers = [f.result() for f in futures]
        assert all(a.status_code in (200, 201) for a in answers), [a.text for a in answers if a.status_code >= 300][:3]
        survivor = next(i for i, m in enumerate(cluster.masters) if m.alive)
        wait_for(lambda: len([s for s in all_services(cluster, survivor) if s["metadata"]["name"].startswith("f")])
                 == 150, timeout=20, what="all 150 Services")
        assert_distinct(all_services(cluster, survivor))
        cluster.start(leader)
        cluster.wait_ready(indices=[leader])
        wait_for(lambda: len(all_services(cluster, leader)) == len(all_services(cluster, survivor)), timeout=30,
                 what="the restarted master caught up")
        assert_distinct(all_services(cluster, leader))
