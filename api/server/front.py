"""The API front: one asyncio loop per master that owns every client connection.

It listens on the API address (TLS when configured, else plain HTTP) and, with TLS, on a plain
loopback port for the master's own controllers (`Master.internal_url`). It reads each request
itself and:

- serves watches (GET with `watch=true|1`) on its loop: the request runs through the WSGI app in a
  small thread pool, unchanged (auth, metrics, parsing, 400/401/403/404/410/429); instead of
  blocking a thread, the app leaves a `WatchPlan` that the `WatchDispatcher` then feeds. The next
  long-poll of the same request (same path, query and token; only the resourceVersion differs) on
  the same connection is re-armed on the loop from what the app checked the first time (our
  informers poll in a loop: one app run per connection instead of one per poll; these re-polls
  are not counted in `apiserver_request_total`);
- runs every other request through the WSGI app in a pool of `app_threads` threads and writes
  its answer: whole with Content-Length, or chunked piece by piece when the app streams (a
  `pods/log` stream), so that the connection carries further requests, watches included.

Limits, so that idle or hostile clients cannot pin the master: at most `max_connections` client
connections (counted from accept, before any TLS handshake; the next is closed at once); the TLS
handshake within `handshake_timeout`; the first request head within `first_request_timeout`; a
later one within `idle_timeout` of the previous answer and `head_timeout` of its first byte;
heads of at most 256 KiB (431); bodies of at most `max_body` (413); every body read within
`head_timeout` of the previous progress. A client that goes away (EOF or reset) is noticed at
once: its watch ends and gives its slot back, and a log stream's app sees it through
`environ["waitress.client_disconnected"]` (the name the app has always asked).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import ssl
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from minik8s.api import errors
from minik8s.api.threads import thread as guarded_thread

from .httpwire import (LAST_CHUNK, MAX_CHUNK_LINE, MAX_HEAD, HttpError, RequestHead, chunk, parse_request_head,
                       plain_response, read_chunked, response_head, wsgi_environ)
from minik8s.store import CompactedError

from .resources import long_poll_body
from .watch import WATCH_PLAN, PlanSlot, PollTemplate, WatchCapacityError, WatchHub, WatchPlan
from .watchserve import ANSWERED, ENDED, EXPIRED, WatchDispatcher, Watcher, long_poll_answer

log = logging.getLogger(__name__)

_READ_HIGH = 256 * 1024  # client bytes buffered before the front stops reading
_INITIAL_PIECE = 256 * 1024  # a stream's first lines are written (and drained) in pieces of this size


@dataclass(frozen=True)
class Listener:
    """One address the front serves; `tls` None: plain HTTP."""

    host: str
    port: int
    tls: ssl.SSLContext | None = None


@dataclass(frozen=True)
class FrontLimits:
    max_connections: int = 16_384
    handshake_timeout: float = 10.0
    first_request_timeout: float = 30.0
    idle_timeout: float = 90.0
    head_timeout: float = 30.0
    max_body: int = 4 * 1024 * 1024
    watch_buffer: int = 1 << 20  # a watcher more than this behind (and not draining) is cut off
    setup_threads: int = 8  # threads that run the WSGI app for watch requests


def tls_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return context


PollKey = tuple[tuple[str, ...], int]


def _watch_request(head: RequestHead) -> tuple[bool, PollKey | None]:
    """Whether `head` asks for a watch and, for a long-poll without a body, its re-arm key: what
    identifies the request apart from its resourceVersion (path, the other query parameters in
    order, the Authorization header) and that revision."""
    if head.method != "GET":
        return False, None
    path, query = head.path_and_query()
    rest: list[str] = []
    revisions: list[str] = []
    watch = long_poll = False
    for part in query.split("&"):
        name, _, value = part.partition("=")
        if name == "resourceVersion":
            revisions.append(value)
            continue
        rest.append(part)
        if name == "watch":
            watch = watch or value.lower() in ("true", "1")
        elif name == "longPoll":
            long_poll = long_poll or value.lower() in ("true", "1")
    if not watch or not long_poll or head.content_length or head.chunked or len(revisions) != 1 \
            or not (revisions[0].isascii() and revisions[0].isdigit() and len(revisions[0]) <= 19):
        return watch, None
    return True, ((path, *sorted(rest), head.header("authorization") or ""), int(revisions[0]))


class _ClientGone(Exception):
    """The client closed or reset its connection."""


class HttpFront:
    """Owns the client connections of one master (see the module docstring)."""

    def __init__(self, listeners: list[Listener], *, app: Callable[..., Any], hub: WatchHub,
                 limits: FrontLimits = FrontLimits(), app_threads: int = 64) -> None:
        self.limits = limits
        self.app = app
        self.app_pool = ThreadPoolExecutor(app_threads, thread_name_prefix="api")
        self.open_connections = 0  # only touched on the loop thread
        self._refused_logged = 0.0
        self._loop = asyncio.new_event_loop()
        self.hub = hub
        self.dispatcher = WatchDispatcher(hub, self._loop, buffer_limit=limits.watch_buffer)
        self._pool = ThreadPoolExecutor(limits.setup_threads, thread_name_prefix="watch-setup")
        self._connections: set[_Connection] = set()
        # Bind now, like waitress does: a taken port fails the master's start-up, not its serve().
        self._servers = [self._loop.run_until_complete(self._loop.create_server(
            lambda listener=listener: _Connection(self, listener), listener.host, listener.port, backlog=1024))
            for listener in listeners]
        self.ports = [server.sockets[0].getsockname()[1] for server in self._servers]
        self._thread = guarded_thread(self._loop.run_forever, name="api-front")

    def start(self) -> None:
        """Start serving (the loop thread)."""
        self._thread.start()

    def stop(self) -> None:
        """Close the listeners and every connection, and end the loop thread."""
        def close_all() -> None:
            for server in self._servers:
                server.close()
            for connection in list(self._connections):
                connection.abort()
            self._loop.call_later(0.2, self._loop.stop)

        if self._thread.is_alive():
            self._loop.call_soon_threadsafe(close_all)
            self._thread.join(timeout=5)
        self._pool.shutdown(wait=False, cancel_futures=True)
        self.app_pool.shutdown(wait=False, cancel_futures=True)

    def admit(self) -> bool:
        if self.open_connections >= self.limits.max_connections:
            now = time.monotonic()
            if now - self._refused_logged > 10:
                self._refused_logged = now
                log.warning("API front: %d connections open (the limit); refusing new ones", self.open_connections)
            return False
        self.open_connections += 1
        return True

    async def setup_watch(self, environ: dict[str, Any]) -> AppAnswer:
        """Run the WSGI app for a watch request in the set-up pool; its whole answer."""
        return await self._loop.run_in_executor(self._pool, run_app_whole, self.app, environ)

    async def run_app(self, environ: dict[str, Any]) -> AppAnswer:
        """Run the WSGI app for a (non-watch) request in the app pool."""
        return await self._loop.run_in_executor(self.app_pool, run_app, self.app, environ)


class _Connection(asyncio.Protocol):
    """One client connection: a buffered reader, flow-controlled writes, and its request loop."""

    def __init__(self, front: HttpFront, listener: Listener) -> None:
        self.front = front
        self.listener = listener
        self.loop = front._loop
        self.transport: Any = None
        self.buffer = bytearray()
        self.eof = False
        self.counted = False
        self.on_gone: Callable[[], None] | None = None  # what to end when the client goes away
        self._data_waiter: asyncio.Future[None] | None = None
        self._drain_waiter: asyncio.Future[None] | None = None
        self._writing_paused = False
        self.peer = ""
        self._poll_again: tuple[tuple[str, ...], PollTemplate] | None = None  # the last long-poll set up here

    # ---- protocol callbacks ---------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        if not self.front.admit():
            transport.abort()
            return
        self.counted = True
        self.front._connections.add(self)
        peer = transport.get_extra_info("peername")
        self.peer = peer[0] if isinstance(peer, tuple) else ""
        if self.listener.tls is not None:
            transport.pause_reading()  # not a byte of the ClientHello may reach this protocol
        self.loop.create_task(self._run())

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > _READ_HIGH:
            self.transport.pause_reading()
        self._wake_reader()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake_reader()
        self._gone()
        return self.listener.tls is None  # plain TCP: keep the write side open for a last answer

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self._wake_reader()
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_exception(_ClientGone())
        self._gone()
        self._uncount()

    def pause_writing(self) -> None:
        self._writing_paused = True

    def resume_writing(self) -> None:
        self._writing_paused = False
        if self._drain_waiter is not None and not self._drain_waiter.done():
            self._drain_waiter.set_result(None)

    # ---- helpers ----------------------------------------------------------------------------

    def _uncount(self) -> None:
        if self.counted:
            self.counted = False
            self.front.open_connections -= 1
            self.front._connections.discard(self)

    def _gone(self) -> None:
        callback, self.on_gone = self.on_gone, None
        if callback is not None:
            callback()

    def _wake_reader(self) -> None:
        if self._data_waiter is not None and not self._data_waiter.done():
            self._data_waiter.set_result(None)

    def abort(self) -> None:
        if self.transport is not None:
            self.transport.abort()

    async def _wait_data(self, deadline: float) -> None:
        """Wait for more bytes (or EOF) until `deadline` (loop time): TimeoutError after it."""
        if self.eof:
            raise _ClientGone()
        if self.transport.is_closing():
            raise _ClientGone()
        self.transport.resume_reading()
        waiter = self._data_waiter = self.loop.create_future()
        timer = self.loop.call_at(deadline, lambda: waiter.done() or waiter.set_exception(TimeoutError()))
        try:
            await waiter
        finally:
            timer.cancel()
            self._data_waiter = None

    def _take(self, count: int) -> bytes:
        data = bytes(self.buffer[:count])
        del self.buffer[:count]
        return data

    async def read_until(self, separator: bytes, limit: int, deadline: float, too_long: int) -> bytes:
        while True:
            end = self.buffer.find(separator)
            if end >= 0 and end + len(separator) <= limit:
                return self._take(end + len(separator))
            if end >= 0 or len(self.buffer) > limit:
                raise HttpError(too_long, "request head too large" if too_long == 431 else "line too long")
            if self.eof:
                raise _ClientGone()
            await self._wait_data(deadline)

    async def read_exactly(self, count: int, timeout: float) -> bytes:
        while len(self.buffer) < count:
            if self.eof:
                raise _ClientGone()
            await self._wait_data(self.loop.time() + timeout)
        return self._take(count)

    async def read_some(self, most: int, timeout: float) -> bytes:
        while not self.buffer:
            if self.eof:
                raise _ClientGone()
            await self._wait_data(self.loop.time() + timeout)
        return self._take(min(most, len(self.buffer)))

    def write(self, data: bytes) -> None:
        if self.transport.is_closing():
            raise _ClientGone()
        self.transport.write(data)

    async def drain(self, timeout: float | None = None) -> None:
        if self.transport.is_closing():
            raise _ClientGone()
        if not self._writing_paused:
            return
        waiter = self._drain_waiter = self.loop.create_future()
        try:
            await asyncio.wait_for(waiter, timeout)
        finally:
            self._drain_waiter = None

    # ---- the request loop -------------------------------------------------------------------

    async def _run(self) -> None:
        limits = self.front.limits
        try:
            if self.listener.tls is not None:
                self.transport = await self.loop.start_tls(
                    self.transport, self, self.listener.tls, server_side=True,
                    ssl_handshake_timeout=limits.handshake_timeout)
            deadline = self.loop.time() + limits.first_request_timeout
            while True:
                head = await self._read_head(deadline)
                if head is None:
                    break
                watch, poll = _watch_request(head)
                keep = await (self._watch(head, poll) if watch else self._serve(head))
                if not keep:
                    break
                deadline = self.loop.time() + limits.idle_timeout
            self._close()
        except HttpError as exc:
            self._answer_error(exc)
        except (_ClientGone, TimeoutError, asyncio.TimeoutError, ConnectionError, OSError, ssl.SSLError,
                asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            self.abort()
        except asyncio.CancelledError:
            self.abort()
            raise
        except Exception:  # a bug must not take the loop (and every other connection) down
            log.exception("API front: connection failed")
            self.abort()
        finally:
            if self.transport is not None and self.transport.is_closing():
                self._uncount()  # a failed TLS handshake never reaches connection_lost here

    async def _read_head(self, deadline: float) -> RequestHead | None:
        """The next request head, or None when the client closed cleanly between requests."""
        while not self.buffer:
            if self.eof:
                return None
            try:
                await self._wait_data(deadline)
            except _ClientGone:
                return None
        while self.buffer[:2] == b"\r\n":  # tolerated blank lines between requests (RFC 9112 2.2)
            del self.buffer[:2]
        deadline = min(deadline, self.loop.time() + self.front.limits.head_timeout)
        raw = await self.read_until(b"\r\n\r\n", MAX_HEAD, deadline, 431)
        return parse_request_head(raw)

    def _close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()

    def _answer_error(self, exc: HttpError) -> None:
        if self.transport is None or self.transport.is_closing():
            return
        status = errors.from_status(None, exc.status)
        status.message = str(exc)
        body = json.dumps(status.to_status(), separators=(",", ":")).encode()
        self.transport.write(plain_response(exc.status, body, close=True))
        self.transport.close()

    async def _read_body(self, head: RequestHead) -> bytes:
        """A watch request's (small, unusual) body."""
        if head.chunked:
            raise HttpError(411, "a watch request with a chunked body")
        if head.content_length > MAX_HEAD:
            raise HttpError(413, "the request body is too large")
        if head.content_length and head.expects_continue:
            self.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        return await self.read_exactly(head.content_length, self.front.limits.head_timeout)

    # ---- watches ----------------------------------------------------------------------------

    async def _watch(self, head: RequestHead, poll: PollKey | None) -> bool:
        if poll is not None and self._poll_again is not None and self._poll_again[0] == poll[0]:
            answered = await self._rearm(head, self._poll_again[1], poll[1])
            if answered is not None:
                return answered
        self._poll_again = None
        body = await self._read_body(head)
        scheme = "https" if self.listener.tls is not None else "http"
        environ = wsgi_environ(head, body, peer=self.peer, scheme=scheme, server=(self.listener.host,
                                                                                  self.listener.port))
        slot = PlanSlot()
        environ[WATCH_PLAN] = slot
        try:
            answer = await self.front.setup_watch(environ)
        except Exception:
            if slot.plan is not None:
                slot.plan.release()
            raise
        plan = slot.plan
        if poll is not None and slot.template is not None and answer.status.startswith("200"):
            self._poll_again = (poll[0], slot.template)
        if plan is None:
            keep = head.keep_alive
            kept = [(k, v) for k, v in answer.headers if k.lower() not in ("content-length", "connection")]
            kept.append(("Content-Length", str(len(answer.body))))
            if not keep:
                kept.append(("Connection", "close"))
            code, _, reason = answer.status.partition(" ")
            self.write(response_head(int(code), kept, reason) + answer.body)
            await self.drain(self.front.limits.idle_timeout)
            return keep
        return await self._serve_plan(plan, head)

    async def _rearm(self, head: RequestHead, template: PollTemplate, revision: int) -> bool | None:
        """The next long-poll of the request last set up on this connection (same path, query, token;
        another resourceVersion), served without running the app: what the app checked then holds
        now. None when the app must answer instead (no slot free: 429; compacted: 410)."""
        hub = self.front.hub
        try:
            hub.acquire_slot()
        except WatchCapacityError:
            return None
        try:
            events, revision = hub.events_after(revision)
        except CompactedError:
            hub.release_slot()
            return None
        except BaseException:
            hub.release_slot()
            raise
        found = [line for cached in events if (line := template.render(cached)) is not None]
        if found or template.timeout <= 0:
            hub.release_slot()
            keep = head.keep_alive
            self.write(plain_response(200, long_poll_body(revision, found), close=not keep,
                                      extra=[("X-Minik8s-Revision", str(revision))]))
            await self.drain(self.front.limits.idle_timeout)
            return keep
        plan = WatchPlan(template.prefix, revision, template.render, hub.release_slot,
                         time.monotonic() + template.timeout, long_poll=True, shared=template.shared)
        return await self._serve_plan(plan, head)

    async def _serve_plan(self, plan: WatchPlan, head: RequestHead) -> bool:
        """Serve a set-up watch as a long-poll or a stream, and release its plan."""
        try:
            if self.eof or self.transport.is_closing():
                return False
            return await (self._long_poll(plan, head) if plan.long_poll else self._stream(plan, head))
        finally:
            plan.release()

    @contextlib.contextmanager
    def _watching(self, watcher: Watcher) -> Iterator[None]:
        """While open: the client going away ends `watcher`; after: it is off the dispatcher."""
        self.on_gone = lambda: self._watcher_gone(watcher)
        try:
            yield
        finally:
            self.on_gone = None
            self.front.dispatcher.remove(watcher)

    async def _long_poll(self, plan: WatchPlan, head: RequestHead) -> bool:
        watcher = Watcher(plan, self.transport, chunked=False)
        with self._watching(watcher):
            self.front.dispatcher.add(watcher)
            how = await watcher.done
        if how not in (ANSWERED, EXPIRED):
            return False
        code, body, extra = long_poll_answer(watcher)
        keep = head.keep_alive
        self.write(plain_response(code, body, close=not keep, extra=extra))
        await self.drain(self.front.limits.idle_timeout)
        return keep

    async def _stream(self, plan: WatchPlan, head: RequestHead) -> bool:
        chunked = head.version == "HTTP/1.1"
        framing = ("Transfer-Encoding", "chunked") if chunked else ("Connection", "close")
        self.write(response_head(200, [("Content-Type", plan.content_type), ("Cache-Control", "no-cache, private"),
                                       framing]))
        watcher = Watcher(plan, self.transport, chunked=chunked)
        with self._watching(watcher):
            lines, piece = plan.initial, []
            size = 0
            for index, line in enumerate(lines):  # a big first list: written as the client takes it
                piece.append(line)
                size += len(line)
                if size >= _INITIAL_PIECE or index == len(lines) - 1:
                    self.write(watcher.frame(b"".join(piece)))
                    piece, size = [], 0
                    await self.drain(self.front.limits.head_timeout)
            plan.initial = []
            if plan.ended:
                how = ENDED
            else:
                self.front.dispatcher.add(watcher)
                how = await watcher.done
        if how != ENDED or not chunked:
            if how == ENDED:
                self._close()
            else:
                self.abort()
            return False
        self.write(LAST_CHUNK)
        await self.drain(self.front.limits.idle_timeout)
        return head.keep_alive

    def _watcher_gone(self, watcher: Watcher) -> None:
        self.front.dispatcher.remove(watcher)
        watcher.finish("gone")

    # ---- everything else: the WSGI app in the app pool ------------------------------------------

    async def _read_request_body(self, head: RequestHead) -> bytes:
        """The whole request body (Content-Length or chunked), at most `max_body` bytes (413)."""
        limits = self.front.limits
        if head.content_length > limits.max_body:
            raise HttpError(413, f"the request body is larger than {limits.max_body} bytes")
        if head.expects_continue and (head.content_length or head.chunked):
            self.write(b"HTTP/1.1 100 Continue\r\n\r\n")
        if not head.chunked:
            return await self.read_exactly(head.content_length, limits.head_timeout)
        return await read_chunked(lambda: self.read_until(b"\r\n", MAX_CHUNK_LINE, self.loop.time()
                                                          + limits.head_timeout, 400),
                                  lambda n: self.read_exactly(n, limits.head_timeout), limit=limits.max_body)

    def client_gone(self) -> bool:
        """Whether the client closed or reset its connection (safe to ask from any thread)."""
        return self.eof

    async def _serve(self, head: RequestHead) -> bool:
        """Run the WSGI app for one request in the app pool and write its answer; whether the
        connection carries another request."""
        body = await self._read_request_body(head)
        scheme = "https" if self.listener.tls is not None else "http"
        environ = wsgi_environ(head, body, peer=self.peer, scheme=scheme, server=(self.listener.host,
                                                                                  self.listener.port))
        environ[CLIENT_DISCONNECTED] = self.client_gone
        answer = await self.front.run_app(environ)
        keep = head.keep_alive and not any(k.lower() == "connection" and "close" in v.lower()
                                           for k, v in answer.headers)
        headers = [(k, v) for k, v in answer.headers if k.lower() not in _HOP_BY_HOP]
        code, _, reason = answer.status.partition(" ")
        if answer.rest is None:
            if not any(k.lower() == "content-length" for k, _ in headers):
                headers.append(("Content-Length", str(len(answer.body))))
            if not keep:
                headers.append(("Connection", "close"))
            self.write(response_head(int(code), headers, reason)
                       + (b"" if head.method == "HEAD" else answer.body))
            await self.drain(self.front.limits.idle_timeout)
            return keep
        return await self._stream_answer(head, int(code), reason, headers, answer)

    async def _stream_answer(self, head: RequestHead, code: int, reason: str, headers: list[tuple[str, str]],
                             answer: AppAnswer) -> bool:
        """A response without Content-Length (a log stream): chunked, each piece as the app yields it."""
        chunked = head.version == "HTTP/1.1"
        headers.append(("Transfer-Encoding", "chunked") if chunked else ("Connection", "close"))
        pool = self.front.app_pool
        try:
            self.write(response_head(code, headers, reason))
            piece = answer.body
            while piece is not None:
                if piece:
                    self.write(chunk(piece) if chunked else piece)
                    await self.drain(self.front.limits.head_timeout)
                piece = await self.loop.run_in_executor(pool, _next_piece, answer.rest)
        finally:
            await self.loop.run_in_executor(pool, _close_app_result, answer.result)
        if not chunked:
            self._close()
            return False
        self.write(LAST_CHUNK)
        await self.drain(self.front.limits.idle_timeout)
        return head.keep_alive


