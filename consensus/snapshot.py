"""Raft snapshots as self-contained LMDB copies.

pysyncobj calls the serializer on its tick thread with `(last entry, previous entry, cluster)`
and ships the resulting file to followers that fell behind the log; the deserializer runs at
start-up and when such a file arrives. File layout:

    MAGIC | u32 header length | header (pickle: entries, cluster, store applied index) | LMDB file

Installing replaces the live store only when the snapshot is newer than it, so a restart never
rolls the store back to an older snapshot.
"""

from __future__ import annotations

import logging
import os
import pickle
import struct
import time
from collections.abc import Callable
from typing import Any

from minik8s.store import Store

log = logging.getLogger(__name__)

MAGIC = b"MINIK8S-SNAPSHOT-1\n"
_LEN = struct.Struct("<I")


def write_snapshot(path: str, entries: tuple[Any, ...], store: Store) -> None:
    """Write `entries` and a consistent copy of `store` to `path`, durably."""
    header = pickle.dumps({"entries": entries, "applied_index": store.applied_index})
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, MAGIC + _LEN.pack(len(header)) + header)
        store.copy_to(fd)  # mdb_env_copyfd writes sequentially from the current offset
        os.fsync(fd)
    finally:
        os.close(fd)


def read_header(path: str) -> tuple[dict[str, Any], int]:
    """The snapshot header and the offset where the LMDB file starts."""
    with open(path, "rb") as f:
        magic = f.read(len(MAGIC))
        if magic != MAGIC:
            raise ValueError(f"{path} is not a minik8s snapshot")
        (length,) = _LEN.unpack(f.read(_LEN.size))
        header = pickle.loads(f.read(length))
    return header, len(MAGIC) + _LEN.size + length


def install_snapshot(path: str, store: Store) -> tuple[Any, ...]:
    """Load the store from the snapshot at `path` if it is newer; return the Raft entries tuple."""
    header, offset = read_header(path)
    if header["applied_index"] > store.applied_index:
        lmdb_path = path + ".install.mdb"
        with open(path, "rb") as src, open(lmdb_path, "wb") as dst:
            src.seek(offset)
            while chunk := src.read(1 << 20):
                dst.write(chunk)
        try:
            store.install_from(lmdb_path)
            store.sync()
        finally:
            os.unlink(lmdb_path)
        log.info("installed snapshot at raft index %d", header["applied_index"])
    return header["entries"]


def make_serializers(
    store: Store, before: Callable[[], None]
) -> tuple[Callable[[str, Any], None], Callable[[str], Any]]:
    """pysyncobj `serializer`/`deserializer` pair bound to `store`.

    `before` runs first on each call: it commits the open apply batch so that the copy holds
    exactly what pysyncobj believes is applied.
    """

    def serializer(tmp_path: str, entries: Any) -> None:
        before()
        started = time.monotonic()
        write_snapshot(tmp_path, tuple(entries), store)
        log.info("wrote snapshot at raft index %d (%d bytes) in %.0f ms", store.applied_index,
                 os.path.getsize(tmp_path), (time.monotonic() - started) * 1000)

    def deserializer(path: str) -> Any:
        before()
        return install_snapshot(path, store)

    return serializer, deserializer
