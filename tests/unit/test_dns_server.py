"""Cluster DNS: records built from objects, answers as CoreDNS gives them, real UDP/TCP packets on loopback."""

from __future__ import annotations

import socket
import struct
import threading
import time
from collections.abc import Iterator

import pytest
from dnslib import EDNS0, QTYPE, RCODE, DNSRecord

from minik8s.node.dns.feed import ingress_host, ingress_hosts
from minik8s.node.dns.forward import Forwarder, read_nameservers
from minik8s.node.dns.records import ClusterRecords
from minik8s.node.dns.resolver import ZoneSettings
from minik8s.node.dns.server import DnsServer, ServerSettings


def service(name: str, ns: str = "default", *, ip: str | None = "10.96.0.10", ports: list | None = None,
            **spec: object) -> dict:
    body: dict = {"ports": ports if ports is not None else [{"name": "http", "port": 80, "protocol": "TCP"}], **spec}
    if ip is not None:
        body["clusterIP"] = ip
        body["clusterIPs"] = [ip] if ip != "None" else ["None"]
    return {"metadata": {"name": name, "namespace": ns}, "spec": body}


def endpoint_slice(name: str, svc: str, endpoints: list[tuple[str, str | None, bool | None]], ns: str = "default",
                   ports: list | None = None) -> dict:
    items = []
    for ip, hostname, ready in endpoints:
        item: dict = {"addresses": [ip]}
        if hostname:
            item["hostname"] = hostname
        if ready is not None:
            item["conditions"] = {"ready": ready}
        items.append(item)
    return {"metadata": {"name": name, "namespace": ns, "labels": {"kubernetes.io/service-name": svc}},
            "addressType": "IPv4", "endpoints": items,
            "ports": ports if ports is not None else [{"name": "http", "port": 8080, "protocol": "TCP"}]}


def namespace(name: str) -> dict:
    return {"metadata": {"name": name}}


@pytest.fixture
def records() -> ClusterRecords:
    r = ClusterRecords()
    for ns in ("default", "kube-system", "other"):
        r.set_namespace(namespace(ns))
    r.set_service(service("web", ports=[{"name": "http", "port": 80, "protocol": "TCP"},
                                        {"name": "dns", "port": 53, "protocol": "UDP"}]))
    r.set_service(service("db", ip="None", ports=[{"name": "pg", "port": 5432}]))
    r.set_slice(endpoint_slice("db-abc", "db", [("10.244.1.5", "db-0", True), ("10.244.2.6", None, None),
                                               ("10.244.3.7", "db-2", False)],
                               ports=[{"name": "pg", "port": 5432, "protocol": "TCP"}]))
    r.set_service(service("ext", type="ExternalName", externalName="example.org", ip=None))
    r.set_pod({"metadata": {"name": "p", "namespace": "other"}, "spec": {},
               "status": {"podIP": "10.244.1.9", "podIPs": [{"ip": "10.244.1.9"}]}})
    r.set_ingress_hosts({"myapp.example", "*.wild.example"})
    r.mark_synced()
    return r


