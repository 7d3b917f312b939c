"""Relays queries for names outside the cluster to the node host's own resolvers.

Like CoreDNS' `forward . /etc/resolv.conf`: the upstreams are the `nameserver` lines of the node
host's resolv.conf (read at start-up; never this server's own address, which would loop). Each
query is sent as the client sent it (UDP or TCP) to one upstream after the other within one
deadline (`timeout`, 1 s), so an unreachable or silent upstream costs at most that long and the
client gets SERVFAIL — a machine without a network (like the test sandbox) must fail fast, never
hang. The upstream's reply is relayed as it is, after checking that it answers this query.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import struct
import time

log = logging.getLogger(__name__)

DNS_PORT = 53


def read_nameservers(path: str = "/etc/resolv.conf", *, exclude: tuple[str, ...] = ()) -> list[str]:
    """The `nameserver` addresses of a resolv.conf (valid IPs only, `exclude`d ones left out)."""
    found = []
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    for line in lines:
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            try:
                address = str(ipaddress.ip_address(parts[1].split("%")[0]))
            except ValueError:
                continue
            if address not in exclude and address not in found:
                found.append(address)
    return found


class Forwarder:
    """Sends a query to the upstreams in turn until one answers or the deadline passes."""

    def __init__(self, upstreams: list[str], *, timeout: float = 1.0, port: int = DNS_PORT) -> None:
        self.upstreams = list(upstreams)
        self.timeout = timeout
        self.port = port

    def forward(self, query: bytes, *, tcp: bool = False) -> bytes | None:
        """The first upstream reply to `query` (raw bytes), or None when none came in time."""
        deadline = time.monotonic() + self.timeout
        for upstream in self.upstreams:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                reply = (self._tcp if tcp else self._udp)(upstream, query, remaining)
            except OSError as exc:  # unreachable, refused, timed out: try the next one
                log.debug("upstream %s: %s", upstream, exc)
                continue
            if reply is not None:
                return reply
        return None

    def _family(self, upstream: str) -> int:
        return socket.AF_INET6 if ":" in upstream else socket.AF_INET

    def _udp(self, upstream: str, query: bytes, timeout: float) -> bytes | None:
        deadline = time.monotonic() + timeout
        with socket.socket(self._family(upstream), socket.SOCK_DGRAM) as sock:
            sock.connect((upstream, self.port))  # replies from anyone else are never delivered
            sock.send(query)
            while (left := deadline - time.monotonic()) > 0:
                sock.settimeout(left)
                reply = sock.recv(65535)
                if _answers(query, reply):
                    return reply
        return None

    def _tcp(self, upstream: str, query: bytes, timeout: float) -> bytes | None:
        with socket.create_connection((upstream, self.port), timeout=timeout) as sock:
            sock.sendall(struct.pack("!H", len(query)) + query)
            size = struct.unpack("!H", _read(sock, 2))[0]
            reply = _read(sock, size)
        return reply if _answers(query, reply) else None


def _answers(query: bytes, reply: bytes) -> bool:
    """Whether `reply` is a response with the query's id and question."""
    if len(reply) < 12 or reply[:2] != query[:2] or not reply[2] & 0x80:
        return False
    question_end = _question_end(query)
    return question_end is not None and reply[12:question_end].lower() == query[12:question_end].lower()


def _question_end(message: bytes) -> int | None:
    """Where the (single, uncompressed) question of a query ends."""
    at = 12
    while at < len(message):
        length = message[at]
        if length == 0:
            return at + 5 if at + 5 <= len(message) else None
        if length & 0xC0:
            return None
        at += 1 + length
    return None


def _read(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            raise OSError("connection closed by the upstream")
        data += chunk
    return data
