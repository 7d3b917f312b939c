"""The ingress proxy's configuration: routes worked out like Kubernetes and ingress-nginx, and an
nginx.conf that no object can inject into (checked with Debian's `nginx -t` where it is installed)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from minik8s.node.ingress.model import EXACT, PREFIX, Backend, Endpoint, build_routes
from minik8s.node.ingress.nginxconf import ProxySettings, UnsafeValueError, quote, render, server_name

Obj = dict[str, Any]
NGINX = "/usr/sbin/nginx"
OURS = "minik8s.io/ingress-nginx"


def ingress_class(name: str = "nginx", controller: str = OURS, default: bool = False) -> Obj:
    annotations = {"ingressclass.kubernetes.io/is-default-class": "true"} if default else {}
    return {"metadata": {"name": name, "annotations": annotations}, "spec": {"controller": controller}}


def backend(service: str = "web", port: int | str = 80) -> Obj:
    return {"service": {"name": service, "port": {"number": port} if isinstance(port, int) else {"name": port}}}


def path(p: str, path_type: str = "Prefix", service: str = "web", port: int | str = 80) -> Obj:
    return {"path": p, "pathType": path_type, "backend": backend(service, port)}


def ingress(name: str, rules: list[Obj] | None = None, *, created: str = "2026-01-01T00:00:00Z",
            cls: str | None = "nginx", namespace: str = "default", **spec: Any) -> Obj:
    body: Obj = {"rules": rules or [], **spec}
    if cls is not None:
        body["ingressClassName"] = cls
    return {"metadata": {"name": name, "namespace": namespace, "creationTimestamp": created}, "spec": body}


def rule(host: str, *paths: Obj) -> Obj:
    return {"host": host, "http": {"paths": list(paths)}} if paths else {"host": host}


def service(name: str, *ports: Obj, namespace: str = "default", **spec: Any) -> Obj:
    return {"metadata": {"name": name, "namespace": namespace}, "spec": {"ports": list(ports), **spec}}


def endpoint_slice(svc: str, port: int, *ips: str, port_name: str = "", not_ready: tuple[str, ...] = (),
                   namespace: str = "default") -> Obj:
    endpoints = [{"addresses": [ip], "conditions": {"ready": ip not in not_ready}} for ip in ips]
    return {"metadata": {"name": f"{svc}-x", "namespace": namespace,
                         "labels": {"kubernetes.io/service-name": svc}},
            "addressType": "IPv4", "ports": [{"name": port_name, "port": port, "protocol": "TCP"}],
            "endpoints": endpoints}


SERVICES = [service("web", {"port": 80, "targetPort": 8080}),
            service("api", {"name": "http", "port": 8000, "targetPort": "http"})]
SLICES = [endpoint_slice("web", 8080, "10.244.1.5", "10.244.2.5"),
          endpoint_slice("api", 9000, "10.244.1.7", port_name="http")]


def locations(routes: Any, host: str) -> dict[tuple[str, str], str]:
    """(modifier, path) -> the backend's service (or the status nginx answers itself)."""
    server = next(s for s in routes.servers if s.host == host)
    return {(loc.modifier, loc.path): loc.backend.service or str(loc.backend.status) for loc in server.locations}


# ---- which Ingresses are ours ----------------------------------------------------------------

