"""Byte encodings shared by the store's LMDB tables.

Revisions are 8-byte big-endian so that LMDB's byte order is numeric order (etcd's
`revision.go` trick): a cursor walk over the event table is a walk in revision order.
"""

from __future__ import annotations

import json
import struct
from typing import Any

_U64 = struct.Struct(">Q")


def encode_revision(revision: int) -> bytes:
    """8-byte big-endian key for a revision."""
    return _U64.pack(revision)


def decode_revision(raw: bytes) -> int:
    """Inverse of `encode_revision`."""
    return _U64.unpack(raw)[0]


def dump_json(value: Any) -> bytes:
    """Compact JSON bytes."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode()


def load_json(raw: bytes | memoryview) -> Any:
    """Parse JSON bytes."""
    return json.loads(bytes(raw))
