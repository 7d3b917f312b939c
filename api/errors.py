"""API errors as Kubernetes `Status` objects, converted once at each boundary.

The server raises these and one Falcon handler turns them into `Status` responses; the client
turns a `Status` body back into the same class (`from_status`). One class per reason, all sharing
`ApiError`, so callers catch `NotFoundError` rather than comparing codes.
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A failed API call, shaped like a Kubernetes `Status`."""

    code = 500
    reason = "InternalError"

    def __init__(
        self,
        message: str,
        *,
        name: str | None = None,
        kind: str | None = None,
        group: str | None = None,
        causes: list[dict[str, str]] | None = None,
        retry_after_seconds: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.name = name
        self.kind = kind
        self.group = group
        self.causes = causes or []
        self.retry_after_seconds = retry_after_seconds

    def to_status(self) -> dict[str, Any]:
        """The Kubernetes `Status` body for this error."""
        status: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        details: dict[str, Any] = {}
        if self.name is not None:
            details["name"] = self.name
        if self.group is not None:
            details["group"] = self.group
        if self.kind is not None:
            details["kind"] = self.kind
        if self.causes:
            details["causes"] = self.causes
        if self.retry_after_seconds is not None:
            details["retryAfterSeconds"] = self.retry_after_seconds
        if details:
            status["details"] = details
        return status


class BadRequestError(ApiError):
    code, reason = 400, "BadRequest"


class UnauthorizedError(ApiError):
    code, reason = 401, "Unauthorized"


class ForbiddenError(ApiError):
    code, reason = 403, "Forbidden"


class NotFoundError(ApiError):
    code, reason = 404, "NotFound"


class MethodNotAllowedError(ApiError):
    code, reason = 405, "MethodNotAllowed"


class NotAcceptableError(ApiError):
    code, reason = 406, "NotAcceptable"


class AlreadyExistsError(ApiError):
    code, reason = 409, "AlreadyExists"


class ConflictError(ApiError):
    code, reason = 409, "Conflict"


class ExpiredError(ApiError):
    code, reason = 410, "Expired"


class RequestEntityTooLargeError(ApiError):
    code, reason = 413, "RequestEntityTooLarge"


class UnsupportedMediaTypeError(ApiError):
    code, reason = 415, "UnsupportedMediaType"


class InvalidError(ApiError):
    code, reason = 422, "Invalid"


class TooManyRequestsError(ApiError):
    code, reason = 429, "TooManyRequests"


class InternalError(ApiError):
    code, reason = 500, "InternalError"


class ServiceUnavailableError(ApiError):
    code, reason = 503, "ServiceUnavailable"


class TimeoutError_(ApiError):
    """The server could not finish in time (the outcome of a write may be unknown)."""

    code, reason = 504, "Timeout"


_BY_REASON: dict[str, type[ApiError]] = {
    cls.reason: cls
    for cls in (
        BadRequestError, UnauthorizedError, ForbiddenError, NotFoundError, MethodNotAllowedError,
        NotAcceptableError, AlreadyExistsError, ConflictError, ExpiredError, RequestEntityTooLargeError,
        UnsupportedMediaTypeError, InvalidError, TooManyRequestsError, InternalError,
        ServiceUnavailableError, TimeoutError_,
    )
}
_BY_CODE: dict[int, type[ApiError]] = {
    400: BadRequestError, 401: UnauthorizedError, 403: ForbiddenError, 404: NotFoundError,
    405: MethodNotAllowedError, 406: NotAcceptableError, 409: ConflictError, 410: ExpiredError,
    413: RequestEntityTooLargeError, 415: UnsupportedMediaTypeError, 422: InvalidError,
    429: TooManyRequestsError, 503: ServiceUnavailableError, 504: TimeoutError_,
}


def from_status(status: dict[str, Any] | None, http_code: int) -> ApiError:
    """Rebuild the typed error from a `Status` body (or from the HTTP code when there is none)."""
    status = status if isinstance(status, dict) else {}
    reason = status.get("reason") or ""
    cls = _BY_REASON.get(reason) or _BY_CODE.get(http_code, ApiError)
    details = status.get("details") or {}
    err = cls(
        status.get("message") or f"HTTP {http_code}",
        name=details.get("name"),
        kind=details.get("kind"),
        group=details.get("group"),
        causes=details.get("causes"),
        retry_after_seconds=details.get("retryAfterSeconds"),
    )
    if cls is ApiError:
        err.code = http_code
    return err


def invalid(kind: str, name: str | None, causes: list[tuple[str, str, str]]) -> InvalidError:
    """A 422 listing every bad field: causes are (field path, reason type, message)."""
    parts = [f"{path}: {msg}" for path, _, msg in causes]
    return InvalidError(
        f'{kind} "{name or ""}" is invalid: ' + ", ".join(parts),
        name=name,
        kind=kind,
        causes=[{"field": path, "reason": reason, "message": msg} for path, reason, msg in causes],
    )
