"""TLS in front of waitress, which speaks only plain HTTP.

An asyncio loop on its own thread accepts TLS connections on the API address and pipes each
one, byte for byte, to waitress listening on a private loopback port (which also serves the
master's own controllers; requests there still need a bearer token). Long-lived watch streams
cost two small coroutines, not threads.
"""

from __future__ import annotations

import asyncio
import logging
import ssl

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
        try:
            writer.close()
        except (ConnectionError, OSError, RuntimeError):
            pass


class TlsTerminator:
    """Serves TLS on (host, port) and forwards every connection to a loopback port."""

    def __init__(self, host: str, port: int, backend_port: int, *, cert_file: str, key_file: str,
                 max_connections: int = 4096) -> None:
        self._host, self._port, self._backend = host, port, backend_port
        self._max_connections = max_connections
        self._open = 0
        self._context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self._context.load_cert_chain(cert_file, key_file)
        self._loop = asyncio.new_event_loop()
        self._server: asyncio.base_events.Server | None = None
        self._thread = guarded_thread(self._loop.run_forever, name="tls")

    def start(self) -> None:
        """Bind the TLS port (raises OSError if taken) and start forwarding."""
        self._server = self._loop.run_until_complete(
            asyncio.start_server(self._handle, self._host, self._port, ssl=self._context, backlog=1024,
                                 ssl_handshake_timeout=10))
        self._thread.start()

    async def _handle(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if self._open >= self._max_connections:  # the backend would refuse it too: fail fast
            client_writer.close()
            return
        self._open += 1
        try:
            try:
                backend_reader, backend_writer = await asyncio.open_connection("127.0.0.1", self._backend)
            except OSError as exc:
                log.warning("TLS front: backend %s unavailable: %s", self._backend, exc)
                client_writer.close()
                return
            # Either side ending ends both: the backend (waitress) then sees the client go away.
            await asyncio.gather(_pipe(client_reader, backend_writer), _pipe(backend_reader, client_writer))
        finally:
            self._open -= 1

    def stop(self) -> None:
        """Stop accepting and end the loop thread."""
        if self._server is not None:
            self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        if self._thread.is_alive():
            self._thread.join(timeout=5)
