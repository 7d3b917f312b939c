"""Hostile clients: floods and stuck connections against a master's API and Raft ports.

Each attack is bounded in count and in time and stops by itself; every target must be an address
on this machine (the masters a test or `minik8s up` started). Against an `https` API URL the HTTP
attacks speak TLS (trusting `--ca-file`), so they reach the server behind the TLS front; idle
sockets stay plain TCP (they never start the handshake). `run_all` runs them concurrently and
returns what each did; `python -m minik8s.chaos.hostile_clients` does the same from a separate
process (so a test's own probes are not slowed by the attackers' threads). The bearer token for
the authenticated attacks comes from the environment (`MINIK8S_TOKEN`), never from argv.

Attacks:
- `raft_length_flood`: a frame length prefix of 0x7fffffff, then up to `flood_bytes` of junk;
- `garbage_connections`: connections that send random bytes (or nothing) and stay open;
- `huge_requests`: HTTP requests with 200 KB methods and 1 MB header lines;
- `idle_sockets`: many TCP connections that never send a byte;
- `stuck_log_streams`: `pods/log?follow=true` requests for a pod whose node never answers;
- `bad_watches`: watches with malformed parameters (each must be refused and release its slot).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import ssl
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests

Address = tuple[str, int]
LOOPBACK_PREFIXES = ("127.", "::1", "localhost")


def _check_local(addr: Address) -> None:
    if not addr[0].startswith(LOOPBACK_PREFIXES):
        raise ValueError(f"hostile clients only target loopback addresses, not {addr[0]}")


def _connect(addr: Address, timeout: float = 2.0, tls: ssl.SSLContext | None = None) -> socket.socket | None:
    """A connection to `addr` (TLS when a context is given), or None when it cannot be opened."""
    try:
        sock = socket.create_connection(addr, timeout=timeout)
    except OSError:
        return None
    if tls is None:
        return sock
    try:
        return tls.wrap_socket(sock, server_hostname=addr[0])
    except OSError:
        sock.close()
        return None


def _closed_by_peer(sock: socket.socket, timeout: float) -> bool:
    """True when the peer closes (or resets) the connection within `timeout` seconds."""
    sock.settimeout(timeout)
    try:
        while sock.recv(65536):
            pass
        return True
    except (ConnectionError, OSError) as exc:
        return not isinstance(exc, socket.timeout)


def raft_length_flood(addr: Address, *, flood_bytes: int = 48 * 1024 * 1024, seconds: float = 15.0) -> dict[str, Any]:
    """Announce a 2 GiB frame, then stream junk until the member drops us or the bounds are reached."""
    _check_local(addr)
    sock = _connect(addr)
    if sock is None:
        return {"sent": 0, "dropped": True}
    sent, dropped = 0, False
    chunk = os.urandom(1024 * 1024)
    deadline = time.monotonic() + seconds
    try:
        sock.settimeout(2.0)
        sock.sendall(struct.pack("i", 0x7FFFFFFF))
        while sent < flood_bytes and time.monotonic() < deadline:
            sock.sendall(chunk)
            sent += len(chunk)
    except (ConnectionError, OSError):
        dropped = True
    finally:
        sock.close()
    return {"sent": sent, "dropped": dropped}


def garbage_connections(addr: Address, *, count: int = 100, hold: float = 5.0,
                        tls: ssl.SSLContext | None = None) -> dict[str, Any]:
    """`count` connections sending random bytes (a third send nothing); how many the server closed."""
    _check_local(addr)
    socks = []
    for i in range(count):
        sock = _connect(addr, tls=tls)
        if sock is None:
            continue
        try:
            if i % 3:
                sock.sendall(os.urandom(64 + (i * 97) % 4000))
        except OSError:
            pass
        socks.append(sock)
    deadline = time.monotonic() + hold
    closed = 0
    for sock in socks:
        if _closed_by_peer(sock, max(0.01, deadline - time.monotonic())):
            closed += 1
        sock.close()
    return {"opened": len(socks), "closed_by_server": closed}


def huge_requests(addr: Address, *, count: int = 40, method_bytes: int = 200_000,
                  header_bytes: int = 1_000_000, tls: ssl.SSLContext | None = None) -> dict[str, Any]:
    """HTTP requests with enormous methods (half) and enormous header lines (half); the answers' status lines."""
    _check_local(addr)
    answers: dict[str, int] = {}
    for i in range(count):
        if i % 2:
            request = b"X" * method_bytes + b" /api/v1/namespaces HTTP/1.1\r\nHost: x\r\n\r\n"
        else:
            request = (b"GET /api/v1/namespaces HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * header_bytes
                       + b"\r\n\r\n")
        sock = _connect(addr, tls=tls)
        if sock is None:
            answers["no-connect"] = answers.get("no-connect", 0) + 1
            continue
        status = "closed"
        try:
            sock.settimeout(5.0)
            sock.sendall(request)
            head = sock.recv(64)
            status = head.split(b"\r\n", 1)[0].decode("latin-1")[:40] or "closed"
        except (ConnectionError, OSError):
            pass
        finally:
            sock.close()
        answers[status] = answers.get(status, 0) + 1
    return {"answers": answers}


def idle_sockets(addr: Address, *, count: int = 1000, hold: float = 10.0,
                 stop: threading.Event | None = None) -> dict[str, Any]:
    """Open `count` connections that never send anything; hold them for `hold` seconds."""
    _check_local(addr)
    socks = [s for _ in range(count) if (s := _connect(addr)) is not None]
    (stop or threading.Event()).wait(hold)
    still_open = 0
    for sock in socks:
        sock.setblocking(False)
        try:
            still_open += sock.recv(1) != b""
        except BlockingIOError:
            still_open += 1
        except OSError:
            pass
        sock.close()
    return {"opened": len(socks), "open_at_end": still_open}


