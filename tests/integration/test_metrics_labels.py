"""Issue 7 item 5: nothing a client sends becomes a Prometheus label value (fixed label sets only)."""

from __future__ import annotations

import re
import secrets
import socket

from minik8s.api.kinds import RESOURCES

from .cluster import TOKEN, Cluster

ALLOWED_VERBS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "WATCH", "OTHER"}
ALLOWED_RESOURCES = {rt.plural for rt in RESOURCES} | {"-", "unknown"}
SAMPLE = re.compile(r'^apiserver_request_(?:total|duration_seconds_\w+)\{(?P<labels>[^}]*)\}', re.M)
LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def _raw_request(port: int, method: str, path: str, token: str | None) -> bytes:
    """Send one HTTP/1.1 request with an arbitrary method over a raw socket; return the status line."""
    head = f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: 0\r\n"
    if token:
        head += f"Authorization: Bearer {token}\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall((head + "\r\n").encode())
        data = b""
        while b"\r\n" not in data:
            chunk = s.recv(4096)
            if not chunk:
                break
            data += chunk
    return data.split(b"\r\n", 1)[0]


def _labels(text: str) -> list[dict[str, str]]:
    return [dict(LABEL.findall(m.group("labels"))) for m in SAMPLE.finditer(text)]


def _check_metrics(cluster: Cluster) -> list[dict[str, str]]:
    resp = cluster.get(0, "/metrics")
    assert resp.status_code == 200
    assert len(resp.content) < 1024 * 1024, f"/metrics grew to {len(resp.content)} bytes"
    samples = _labels(resp.text)
    assert samples, "no apiserver_request samples"
    for labels in samples:
        assert labels["verb"] in ALLOWED_VERBS, labels["verb"][:80]
        assert labels["resource"] in ALLOWED_RESOURCES, labels["resource"][:80]
        assert labels.get("code", "200") == "OTHER" or re.fullmatch(r"[1-5]\d\d", labels.get("code", "200"))
    return samples


def test_huge_methods_and_random_paths_unauthenticated_do_not_grow_metrics(cluster1: Cluster) -> None:
    """40 unauthenticated requests with 200 KB method names and random paths: /metrics stays small, verb OTHER."""
    port = cluster1.masters[0].api_port
    for n in range(40):
        method = "X" * 200_000 + secrets.token_hex(8).upper()
        path = f"/api/v1/namespaces/{secrets.token_hex(8)}/{secrets.token_hex(40)}/{n}"
        _raw_request(port, method, path, token=None)
    for n in range(40):  # a random path with a real method, and a random group/resource
        _raw_request(port, "GET", f"/apis/{secrets.token_hex(30)}/v1/{secrets.token_hex(30)}", token=None)
    samples = _check_metrics(cluster1)
    assert any(s["verb"] == "OTHER" and s.get("code") == "401" for s in samples), samples


def test_huge_methods_random_resources_and_subresources_authenticated(cluster1: Cluster) -> None:
    """With a valid token: random methods, random resource names and random subresources in the URL."""
    port = cluster1.masters[0].api_port
    for n in range(20):
        # a huge method on a served collection: the resource is known, the verb is not
        _raw_request(port, "Y" * 200_000 + str(n), "/api/v1/namespaces/default/configmaps", token=TOKEN)
        # random resource plurals, random object names, random subresources, random groups
        _raw_request(port, "GET", f"/api/v1/namespaces/default/{secrets.token_hex(40)}", token=TOKEN)
        _raw_request(port, "GET", f"/api/v1/namespaces/default/pods/{secrets.token_hex(40)}", token=TOKEN)
        _raw_request(port, "GET", f"/api/v1/namespaces/default/pods/x/{secrets.token_hex(40)}", token=TOKEN)
        _raw_request(port, "PATCH", f"/apis/{secrets.token_hex(20)}/{secrets.token_hex(4)}/things", token=TOKEN)
        _raw_request(port, secrets.token_hex(10).upper(), f"/api/v1/{secrets.token_hex(20)}", token=TOKEN)
    samples = _check_metrics(cluster1)
    assert any(s["verb"] == "OTHER" and s["resource"] == "configmaps" for s in samples)
    assert any(s["verb"] == "GET" and s["resource"] == "pods" and s["code"] == "404" for s in samples)
    # the whole label space stays tiny: a handful of verbs x resources x codes, not one per request
    assert len({(s["verb"], s["resource"], s.get("code")) for s in samples}) < 60
