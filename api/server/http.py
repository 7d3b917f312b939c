"""Small HTTP helpers shared by the API resources: bodies, JSON responses, query options."""

from __future__ import annotations

import json
import re
from typing import Any

import falcon

from minik8s.api import decoding, errors, protobuf

# Binary encodings we do not decode; answering 415 makes Kubernetes clients retry in JSON. Protobuf
# bodies of the kinds `minik8s.api.protobuf` knows (those kubectl's generators send) are decoded.
_UNSUPPORTED_TYPES = ("application/vnd.kubernetes.protobuf", "application/cbor")
_YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "application/apply-patch+yaml")


def read_raw(req: falcon.Request, limit: int) -> bytes:
    """The request body as sent (possibly empty); 413 when it is larger than `limit`."""
    length = req.content_length
    if length is not None and length > limit:
        raise errors.RequestEntityTooLargeError(f"the request body is {length} bytes; the limit is {limit} bytes")
    raw: bytes = req.bounded_stream.read(limit + 1)
    if len(raw) > limit:
        raise errors.RequestEntityTooLargeError(f"the request body is larger than the limit of {limit} bytes")
    return raw


def read_body(req: falcon.Request, limit: int) -> Any:
    """The decoded request body (JSON, or YAML by content type; `minik8s.api.decoding` says what is
    refused): 400 when malformed, 413 when the body or what it decodes to is larger than `limit`."""
    raw = read_raw(req, limit)
    if not raw.strip():
        raise errors.BadRequestError("the request body is empty")
    content_type = (req.content_type or "application/json").split(";")[0].strip().lower()
    if content_type == protobuf.CONTENT_TYPE:
        try:
            return protobuf.decode(raw)
        except protobuf.UnsupportedKindError as exc:
            raise errors.UnsupportedMediaTypeError(f"the body of the request was in an unknown format - {exc} is "
                                                   f"not decoded; send it as application/json") from None
        except protobuf.ProtobufError as exc:
            raise errors.BadRequestError(f"the request body is not a valid protobuf message: {exc}") from None
    if content_type in _UNSUPPORTED_TYPES:
        raise errors.UnsupportedMediaTypeError(
            f"the body of the request was in an unknown format - accepted media types include: application/json, "
            f"application/yaml, application/merge-patch+json, application/strategic-merge-patch+json, "
            f"application/json-patch+json, application/apply-patch+yaml (not {content_type})")
    yaml_body = content_type in _YAML_TYPES
    try:
        if yaml_body:
            return decoding.decode_yaml(raw, limit=limit)
        return decoding.decode_json(raw, limit=limit)
    except decoding.DecodedTooLargeError:
        raise errors.RequestEntityTooLargeError(f"the request body decodes to more than the limit of {limit} "
                                                f"bytes") from None
    except decoding.DecodeError as exc:
        where = f" at line {exc.line}, column {exc.column}" if exc.line is not None else ""
        raise errors.BadRequestError(f"the request body is not valid {'YAML' if yaml_body else 'JSON'}{where}: "
                                     f"{exc}") from None


def read_object(req: falcon.Request, limit: int) -> dict[str, Any]:
    """A body that must be one JSON object."""
    body = read_body(req, limit)
    if not isinstance(body, dict):
        raise errors.BadRequestError(f"the request body must be an object, not {type(body).__name__}")
    return body


def send_json(resp: falcon.Response, body: Any, status: int = 200) -> None:
    """Write a compact JSON response."""
    resp.status = falcon.code_to_http_status(status)
    resp.content_type = "application/json"
    resp.data = json.dumps(body, separators=(",", ":"), allow_nan=False).encode()  # never NaN/Infinity


INT64 = (-(2**63), 2**63 - 1)
# The range of each integer query parameter Kubernetes defines (all int64); others: any int64.
QUERY_RANGES: dict[str, tuple[int, int]] = {
    "gracePeriodSeconds": INT64, "limit": (0, INT64[1]), "timeoutSeconds": (0, INT64[1]),
    "sinceSeconds": (1, INT64[1]), "tailLines": (0, INT64[1]), "limitBytes": (1, INT64[1]),
}
_INTEGER = re.compile(r"[+-]?[0-9]{1,19}")


def query_int(req: falcon.Request, name: str, default: int | None = None, *, minimum: int | None = None,
              maximum: int | None = None) -> int | None:
    """An integer query parameter; 400 when it is not one or is outside its range (`QUERY_RANGES`,
    narrowed by `minimum`/`maximum`)."""
    raw = req.get_param(name)
    if raw is None or raw == "":
        return default
    low, high = QUERY_RANGES.get(name, INT64)
    low, high = max(low, minimum) if minimum is not None else low, min(high, maximum) if maximum is not None else high
    value = int(raw) if _INTEGER.fullmatch(raw) else None
    if value is None:
        raise errors.BadRequestError(f"query parameter {name} must be an integer, got {raw[:64]!r}")
    if not low <= value <= high:
        raise errors.BadRequestError(f"query parameter {name} must be between {low} and {high}, got {value}")
    return value


def check_query_ints(req: falcon.Request) -> None:
    """400 unless every integer query parameter Kubernetes defines (`QUERY_RANGES`) that the request
    carries is an integer in its range: checked once, before any handler acts on the request."""
    for name in QUERY_RANGES:
        query_int(req, name)


def query_bool(req: falcon.Request, name: str) -> bool:
    """A boolean query parameter (`true`/`1`)."""
    return (req.get_param(name) or "").lower() in ("true", "1")