@pytest.mark.parametrize(("classes", "cls", "annotation", "served"), [
    pytest.param([ingress_class()], "nginx", None, True, id="named-class"),
    pytest.param([ingress_class(controller="example.com/other")], "nginx", None, False, id="other-controller"),
    pytest.param([ingress_class()], "missing", None, False, id="class-missing"),
    pytest.param([ingress_class(default=True)], None, None, True, id="default-class"),
    pytest.param([ingress_class()], None, None, False, id="no-class-no-default"),
    pytest.param([ingress_class(default=True), ingress_class("b", default=True)], None, None, False,
                 id="two-defaults"),
    pytest.param([ingress_class("b", controller="example.com/other", default=True), ingress_class()], None, None,
                 False, id="default-is-another-controllers"),
    pytest.param([ingress_class()], None, "nginx", True, id="class-annotation"),
])
def test_routes_serve_only_ingresses_of_our_class(classes: list[Obj], cls: str | None, annotation: str | None,
                                                  served: bool) -> None:
    """An Ingress is served when its class (name, annotation, or the one default) names our controller."""
    ing = ingress("a", [rule("foo.bar.com", path("/"))], cls=cls)
    if annotation:
        ing["metadata"]["annotations"] = {"kubernetes.io/ingress.class": annotation}
    routes = build_routes([ing], classes, SERVICES, SLICES)
    assert (["", "foo.bar.com"] if served else [""]) == [s.host for s in routes.servers]


# ---- paths ---------------------------------------------------------------------------------------

def test_routes_prefix_is_by_path_elements() -> None:
    """Prefix /foo (or /foo/) is an exact /foo plus a prefix /foo/, so /foobar never matches; Prefix /
    is the root prefix; ImplementationSpecific is a plain prefix; Exact is exact."""
    ing = ingress("a", [rule("h.com", path("/foo"), path("/bar/"), path("/", service="api", port="http"),
                             path("/x/y", "Exact"), path("/impl", "ImplementationSpecific"))])
    assert locations(build_routes([ing], [ingress_class()], SERVICES, SLICES), "h.com") == {
        (PREFIX, "/"): "default/api:http",
        (EXACT, "/foo"): "default/web:80", (PREFIX, "/foo/"): "default/web:80",
        (EXACT, "/bar"): "default/web:80", (PREFIX, "/bar/"): "default/web:80",
        (EXACT, "/x/y"): "default/web:80",
        (PREFIX, "/impl"): "default/web:80",
    }


def test_routes_exact_beats_prefix_of_the_same_path() -> None:
    """Exact /foo wins /foo over Prefix /foo, even from a newer Ingress; the Prefix keeps /foo/..."""
    old = ingress("old", [rule("h.com", path("/foo"))], created="2026-01-01T00:00:00Z")
    new = ingress("new", [rule("h.com", path("/foo", "Exact", service="api", port="http"))],
                  created="2026-01-02T00:00:00Z")
    found = locations(build_routes([new, old], [ingress_class()], SERVICES, SLICES), "h.com")
    assert found[(EXACT, "/foo")] == "default/api:http"
    assert found[(PREFIX, "/foo/")] == "default/web:80"


def test_routes_oldest_ingress_keeps_a_contested_path() -> None:
    """Two Ingresses claiming one host and path: the older one's backend serves it (ingress-nginx)."""
    old = ingress("old", [rule("h.com", path("/a"))], created="2026-01-01T00:00:00Z")
    new = ingress("new", [rule("h.com", path("/a", service="api", port="http"))], created="2026-01-02T00:00:00Z")
    for order in ([old, new], [new, old]):
        assert locations(build_routes(order, [ingress_class()], SERVICES, SLICES), "h.com")[(EXACT, "/a")] == \
            "default/web:80"


def test_routes_two_hosts_and_a_wildcard() -> None:
    """Several hosts get one server each, on the same address; the catch-all comes first."""
    ing = ingress("a", [rule("foo.bar.com", path("/")), rule("bar.foo.com", path("/", service="api", port="http")),
                        rule("*.foo.com", path("/"))])
    routes = build_routes([ing], [ingress_class()], SERVICES, SLICES)
    assert [s.host for s in routes.servers] == ["", "*.foo.com", "bar.foo.com", "foo.bar.com"]


# ---- default backends and backends ---------------------------------------------------------------

