"""The server inside every function instance: loads the user's handler, then serves calls over HTTP.

Stdlib-only and self-contained: the function controller copies this file's text into the function's
ConfigMap as `_funcserver.py` next to the user's code, and the pod runs `python3 _funcserver.py`
(host python or the image's, >= 3.8). Nothing here may import minik8s or a third-party module.
A zip source is the one exception to "one file": the controller puts the archive checks
(`minik8s.api.funczip`, stdlib-only too) beside this file as `_funczip.py`, and this server loads
that file by its path, only when it has an archive to unpack.

Configuration (environment variables):
  MINIK8S_FUNCTION_DIR          directory of the user's code, first on sys.path (default: this file's)
  MINIK8S_FUNCTION_ZIP          a zip archive of the user's code: unpacked with the checks of `_funczip.py`
                                (zip slip, links, size and count limits) into a new private directory,
                                which is first on sys.path instead, and removed at exit
  MINIK8S_FUNCTION_HANDLER      `module:function`, dotted attributes allowed (default `main:handle`)
  MINIK8S_FUNCTION_PORT         port to listen on (default 8080)
  MINIK8S_FUNCTION_ADDRESS      address to listen on (default 0.0.0.0)
  MINIK8S_FUNCTION_MAX_BODY     largest request body in bytes (default 6 MiB)
  MINIK8S_FUNCTION_TIMEOUT      seconds a call may wait for a slot; also bounds the drain at exit (default 60)
  MINIK8S_CONTAINER_CONCURRENCY calls that run at once (0 = unlimited); 10x as many more may wait

The handler is imported *before* the port opens, so "listening" means "loaded"; an import or lookup
failure (or an archive that cannot be unpacked) prints the traceback to stderr and exits 1.

HTTP/1.1 with keep-alive; every read on a connection (idle keep-alive ones too) times out after 30 s.
  GET  /healthz  200 `ok` (503 once shutting down)
  POST /invoke   JSON body (empty = null) -> handler(params) -> 200 JSON result with header
                 X-Minik8s-Duration-Ms (handler time). A coroutine result is run with asyncio.run.
Errors are JSON `{"error", "message"}`: 400 invalid JSON (NaN/Infinity included) or Content-Length;
411 a chunked body (not supported; a request with neither Content-Length nor Transfer-Encoding has
an empty body, RFC 9112 6.3); 413 a Content-Length over the limit (the body is not read); 404; 405;
500 the handler raised (+ "traceback", also printed to stderr) or returned something that is not
JSON (`ResultNotJSON`); 503 + `X-Minik8s-Not-Started: 1` when the handler did not run (queue full,
no slot within the timeout, shutting down): the caller may retry it on another instance.
SIGTERM/SIGINT: new calls get that 503, running calls finish (bounded by the timeout), then 1 s more
of 503s (MINIK8S_FUNCTION_LAME_DUCK: routers learn that the pod goes) before the port closes; exit 0.
One line goes to stderr once the port is open (the handler, the address, and how long after the
interpreter started: a cold start's own share); after that only errors (there is no access log).
"""

from __future__ import annotations

import importlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import socketserver
import sys
import tempfile
import threading
import time
import traceback
import types
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable, Dict, Optional, Tuple

NOT_STARTED = {"X-Minik8s-Not-Started": "1"}
LAME_DUCK_SECONDS = 1.0  # 503s after the drain, before the port closes (see main)
HELPER_FILE = "_funczip.py"
MAX_ARCHIVE_BYTES = 16 << 20  # read at most this much of MINIK8S_FUNCTION_ZIP (the API server allows 512 KiB)
_stderr_lock = threading.Lock()


def log_error(text: str) -> None:
    """Write one block to stderr at once (handler threads must not interleave)."""
    with _stderr_lock:
        sys.stderr.write(text.rstrip("\n") + "\n")
        sys.stderr.flush()


def _reject_constant(name: str) -> Any:
    raise ValueError("%s is not valid JSON" % name)


