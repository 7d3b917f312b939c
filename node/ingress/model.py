"""What the ingress proxy serves, worked out from Ingresses, IngressClasses, Services and EndpointSlices.

Pure: objects in, `Routes` out (servers by host, each with its locations and their backends), and
the problems found on the way (a path that cannot be served, a Service that does not exist). The
nginx configuration (`nginxconf`) is rendered from `Routes` only, so everything that reaches it
passed through here and was checked: hosts are DNS names (or `*.` and one), paths are made of
letters, digits and `-._~/` only (ingress-nginx's `strict-validate-path-type`), upstreams are IPv4
addresses and port numbers. An Ingress the API server should have refused never gets further.

The rules follow Kubernetes and ingress-nginx:
- only Ingresses whose IngressClass names our controller are served (`class_of`);
- Ingresses are merged oldest first (creationTimestamp, then namespace/name): the first to claim
  a host and path keeps it, and the first Ingress to create a host server gives that server's
  root location its `defaultBackend`;
- `Exact` is an exact location; `Prefix /foo` matches `/foo` and `/foo/...` by path elements
  (an exact `/foo` plus a prefix `/foo/`), never `/foobar`; `ImplementationSpecific` is a plain
  prefix (like ingress-nginx without its regex annotation); an exact location beats a prefix one,
  the longest prefix wins;
- requests no rule matches get the catch-all server's backend: the `defaultBackend` of the oldest
  Ingress that has no rules, else 404; a backend without ready endpoints answers 503.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

from minik8s.api.kinds.endpointslice import SERVICE_NAME_LABEL
from minik8s.api.kinds.ingressclass import INGRESS_NGINX_CONTROLLER, served_by
from minik8s.api.names import DNS1035_LABEL, DNS_LABEL, DNS_SUBDOMAIN, PORT_NAME, WILDCARD_DNS_SUBDOMAIN
from minik8s.api.tables import dig

Obj = dict[str, Any]

CONTROLLER = INGRESS_NGINX_CONTROLLER  # the IngressClass `spec.controller` this proxy serves
SAFE_PATH = re.compile(r"/[A-Za-z0-9._~/-]*")

EXACT = "="  # nginx location modifiers: exact match, and a prefix that regexes cannot override
PREFIX = "^~"


@dataclass(frozen=True, order=True)
class Endpoint:
    """One upstream: a ready pod address and its target port."""

    ip: str
    port: int


@dataclass(frozen=True)
class Backend:
    """Where matching requests go: the ready endpoints of one Service port (none: 503), or the
    built-in 404 when `service` is empty (no backend at all)."""

    service: str = ""  # "namespace/name:port" as the Ingress wrote it; "" for the built-in 404
    upstream: str = ""  # the nginx upstream's name
    endpoints: tuple[Endpoint, ...] = ()

    @property
    def status(self) -> int | None:
        """The status nginx answers itself (404 no backend, 503 no endpoints), None when it proxies."""
        if not self.service:
            return 404
        return None if self.endpoints else 503


NOT_FOUND = Backend()


@dataclass(frozen=True)
class Location:
    """One nginx location: a modifier (`=` or `^~`), a checked path and its backend."""

    modifier: str
    path: str
    backend: Backend
    source: str = ""  # the Ingress (namespace/name) it came from
    exact_type: bool = False  # made for a pathType Exact path (which beats a Prefix path's exact location)


@dataclass(frozen=True)
class Server:
    """A virtual host: `host` "" is the catch-all (default) server."""

    host: str
    locations: tuple[Location, ...]

    @property
    def wildcard(self) -> bool:
        return self.host.startswith("*.")


@dataclass(frozen=True)
class Routes:
    """Everything the proxy serves, and what it could not."""

    servers: tuple[Server, ...]
    problems: tuple[str, ...] = ()

    def backends(self) -> list[Backend]:
        """Each distinct backend that proxies (has endpoints), in a stable order."""
        seen: dict[str, Backend] = {}
        for server in self.servers:
            for location in server.locations:
                if location.backend.endpoints:
                    seen.setdefault(location.backend.upstream, location.backend)
        return [seen[name] for name in sorted(seen)]


@dataclass
class _ServerDraft:
    host: str
    default: Backend
    locations: dict[tuple[str, str], Location] = field(default_factory=dict)


class _Cluster:
    """The Services and EndpointSlices, indexed for backend look-ups."""

    def __init__(self, services: list[Obj], slices: list[Obj]) -> None:
        self.services: dict[tuple[str, str], Obj] = {}
        for service in services:
            namespace, name = dig(service, "metadata", "namespace"), dig(service, "metadata", "name")
            if isinstance(service, dict) and isinstance(namespace, str) and isinstance(name, str):
                self.services[(namespace, name)] = service
        self.slices: dict[tuple[str, str], list[Obj]] = {}
        for item in slices:
            if not isinstance(item, dict) or item.get("addressType") != "IPv4":
                continue
            namespace = dig(item, "metadata", "namespace")
            owner = dig(item, "metadata", "labels", SERVICE_NAME_LABEL)
            if isinstance(namespace, str) and isinstance(owner, str):
                self.slices.setdefault((namespace, owner), []).append(item)

    def backend(self, namespace: str, ref: Any, problems: list[str], source: str) -> Backend:
        """The backend an IngressBackend names (`service` with a port name or number)."""
        service_ref = ref.get("service") if isinstance(ref, dict) else None
        if not isinstance(service_ref, dict):
            problems.append(f"{source}: only Service backends are supported; answering 503")
            return Backend(service=f"{namespace}/<resource>", upstream="")
        name = service_ref.get("name")
        port_ref = service_ref.get("port") if isinstance(service_ref.get("port"), dict) else {}
        number, port_name = port_ref.get("number"), port_ref.get("name")
        if not isinstance(name, str) or DNS1035_LABEL.problems(name) and DNS_LABEL.problems(name):
            problems.append(f"{source}: bad service name {name!r}")
            return Backend(service=f"{namespace}/?", upstream="")
        if isinstance(number, int) and not isinstance(number, bool) and 1 <= number <= 65535:
            wanted: str | int = number
        elif isinstance(port_name, str) and not PORT_NAME.problems(port_name):
            wanted = port_name
        else:
            problems.append(f"{source}: service {name}: bad port {port_ref!r}")
            return Backend(service=f"{namespace}/{name}:?", upstream="")
        label = f"{namespace}/{name}:{wanted}"
        upstream = f"{namespace}.{name}.{wanted}"
        service = self.services.get((namespace, name))
        if service is None:
            problems.append(f"{source}: service {namespace}/{name} not found; answering 503")
            return Backend(service=label, upstream=upstream)
        if dig(service, "spec", "type") == "ExternalName":
            problems.append(f"{source}: service {namespace}/{name} is an ExternalName service (not supported); "
                            "answering 503")
            return Backend(service=label, upstream=upstream)
        port = next((p for p in _list(dig(service, "spec", "ports")) if isinstance(p, dict) and (
            p.get("port") == wanted if isinstance(wanted, int) else p.get("name") == wanted)), None)
        if port is None or (port.get("protocol") or "TCP") != "TCP":
            problems.append(f"{source}: service {namespace}/{name} has no TCP port {wanted}; answering 503")
            return Backend(service=label, upstream=upstream)
        return Backend(service=label, upstream=upstream,
                       endpoints=self._endpoints(namespace, name, port.get("name") or ""))

    def _endpoints(self, namespace: str, service: str, port_name: str) -> tuple[Endpoint, ...]:
        """The ready endpoints of the Service's port `port_name` (its EndpointSlice port of that name)."""
        found: set[Endpoint] = set()
        for item in self.slices.get((namespace, service), []):
            ports = [p for p in _list(item.get("ports")) if isinstance(p, dict)
                     and (p.get("name") or "") == port_name and (p.get("protocol") or "TCP") == "TCP"]
            target = ports[0].get("port") if ports else None
            if not isinstance(target, int) or isinstance(target, bool) or not 1 <= target <= 65535:
                continue
            for endpoint in _list(item.get("endpoints")):
                if not isinstance(endpoint, dict):
                    continue
                # `ready` unset means ready (EndpointConditions: "nil should be interpreted as true")
                if dig(endpoint, "conditions", "ready") is False:
                    continue
                for address in _list(endpoint.get("addresses")):
                    if _ipv4(address):
                        found.add(Endpoint(address, target))
        return tuple(sorted(found, key=lambda e: (ipaddress.ip_address(e.ip), e.port)))


