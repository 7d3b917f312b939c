"""Cluster DNS from inside pods, on both runtimes: `minik8s up`, names resolved by the pods themselves.

Each runtime gets one cluster (process: 1 master + 2 nodes, each node agent in its own network
namespace serving 169.254.20.10; Docker: 1 + 1). A client pod runs `dns_client.py` (below), which
resolves what the test asks with the C library (`getaddrinfo`, which follows the pod's
/etc/resolv.conf: nameserver, search path, ndots) or with a raw UDP query to the pod's nameserver
(rcode, SRV ports, PTR), through files in a shared hostPath directory. Services get explicit
cluster IPs and headless Services hand-made EndpointSlices, so nothing but DNS is under test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from minik8s.api.client import ApiClient
from minik8s.chaos.upcluster import UpProcess

from .cluster import wait_for
from .docker_fixture import docker_runtime  # noqa: F401  (the fixture)

Obj = dict[str, Any]

CLIENT = r'''
import json, os, random, socket, struct, sys, time

box = sys.argv[1]
TYPES = {"A": 1, "PTR": 12, "SRV": 33}


def nameserver():
    for line in open("/etc/resolv.conf"):
        fields = line.split()
        if fields[:1] == ["nameserver"]:
            return fields[1]


def skip_name(r, at):
    while True:
        if r[at] & 0xC0 == 0xC0:
            return at + 2
        if r[at] == 0:
            return at + 1
        at += 1 + r[at]


def raw(name, qtype):
    ident = random.randrange(65536)
    labels = b"".join(bytes([len(l)]) + l.encode() for l in name.rstrip(".").split("."))
    query = struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + labels + b"\0" + struct.pack("!HH", TYPES[qtype], 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        s.sendto(query, (nameserver(), 53))
        r = s.recv(4096)
    count = struct.unpack("!H", r[6:8])[0]
    at = skip_name(r, 12) + 4
    ports, names = [], []
    for _ in range(count):
        at = skip_name(r, at)
        rtype, _, _, size = struct.unpack("!HHIH", r[at:at + 10])
        at += 10
        if rtype == 33:
            ports.append(struct.unpack("!H", r[at + 4:at + 6])[0])
        if rtype == 12:
            names.append(size)
        at += size
    return {"rcode": r[3] & 0xF, "count": count, "ports": ports}


def lookup(name):
    try:
        found = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_STREAM)
        return {"ips": sorted({a[4][0] for a in found})}
    except socket.gaierror as exc:
        return {"error": exc.errno}


def handle(ask):
    if ask["op"] == "lookup":
        return lookup(ask["name"])
    if ask["op"] == "raw":
        return raw(ask["name"], ask["type"])
    if ask["op"] == "until":  # resolve until it answers; when did it first?
        deadline = time.time() + ask["timeout"]
        while time.time() < deadline:
            got = lookup(ask["name"])
            if "ips" in got:
                return {**got, "at": time.time()}
            time.sleep(0.01)
        return {"error": "timeout"}
    if ask["op"] == "resolvconf":
        return {"text": open("/etc/resolv.conf").read()}


open(os.path.join(box, "ready"), "w").close()
while True:
    for name in sorted(os.listdir(box)):
        if not (name.startswith("ask-") and name.endswith(".json")):
            continue
        path = os.path.join(box, name)
        ask = json.load(open(path))
        os.remove(path)
        try:
            answer = handle(ask)
        except Exception as exc:
            answer = {"exception": repr(exc)}
        tmp = os.path.join(box, "tmp-" + name)
        json.dump(answer, open(tmp, "w"))
        os.replace(tmp, os.path.join(box, name.replace("ask-", "answer-")))
    time.sleep(0.01)
'''

EAI_NONAME = -2


@dataclass
class Env:
    """A cluster of one runtime, this module's namespace, and the client pod's mailbox."""

    kind: str
    up: UpProcess
    client: ApiClient
    namespace: str
    shared: Path
    box: Path
    python: list[str]
    python_image: str
    shell_image: str

    def ask(self, timeout: float = 30, **request: Any) -> Obj:
        name = f"{uuid.uuid4().hex[:10]}.json"
        tmp = self.box / f"tmp-q-{name}"
        tmp.write_text(json.dumps(request))
        os.replace(tmp, self.box / f"ask-{name}")
        answer = self.box / f"answer-{name}"
        wait_for(answer.exists, timeout=timeout, interval=0.02, what=f"the client pod to answer {request}")
        return json.loads(answer.read_text())

    def lookup(self, name: str) -> Obj:
        return self.ask(op="lookup", name=name)

    def raw(self, name: str, qtype: str = "A") -> Obj:
        return self.ask(op="raw", name=name, type=qtype)

    def pod(self, name: str, containers: list[Obj], labels: dict[str, str] | None = None, **spec: Any) -> Obj:
        for container in containers:
            container.setdefault("volumeMounts", []).append({"name": "shared", "mountPath": str(self.shared)})
        body = {"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": self.namespace, "labels": labels or {}},
                "spec": {"containers": containers, "terminationGracePeriodSeconds": 1,
                         "volumes": [{"name": "shared", "hostPath": {"path": str(self.shared)}}], **spec}}
        return self.client.create(body)

    def service(self, name: str, cluster_ip: str, ports: list[Obj] | None = None) -> Obj:
        return self.client.create({"apiVersion": "v1", "kind": "Service",
                                   "metadata": {"name": name, "namespace": self.namespace},
                                   "spec": {"clusterIP": cluster_ip, "clusterIPs": [cluster_ip],
                                            "ports": ports or [{"name": "http", "port": 80, "protocol": "TCP",
                                                                "targetPort": 8080}]}})


@pytest.fixture(scope="module", params=["process", "docker"])
def env(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    if os.geteuid() != 0:
        pytest.skip("`minik8s up` needs root")
    kind = request.param
    if kind == "docker":
        request.getfixturevalue("docker_runtime")  # skips when there is no engine
        args = ["--masters", "1", "--nodes", "1", "--runtime", "docker"]
    else:
        args = ["--masters", "1", "--nodes", "2", "--runtime", "process"]
    root = tmp_path_factory.mktemp(f"dns-{kind}")
    shared = root / "shared"
    shared.mkdir()
    box = shared / "box"
    box.mkdir()
    (shared / "dns_client.py").write_text(CLIENT)
    up = UpProcess(root / "data", *args)
    namespace = f"dns-{uuid.uuid4().hex[:6]}"
    try:
        up.client.create({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": namespace}})
        docker = kind == "docker"
        e = Env(kind, up, up.client, namespace, shared, box, ["python3"] if docker else [sys.executable],
                "minik8s/python:3.11" if docker else "python", "minik8s/busybox:latest" if docker else "busybox")
        e.pod("client", [{"name": "c", "image": e.python_image,
                          "command": [*e.python, str(shared / "dns_client.py"), str(box)]}],
              labels={"app": "dns-client"})
        wait_for((box / "ready").exists, timeout=90, interval=0.2, what="the client pod to start")
        yield e
    finally:
        up.stop()
    if kind == "docker":  # the node-local address lives in the node hosts' namespaces, never this machine's
        shown = subprocess.run(["ip", "-o", "addr", "show", "dev", "lo"], capture_output=True, text=True, check=True)
        assert "169.254.20.10/32" not in shown.stdout


def test_a_pod_gets_the_cluster_resolv_conf(env: Env) -> None:
    text = env.ask(op="resolvconf")["text"]
    lines = text.splitlines()
    assert lines[0] == "nameserver 169.254.20.10" and len([x for x in lines if x.startswith("nameserver")]) == 1
    search = next(x for x in lines if x.startswith("search ")).split()[1:]
    assert search[:3] == [f"{env.namespace}.svc.cluster.local", "svc.cluster.local", "cluster.local"]
    assert "options ndots:5" in lines


def test_service_names_resolve_through_the_search_path_srv_and_ptr(env: Env) -> None:
    env.service("web", "10.96.222.10", [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": 8080},
                                        {"name": "metrics", "port": 9100, "protocol": "TCP"}])
    ns = env.namespace
    for name in ("web", f"web.{ns}", f"web.{ns}.svc", f"web.{ns}.svc.cluster.local",
                 f"web.{ns}.svc.cluster.local."):
        assert wait_for(lambda n=name: env.lookup(n).get("ips"), timeout=10, what=name) == ["10.96.222.10"], name
    srv = env.raw(f"_metrics._tcp.web.{ns}.svc.cluster.local", "SRV")
    assert (srv["rcode"], srv["ports"]) == (0, [9100])
    assert env.raw("10.222.96.10.in-addr.arpa", "PTR")["count"] == 1


def test_a_headless_service_answers_its_ready_pods(env: Env) -> None:
    env.client.create({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "db", "namespace": env.namespace},
                       "spec": {"clusterIP": "None", "ports": [{"name": "pg", "port": 5432}]}})
    env.client.create({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": {"name": "db-1", "namespace": env.namespace, "labels": {"kubernetes.io/service-name": "db"}},
        "addressType": "IPv4", "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}],
        "endpoints": [{"addresses": ["10.244.7.1"], "hostname": "db-0", "conditions": {"ready": True}},
                      {"addresses": ["10.244.7.2"], "conditions": {"ready": True}},
                      {"addresses": ["10.244.7.3"], "conditions": {"ready": False}}]})
    got = wait_for(lambda: env.lookup("db").get("ips"), timeout=10, what="db")
    assert got == ["10.244.7.1", "10.244.7.2"]
    assert env.lookup(f"db-0.db.{env.namespace}.svc.cluster.local")["ips"] == ["10.244.7.1"]
    srv = env.raw(f"_pg._tcp.db.{env.namespace}.svc.cluster.local", "SRV")
    assert (srv["rcode"], srv["ports"]) == (0, [5432, 5432])


def test_unknown_names_get_nxdomain(env: Env) -> None:
    assert env.raw(f"nope.{env.namespace}.svc.cluster.local")["rcode"] == 3
    assert env.raw("nope.no-such-namespace.svc.cluster.local")["rcode"] == 3
    assert env.lookup(f"nope.{env.namespace}.svc.cluster.local.") == {"error": EAI_NONAME}


def test_a_new_service_resolves_within_a_second(env: Env) -> None:
    name = f"fresh-{uuid.uuid4().hex[:4]}"
    request = f"{uuid.uuid4().hex[:10]}.json"
    # the full name: a short one would also be tried as a top-level name, which goes upstream (none
    # answers in a sandbox without a network: each try would wait for the forwarder's deadline)
    fqdn = f"{name}.{env.namespace}.svc.cluster.local."
    (env.box / f"tmp-q-{request}").write_text(json.dumps({"op": "until", "name": fqdn, "timeout": 20}))
    os.replace(env.box / f"tmp-q-{request}", env.box / f"ask-{request}")
    wait_for(lambda: not (env.box / f"ask-{request}").exists(), timeout=10, what="the client to start asking")
    created = time.time()
    env.service(name, "10.96.222.77")
    answer = env.box / f"answer-{request}"
    wait_for(answer.exists, timeout=30, what=f"{name} to resolve")
    got = json.loads(answer.read_text())
    assert got["ips"] == ["10.96.222.77"]
    assert got["at"] - created < 1.0, got["at"] - created  # the acceptance: within 1 s of creation


def test_dns_policies_default_and_none_with_dns_config(env: Env) -> None:
    default, none = env.box / "default.conf", env.box / "none.conf"
    env.pod("default-dns", [{"name": "c", "image": env.shell_image,
                             "command": ["sh", "-c", f"cat /etc/resolv.conf > {default}.tmp; mv {default}.tmp {default}; "
                                                     "exec sleep 600"]}], dnsPolicy="Default")
    env.pod("none-dns", [{"name": "c", "image": env.shell_image,
                          "command": ["sh", "-c", f"cat /etc/resolv.conf > {none}.tmp; mv {none}.tmp {none}; "
                                                  "exec sleep 600"]}],
            dnsPolicy="None", dnsConfig={"nameservers": ["192.0.2.53"], "searches": ["corp.example"],
                                         "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}]})
    wait_for(lambda: default.exists() and none.exists(), timeout=60, interval=0.2, what="the two pods to start")
    assert none.read_text() == "nameserver 192.0.2.53\nsearch corp.example\noptions ndots:2 edns0\n"
    node_servers = [line.split()[1] for line in Path("/etc/resolv.conf").read_text().splitlines()
                    if line.startswith("nameserver")]
    pod_servers = [line.split()[1] for line in default.read_text().splitlines() if line.startswith("nameserver")]
    assert pod_servers == node_servers[:3] and "169.254.20.10" not in pod_servers


def test_an_ingress_host_resolves_to_the_node(env: Env) -> None:
    env.client.create({"apiVersion": "networking.k8s.io/v1", "kind": "Ingress",
                       "metadata": {"name": "app", "namespace": env.namespace},
                       "spec": {"rules": [{"host": "myapp.example", "http": {"paths": [
                           {"path": "/", "pathType": "Prefix",
                            "backend": {"service": {"name": "web", "port": {"number": 80}}}}]}}]}})
    host_ip = env.client.get("pods", "client", namespace=env.namespace)["status"]["hostIP"]
    assert wait_for(lambda: env.lookup("myapp.example").get("ips"), timeout=10, what="myapp.example") == [host_ip]


def test_a_headless_service_with_a_selector_answers_its_pods_from_the_endpointslice_controller(env: Env) -> None:
    env.client.create({"apiVersion": "v1", "kind": "Service",
                       "metadata": {"name": "peers", "namespace": env.namespace},
                       "spec": {"clusterIP": "None", "selector": {"app": "dns-client"},
                                "ports": [{"name": "x", "port": 7000}]}})
    pod_ip = env.client.get("pods", "client", namespace=env.namespace)["status"]["podIP"]
    assert wait_for(lambda: env.lookup("peers").get("ips"), timeout=15, what="peers") == [pod_ip]