def test_routes_default_backends() -> None:
    """The catch-all answers 404 unless a rule-less Ingress names a defaultBackend; a host's unmatched
    paths go to the defaultBackend of the Ingress that made the host (else 404)."""
    bare = build_routes([ingress("a", [rule("h.com", path("/app"))])], [ingress_class()], SERVICES, SLICES)
    assert locations(bare, "")[(PREFIX, "/")] == "404"
    assert locations(bare, "h.com")[(PREFIX, "/")] == "404"
    catch_all = ingress("c", defaultBackend=backend("api", "http"), created="2026-01-03T00:00:00Z")
    with_host = ingress("a", [rule("h.com", path("/app"))], defaultBackend=backend("web"))
    routes = build_routes([with_host, catch_all], [ingress_class()], SERVICES, SLICES)
    assert locations(routes, "")[(PREFIX, "/")] == "default/api:http"
    assert locations(routes, "h.com")[(PREFIX, "/")] == "default/web:80"


def test_routes_backends_are_ready_pod_endpoints() -> None:
    """A port by number or name resolves to the EndpointSlice port of the Service port's name: ready pod
    IPs and target ports; no Service, no such port or no ready endpoint leaves a 503."""
    slices = [endpoint_slice("web", 8080, "10.244.1.5", "10.244.2.5", not_ready=("10.244.2.5",)), SLICES[1]]
    ing = ingress("a", [rule("h.com", path("/w"), path("/a", service="api", port="http"),
                             path("/n", service="nothing"), path("/p", port=81),
                             path("/b", service="api", port=8000))])
    routes = build_routes([ing], [ingress_class()], SERVICES, slices)
    by_path = {loc.path: loc.backend for s in routes.servers for loc in s.locations}
    assert by_path["/w"].endpoints == (Endpoint("10.244.1.5", 8080),)
    assert by_path["/a"].endpoints == by_path["/b"].endpoints == (Endpoint("10.244.1.7", 9000),)
    assert by_path["/n"].status == by_path["/p"].status == 503
    assert any("nothing not found" in p for p in routes.problems)
    assert any("no TCP port 81" in p for p in routes.problems)


def test_routes_resource_backends_answer_503() -> None:
    """A resource backend (not a Service) is not supported: 503 and a problem, like ingress-nginx."""
    ing = ingress("a", [rule("h.com", {"path": "/r", "pathType": "Prefix",
                                       "backend": {"resource": {"kind": "Bucket", "name": "b"}}})])
    routes = build_routes([ing], [ingress_class()], SERVICES, SLICES)
    assert locations(routes, "h.com")[(EXACT, "/r")] == "default/<resource>"
    assert next(loc for s in routes.servers for loc in s.locations if loc.path == "/r").backend.status == 503


# ---- hostile objects -------------------------------------------------------------------------------

HOSTILE_PATHS = ['/a;return 200 "x";', "/a}", "/a{", '/a"b', "/a b", "/a\nb", "/(.*)", "/a$host", "/a\\",
                 "/~x^", "/a%20", "/a'b", "/*", "/a#b"]
HOSTILE_HOSTS = ["foo.com;", "foo.com }", "FOO.com", "*.*.foo.com", "a.*.foo.com", "foo.com\n", '"foo"',
                 "~^.*$", "foo.com:80", "_"]


@pytest.mark.parametrize("bad", HOSTILE_PATHS)
def test_routes_refuse_paths_that_could_escape_a_location(bad: str) -> None:
    """A path with anything but letters, digits and -._~/ is not served, and reported."""
    routes = build_routes([ingress("a", [rule("h.com", path(bad, "ImplementationSpecific"), path("/ok"))])],
                          [ingress_class()], SERVICES, SLICES)
    served = {loc.path for s in routes.servers for loc in s.locations}
    assert bad not in served and "/ok/" in served
    assert any(repr(bad) in p for p in routes.problems)


