"""HTTP/1.x on the wire for the API front: request heads, response heads, body framing.

Only what the front needs to find where a message ends and to answer by itself; everything else
about a request is the WSGI app's business. A head that cannot be framed without guessing (two
different Content-Lengths, Content-Length with Transfer-Encoding, an encoding other than chunked)
is refused: a front and a backend that frame one request differently is how requests are smuggled.
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

MAX_HEAD = 256 * 1024  # request line + headers (waitress and its 431 before: the same)
MAX_CHUNK_LINE = 4096  # a chunk-size line (with extensions) or a trailer line

_TOKEN = re.compile(rb"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VERSIONS = ("HTTP/1.0", "HTTP/1.1")
_REASONS = {200: "OK", 400: "Bad Request", 408: "Request Timeout", 411: "Length Required",
            413: "Request Entity Too Large", 431: "Request Header Fields Too Large", 500: "Internal Server Error",
            501: "Not Implemented", 502: "Bad Gateway", 503: "Service Unavailable", 505: "HTTP Version Not Supported"}


class HttpError(Exception):
    """A request the front answers itself with `status` (and then closes the connection)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class RequestHead:
    """A parsed request line and headers (names lower-cased, values latin-1 text)."""

    method: str
    target: str
    version: str
    headers: list[tuple[str, str]]
    raw: bytes
    content_length: int = 0
    chunked: bool = False

    def header(self, name: str) -> str | None:
        for key, value in self.headers:
            if key == name:
                return value
        return None

    def tokens(self, name: str) -> set[str]:
        """The comma-separated, lower-cased values of every `name` header (Connection, Expect)."""
        return {t.strip().lower() for key, value in self.headers if key == name for t in value.split(",")}

    @property
    def keep_alive(self) -> bool:
        connection = self.tokens("connection")
        if self.version == "HTTP/1.0":
            return "keep-alive" in connection
        return "close" not in connection

    @property
    def expects_continue(self) -> bool:
        return self.version == "HTTP/1.1" and "100-continue" in self.tokens("expect")

    def path_and_query(self) -> tuple[str, str]:
        target = self.target
        if not target.startswith("/"):  # absolute form: http://host/path?query
            parts = urlsplit(target)
            target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
        path, _, query = target.partition("?")
        return path, query


def parse_request_head(raw: bytes) -> RequestHead:
    """Parse a head (ending with the blank line); HttpError when it is malformed or unframeable."""
    lines = raw[:-4].split(b"\r\n") if raw.endswith(b"\r\n\r\n") else raw.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]) or not parts[1] or any(c < 0x21 for c in parts[1]):
        raise HttpError(400, "malformed request line")
    version = parts[2].decode("latin-1")
    if version not in _VERSIONS:
        raise HttpError(505 if version.startswith("HTTP/") else 400, "unsupported HTTP version")
    headers: list[tuple[str, str]] = []
    for line in lines[1:]:
        name, colon, value = line.partition(b":")
        if not colon or not _TOKEN.fullmatch(name):  # also obsolete line folding (a leading space)
            raise HttpError(400, "malformed header line")
        headers.append((name.decode("latin-1").lower(), value.strip(b" \t").decode("latin-1")))
    head = RequestHead(parts[0].decode("latin-1"), parts[1].decode("latin-1"), version, headers, raw)
    lengths = {value for key, value in headers if key == "content-length"}
    encodings = [t for t in head.tokens("transfer-encoding") if t]
    if encodings:
        if lengths:
            raise HttpError(400, "both Content-Length and Transfer-Encoding")
        if encodings != ["chunked"] or version == "HTTP/1.0":
            raise HttpError(501, "unsupported Transfer-Encoding")
        head.chunked = True
    elif lengths:
        if len(lengths) > 1 or not all(v.isascii() and v.isdigit() and len(v) <= 18 for v in lengths):
            raise HttpError(400, "invalid Content-Length")
        head.content_length = int(lengths.pop())
    return head


def response_head(status: int, headers: list[tuple[str, str]], reason: str | None = None) -> bytes:
    """A response head (status line, headers, blank line)."""
    lines = [f"HTTP/1.1 {status} {reason or _REASONS.get(status, 'Unknown')}"]
    lines += [f"{name}: {value}" for name, value in headers]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def plain_response(status: int, body: bytes, content_type: str = "application/json", *,
                   close: bool = False, extra: list[tuple[str, str]] | None = None) -> bytes:
    """A whole response with a Content-Length body."""
    headers = [("Content-Type", content_type), ("Content-Length", str(len(body)))] + (extra or [])
    if close:
        headers.append(("Connection", "close"))
    return response_head(status, headers) + body


def chunk(data: bytes) -> bytes:
    """One chunk of a chunked body (never the empty, last one)."""
    return b"%x\r\n" % len(data) + data + b"\r\n"


LAST_CHUNK = b"0\r\n\r\n"


async def read_chunked(read_line: Callable[[], Awaitable[bytes]], read_exactly: Callable[[int], Awaitable[bytes]],
                       *, limit: int) -> bytes:
    """The data of one chunked body (framing and trailers dropped), as waitress de-chunks a request.

    `read_line()` returns a line with its CRLF. HttpError(413) once the data exceeds `limit`,
    HttpError(400) on a malformed chunk.
    """
    data = bytearray()
    while True:
        line = await read_line()
        size_text = line.split(b";", 1)[0].strip()
        if not size_text or len(size_text) > 16 or any(c not in b"0123456789abcdefABCDEF" for c in size_text):
            raise HttpError(400, "malformed chunk size")
        size = int(size_text, 16)
        if len(data) + size > limit:
            raise HttpError(413, "the request body is too large")
        if size == 0:
            while await read_line() != b"\r\n":  # trailers, then the blank line
                pass
            return bytes(data)
        piece = await read_exactly(size + 2)
        if not piece.endswith(b"\r\n"):
            raise HttpError(400, "malformed chunk")
        data += piece[:-2]


def wsgi_environ(head: RequestHead, body: bytes, *, peer: str, scheme: str, server: tuple[str, int]) -> dict[str, Any]:
    """The WSGI environ of a request, as waitress builds it (headers with `_` in their name dropped; a
    de-chunked body gets its CONTENT_LENGTH, and no Transfer-Encoding)."""
    path, query = head.path_and_query()
    environ: dict[str, Any] = {
        "REQUEST_METHOD": head.method, "SCRIPT_NAME": "", "PATH_INFO": unquote_to_bytes(path).decode("latin-1"),
        "QUERY_STRING": query, "SERVER_NAME": server[0], "SERVER_PORT": str(server[1]),
        "SERVER_PROTOCOL": head.version, "REMOTE_ADDR": peer, "wsgi.version": (1, 0), "wsgi.url_scheme": scheme,
        "wsgi.input": io.BytesIO(body), "wsgi.errors": sys.stderr, "wsgi.multithread": True,
        "wsgi.multiprocess": False, "wsgi.run_once": False,
    }
    for name, value in head.headers:
        if "_" in name:
            continue
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            environ[key] = value
            continue
        if key == "TRANSFER_ENCODING":
            continue
        key = "HTTP_" + key
        environ[key] = environ[key] + "," + value if key in environ else value
    if head.chunked:
        environ["CONTENT_LENGTH"] = str(len(body))
    return environ
