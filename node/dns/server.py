"""The node's DNS server: UDP and TCP on port 53 of the node-local address, answers from a cache.

One thread serves UDP. A query whose exact bytes (less the 2-byte id) were answered before, with
the records unchanged since (`ClusterRecords.generation`), is answered from the answer cache:
the cached reply with the query's id, no parsing at all. Other queries are parsed with dnslib,
resolved from the records (`resolver`) and the reply cached; names that are not the cluster's go
to the forwarder on a small pool of threads (at most `max_forwarding` at once; beyond that the
client gets SERVFAIL at once), so a slow upstream never holds up cluster answers. The answer
cache holds at most `cache_size` replies and is emptied when full, so random names cannot grow
it without bound.

TCP (clients retry there after a truncated UDP reply) is served by a thread per connection, at
most `max_tcp` at once, each closed after `tcp_idle` seconds without a query; messages are
length-prefixed (RFC 1035 4.2.2) and several may follow one another on one connection.
"""

from __future__ import annotations

import errno
import logging
import socket
import struct
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from minik8s.api.threads import start_thread

from .forward import Forwarder
from .records import ClusterRecords
from .resolver import ZoneSettings, resolve
from .wire import BadQuery, finish, parse_query, servfail, udp_limit

log = logging.getLogger(__name__)

DNS_PORT = 53


@dataclass(frozen=True)
class ServerSettings:
    """Where and how much the server serves."""

    address: str = "169.254.20.10"
    port: int = DNS_PORT
    cache_size: int = 20000  # answer cache entries before it is emptied
    max_forwarding: int = 64  # forwarded queries in flight at once
    forward_workers: int = 8
    max_tcp: int = 32  # TCP connections at once
    tcp_idle: float = 5.0  # seconds a TCP connection may wait for its next query


