"""TLS in front of waitress, which speaks only plain HTTP.

An asyncio loop on its own thread accepts TLS connections on the API address and pipes each
one, byte for byte, to waitress listening on a private loopback port (which also serves the
master's own controllers; requests there still need a bearer token). Long-lived watch streams
cost two small coroutines, not threads.

Limits, so that idle or hostile clients cannot pin the master: at most `max_connections` client
connections (counted from accept, before the handshake; the next one is closed at once), the
TLS handshake must finish within `handshake_timeout`, and the first request bytes must arrive
within `first_request_timeout`. After that, an idle keep-alive connection is closed by waitress'
idle timeout on the backend connection, and a closed backend connection closes the client's (and
the other way round: a client that goes away closes the backend connection, which is how waitress
notices that a streaming watch lost its client).
"""

from __future__ import annotations

import asyncio
import logging
import ssl
import time

from minik8s.api.threads import thread as guarded_thread

log = logging.getLogger(__name__)

_CHUNK = 64 * 1024


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, ssl.SSLError, OSError):
        pass
    finally:
        _close(writer)


def _close(writer: asyncio.StreamWriter) -> None:
    try:
        writer.close()
    except (ConnectionError, OSError, RuntimeError):
        pass


class TlsTerminator:
    """Serves TLS on (host, port) and forwards every connection to a loopback port."""

    def __init__(self, host: str, port: int, backend_port: int, *, cert_file: str, key_file: str,
                 max_connections: int = 4096, handshake_timeout: float = 10.0,
                 first_request_timeout: float = 30.0) -> None:
        self._host, self._port, self._backend = host, port, backend_port
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._context.load_cert_chain(cert_file, key_file)
        self.max_connections = max_connections
        self.handshake_timeout = handshake_timeout
        self.first_request_timeout = first_request_timeout
        self.open_connections = 0  # only touched on the loop thread
        self._refused_logged = 0.0
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._thread = guarded_thread(self._loop.run_forever, name="tls")

    def start(self) -> None:
        """Bind the TLS port (raises OSError if taken) and start forwarding."""
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, self._host, self._port, backlog=1024))
        self._thread.start()

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if self.open_connections >= self.max_connections:
            now = time.monotonic()
            if now - self._refused_logged > 10:
                self._refused_logged = now
                log.warning("TLS front: %d connections open (the limit); refusing new ones", self.open_connections)
            client_writer.transport.abort()
            return
        self.open_connections += 1
        try:
            await self._serve(client_reader, client_writer)
        finally:
            self.open_connections -= 1

    async def _serve(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        try:
            await client_writer.start_tls(self._context, ssl_handshake_timeout=self.handshake_timeout)
            first = await asyncio.wait_for(client_reader.read(_CHUNK), self.first_request_timeout)
        except (asyncio.TimeoutError, ConnectionError, ssl.SSLError, OSError):
            client_writer.transport.abort()
            return
        if not first:
            _close(client_writer)
            return
        try:
            backend_reader, backend_writer = await asyncio.open_connection("127.0.0.1", self._backend)
        except OSError as exc:
            log.warning("TLS front: backend %s unavailable: %s", self._backend, exc)
            _close(client_writer)
            return
        backend_writer.write(first)
        await asyncio.gather(_pipe(client_reader, backend_writer), _pipe(backend_reader, client_writer))

    def stop(self) -> None:
        """Stop accepting and end the loop thread."""
        if self._server is not None:
            self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread.is_alive():
            self._thread.join(timeout=5)