_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade"})
CLIENT_DISCONNECTED = "waitress.client_disconnected"  # the name waitress uses; the log proxy asks it


@dataclass
class AppAnswer:
    """What the WSGI app answered: its whole body, or its first bytes and an iterator of the rest."""

    status: str
    headers: list[tuple[str, str]]
    body: bytes
    rest: Any = None  # an iterator of further pieces (None: `body` is all of it)
    result: Any = None  # the app's iterable, closed once the rest is sent


def run_app(app: Callable[..., Any], environ: dict[str, Any]) -> AppAnswer:
    """Run the WSGI app for one request (in an app pool thread). A response with Content-Length (or
    to HEAD) is read whole; any other streams."""
    started: list[Any] = []
    written: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable[[bytes], None]:
        started[:] = [status, headers]
        return written.append

    result = app(environ, start_response)
    rest = iter(result)
    if not started:  # an app that starts its response with its first piece
        first = next(rest, b"")
        written.append(first)
    status, headers = started
    if environ["REQUEST_METHOD"] == "HEAD" or any(k.lower() == "content-length" for k, _ in headers):
        try:
            written.extend(rest)
        finally:
            _close_app_result(result)
        return AppAnswer(status, headers, b"".join(written))
    return AppAnswer(status, headers, b"".join(written), rest, result)


def run_app_whole(app: Callable[..., Any], environ: dict[str, Any]) -> AppAnswer:
    """`run_app`, with a streamed answer read to its end (a watch set-up's answers are small)."""
    answer = run_app(app, environ)
    if answer.rest is None:
        return answer
    try:
        body = answer.body + b"".join(answer.rest)
    finally:
        _close_app_result(answer.result)
    return AppAnswer(answer.status, answer.headers, body)


def _next_piece(rest: Any) -> bytes | None:
    return next(rest, None)


def _close_app_result(result: Any) -> None:
    close = getattr(result, "close", None)
    if close is not None:
        close()