class Breaker:
    """At most `limit` calls run at once (0 = no limit); up to `queue` more wait at most `wait` s."""

    def __init__(self, limit: int, queue: int, wait: float) -> None:
        self.limit, self.queue, self.wait = limit, queue, wait
        self.running = self.waiting = 0
        self.closed = False
        self._cond = threading.Condition()

    def enter(self) -> Optional[str]:
        """Take a slot: None when taken, else why not (then the call must not start)."""
        deadline = time.monotonic() + self.wait
        with self._cond:
            if self.closed:
                return "the instance is shutting down"
            if self.limit and self.running + self.waiting >= self.limit + self.queue:
                return "the queue is full (%d running, %d waiting)" % (self.running, self.waiting)
            self.waiting += 1
            try:
                while self.limit and self.running >= self.limit and not self.closed:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        return "no free slot within %g s" % self.wait
                    self._cond.wait(left)
                if self.closed:
                    return "the instance is shutting down"
                self.running += 1
                return None
            finally:
                self.waiting -= 1

    def leave(self) -> None:
        """Give a slot back."""
        with self._cond:
            self.running -= 1
            self._cond.notify_all()

    def close_and_drain(self, timeout: float) -> bool:
        """Refuse new and waiting calls, then wait up to `timeout` s for the running ones to end."""
        with self._cond:
            self.closed = True
            self._cond.notify_all()
            return self._cond.wait_for(lambda: self.running == 0, timeout)


class _Json(str):
    """JSON text already encoded: sent as is."""


class _Reply(Exception):
    """An error answer decided while reading the request."""

    def __init__(self, status: int, kind: str, message: str) -> None:
        super().__init__(message)
        self.status, self.kind, self.message = status, kind, message


