"""The one byte encoding of commands (in the Raft log) and results (in the request table).

The consensus layer encodes a command once before proposing it and decodes the committed entry
on every member before applying it; the store encodes the first result of each request id so a
retry gets that result back. The encoding is compact JSON, `{"type": tag, field: value, ...}`,
in field order, without NaN or infinities: the same command gives the same bytes, and what one
member encoded decodes to the same value everywhere.

A `Txn` carries its ops as a list of such objects (`{"type": "txn", "ops": [{"type": "create", ...}]}`);
only creates, updates and deletes may appear there.

Encoding refuses what JSON cannot carry (`UnencodableError`), so nothing undecodable is ever
proposed. Decoding a command is total: an entry that is not one (corrupt, foreign, from another
version) becomes `Undecodable`, which apply rejects, because an exception inside apply would
block the Raft log forever.
"""

from __future__ import annotations

import json
import math
import types
from dataclasses import fields
from typing import Any, get_args, get_origin, get_type_hints

from .commands import Applied, Command, Create, Delete, Noop, Reason, Rejected, Result, Txn, Undecodable, Update

_OPS: dict[str, type] = {"create": Create, "update": Update, "delete": Delete}
_OP_TYPES = frozenset(_OPS.values())
_COMMANDS: dict[str, type] = {**_OPS, "txn": Txn, "noop": Noop}
_RESULTS: dict[str, type] = {"applied": Applied, "rejected": Rejected}
_TAGS = {cls: tag for table in (_COMMANDS, _RESULTS) for tag, cls in table.items()}
_HINTS = {cls: get_type_hints(cls) for cls in _TAGS}


class UnencodableError(ValueError):
    """The value holds something the encoding cannot carry (NaN, a non-JSON type, a lone surrogate...)."""


class _DecodeError(ValueError):
    """The bytes are not an encoded value of the expected kind."""


def encode_command(command: Command) -> bytes:
    """Bytes for the Raft log; raises UnencodableError when the command cannot be replicated."""
    return _encode(command)


def decode_command(raw: bytes) -> Command | Undecodable:
    """The command in a Raft entry, or `Undecodable` saying why it is none (never raises)."""
    try:
        return _decode(raw, _COMMANDS)
    except _DecodeError as exc:
        return Undecodable(f"undecodable raft entry: {exc}")


def encode_result(result: Result) -> bytes:
    """Bytes for the request table; raises UnencodableError like `encode_command`."""
    return _encode(result)


def decode_result(raw: bytes | memoryview) -> Result:
    """Inverse of `encode_result`; raises ValueError on bytes it did not make."""
    return _decode(bytes(raw), _RESULTS)


def _payload(value: Any) -> dict[str, Any]:
    """`{"type": tag, field: value, ...}` for a command or result (a Txn's ops nested alike)."""
    payload: dict[str, Any] = {"type": _TAGS[type(value)]}
    for f in fields(value):
        item = getattr(value, f.name)
        if isinstance(item, Reason):
            item = item.value
        elif f.name == "ops":
            if not all(type(op) in _OP_TYPES for op in item):
                raise UnencodableError("a txn holds only creates, updates and deletes")
            item = [_payload(op) for op in item]
        payload[f.name] = item
    return payload


def _encode(value: Any) -> bytes:
    payload = _payload(value)
    try:
        return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, allow_nan=False).encode()
    except (TypeError, ValueError, RecursionError) as exc:  # UnicodeEncodeError is a ValueError
        raise UnencodableError(str(exc)) from exc


def _decode(raw: Any, table: dict[str, type]) -> Any:
    try:
        payload = json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite_float)
    except (TypeError, ValueError, RecursionError) as exc:
        raise _DecodeError(f"not JSON ({type(exc).__name__}: {exc})") from None
    return _from_payload(payload, table)


def _from_payload(payload: Any, table: dict[str, type]) -> Any:
    if not isinstance(payload, dict):
        raise _DecodeError(f"not a JSON object but {type(payload).__name__}")
    tag = payload.pop("type", None)
    cls = table.get(tag) if isinstance(tag, str) else None
    if cls is None:
        raise _DecodeError(f"unknown type {tag!r:.64}")
    hints = _HINTS[cls]
    unknown = payload.keys() - hints.keys()
    if unknown:
        raise _DecodeError(f"{tag}: unknown fields {sorted(unknown)!r:.200}")
    values = {name: _field(tag, name, value, hints[name]) for name, value in payload.items()}
    try:
        return cls(**values)
    except TypeError as exc:  # a required field is missing
        raise _DecodeError(f"{tag}: {exc}") from None


def _field(tag: str, name: str, value: Any, hint: Any) -> Any:
    """`value` as the field's type, or _DecodeError."""
    if tag == "txn" and name == "ops":
        if not isinstance(value, list):
            raise _DecodeError(f"txn.ops: {type(value).__name__} is not a list")
        return tuple(_from_payload(op, _OPS) for op in value)
    if hint is Reason:
        try:
            return Reason(value)
        except ValueError:
            raise _DecodeError(f"{tag}.{name}: unknown reason {value!r:.64}") from None
    if not _conforms(value, hint):
        expected = hint.__name__ if isinstance(hint, type) else str(hint)
        raise _DecodeError(f"{tag}.{name}: {type(value).__name__} is not {expected}")
    return value


def _conforms(value: Any, hint: Any) -> bool:
    """Whether a decoded JSON value fits a field annotation (the few kinds commands use)."""
    if isinstance(hint, types.UnionType):
        return any(_conforms(value, arm) for arm in get_args(hint))
    if hint is type(None):
        return value is None
    if isinstance(value, bool):
        return hint is bool
    if hint is float:
        return isinstance(value, (int, float))
    return isinstance(value, get_origin(hint) or hint)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not allowed")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text:.32} is not a finite number")
    return value