@pytest.mark.parametrize("bad", HOSTILE_HOSTS)
def test_routes_refuse_hosts_that_are_not_dns_names(bad: str) -> None:
    """A host that is not a lower-case DNS name (or `*.` and one) gets no server."""
    routes = build_routes([ingress("a", [rule(bad, path("/"))])], [ingress_class()], SERVICES, SLICES)
    assert [s.host for s in routes.servers] == [""]
    assert routes.problems


def test_routes_ignore_hostile_endpoints_and_names() -> None:
    """Slice addresses that are not IPv4, bad ports, bad service and port names never make an upstream."""
    slices = [endpoint_slice("web", 8080, "10.244.1.5", "1.2.3.4; server evil", "::1", "10.0.0.1:80"),
              {**endpoint_slice("api", 70000, "10.244.1.7", port_name="http")}]
    ing = ingress("a", [rule("h.com", path("/a"), path("/b", service="api", port="http"),
                             path("/c", service="web;evil"), path("/d", port="x y"))])
    routes = build_routes([ing], [ingress_class()], SERVICES, slices)
    by_path = {loc.path: loc.backend for s in routes.servers for loc in s.locations}
    assert by_path["/a"].endpoints == (Endpoint("10.244.1.5", 8080),)
    assert by_path["/b"].status == by_path["/c"].status == by_path["/d"].status == 503


def test_quote_escapes_and_refuses_control_characters() -> None:
    """Quoted strings escape backslashes and quotes; a control character is never written."""
    assert quote('a"b\\c;{}') == '"a\\"b\\\\c;{}"'
    with pytest.raises(UnsafeValueError):
        quote("a\nb")


def test_server_name_of_a_wildcard_matches_one_label() -> None:
    """`*.foo.com` becomes a regex of one label (nginx's own wildcard would take several)."""
    assert server_name("*.foo.com") == '"~^[^.]+\\\\.foo\\\\.com$"'
    assert server_name("foo.com") == '"foo.com"' and server_name("") == "_"
    with pytest.raises(UnsafeValueError):
        server_name("foo.com;")


def test_render_golden_structure() -> None:
    """One host, a Prefix and an Exact path: upstreams of pod IPs, exact/prefix locations, the catch-all
    404 server first with default_server, proxy settings once in `http`."""
    ing = ingress("a", [rule("foo.bar.com", path("/app"), path("/api", "Exact", service="api", port="http"))])
    text = render(build_routes([ing], [ingress_class()], SERVICES, SLICES),
                  ProxySettings(listen_ip="10.200.0.10", prefix="/var/lib/x/ingress"))
    body = text[text.index("    upstream "):]
    assert body == """\
    upstream default.api.http {
        server 10.244.1.7:9000 max_fails=0;
        keepalive 32;
        keepalive_timeout 60s;
    }
    upstream default.web.80 {
        server 10.244.1.5:8080 max_fails=0;
        server 10.244.2.5:8080 max_fails=0;
        keepalive 32;
        keepalive_timeout 60s;
    }
    server {
        listen 10.200.0.10:80 default_server;
        server_name _;
        location ^~ "/" {
            return 404;
        }
    }
    server {
        listen 10.200.0.10:80;
        server_name "foo.bar.com";
        location ^~ "/" {
            return 404;
        }
        location = "/api" {
            proxy_pass http://default.api.http;
        }
        location = "/app" {
            proxy_pass http://default.web.80;
        }
        location ^~ "/app/" {
            proxy_pass http://default.web.80;
        }
    }
}
"""
    for directive in ("proxy_http_version 1.1;", "proxy_next_upstream error timeout;",
                      "proxy_set_header X-Forwarded-For $remote_addr;", "proxy_connect_timeout 5s;",
                      "proxy_read_timeout 60s;", "proxy_set_header X-Forwarded-Proto $scheme;"):
        assert text.count(directive) == 1, directive