def build_routes(ingresses: list[Obj], classes: list[Obj], services: list[Obj], slices: list[Obj], *,
                 controller: str = CONTROLLER) -> Routes:
    """What the proxy serves for these objects (see the module docstring for the rules)."""
    cluster = _Cluster(services, slices)
    problems: list[str] = []
    ours = sorted((i for i in ingresses if isinstance(i, dict) and _namespace(i)
                   and served_by(controller, i, classes)), key=_age)
    catch_all = NOT_FOUND
    for ingress in ours:
        spec = ingress.get("spec") if isinstance(ingress.get("spec"), dict) else {}
        if spec.get("defaultBackend") is not None and not spec.get("rules") and catch_all is NOT_FOUND:
            catch_all = cluster.backend(_namespace(ingress), spec["defaultBackend"], problems, _key(ingress))
    servers: dict[str, _ServerDraft] = {"": _ServerDraft("", catch_all)}
    for ingress in ours:
        _add_ingress(ingress, cluster, servers, problems)
    out = []
    for host in sorted(servers, key=lambda h: (h != "", h)):
        draft = servers[host]
        if (PREFIX, "/") not in draft.locations:
            draft.locations[(PREFIX, "/")] = Location(PREFIX, "/", draft.default)
        _pin_bare_paths(draft.locations)
        ordered = sorted(draft.locations.values(), key=lambda loc: (loc.path, loc.modifier))
        out.append(Server(host, tuple(ordered)))
    return Routes(tuple(out), tuple(problems))


