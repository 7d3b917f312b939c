"""pysyncobj's wire framing, parsed with hard limits and in linear time.

pysyncobj frames every message as a native signed 32-bit length followed by that many bytes
(zlib-compressed pickle, Fernet-encrypted when a password is set). Its own reader appends each
`recv` to an immutable `bytes` (quadratic in the frame size) and believes any declared length,
so a stranger that sends `0x7fffffff` and keeps streaming makes the tick thread copy gigabytes.

`FrameReader` keeps one `bytearray`, rejects a declared length over its limit as soon as the
four length bytes are in, and says how many bytes the current frame still needs, so a caller
that must not read ahead (an unauthenticated connection) can read exactly one frame at a time.
`decode_message` undoes the encryption, compression and pickling with a cap on the inflated size.
"""

from __future__ import annotations

import struct
import zlib
from typing import Any

import pysyncobj.pickle as _pickle

HEADER = struct.Struct("i")  # what pysyncobj's TcpConnection uses: native byte order, signed


class FrameError(ValueError):
    """The peer sent something that is not a frame this member accepts; drop the connection."""


class FrameReader:
    """Reassembles length-prefixed frames; every byte is copied a bounded number of times."""

    def __init__(self, max_frame: int) -> None:
        self.max_frame = max_frame
        self._buf = bytearray()

    def __len__(self) -> int:
        return len(self._buf)

    def clear(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> None:
        """Append received bytes; raises FrameError when the current frame's declared length is bad."""
        self._buf += data
        self._check_header()

    def wanted(self) -> int:
        """Bytes still missing from the current frame (its length prefix first)."""
        if len(self._buf) < HEADER.size:
            return HEADER.size - len(self._buf)
        (length,) = HEADER.unpack_from(self._buf, 0)
        return max(0, HEADER.size + length - len(self._buf))

    def next_frame(self) -> bytes | None:
        """The next complete frame's payload, or None until it has fully arrived."""
        if self._check_header() is None:
            return None
        (length,) = HEADER.unpack_from(self._buf, 0)
        end = HEADER.size + length
        if len(self._buf) < end:
            return None
        with memoryview(self._buf) as view:
            frame = bytes(view[HEADER.size:end])
        del self._buf[:end]  # deleting a bytearray's head moves its start; nothing is copied
        return frame

    def _check_header(self) -> int | None:
        if len(self._buf) < HEADER.size:
            return None
        (length,) = HEADER.unpack_from(self._buf, 0)
        if length < 0 or length > self.max_frame:
            raise FrameError(f"declared frame length {length} is outside 0..{self.max_frame}")
        return length


def encode_frame(payload: bytes) -> bytes:
    """A length prefix and the payload, as pysyncobj frames it."""
    return HEADER.pack(len(payload)) + payload


def inflate(data: bytes, limit: int) -> bytes:
    """zlib-decompress at most `limit` bytes (FrameError for more, or for bad or trailing data)."""
    inflater = zlib.decompressobj()
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise FrameError(f"not zlib data: {exc}") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise FrameError(f"message inflates to more than {limit} bytes")
    if not inflater.eof or inflater.unused_data:
        raise FrameError("truncated zlib data or bytes after its end")
    return out


def decode_message(frame: bytes, encryptor: Any, *, min_timestamp: int, max_message: int) -> tuple[Any, int]:
    """Decrypt, inflate and unpickle one frame; returns (message, its Fernet timestamp).

    Raises FrameError for anything malformed: a bad token, a timestamp older than
    `min_timestamp` (pysyncobj's replay check), bad compression, a bad pickle.
    """
    timestamp = min_timestamp
    if encryptor is not None:
        try:
            timestamp = encryptor.extract_timestamp(frame)
            data = encryptor.decrypt(frame)
        except Exception as exc:  # cryptography.fernet.InvalidToken, or TypeError on odd input
            raise FrameError(f"not a token of this cluster's secret ({type(exc).__name__})") from None
        if timestamp < min_timestamp:
            raise FrameError("token older than the previous one on this connection")
    else:
        data = frame
    data = inflate(data, max_message)
    try:
        message = _pickle.loads(data)
    except Exception as exc:
        raise FrameError(f"not a pickle ({type(exc).__name__})") from None
    return message, timestamp
