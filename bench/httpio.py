"""A tiny HTTP/1.1 keep-alive client on asyncio streams, for hundreds of concurrent long-polls.

`bench_watch.py` holds 500 long-poll watchers on a 2-core machine that also runs the servers,
so the client must cost little: one coroutine per watcher and no extra dependencies. This is
just enough HTTP for that: one request at a time per connection, bodies by Content-Length,
chunked transfer coding, or read-until-close; the connection is reopened after the server
closes it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

MAX_TRAILER_LINES = 100
NO_BODY_STATUSES = frozenset({204, 304})


class HttpError(Exception):
    """The server sent something this client cannot parse."""


@dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-cased names; a repeated header keeps its last value
    body: bytes


class Connection:
    """One keep-alive connection to host:port, opened on first use and after a close."""

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None

    async def request(self, method: str, target: str, *, headers: dict[str, str] | None = None,
                      body: bytes = b"") -> Response:
        """Send one request and read the whole response; on any error the connection is closed."""
        if self._writer is None:
            self._reader, self._writer = await asyncio.open_connection(self.host, self.port)
        assert self._reader is not None
        try:
            self._writer.write(encode_request(method, target, self.host, self.port,
                                              headers or {}, body))
            response, keep_alive = await read_response(self._reader)
        except BaseException:
            await self.close()
            raise
        if not keep_alive:
            await self.close()
        return response

    async def close(self) -> None:
        writer, self._reader, self._writer = self._writer, None, None
        if writer is not None:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()


def encode_request(method: str, target: str, host: str, port: int, headers: dict[str, str],
                   body: bytes) -> bytes:
    lines = [f"{method} {target} HTTP/1.1", f"Host: {host}:{port}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    if body or method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def read_response(reader: asyncio.StreamReader) -> tuple[Response, bool]:
    """Read one response; also say whether the connection may be reused."""
    status, version, headers = parse_head(await read_head(reader))
    connection = headers.get("connection", "").lower()
    keep_alive = connection != "close" and (version == "HTTP/1.1" or connection == "keep-alive")
    if status in NO_BODY_STATUSES or 100 <= status < 200:
        return Response(status, headers, b""), keep_alive
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return Response(status, headers, await read_chunked(reader)), keep_alive
    if "content-length" in headers:
        body = await reader.readexactly(int(headers["content-length"]))
        return Response(status, headers, body), keep_alive
    return Response(status, headers, await reader.read()), False


async def read_head(reader: asyncio.StreamReader) -> bytes:
    """Status line and header lines in one read (bounded by the reader's 64 KiB limit)."""
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.LimitOverrunError as exc:
        raise HttpError("response head too large") from exc


def parse_head(head: bytes) -> tuple[int, str, dict[str, str]]:
    status_line, *lines = head.decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/") or not parts[1].isdigit():
        raise HttpError(f"bad status line {status_line[:100]!r}")
    return int(parts[1]), parts[0], parse_header_lines(lines)


def parse_header_lines(lines: list[str]) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in lines:
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise HttpError(f"bad header line {line[:100]!r}")
        headers[name.strip().lower()] = value.strip()
    return headers


async def read_chunked(reader: asyncio.StreamReader) -> bytes:
    parts: list[bytes] = []
    while True:
        size_line = (await reader.readline()).split(b";", 1)[0].strip()
        try:
            size = int(size_line, 16)
        except ValueError as exc:
            raise HttpError(f"bad chunk size {size_line[:50]!r}") from exc
        if size == 0:
            await read_trailers(reader)
            return b"".join(parts)
        parts.append(await reader.readexactly(size))
        await reader.readexactly(2)  # CRLF after the chunk data


async def read_trailers(reader: asyncio.StreamReader) -> None:
    """Skip trailer lines up to the blank line that ends a chunked body."""
    for _ in range(MAX_TRAILER_LINES):
        line = await reader.readline()
        if line in (b"\r\n", b"\n"):
            return
        if not line:
            raise asyncio.IncompleteReadError(b"", None)
    raise HttpError("too many trailer lines")


class StreamReader:
    """One request whose response is read as it arrives: a watch stream, line by line.

    `open` sends the request and reads the status and headers; `lines()` then yields the body's
    newline-delimited lines (chunked or read-to-close) until the server ends it.
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, status: int,
                 headers: dict[str, str]) -> None:
        self._reader = reader
        self._writer = writer
        self.status = status
        self.headers = headers

    @classmethod
    async def open(cls, host: str, port: int, method: str, target: str, *, headers: dict[str, str],
                   body: bytes = b"") -> StreamReader:
        reader, writer = await asyncio.open_connection(host, port, limit=1 << 22)
        try:
            writer.write(encode_request(method, target, host, port, headers, body))
            status, _, response_headers = parse_head(await read_head(reader))
        except BaseException:
            writer.close()
            raise
        return cls(reader, writer, status, response_headers)

    async def lines(self) -> AsyncIterator[bytes]:
        pending = b""
        chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        while True:
            if chunked:
                size_line = (await self._reader.readline()).split(b";", 1)[0].strip()
                try:
                    size = int(size_line, 16)
                except ValueError as exc:
                    raise HttpError(f"bad chunk size {size_line[:50]!r}") from exc
                if size == 0:
                    return
                data = await self._reader.readexactly(size + 2)
                data = data[:-2]
            else:
                data = await self._reader.read(65536)
                if not data:
                    return
            pending += data
            *complete, pending = pending.split(b"\n")
            for line in complete:
                if line.strip():
                    yield line

    def close(self) -> None:
        self._writer.close()