class Handler(BaseHTTPRequestHandler):
    """One connection: GET /healthz and POST /invoke."""

    protocol_version = "HTTP/1.1"
    timeout = 30.0  # seconds, every read and write on the connection
    function: Callable[[Any], Any]
    handler_name = ""
    breaker: Breaker
    max_body = 6 << 20
    body_read = linger = False

    def log_message(self, format: str, *args: Any) -> None:
        """No access log, no "Request timed out" for idle keep-alive connections."""

    def send(self, status: int, body: Any, headers: Optional[Dict[str, str]] = None, close: bool = False) -> None:
        """Answer with `body`: JSON unless it is a plain str (text); close the connection if asked or draining."""
        close = close or self.breaker.closed
        self.close_connection = self.close_connection or close
        data = (body if isinstance(body, str) else json.dumps(body)).encode()
        self.send_response(status)
        plain = isinstance(body, str) and not isinstance(body, _Json)
        self.send_header("Content-Type", "text/plain; charset=utf-8" if plain else "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in dict(headers or {}, **({"Connection": "close"} if close else {})).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def error(self, status: int, kind: str, message: str, headers: Optional[Dict[str, str]] = None) -> None:
        """A JSON error; the connection closes if the request has a body that was not read."""
        unread = not self.body_read and ("Transfer-Encoding" in self.headers
                                         or self.headers.get("Content-Length", "0") != "0")
        self.linger = self.linger or unread
        self.send(status, {"error": kind, "message": message}, headers, close=unread)

    def finish(self) -> None:
        """After an answer that left a body unread, close gently: stop writing, then discard what the
        client still sends (at most 2 s), or closing would reset the connection before it reads the answer."""
        super().finish()
        if self.linger:
            deadline = time.monotonic() + 2.0
            try:
                self.connection.shutdown(socket.SHUT_WR)
                while time.monotonic() < deadline:
                    self.connection.settimeout(max(0.01, deadline - time.monotonic()))
                    if not self.connection.recv(65536):
                        break
            except OSError:
                pass

    def route(self) -> None:
        """Dispatch by path, then method."""
        self.body_read = False
        path = self.path.split("?", 1)[0]
        allowed = {"/healthz": ("GET", "HEAD"), "/invoke": ("POST",)}.get(path)
        if allowed is None:
            self.error(404, "NotFound", "no such path: %s" % path)
        elif self.command not in allowed:
            self.error(405, "MethodNotAllowed", "%s takes %s" % (path, ", ".join(allowed)),
                       {"Allow": ", ".join(allowed)})
        elif path == "/invoke":
            self.invoke()
        elif self.breaker.closed:
            self.send(503, "shutting down", NOT_STARTED)
        else:
            self.send(200, "ok")

    do_GET = do_HEAD = do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = route

    def read_params(self) -> Any:
        """The request's JSON body (None when empty), or raise _Reply."""
        if "Transfer-Encoding" in self.headers:
            raise _Reply(411, "LengthRequired", "send the body with a Content-Length (chunked is not supported)")
        length = self.headers.get("Content-Length", "0")
        if not (length.isascii() and length.isdigit()):
            raise _Reply(400, "BadRequest", "invalid Content-Length: %r" % length)
        if int(length) > self.max_body:
            raise _Reply(413, "RequestEntityTooLarge", "the body (%s bytes) is over %d bytes" % (length, self.max_body))
        body = self.rfile.read(int(length))
        if len(body) < int(length):
            self.close_connection = True
            raise _Reply(400, "BadRequest", "the body ended early")
        self.body_read = True
        if not body.strip():
            return None
        try:
            return json.loads(body, parse_constant=_reject_constant)
        except (ValueError, RecursionError) as exc:
            raise _Reply(400, "BadRequest", "the body is not valid JSON: %s" % exc) from None

    def invoke(self) -> None:
        """POST /invoke: read, wait for a slot, call, answer. The slot is held until the answer is
        written, so once the breaker has drained every answer has been sent."""
        try:
            params = self.read_params()
        except _Reply as reply:
            return self.error(reply.status, reply.kind, reply.message)
        refused = self.breaker.enter()
        if refused is not None:
            return self.error(503, "NotStarted", refused, NOT_STARTED)
        try:
            status, body, took = self.call(params)
            self.send(status, body, {"X-Minik8s-Duration-Ms": took})
        finally:
            self.breaker.leave()

    def call(self, params: Any) -> Tuple[int, Any, str]:
        """Run the handler: (status, body, its time in ms as text)."""
        started = time.perf_counter()
        try:
            result = self.function(params)
            if isinstance(result, types.CoroutineType):
                import asyncio
                result = asyncio.run(result)
        except BaseException as exc:  # noqa: B036 - a handler's SystemExit is its failure too
            took = "%.3f" % ((time.perf_counter() - started) * 1000)
            trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__.tb_next))  # not call()'s frame
            log_error("funcserver: %s raised %s in a call from %s after %s ms\n%s"
                      % (self.handler_name, type(exc).__name__, self.client_address[0], took, trace))
            return 500, {"error": type(exc).__name__, "message": str(exc), "traceback": trace}, took
        took = "%.3f" % ((time.perf_counter() - started) * 1000)
        try:
            return 200, _Json(json.dumps(result, allow_nan=False)), took
        except (TypeError, ValueError, RecursionError) as exc:
            message = "the result is not JSON: %s" % exc
            log_error("funcserver: %s returned to %s: %s" % (self.handler_name, self.client_address[0], message))
            return 500, {"error": "ResultNotJSON", "message": message}, took


class Server(ThreadingHTTPServer):
    """A thread per connection, a deep accept backlog for bursts, no reverse DNS look-up at bind."""

    request_queue_size = 128
    daemon_threads = True
    block_on_close = False

    def server_bind(self) -> None:
        """Bind without HTTPServer's getfqdn(), a DNS look-up that can stall a cold start."""
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = str(self.server_address[0]), int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A connection's socket error (timeout, reset) is one line; anything else a traceback."""
        exc = sys.exc_info()[1]
        detail = repr(exc) if isinstance(exc, OSError) else traceback.format_exc()
        log_error("funcserver: error in a connection from %s: %s" % (client_address[0], detail))


def load_function(directory: str, spec: str) -> Callable[[Any], Any]:
    """Put `directory` first on sys.path, import the module of `module:attr.path`, return the callable."""
    sys.path.insert(0, directory)
    module_name, _, attrs = spec.partition(":")
    target: Any = importlib.import_module(module_name)
    for attr in (attrs or "handle").split("."):
        target = getattr(target, attr)
    if not callable(target):
        raise TypeError("%s is a %s, not a function" % (spec, type(target).__name__))
    return target


