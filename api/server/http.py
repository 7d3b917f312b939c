"""Small HTTP helpers shared by the API resources: bodies, JSON responses, query options."""

from __future__ import annotations

import json
from typing import Any

import falcon
import yaml

from minik8s.api import errors

# Binary encodings we do not decode; answering 415 makes Kubernetes clients retry in JSON.
_UNSUPPORTED_TYPES = ("application/vnd.kubernetes.protobuf", "application/cbor")
_YAML_TYPES = ("application/yaml", "application/x-yaml", "text/yaml", "application/apply-patch+yaml")


def read_body(req: falcon.Request, limit: int) -> Any:
    """The parsed request body (JSON, or YAML by content type); 400 when malformed, 413 when too large."""
    length = req.content_length
    if length is not None and length > limit:
        raise errors.RequestEntityTooLargeError(f"the request body is {length} bytes; the limit is {limit} bytes")
    raw = req.bounded_stream.read(limit + 1)
    if len(raw) > limit:
        raise errors.RequestEntityTooLargeError(f"the request body is larger than the limit of {limit} bytes")
    if not raw.strip():
        raise errors.BadRequestError("the request body is empty")
    content_type = (req.content_type or "application/json").split(";")[0].strip().lower()
    if content_type in _UNSUPPORTED_TYPES:
        raise errors.UnsupportedMediaTypeError(
            f"the body of the request was in an unknown format - accepted media types include: application/json, "
            f"application/yaml, application/merge-patch+json, application/strategic-merge-patch+json, "
            f"application/json-patch+json, application/apply-patch+yaml (not {content_type})")
    try:
        if content_type in _YAML_TYPES:
            return yaml.safe_load(raw)
        return json.loads(raw)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise errors.BadRequestError(f"the request body is not valid YAML{where}: {getattr(exc, 'problem', exc)}")
    except (ValueError, UnicodeDecodeError) as exc:
        raise errors.BadRequestError(f"the request body is not valid JSON: {exc}") from exc


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
    resp.data = json.dumps(body, separators=(",", ":")).encode()


def query_int(req: falcon.Request, name: str, default: int | None = None) -> int | None:
    """An integer query parameter; 400 when it is not one."""
    raw = req.get_param(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise errors.BadRequestError(f"query parameter {name} must be an integer, got {raw!r}") from None


def query_bool(req: falcon.Request, name: str) -> bool:
    """A boolean query parameter (`true`/`1`)."""
    return (req.get_param(name) or "").lower() in ("true", "1")