def _add_ingress(ingress: Obj, cluster: _Cluster, servers: dict[str, _ServerDraft], problems: list[str]) -> None:
    spec = ingress.get("spec") if isinstance(ingress.get("spec"), dict) else {}
    namespace, source = _namespace(ingress), _key(ingress)
    default = (cluster.backend(namespace, spec["defaultBackend"], problems, source)
               if spec.get("defaultBackend") is not None else NOT_FOUND)
    rules = spec.get("rules") if isinstance(spec.get("rules"), list) else []
    for i, rule in enumerate(rules):
        if not isinstance(rule, dict):
            continue
        host = rule.get("host") or ""
        if not isinstance(host, str) or (host and not safe_host(host)):
            problems.append(f"{source}: rules[{i}]: host {host!r} is not served (not a DNS name)")
            continue
        draft = servers.setdefault(host, _ServerDraft(host, default))
        paths = dig(rule, "http", "paths", default=[])
        for j, item in enumerate(paths if isinstance(paths, list) else []):
            where = f"{source}: rules[{i}].http.paths[{j}]"
            if not isinstance(item, dict):
                continue
            path_type, path = item.get("pathType"), item.get("path") or ""
            if path_type == "ImplementationSpecific" and path == "":
                path = "/"
            if not isinstance(path, str) or not SAFE_PATH.fullmatch(path):
                problems.append(f"{where}: path {path!r} is not served: only letters, digits and -._~/ are allowed")
                continue
            backend = cluster.backend(namespace, item.get("backend"), problems, where)
            for modifier, location_path in _locations(path_type, path):
                key = (modifier, location_path)
                taken = draft.locations.get(key)
                # an Exact path owns its exact location even against an older Prefix path's
                if taken is None or (path_type == "Exact" and not taken.exact_type):
                    draft.locations[key] = Location(modifier, location_path, backend, source, path_type == "Exact")


def _pin_bare_paths(locations: dict[tuple[str, str], Location]) -> None:
    """Give `/foo` an exact location of its own wherever a location `/foo/` exists without one.

    nginx answers `/foo` with a 301 to `/foo/` when a proxied location's path ends in a slash
    (its auto-redirect); Kubernetes routes `/foo` as if `/foo/` were not there. The exact location
    sends `/foo` where nginx would have sent it otherwise: the longest prefix location it starts with.
    """
    for modifier, path in list(locations):
        bare = path.rstrip("/")
        if path == "/" or not path.endswith("/") or (EXACT, bare) in locations:
            continue
        best = max((loc for (m, p), loc in locations.items() if m == PREFIX and bare.startswith(p)),
                   key=lambda loc: len(loc.path))
        locations[(EXACT, bare)] = Location(EXACT, bare, best.backend, best.source)


def _locations(path_type: Any, path: str) -> list[tuple[str, str]]:
    """The nginx locations (modifier, path) that match what `path_type` and `path` mean."""
    if path_type == "Exact":
        return [(EXACT, path)]
    if path_type == "Prefix":
        trimmed = path.rstrip("/")
        return [(PREFIX, "/")] if not trimmed else [(EXACT, trimmed), (PREFIX, trimmed + "/")]
    if path_type == "ImplementationSpecific":
        return [(PREFIX, path)]
    return []


def safe_host(host: str) -> bool:
    """A DNS name, or `*.` and one (one label of wildcard), in lower case."""
    rule = WILDCARD_DNS_SUBDOMAIN if host.startswith("*.") else DNS_SUBDOMAIN
    return not rule.problems(host)


def _list(value: Any) -> list[Any]:
    """`value` when it is a list, else nothing to iterate (a malformed object)."""
    return value if isinstance(value, list) else []


def _ipv4(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        ipaddress.IPv4Address(value)
    except ValueError:
        return False
    return True


def _namespace(obj: Obj) -> str:
    namespace = dig(obj, "metadata", "namespace")
    return namespace if isinstance(namespace, str) and not DNS_LABEL.problems(namespace) else ""


def _key(obj: Obj) -> str:
    return f"{_namespace(obj)}/{dig(obj, 'metadata', 'name', default='')}"


def _age(obj: Obj) -> tuple[str, str]:
    """Oldest first (RFC 3339 timestamps in UTC sort as text), then by namespace/name."""
    created = dig(obj, "metadata", "creationTimestamp", default="")
    return (created if isinstance(created, str) else "", _key(obj))