class DnsServer:
    """Serves the cluster zone from `records` and forwards the rest (see the module docstring)."""

    def __init__(self, records: ClusterRecords, zone: ZoneSettings, forwarder: Forwarder,
                 settings: ServerSettings = ServerSettings()) -> None:
        self.records = records
        self.zone = zone
        self.forwarder = forwarder
        self.settings = settings
        self._cache: dict[bytes, bytes] = {}
        self._cache_generation = -1
        self._forwarding = threading.BoundedSemaphore(settings.max_forwarding)
        self._tcp_slots = threading.BoundedSemaphore(settings.max_tcp)
        self._pool = ThreadPoolExecutor(settings.forward_workers, thread_name_prefix="dns-forward")
        self._stopped = threading.Event()
        self._udp: socket.socket | None = None
        self._tcp: socket.socket | None = None

    def bind(self) -> tuple[str, int]:
        """Open the UDP and TCP sockets (raises OSError when the address or port is not available).

        Port 0 picks a free UDP port; the same number may be in use for TCP (any outgoing
        connection holds one), so a few picks are tried before giving up.
        """
        attempts = 20 if self.settings.port == 0 else 1
        for attempt in range(attempts):
            try:
                self._udp, self._tcp = self._bind_pair()
                break
            except OSError as err:
                if err.errno != errno.EADDRINUSE or attempt == attempts - 1:
                    raise
        return self._udp.getsockname()[:2]

    def _bind_pair(self) -> tuple[socket.socket, socket.socket]:
        s = self.settings
        family = socket.AF_INET6 if ":" in s.address else socket.AF_INET
        udp = socket.socket(family, socket.SOCK_DGRAM)
        try:
            udp.bind((s.address, s.port))
            tcp = socket.socket(family, socket.SOCK_STREAM)
            try:
                tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                tcp.bind((s.address, udp.getsockname()[1]))
                tcp.listen(64)
            except OSError:
                tcp.close()
                raise
        except OSError:
            udp.close()
            raise
        return udp, tcp

    def start(self) -> None:
        """Bind (unless done) and serve on two threads of their own."""
        if self._udp is None:
            self.bind()
        start_thread(self._serve_udp, name="dns-udp")
        start_thread(self._serve_tcp, name="dns-tcp")
        log.info("cluster DNS serving %s on %s:%d (udp, tcp)", self.zone.domain, *self._udp.getsockname()[:2])

    def stop(self) -> None:
        """Stop serving and close the sockets."""
        self._stopped.set()
        for sock in (self._udp, self._tcp):
            if sock is not None:
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                sock.close()
        self._pool.shutdown(wait=False, cancel_futures=True)

    # ---- answering ---------------------------------------------------------------------------

    def answer(self, data: bytes, *, udp: bool) -> bytes | None:
        """The reply to one query from the records (truncated to fit a UDP reply when `udp`); None
        when it must be forwarded. Raises BadQuery for what is no answerable query."""
        request = parse_query(data)
        try:
            with self.records.reading():
                reply = resolve(request, self.records, self.zone)
            if reply is None:
                return None
            return finish(request, reply, limit=udp_limit(request) if udp else None)
        except Exception:  # noqa: BLE001 - a record dnslib cannot encode must not stop the server
            log.exception("dns: cannot answer %s %s", request.q.qname, request.q.qtype)
            return servfail(request)

    def _cached(self, data: bytes) -> bytes | None:
        generation = self.records.generation
        if generation != self._cache_generation:
            self._cache = {}
            self._cache_generation = generation
            return None
        return self._cache.get(data[2:])

    def _remember(self, data: bytes, reply: bytes, generation: int) -> None:
        if generation != self.records.generation or generation != self._cache_generation:
            return  # the records changed while it was resolved: the next query resolves again
        if len(self._cache) >= self.settings.cache_size:
            self._cache = {}
        self._cache[data[2:]] = reply[2:]

    # ---- UDP ---------------------------------------------------------------------------------

    def _serve_udp(self) -> None:
        sock = self._udp
        assert sock is not None
        while not self._stopped.is_set():
            try:
                data, client = sock.recvfrom(4096)
            except OSError:
                if self._stopped.is_set():
                    return
                continue
            try:
                self._handle_udp(sock, data, client)
            except OSError as exc:  # the client went away meanwhile: nothing to do
                log.debug("dns: reply to %s: %s", client, exc)
            except Exception:  # noqa: BLE001 - one query must never stop the server
                log.exception("dns: query from %s", client)

    def _handle_udp(self, sock: socket.socket, data: bytes, client: tuple) -> None:
        cached = self._cached(data)
        if cached is not None:
            sock.sendto(data[:2] + cached, client)
            return
        generation = self._cache_generation
        try:
            reply = self.answer(data, udp=True)
        except BadQuery as bad:
            if bad.reply is not None:
                sock.sendto(bad.reply, client)
            return
        if reply is None:
            self._forward(data, lambda out: sock.sendto(out, client), tcp=False)
            return
        self._remember(data, reply, generation)
        sock.sendto(reply, client)

    def _forward(self, data: bytes, send: Callable[[bytes], object], *, tcp: bool) -> None:
        """Relay a query on the pool; SERVFAIL at once when too many are in flight."""
        if not self._forwarding.acquire(blocking=False):
            send(servfail(parse_query(data)))
            return

        def run() -> None:
            try:
                reply = self.forwarder.forward(data, tcp=tcp)
                send(reply if reply is not None else servfail(parse_query(data)))
            except OSError as exc:
                log.debug("dns: forwarded reply not sent: %s", exc)
            finally:
                self._forwarding.release()

        try:
            self._pool.submit(run)
        except RuntimeError:  # shut down
            self._forwarding.release()

    # ---- TCP ---------------------------------------------------------------------------------

    def _serve_tcp(self) -> None:
        listener = self._tcp
        assert listener is not None
        while not self._stopped.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                if self._stopped.is_set():
                    return
                continue
            if not self._tcp_slots.acquire(blocking=False):
                conn.close()  # too many at once: the client retries
                continue
            threading.Thread(target=self._tcp_connection, args=(conn,), name="dns-tcp-conn", daemon=True).start()

    def _tcp_connection(self, conn: socket.socket) -> None:
        try:
            while not self._stopped.is_set():
                deadline = time.monotonic() + self.settings.tcp_idle  # for the whole message: no trickling
                header = _read_exactly(conn, 2, deadline)
                if header is None:
                    return
                data = _read_exactly(conn, struct.unpack("!H", header)[0], deadline)
                if data is None:
                    return
                try:
                    reply = self.answer(data, udp=False)
                except BadQuery as bad:
                    if bad.reply is None:
                        return
                    reply = bad.reply
                if reply is None:  # not ours: relayed over TCP, in this connection's own thread
                    if not self._forwarding.acquire(blocking=False):
                        reply = servfail(parse_query(data))
                    else:
                        try:
                            reply = self.forwarder.forward(data, tcp=True) or servfail(parse_query(data))
                        finally:
                            self._forwarding.release()
                conn.sendall(struct.pack("!H", len(reply)) + reply)
        except OSError:
            return
        finally:
            conn.close()
            self._tcp_slots.release()


def _read_exactly(conn: socket.socket, size: int, deadline: float) -> bytes | None:
    """`size` bytes from the connection; None when it closed first. Raises OSError (a timeout) when
    they have not all come by `deadline`."""
    data = b""
    while len(data) < size:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the client sends too slowly")
        conn.settimeout(left)
        chunk = conn.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data