def test_render_refuses_unsafe_settings() -> None:
    """The listen address and prefix come from the command line: checked all the same."""
    routes = build_routes([], [], [], [])
    with pytest.raises(ValueError):
        render(routes, ProxySettings(listen_ip="0.0.0.0; evil", prefix="/x"))
    with pytest.raises(UnsafeValueError):
        render(routes, ProxySettings(listen_ip="127.0.0.1", prefix="relative"))
    with pytest.raises(UnsafeValueError):
        render(routes, ProxySettings(listen_ip="127.0.0.1", prefix="/x", client_max_body_size="1m; evil"))


@pytest.mark.skipif(not os.access(NGINX, os.X_OK), reason="Debian's nginx is not installed")
def test_render_passes_nginx_t_with_every_hostile_object(tmp_path: Path) -> None:
    """The config rendered from every hostile host and path above (and long names, wildcards, many
    upstreams) is valid nginx: `nginx -t` accepts it."""
    rules = [rule(h, path("/")) for h in HOSTILE_HOSTS]
    rules += [rule("h.com", *[path(p, "ImplementationSpecific") for p in HOSTILE_PATHS], path("/ok"),
                   path("/ok", "Exact"), path("/deep/a/b/c~d_e.f"))]
    rules += [rule("*.foo.com", path("/")), rule(("a" * 63 + ".") * 3 + "b" * 61, path("/"))]
    slices = [endpoint_slice("web", 8080, *[f"10.244.{i // 250}.{i % 250 + 1}" for i in range(600)])]
    text = render(build_routes([ingress("a", rules, defaultBackend=backend())], [ingress_class()], SERVICES,
                               slices), ProxySettings(listen_ip="127.0.0.1", port=8080, prefix=str(tmp_path)))
    (tmp_path / "tmp").mkdir()
    (tmp_path / "nginx.conf").write_text(text)
    done = subprocess.run([NGINX, "-t", "-q", "-p", f"{tmp_path}/", "-c", str(tmp_path / "nginx.conf"),
                           "-e", str(tmp_path / "error.log")], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    for bad in HOSTILE_PATHS + HOSTILE_HOSTS:
        if bad not in ("_",):
            assert f'"{bad}"' not in text, bad
    assert shutil.which(NGINX)


JSON = st.recursive(st.none() | st.booleans() | st.integers(-2, 70000) | st.text(max_size=12),
                    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                    max_leaves=8)


def _replace_somewhere(draw: st.DrawFn, obj: Any) -> Any:
    """`obj` with one nested value (chosen by `draw`) replaced by random JSON."""
    if not isinstance(obj, (dict, list)) or draw(st.integers(0, 3)) == 0:
        return draw(JSON)
    copy_ = dict(obj) if isinstance(obj, dict) else list(obj)
    keys = list(copy_.keys()) if isinstance(copy_, dict) else list(range(len(copy_)))
    if not keys:
        return draw(JSON)
    key = draw(st.sampled_from(keys))
    copy_[key] = _replace_somewhere(draw, copy_[key])  # type: ignore[index]
    return copy_


@st.composite
def hostile_objects(draw: st.DrawFn) -> tuple[list[Obj], list[Obj], list[Obj], list[Obj]]:
    ing = ingress("a", [rule("foo.bar.com", path("/app"), path("/api", "Exact", service="api", port="http"))],
                  defaultBackend=backend())
    objects = [[ing], [ingress_class(default=True)], list(SERVICES), list(SLICES)]
    which = draw(st.integers(0, 3))
    objects[which] = [_replace_somewhere(draw, o) for o in objects[which]]
    return objects[0], objects[1], objects[2], objects[3]


@settings(max_examples=int(os.environ.get("FUZZ_EXAMPLES", "300")), deadline=None)
@given(hostile_objects())
def test_routes_and_render_never_fail_on_malformed_objects(objects: tuple[list[Obj], ...]) -> None:
    """Objects with any JSON anywhere are routed or skipped, never an exception, and render safely."""
    routes = build_routes(*objects)
    render(routes, ProxySettings(listen_ip="127.0.0.1", prefix="/x"))
