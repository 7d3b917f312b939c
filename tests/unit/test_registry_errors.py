"""Unit tests of the one table that turns store rejections into API errors."""

from __future__ import annotations

import pytest

from minik8s.api import errors
from minik8s.api.kinds import resolve
from minik8s.api.server.registry import api_error
from minik8s.store import Reason, Rejected

DEPLOYMENTS = resolve("deployments")


@pytest.mark.parametrize("reason", list(Reason), ids=lambda r: r.value)
def test_registry_every_reason_maps_to_an_api_error(reason: Reason) -> None:
    """Each store rejection reason has an API error; none falls through or raises something else."""
    error = api_error(Rejected(reason, "why"), DEPLOYMENTS, "web")
    assert isinstance(error, errors.ApiError) and error.message


@pytest.mark.parametrize(("reason", "error_type", "code", "message"), [
    pytest.param(Reason.NOT_FOUND, errors.NotFoundError, 404, 'deployments.apps "web" not found', id="not-found"),
    pytest.param(Reason.ALREADY_EXISTS, errors.AlreadyExistsError, 409, 'deployments.apps "web" already exists',
                 id="already-exists"),
    pytest.param(Reason.CONFLICT, errors.ConflictError, 409,
                 'Operation cannot be fulfilled on deployments.apps "web": why', id="conflict"),
    pytest.param(Reason.ALREADY_APPLIED, errors.InternalError, 500, "store error: why", id="already-applied"),
    pytest.param(Reason.BAD_COMMAND, errors.InternalError, 500, "store error: why", id="bad-command"),
    pytest.param(Reason.INTERNAL, errors.InternalError, 500, "store error: why", id="internal"),
])
def test_registry_reason_gives_the_kubernetes_status(reason: Reason, error_type: type, code: int,
                                                     message: str) -> None:
    """The status code, message and details a client sees for each rejection are Kubernetes' own."""
    error = api_error(Rejected(reason, "why"), DEPLOYMENTS, "web")
    assert type(error) is error_type and error.code == code and error.message == message
    if error_type is not errors.InternalError:
        assert (error.name, error.kind, error.group) == ("web", "deployments", "apps")