def unpack_source(archive: str) -> str:
    """Unpack the zip `archive` into a new private directory (0700) with the checks of `_funczip.py`
    beside this file; that directory (removed again if unpacking fails)."""
    helper = os.path.join(os.path.dirname(os.path.abspath(__file__)), HELPER_FILE)
    spec = importlib.util.spec_from_file_location("_funczip", helper)
    if spec is None or spec.loader is None:
        raise ImportError("cannot load the archive checks from %s" % helper)
    checks = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(checks)  # type: ignore[union-attr]
    with open(archive, "rb") as f:
        data = f.read(MAX_ARCHIVE_BYTES + 1)
    if len(data) > MAX_ARCHIVE_BYTES:
        raise checks.ZipProblem("%s is larger than %d bytes" % (archive, MAX_ARCHIVE_BYTES))
    directory = tempfile.mkdtemp(prefix="minik8s-function-")
    try:
        checks.unpack(data, directory)
    except BaseException:
        shutil.rmtree(directory, ignore_errors=True)
        raise
    return directory


def _since_start() -> str:
    """", N ms after the interpreter started" (from /proc: the process's start in clock ticks after boot),
    or "" where /proc cannot tell."""
    try:
        with open("/proc/self/stat") as f:
            started = int(f.read().rsplit(")", 1)[1].split()[19]) / os.sysconf("SC_CLK_TCK")
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return ""
    return ", %.0f ms after the interpreter started" % max(0.0, (uptime - started) * 1000)


def main() -> int:
    """Load the handler, listen, serve until SIGTERM/SIGINT, drain; the exit code."""
    env = os.environ.get
    if hasattr(sys.stdout, "reconfigure"):  # the handler's prints reach the pod's log line by line
        sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]
    spec = env("MINIK8S_FUNCTION_HANDLER") or "main:handle"
    directory = env("MINIK8S_FUNCTION_DIR") or os.path.dirname(os.path.abspath(__file__))
    unpacked = None
    try:
        if env("MINIK8S_FUNCTION_ZIP"):
            directory = unpacked = unpack_source(env("MINIK8S_FUNCTION_ZIP") or "")
        Handler.function = staticmethod(load_function(directory, spec))  # type: ignore[assignment]
        limit = int(env("MINIK8S_CONTAINER_CONCURRENCY") or 0)
        timeout = float(env("MINIK8S_FUNCTION_TIMEOUT") or 60)
        Handler.handler_name, Handler.breaker = spec, Breaker(limit, 10 * limit, timeout)
        Handler.max_body = int(env("MINIK8S_FUNCTION_MAX_BODY") or 6 << 20)
        server = Server((env("MINIK8S_FUNCTION_ADDRESS") or "0.0.0.0", int(env("MINIK8S_FUNCTION_PORT") or 8080)),
                        Handler)
    except BaseException:  # noqa: B036 - a module that calls sys.exit() at import failed to load too
        log_error("funcserver: cannot start %s from %s\n%s" % (spec, env("MINIK8S_FUNCTION_ZIP") or directory,
                                                                traceback.format_exc()))
        if unpacked:
            shutil.rmtree(unpacked, ignore_errors=True)
        return 1
    log_error("funcserver: %s loaded, listening on %s:%d%s" % (spec, server.server_address[0],
                                                               server.server_address[1], _since_start()))
    # A signal writes a byte to `wake` from C; the Python handler does nothing, so it takes no lock.
    wait, wake = socket.socketpair()
    wake.setblocking(False)
    signal.set_wakeup_fd(wake.fileno())
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: None)
    threading.Thread(target=server.serve_forever, name="funcserver", daemon=True).start()
    while wait.recv(1)[0] not in (signal.SIGTERM, signal.SIGINT):  # the byte is the signal's number
        pass
    if not Handler.breaker.close_and_drain(timeout):
        log_error("funcserver: exiting with %d calls still running after %g s" % (Handler.breaker.running, timeout))
    # Lame duck: a router that has not yet seen the pod go may still connect; a 503 Not-Started sends its
    # call elsewhere, where a port closed under an accepted connection would reset a call that may have run.
    time.sleep(float(env("MINIK8S_FUNCTION_LAME_DUCK") or LAME_DUCK_SECONDS))
    server.shutdown()
    server.server_close()
    if unpacked:
        shutil.rmtree(unpacked, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
