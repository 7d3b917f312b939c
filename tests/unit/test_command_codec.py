"""Unit tests of the byte encoding of store commands (the Raft log) and results (the request table)."""

from __future__ import annotations

import pickle

import pytest

from minik8s.store import (
    Applied, Create, Delete, Noop, Reason, Rejected, Undecodable, UnencodableError, Update, decode_command,
    encode_command,
)
from minik8s.store.command_codec import decode_result, encode_result

KEY = "/registry/configmaps/default/a"
OBJ = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "a", "uid": "u-1"},
       "data": {"k": "välue ✓", "n": "1"}, "x": [1, 2.5, None, True, {"z": -3}]}

COMMANDS = [
    pytest.param(Create(key=KEY, object=OBJ, request_id="r1", now=1712345678.25), id="create"),
    pytest.param(Create(key=KEY, object={}), id="create-defaults"),
    pytest.param(Update(key=KEY, object=OBJ, expected_revision=7, expected_uid="u-1", request_id="r2", now=5.0),
                 id="update"),
    pytest.param(Update(key=KEY, object=OBJ), id="update-no-preconditions"),
    pytest.param(Delete(key=KEY, expected_revision=3, expected_uid="u-1", request_id="r3", now=9.5), id="delete"),
    pytest.param(Delete(key=KEY), id="delete-no-preconditions"),
    pytest.param(Noop(), id="noop"),
]


@pytest.mark.parametrize("command", COMMANDS)
def test_codec_command_roundtrips(command: object) -> None:
    """Every command type decodes to an equal command, and equal commands encode to the same bytes."""
    raw = encode_command(command)
    assert isinstance(raw, bytes)
    assert decode_command(raw) == command
    assert encode_command(decode_command(raw)) == raw


@pytest.mark.parametrize("result", [
    pytest.param(Applied(4, OBJ), id="applied"),
    pytest.param(Applied(4), id="applied-noop"),
    *(pytest.param(Rejected(reason, f"because {reason.value}"), id=f"rejected-{reason.value}") for reason in Reason),
])
def test_codec_result_roundtrips(result: Applied | Rejected) -> None:
    """Every result (each rejection reason included) decodes to an equal result."""
    assert decode_result(encode_result(result)) == result
    assert decode_result(memoryview(encode_result(result))) == result


@pytest.mark.parametrize("raw", [
    pytest.param(b"", id="empty"),
    pytest.param(b"\xff\xfe garbage \x00", id="binary"),
    pytest.param(b"[1, 2]", id="not-an-object"),
    pytest.param(b'{"op": "create", "key": "k", "object": {}}', id="old-dict-shape"),
    pytest.param(b'{"type": "compact", "key": "k"}', id="unknown-type"),
    pytest.param(b'{"type": ["create"], "key": "k"}', id="unhashable-type"),
    pytest.param(b'{"type": "create", "key": "k"}', id="missing-field"),
    pytest.param(b'{"type": "create", "key": "k", "object": {}, "extra": 1}', id="unknown-field"),
    pytest.param(b'{"type": "create", "key": 5, "object": {}}', id="key-not-a-string"),
    pytest.param(b'{"type": "create", "key": "k", "object": []}', id="object-not-an-object"),
    pytest.param(b'{"type": "update", "key": "k", "object": {}, "expected_revision": true}', id="bool-as-int"),
    pytest.param(b'{"type": "update", "key": "k", "object": {}, "expected_revision": 1.5}', id="float-as-int"),
    pytest.param(b'{"type": "create", "key": "k", "object": {}, "now": "soon"}', id="now-not-a-number"),
    pytest.param(b'{"type": "create", "key": "k", "object": {"v": NaN}}', id="nan"),
    pytest.param(b'{"type": "create", "key": "k", "object": {"v": 1e400}}', id="overflowing-float"),
    pytest.param(b"[" * 100_000 + b"]" * 100_000, id="too-deep"),
    pytest.param(pickle.dumps({"op": "create", "key": "k", "object": {}}), id="pickled-dict"),
    pytest.param({"op": "noop"}, id="not-bytes-at-all"),
])
def test_codec_garbage_decodes_to_undecodable(raw: bytes) -> None:
    """A Raft entry that is not a valid command decodes to Undecodable with a reason; decoding never raises."""
    decoded = decode_command(raw)
    assert isinstance(decoded, Undecodable) and decoded.problem.startswith("undecodable raft entry: ")


@pytest.mark.parametrize("command", [
    pytest.param(Create(key=KEY, object={"v": float("nan")}), id="nan"),
    pytest.param(Create(key=KEY, object={"v": float("inf")}), id="infinity"),
    pytest.param(Create(key=KEY, object={"v": object()}), id="not-json"),
    pytest.param(Create(key=KEY, object={"v": "\udc80"}), id="lone-surrogate"),
    pytest.param(Update(key=KEY, object={}, now=float("nan")), id="nan-clock"),
])
def test_codec_refuses_what_could_not_decode_everywhere(command: object) -> None:
    """Encoding refuses values JSON cannot carry, so nothing undecodable is ever proposed."""
    with pytest.raises(UnencodableError):
        encode_command(command)


def test_codec_decode_result_raises_on_foreign_bytes() -> None:
    """A result the codec did not write is an error (the store turns it into an Internal rejection)."""
    with pytest.raises(ValueError):
        decode_result(b'{"ok": true, "revision": 1}')