def _many(count: int, fn: Callable[[int], str]) -> dict[str, int]:
    results: dict[str, int] = {}
    lock = threading.Lock()

    def one(i: int) -> None:
        outcome = fn(i)
        with lock:
            results[outcome] = results.get(outcome, 0) + 1

    threads = [threading.Thread(target=one, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    return results


def stuck_log_streams(base_url: str, token: str, log_path: str, *, count: int = 40,
                      timeout: float = 60.0, verify: str | bool = True) -> dict[str, Any]:
    """`count` concurrent `follow` log requests for a pod whose node accepts and never answers."""
    def one(_: int) -> str:
        try:
            with requests.get(base_url + log_path, params={"follow": "true"}, stream=True, timeout=(5, timeout),
                              headers={"Authorization": f"Bearer {token}"}, verify=verify) as response:
                for _chunk in response.iter_content(chunk_size=None):
                    pass
                return str(response.status_code)
        except requests.RequestException as exc:
            return type(exc).__name__

    return {"answers": _many(count, one)}


BAD_WATCH_QUERIES: tuple[tuple[dict[str, str], dict[str, str]], ...] = (
    ({"watch": "true", "timeoutSeconds": "abc"}, {}),
    ({"watch": "true", "resourceVersion": "abc"}, {}),
    ({"watch": "true", "includeObject": "bogus"}, {"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"}),
    ({"watch": "true", "labelSelector": "a in (b"}, {}),
    ({"watch": "true", "fieldSelector": "bogus.field=x"}, {}),
    ({"watch": "true", "longPoll": "true", "resourceVersion": "abc"}, {}),
    ({"watch": "true", "longPoll": "true", "timeoutSeconds": "x"}, {}),
)


def bad_watches(base_url: str, token: str, *, count: int = 300, path: str = "/api/v1/namespaces/default/pods",
                verify: str | bool = True) -> dict[str, Any]:
    """`count` watch requests with malformed parameters; the status codes they got."""
    session = requests.Session()
    session.trust_env = False
    session.verify = verify
    session.headers["Authorization"] = f"Bearer {token}"
    codes: dict[str, int] = {}
    for i in range(count):
        params, headers = BAD_WATCH_QUERIES[i % len(BAD_WATCH_QUERIES)]
        try:
            with session.get(base_url + path, params=params, headers=headers, stream=True, timeout=5) as response:
                code = str(response.status_code)
        except requests.RequestException as exc:
            code = type(exc).__name__
        codes[code] = codes.get(code, 0) + 1
    session.close()
    return {"codes": codes}


@dataclass
class Plan:
    """What to attack: an API URL (http, or https with the CA that signed it), Raft addresses, and
    optionally a pod log path."""

    api_url: str
    raft: list[Address]
    token: str = ""
    log_path: str | None = None
    seconds: float = 15.0
    idle: int = 1000
    ca_file: str | None = None
    results: dict[str, Any] = field(default_factory=dict)


def _api_address(url: str) -> Address:
    hostport = url.split("://", 1)[-1].split("/", 1)[0]
    host, _, port = hostport.rpartition(":")
    return host, int(port)


def run_all(plan: Plan) -> dict[str, Any]:
    """Run every attack concurrently (each bounded); returns each one's result."""
    api = _api_address(plan.api_url)
    _check_local(api)
    for addr in plan.raft:
        _check_local(addr)
    tls = ssl.create_default_context(cafile=plan.ca_file) if plan.api_url.startswith("https") else None
    verify: str | bool = plan.ca_file or True
    jobs: dict[str, Callable[[], Any]] = {
        "idle_sockets": lambda: idle_sockets(api, count=plan.idle, hold=plan.seconds),
        "api_garbage": lambda: garbage_connections(api, count=100, hold=plan.seconds / 2, tls=tls),
        "huge_requests": lambda: huge_requests(api, tls=tls),
        "bad_watches": lambda: bad_watches(plan.api_url, plan.token, verify=verify),
    }
    for i, addr in enumerate(plan.raft):
        jobs[f"raft_flood_{i}"] = lambda addr=addr: raft_length_flood(addr, seconds=plan.seconds)
        jobs[f"raft_garbage_{i}"] = lambda addr=addr: garbage_connections(addr, count=60, hold=plan.seconds / 2)
    if plan.log_path:
        jobs["stuck_logs"] = lambda: stuck_log_streams(plan.api_url, plan.token, plan.log_path or "",
                                                       timeout=plan.seconds * 4, verify=verify)
    results: dict[str, Any] = {}

    def run(name: str, job: Callable[[], Any]) -> None:
        try:
            results[name] = job()
        except Exception as exc:  # an attack that fails is reported, not raised: the others go on
            results[name] = {"error": repr(exc)}

    threads = [threading.Thread(target=run, args=item, name=item[0], daemon=True) for item in jobs.items()]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=plan.seconds * 10)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--api-url", required=True, help="API URL of one master (loopback; http or https)")
    parser.add_argument("--ca-file", default=None, help="CA that signed an https master's certificate")
    parser.add_argument("--raft", default="", help="comma-separated Raft HOST:PORT addresses (loopback)")
    parser.add_argument("--log-path", default=None, help="pods/log path of a pod whose node never answers")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--idle", type=int, default=1000)
    args = parser.parse_args()
    raft = [(a.rpartition(":")[0], int(a.rpartition(":")[2])) for a in args.raft.split(",") if a]
    plan = Plan(args.api_url, raft, os.environ.get("MINIK8S_TOKEN", ""), args.log_path, args.seconds, args.idle,
                args.ca_file)
    print(json.dumps(run_all(plan)))


if __name__ == "__main__":
    main()
