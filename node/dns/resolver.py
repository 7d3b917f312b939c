"""Answers one DNS query from `ClusterRecords`, as CoreDNS' kubernetes plugin does.

Names in the cluster zone (`cluster.local`), after the Kubernetes DNS specification
(github.com/kubernetes/dns, docs/specification.md) and CoreDNS' reading of it:

- `<svc>.<ns>.svc.<zone>` A: the cluster IP; for a headless Service the IPs of its ready
  endpoints (NXDOMAIN when it has none); an ExternalName Service answers a CNAME;
- `<hostname>.<svc>.<ns>.svc.<zone>` A: the ready endpoint with that hostname (an endpoint
  without one is named by its dashed IP);
- `_<port>._<proto>.<svc>.<ns>.svc.<zone>` SRV for named ports (`<svc>.<ns>.svc.<zone>` SRV
  lists every port), targets in the additional section;
- `<a-b-c-d>.<ns>.pod.<zone>` A (`pods insecure`, kubeadm's default, or `verified`);
- `dns-version.<zone>` TXT, the zone's SOA and NS, `ns.dns.<zone>` A (this server);
- a name that does not exist: NXDOMAIN with the zone's SOA; an existing name asked for another
  type: NOERROR with no answer (NODATA) and the SOA; a namespace that does not exist makes every
  name below it not exist.

Reverse names: PTR for a Service's cluster IP, else for a ready endpoint
(`<hostname>.<svc>.<ns>.svc.<zone>`), else for a pod (`<a-b-c-d>.<ns>.pod.<zone>`, beyond
CoreDNS); an unknown address in a private range gets NXDOMAIN here (the locally served zones of
RFC 6303), any other goes upstream. Host names of the Ingresses the node serves answer the
node's address. Everything else is not ours: `resolve` returns None and the server forwards it.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from dnslib import CNAME, NS, PTR, QTYPE, RCODE, RR, SOA, SRV, TXT, A, DNSLabel, DNSRecord

from .records import ClusterRecords, Port, Service, dashed

SCHEMA_VERSION = "1.1.0"  # the DNS specification's version CoreDNS reports (dns-version TXT)
ANY_PORT = Port("", "", -1)  # CoreDNS' sentinel for a slice without ports: matches only unnamed queries

# RFC 6303 zones a local resolver answers itself instead of asking the Internet
PRIVATE_REVERSE = [ipaddress.ip_network(n) for n in
                   ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16", "127.0.0.0/8")]


@dataclass(frozen=True)
class ZoneSettings:
    """How the cluster zone is answered."""

    domain: str = "cluster.local"
    ttl: int = 5  # CoreDNS' default
    nameserver: str = "169.254.20.10"  # this server's address: the zone's NS and `ns.dns.<zone>`
    ingress_address: str | None = None  # what Ingress host names resolve to (this node); None: not served
    pod_mode: str = "insecure"  # or "verified": answer pod names only for pods that exist


@dataclass(frozen=True)
class _Hit:
    """One thing a name stands for (CoreDNS' msg.Service): an address, a port, the name to target."""

    host: str  # an IPv4 address, or a name for ExternalName
    port: int
    target: str  # the SRV target (a name in the zone)
    cname: bool = False


class _NotFound(Exception):
    """The name does not exist (NXDOMAIN)."""


def resolve(request: DNSRecord, records: ClusterRecords, settings: ZoneSettings) -> DNSRecord | None:
    """The reply to `request`, or None when the name is not ours to answer (forward it).

    Call within `records.reading()`.
    """
    question = request.q
    name = str(question.qname).rstrip(".").lower()
    zone = settings.domain
    if name == zone or name.endswith("." + zone):
        return _cluster(request, name[: -len(zone)].rstrip("."), records, settings)
    if name.endswith(".in-addr.arpa"):
        return _reverse(request, name, records, settings)
    if settings.ingress_address and records.ingress_host(name):
        reply = request.reply(ra=1, aa=1)
        if question.qtype == QTYPE.A:
            reply.add_answer(RR(question.qname, QTYPE.A, ttl=settings.ttl, rdata=A(settings.ingress_address)))
        return reply
    return None


# ---- the cluster zone ---------------------------------------------------------------------------

def _cluster(request: DNSRecord, base: str, records: ClusterRecords, settings: ZoneSettings) -> DNSRecord:
    question = request.q
    qtype, zone, ttl = question.qtype, settings.domain, settings.ttl
    reply = request.reply(ra=1, aa=1)
    if qtype in (QTYPE.AXFR, QTYPE.IXFR):
        reply.header.rcode = RCODE.REFUSED
        return reply
    if base == "" and qtype == QTYPE.SOA:
        reply.add_answer(_soa(records, settings))
        return reply
    if base == "" and qtype == QTYPE.NS:
        reply.add_answer(RR(question.qname, QTYPE.NS, ttl=ttl, rdata=NS(f"ns.dns.{zone}.")))
        reply.add_ar(RR(f"ns.dns.{zone}.", QTYPE.A, ttl=ttl, rdata=A(settings.nameserver)))
        return reply
    if base == "dns-version" and qtype == QTYPE.TXT:
        reply.add_answer(RR(question.qname, QTYPE.TXT, ttl=28800, rdata=TXT(SCHEMA_VERSION)))
        return reply
    if base == "ns.dns":
        if qtype == QTYPE.A:
            reply.add_answer(RR(question.qname, QTYPE.A, ttl=ttl, rdata=A(settings.nameserver)))
        else:
            reply.add_auth(_soa(records, settings))
        return reply
    try:
        hits = _lookup(base, records, settings)
    except _NotFound:
        if base == "dns-version":  # it exists (as TXT): NODATA
            hits = []
        else:
            reply.header.rcode = RCODE.NXDOMAIN if records.synced else RCODE.SERVFAIL
            reply.add_auth(_soa(records, settings))
            return reply
    if qtype == QTYPE.SOA:  # CoreDNS: SOA only at the apex, NODATA below it
        hits = []
    answers, extra = _records(question.qname, qtype, hits, ttl)
    for rr in answers:
        reply.add_answer(rr)
    for rr in extra:
        reply.add_ar(rr)
    if not answers:
        reply.add_auth(_soa(records, settings))
    return reply


def _records(qname: DNSLabel, qtype: int, hits: list[_Hit], ttl: int) -> tuple[list[RR], list[RR]]:
    """The answer and additional records of type `qtype` for what a name stands for."""
    cnames = [h for h in hits if h.cname]
    if cnames and qtype in (QTYPE.A, QTYPE.AAAA, QTYPE.CNAME):
        return [RR(qname, QTYPE.CNAME, ttl=ttl, rdata=CNAME(cnames[0].host + "."))], []
    hits = [h for h in hits if not h.cname]
    if qtype == QTYPE.A:
        seen: dict[str, None] = {}
        for hit in hits:
            seen.setdefault(hit.host)
        return [RR(qname, QTYPE.A, ttl=ttl, rdata=A(ip)) for ip in seen], []
    if qtype == QTYPE.SRV:
        unique: dict[tuple[str, int, str], None] = {}
        for hit in hits:
            if hit.port >= 0:
                unique.setdefault((hit.target, hit.port, hit.host))
        weight = 100 // len(unique) if unique else 0
        answers = [RR(qname, QTYPE.SRV, ttl=ttl, rdata=SRV(0, weight, port, target + "."))
                   for target, port, _ in unique]
        addresses: dict[tuple[str, str], None] = {}
        for target, _, host in unique:
            addresses.setdefault((target, host))
        extra = [RR(target + ".", QTYPE.A, ttl=ttl, rdata=A(host)) for target, host in addresses]
        return answers, extra
    return [], []


def _lookup(base: str, records: ClusterRecords, settings: ZoneSettings) -> list[_Hit]:
    """What `base` (the name less the zone) stands for; raises _NotFound when it does not exist.

    CoreDNS' parseRequest: `[[_port._proto.|endpoint.]service.]namespace.(svc|pod)`; an empty
    list means the name exists with nothing to answer (NODATA).
    """
    labels = base.split(".") if base else []
    if not labels or labels == ["svc"] or labels == ["pod"]:
        return []
    if labels[-1] not in ("svc", "pod"):
        raise _NotFound
    if len(labels) == 1:
        return []
    namespace = labels[-2]
    if not records.namespace_exists(namespace):
        raise _NotFound
    rest = labels[:-2]
    if not rest:
        return []
    if labels[-1] == "pod":
        return _pod(rest, namespace, records, settings)
    service = records.service(namespace, rest[-1])
    if service is None or len(rest) > 3:
        raise _NotFound
    endpoint = rest[0] if len(rest) == 2 else ""
    port, protocol = (rest[0].removeprefix("_"), rest[1].removeprefix("_")) if len(rest) == 3 else ("", "")
    hits = _service_hits(service, records, settings.domain, endpoint=endpoint, port=port, protocol=protocol)
    if hits is None:
        raise _NotFound
    return hits


def _pod(rest: list[str], namespace: str, records: ClusterRecords, settings: ZoneSettings) -> list[_Hit]:
    """`<a-b-c-d>.<ns>.pod.<zone>`: the address written in the name."""
    label = rest[0]
    if len(rest) != 1 or label.count("-") != 3:
        raise _NotFound
    try:
        ip = str(ipaddress.IPv4Address(label.replace("-", ".")))
    except ValueError:
        raise _NotFound from None
    if settings.pod_mode == "verified" and not any(ns == namespace for ns, _ in records.pods_at(ip)):
        raise _NotFound
    return [_Hit(ip, -1, f"{label}.{namespace}.pod.{settings.domain}")]


def _matches(port: Port, wanted_port: str, wanted_protocol: str) -> bool:
    return wanted_port in ("", port.name) and wanted_protocol in ("", port.protocol)


def _service_hits(service: Service, records: ClusterRecords, zone: str, *, endpoint: str, port: str,
                  protocol: str) -> list[_Hit] | None:
    """CoreDNS' findServices for one Service: what the name stands for, None when nothing matches."""
    name = f"{service.name}.{service.namespace}.svc.{zone}"
    if service.external_name is not None:
        try:
            ipaddress.ip_address(service.external_name)
            return None  # an address is no CNAME target: CoreDNS answers nothing for it
        except ValueError:
            pass
        return None if endpoint else [_Hit(service.external_name, -1, name, cname=True)]
    hits = []
    if service.headless or endpoint:
        for slice_ in records.slices(service.namespace, service.name):
            ports = slice_.ports or (ANY_PORT,)
            for ep in slice_.endpoints:
                if endpoint and ep.hostname != endpoint:
                    continue
                hits += [_Hit(ep.ip, p.port, f"{ep.hostname}.{name}") for p in ports if _matches(p, port, protocol)]
        return hits or None
    matched = [p for p in service.ports if _matches(p, port, protocol)]
    if not matched:
        return None
    return [_Hit(ip, p.port, name) for p in matched for ip in service.cluster_ips]  # no IP yet: NODATA


def _soa(records: ClusterRecords, settings: ZoneSettings, zone: str | None = None) -> RR:
    """The zone's SOA, as CoreDNS writes it (TTL and minimum: the records' TTL)."""
    zone = zone or settings.domain
    cluster = settings.domain
    return RR(zone + ".", QTYPE.SOA, ttl=min(settings.ttl, 300),
              rdata=SOA(f"ns.dns.{cluster}.", f"hostmaster.{cluster}.",
                        (records.serial, 7200, 1800, 86400, settings.ttl)))


# ---- reverse names ------------------------------------------------------------------------------

def _reverse(request: DNSRecord, name: str, records: ClusterRecords, settings: ZoneSettings) -> DNSRecord | None:
    labels = name.removesuffix(".in-addr.arpa").split(".")
    try:
        ip = ipaddress.IPv4Address(".".join(reversed(labels))) if len(labels) == 4 else None
    except ValueError:
        ip = None
    if ip is None:
        return None
    zone, ttl = settings.domain, settings.ttl
    targets: list[str] = []
    services = records.services_at(str(ip))
    if services:
        namespace, service = services[0]
        targets = [f"{service}.{namespace}.svc.{zone}"]
    if not targets:
        targets = [f"{host}.{service}.{namespace}.svc.{zone}" for host, namespace, service in records.endpoints_at(str(ip))]
    if not targets:
        targets = [f"{dashed(str(ip))}.{namespace}.pod.{zone}" for namespace, _ in records.pods_at(str(ip))]
    reply = request.reply(ra=1, aa=1)
    if targets:
        if request.q.qtype == QTYPE.PTR:
            for target in targets:
                reply.add_answer(RR(request.q.qname, QTYPE.PTR, ttl=ttl, rdata=PTR(target + ".")))
        return reply
    private = next((net for net in PRIVATE_REVERSE if ip in net), None)
    if private is None:
        return None
    octets = (private.prefixlen + 7) // 8  # 172.16.0.0/12 is served as the sixteen zones 16-31.172
    apex = ".".join(reversed(str(ip).split(".")[:octets])) + ".in-addr.arpa"
    reply.header.rcode = RCODE.NXDOMAIN
    reply.add_auth(_soa(records, settings, apex))
    return reply