class Upstream:
    """A tiny authoritative server on loopback playing the node host's resolver (UDP only)."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.queries = 0
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                data, client = self.sock.recvfrom(4096)
            except OSError:
                return
            self.queries += 1
            request = DNSRecord.parse(data)
            reply = request.reply()
            reply.add_answer(*__import__("dnslib").RR.fromZone(f"{request.q.qname} 60 A 192.0.2.1"))
            self.sock.sendto(reply.pack(), client)

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def upstream() -> Iterator[Upstream]:
    up = Upstream()
    yield up
    up.close()


@pytest.fixture
def server(records: ClusterRecords, upstream: Upstream) -> Iterator[DnsServer]:
    srv = DnsServer(records, ZoneSettings(ingress_address="10.200.0.10"), Forwarder(["127.0.0.1"], port=upstream.port),
                    ServerSettings(address="127.0.0.1", port=0, tcp_idle=0.5, max_tcp=4))
    srv.start()
    yield srv
    srv.stop()


def port_of(srv: DnsServer) -> int:
    assert srv._udp is not None
    return srv._udp.getsockname()[1]


def ask(srv: DnsServer, name: str, qtype: str = "A", *, tcp: bool = False, edns: int | None = None) -> DNSRecord:
    q = DNSRecord.question(name, qtype)
    if edns is not None:
        q.add_ar(EDNS0(udp_len=edns))
    return DNSRecord.parse(q.send("127.0.0.1", port_of(srv), tcp=tcp, timeout=3))


def addresses(reply: DNSRecord) -> list[str]:
    return sorted(str(rr.rdata) for rr in reply.rr if rr.rtype == QTYPE.A)


# ---- the cluster zone ---------------------------------------------------------------------------

def test_service_a_record(server: DnsServer) -> None:
    reply = ask(server, "web.default.svc.cluster.local")
    assert reply.header.rcode == RCODE.NOERROR and reply.header.aa == 1
    assert addresses(reply) == ["10.96.0.10"]
    assert reply.rr[0].ttl == 5


def test_srv_for_a_named_port(server: DnsServer) -> None:
    reply = ask(server, "_http._tcp.web.default.svc.cluster.local", "SRV")
    assert [(rr.rdata.port, str(rr.rdata.target)) for rr in reply.rr] == [(80, "web.default.svc.cluster.local.")]
    assert [str(rr.rdata) for rr in reply.ar] == ["10.96.0.10"]
    udp = ask(server, "_dns._udp.web.default.svc.cluster.local", "SRV")
    assert [rr.rdata.port for rr in udp.rr] == [53]
    wrong = ask(server, "_http._udp.web.default.svc.cluster.local", "SRV")
    assert wrong.header.rcode == RCODE.NXDOMAIN


def test_headless_service_answers_its_ready_endpoints(server: DnsServer) -> None:
    reply = ask(server, "db.default.svc.cluster.local")
    assert addresses(reply) == ["10.244.1.5", "10.244.2.6"]  # 10.244.3.7 is not ready
    assert addresses(ask(server, "db-0.db.default.svc.cluster.local")) == ["10.244.1.5"]
    assert addresses(ask(server, "10-244-2-6.db.default.svc.cluster.local")) == ["10.244.2.6"]
    assert ask(server, "db-2.db.default.svc.cluster.local").header.rcode == RCODE.NXDOMAIN
    srv = ask(server, "_pg._tcp.db.default.svc.cluster.local", "SRV")
    assert sorted(str(rr.rdata.target) for rr in srv.rr) == ["10-244-2-6.db.default.svc.cluster.local.",
                                                             "db-0.db.default.svc.cluster.local."]


def test_pod_records_and_external_name(server: DnsServer) -> None:
    assert addresses(ask(server, "10-244-9-9.default.pod.cluster.local")) == ["10.244.9.9"]
    assert ask(server, "10-244-9-999.default.pod.cluster.local").header.rcode == RCODE.NXDOMAIN
    cname = ask(server, "ext.default.svc.cluster.local")
    assert cname.rr[0].rtype == QTYPE.CNAME and str(cname.rr[0].rdata) == "example.org."


def test_unknown_names_get_nxdomain_with_the_soa_and_other_types_nodata(server: DnsServer) -> None:
    for name in ("nope.default.svc.cluster.local", "web.nonamespace.svc.cluster.local", "x.cluster.local",
                 "google.com.default.svc.cluster.local"):
        reply = ask(server, name)
        assert reply.header.rcode == RCODE.NXDOMAIN, name
        assert [rr.rtype for rr in reply.auth] == [QTYPE.SOA] and str(reply.auth[0].rname) == "cluster.local."
    nodata = ask(server, "web.default.svc.cluster.local", "AAAA")
    assert nodata.header.rcode == RCODE.NOERROR and not nodata.rr and nodata.auth[0].rtype == QTYPE.SOA
    assert ask(server, "cluster.local", "AXFR", tcp=True).header.rcode == RCODE.REFUSED


def test_ptr_for_service_endpoint_and_pod_addresses(server: DnsServer) -> None:
    def ptr(ip: str) -> list[str]:
        reply = ask(server, ".".join(reversed(ip.split("."))) + ".in-addr.arpa", "PTR")
        return [str(rr.rdata) for rr in reply.rr]

    assert ptr("10.96.0.10") == ["web.default.svc.cluster.local."]
    assert ptr("10.244.1.5") == ["db-0.db.default.svc.cluster.local."]
    assert ptr("10.244.1.9") == ["10-244-1-9.other.pod.cluster.local."]
    unknown = ask(server, "1.2.3.10.in-addr.arpa", "PTR")
    assert unknown.header.rcode == RCODE.NXDOMAIN


def test_ingress_hosts_answer_the_node_address(server: DnsServer) -> None:
    assert addresses(ask(server, "myapp.example")) == ["10.200.0.10"]
    assert addresses(ask(server, "a.wild.example")) == ["10.200.0.10"]
    assert ingress_host("MyApp.Example.") == "myapp.example"
    for bad in ("", "a b", "x;reload", "-a.example", "a" * 64 + ".example", "*", "a.*.example", 5):
        assert ingress_host(bad) is None, bad
    assert ingress_hosts([{"spec": {"rules": [{"host": "ok.example"}, {"host": "bad host"}, {}]}}]) == {"ok.example"}


def test_changes_are_answered_at_once_and_unchanged_heartbeats_keep_the_cache(server: DnsServer,
                                                                             records: ClusterRecords) -> None:
    assert ask(server, "new.default.svc.cluster.local").header.rcode == RCODE.NXDOMAIN
    generation = records.generation
    records.set_pod({"metadata": {"name": "p", "namespace": "other", "labels": {"x": "y"}}, "spec": {},
                     "status": {"podIP": "10.244.1.9", "podIPs": [{"ip": "10.244.1.9"}]}})
    assert records.generation == generation
    records.set_service(service("new", ip="10.96.0.99"))
    assert addresses(ask(server, "new.default.svc.cluster.local")) == ["10.96.0.99"]
    records.delete_service(service("new"))
    assert ask(server, "new.default.svc.cluster.local").header.rcode == RCODE.NXDOMAIN


def test_unknown_names_are_servfail_until_the_records_synced(upstream: Upstream) -> None:
    records = ClusterRecords()
    srv = DnsServer(records, ZoneSettings(), Forwarder([]), ServerSettings(address="127.0.0.1", port=0))
    srv.start()
    try:
        assert ask(srv, "web.default.svc.cluster.local").header.rcode == RCODE.SERVFAIL
        records.set_namespace(namespace("default"))
        records.mark_synced()
        assert ask(srv, "web.default.svc.cluster.local").header.rcode == RCODE.NXDOMAIN
        assert ask(srv, "example.com").header.rcode == RCODE.SERVFAIL  # no upstream at all
    finally:
        srv.stop()


# ---- the wire -----------------------------------------------------------------------------------

def test_large_answers_truncate_over_udp_and_come_whole_over_tcp(server: DnsServer, records: ClusterRecords) -> None:
    records.set_service(service("big", ip="None"))
    records.set_slice(endpoint_slice("big-1", "big", [(f"10.244.{i // 250}.{i % 250 + 1}", None, True)
                                                      for i in range(60)]))
    small = ask(server, "big.default.svc.cluster.local")
    assert small.header.tc == 1 and not small.rr
    assert len(addresses(ask(server, "big.default.svc.cluster.local", edns=4096))) == 60  # EDNS: fits
    whole = ask(server, "big.default.svc.cluster.local", tcp=True)
    assert whole.header.tc == 0 and len(addresses(whole)) == 60


def test_names_outside_the_cluster_are_forwarded(server: DnsServer, upstream: Upstream) -> None:
    reply = ask(server, "www.example.com")
    assert addresses(reply) == ["192.0.2.1"] and upstream.queries == 1


def test_a_silent_upstream_costs_one_deadline_then_servfail(records: ClusterRecords) -> None:
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    srv = DnsServer(records, ZoneSettings(), Forwarder(["127.0.0.1"], port=silent.getsockname()[1], timeout=0.3),
                    ServerSettings(address="127.0.0.1", port=0))
    srv.start()
    try:
        assert ask(srv, "www.example.com").header.rcode == RCODE.SERVFAIL
        assert addresses(ask(srv, "web.default.svc.cluster.local")) == ["10.96.0.10"]
    finally:
        srv.stop()
        silent.close()


def test_the_forwarder_never_uses_its_own_address(tmp_path) -> None:  # noqa: ANN001
    conf = tmp_path / "resolv.conf"
    conf.write_text("nameserver 169.254.20.10\nnameserver 10.0.0.2\nnameserver bogus\nnameserver 10.0.0.2\n"
                    "search a.example\n")
    assert read_nameservers(str(conf), exclude=("169.254.20.10",)) == ["10.0.0.2"]
    assert read_nameservers(str(tmp_path / "missing")) == []


def _udp_exchange(srv: DnsServer, data: bytes, timeout: float = 0.3) -> bytes | None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(data, ("127.0.0.1", port_of(srv)))
        try:
            return sock.recv(65535)
        except TimeoutError:
            return None


def test_hostile_packets_are_dropped_or_refused_and_the_server_keeps_answering(server: DnsServer) -> None:
    query = DNSRecord.question("web.default.svc.cluster.local").pack()
    assert _udp_exchange(server, b"") is None
    assert _udp_exchange(server, b"\x00" * 5) is None
    response = bytearray(query)
    response[2] |= 0x80  # a response: never answered (no reflection)
    assert _udp_exchange(server, bytes(response)) is None
    garbage = query[:12] + b"\x3f" + b"a" * 10  # a label running past the end
    formerr = _udp_exchange(server, garbage)
    assert formerr is not None and len(formerr) == 12 and formerr[3] & 0xF == RCODE.FORMERR
    two_questions = query[:4] + b"\x00\x02" + query[6:]
    assert DNSRecord.parse(_udp_exchange(server, two_questions)).header.rcode == RCODE.FORMERR
    update = bytearray(query)
    update[2] = (update[2] & 0x87) | (5 << 3)  # opcode UPDATE
    assert _udp_exchange(server, bytes(update))[3] & 0xF == RCODE.NOTIMP
    for reply in (_udp_exchange(server, bytes(range(256)) * 4) for _ in range(3)):
        assert reply is None or len(reply) <= 512  # never more than asked: no amplification
    assert addresses(ask(server, "web.default.svc.cluster.local")) == ["10.96.0.10"]


def test_tcp_connections_are_bounded_and_time_out(server: DnsServer) -> None:
    port = port_of(server)
    trickler = socket.create_connection(("127.0.0.1", port))
    trickler.sendall(b"\x00")  # half a length prefix, then nothing
    held = [socket.create_connection(("127.0.0.1", port)) for _ in range(6)]  # beyond max_tcp=4
    try:
        deadline = time.monotonic() + 5
        trickler.settimeout(5)
        assert trickler.recv(10) == b""  # closed after tcp_idle
        assert time.monotonic() < deadline
        for sock in held:  # idle ones are closed too, and then new ones are served
            sock.settimeout(5)
            assert sock.recv(10) == b""
        assert addresses(ask(server, "web.default.svc.cluster.local", tcp=True)) == ["10.96.0.10"]
    finally:
        for sock in [trickler, *held]:
            sock.close()


def test_several_queries_on_one_tcp_connection(server: DnsServer) -> None:
    with socket.create_connection(("127.0.0.1", port_of(server)), timeout=3) as sock:
        for name in ("web.default.svc.cluster.local", "db.default.svc.cluster.local"):
            query = DNSRecord.question(name).pack()
            sock.sendall(struct.pack("!H", len(query)) + query)
            size = struct.unpack("!H", sock.recv(2))[0]
            data = b""
            while len(data) < size:
                data += sock.recv(size - len(data))
            assert DNSRecord.parse(data).header.rcode == RCODE.NOERROR


def test_cached_answers_carry_the_query_id(server: DnsServer) -> None:
    for ident in (1, 2, 0xBEEF):
        q = DNSRecord.question("web.default.svc.cluster.local")
        q.header.id = ident
        reply = DNSRecord.parse(_udp_exchange(server, q.pack(), timeout=3))
        assert reply.header.id == ident and addresses(reply) == ["10.96.0.10"]
