"""Helpers for the ingress tests: an HTTP backend that answers its name and the path it was asked,
and a client that sends a Host header to an address (no DNS involved)."""

from __future__ import annotations

import http.client
import socket

# `python -c ECHO_SERVER NAME PORT`: answers every GET with "NAME PATH" (one line), keep-alive on.
ECHO_SERVER = r"""
import http.server, sys
name, port = sys.argv[1], int(sys.argv[2])
class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes
    def do_GET(self):
        body = f"{name} {self.path}\n".encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Seen-Forwarded-For", self.headers.get("X-Forwarded-For", ""))
        if self.headers.get("Connection", "").lower() == "keep-alive":  # HTTP/1.0 keep-alive (ab -k)
            self.send_header("Connection", "keep-alive")
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer.allow_reuse_address = True
http.server.ThreadingHTTPServer.daemon_threads = True
http.server.ThreadingHTTPServer.request_queue_size = 256
http.server.ThreadingHTTPServer(("", port), Handler).serve_forever()
"""


def get(address: str, port: int, host: str, path: str, *, timeout: float = 5.0) -> tuple[int, str]:
    """(status, body) of `GET path` sent to `address:port` with `Host: host`, on a new connection."""
    conn = http.client.HTTPConnection(address, port, timeout=timeout)
    try:
        conn.request("GET", path, headers={"Host": host, "Connection": "close"})
        response = conn.getresponse()
        return response.status, response.read().decode(errors="replace").strip()
    finally:
        conn.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
