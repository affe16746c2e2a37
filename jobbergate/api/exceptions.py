"""Errors of the API: every failure is a JSON body with a ``detail`` that says what is wrong.

Validation failures answer 422 (as the FastAPI edition did) with the per-field messages under ``errors``;
malformed requests 400; conflicts with stored rows 409; bodies over the size limit 413. The domain's errors
(``jobbergate.errors``, raised by services and validators) get their status here, in ``DOMAIN_STATUS``, and
nowhere else; the classes below are for what only the API layer refuses (a query parameter, a multipart part).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig, SuspiciousOperation
from django.db import DataError, IntegrityError, OperationalError
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from jobbergate import errors

logger = logging.getLogger(__name__)


class BadRequest(exceptions.APIException):
    status_code = status.HTTP_400_BAD_REQUEST
    default_detail = "Bad request."
    default_code = "bad_request"


class Conflict(exceptions.APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with a stored row."
    default_code = "conflict"


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The request body is larger than the upload limit."
    default_code = "payload_too_large"


class DatabaseUnavailable(exceptions.APIException):
    """The database could not be reached (restarting, failing over): nothing was done; the same request may be
    sent again shortly."""

    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "The database is unavailable for a moment: nothing was changed; send the request again."
    default_code = "database_unavailable"


class Unprocessable(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "The request could not be processed."
    default_code = "unprocessable"


class ServiceUnavailable(exceptions.APIException):
    status_code = status.HTTP_503_SERVICE_UNAVAILABLE
    default_detail = "A service this request needs is unavailable for a moment; try again shortly."
    default_code = "service_unavailable"


# The API's answer to each error of the domain: a function of the error's message.
DOMAIN_STATUS: dict[type[errors.DomainError], Callable[[Any], exceptions.APIException]] = {
    errors.Malformed: BadRequest,
    errors.Forbidden: exceptions.PermissionDenied,
    errors.NotFound: exceptions.NotFound,
    errors.Conflict: Conflict,
    errors.TooLarge: PayloadTooLarge,
    errors.Invalid: Unprocessable,
    errors.Busy: lambda message: exceptions.Throttled(wait=1, detail=message),
    errors.Unavailable: ServiceUnavailable,
}


def api_error(error: errors.DomainError) -> exceptions.APIException:
    """The API exception answering a domain error: per-field problems as a validation error (422 with
    ``errors``), the others with the status of their kind and their message as ``detail``."""
    if error.fields:
        return exceptions.ValidationError(error.fields)
    answer = next(api for domain, api in DOMAIN_STATUS.items() if isinstance(error, domain))
    return answer(error.message or None)


def _flatten(errors, prefix: str = "") -> list[str]:
    """Turn DRF's nested error structure into 'field: message' lines."""
    if isinstance(errors, dict):
        lines: list[str] = []
        for key, value in errors.items():
            name = key if key != "non_field_errors" else ""
            lines += _flatten(value, f"{prefix}.{name}" if prefix and name else prefix or name)
        return lines
    if isinstance(errors, list):
        lines = []
        for index, value in enumerate(errors):
            if isinstance(value, (dict, list)):
                lines += _flatten(value, f"{prefix}[{index}]")
            else:
                lines += _flatten(value, prefix)
        return lines
    return [f"{prefix}: {errors}" if prefix else str(errors)]


def exception_handler(exc, context):
    """DRF's handler, plus: 422 for validation, 409 for integrity errors, 413 for oversized bodies, 503 while the
    database cannot be reached."""
    # Imported here: rest_framework.views loads the parser classes, which import this module.
    from rest_framework.views import exception_handler as drf_exception_handler

    if isinstance(exc, errors.DomainError):
        exc = api_error(exc)
    elif isinstance(exc, RequestDataTooBig):
        exc = PayloadTooLarge()
    elif isinstance(exc, IntegrityError):
        logger.info("Integrity error answered with 409: %s", exc)
        exc = Conflict("The request conflicts with a stored row (duplicate or missing reference).")
    elif isinstance(exc, DataError):
        # Safety net: what the checks above the database missed (a NUL byte, a number out of range).
        logger.warning("Database refused a value from a request: %s", exc)
        exc = BadRequest("A value in the request cannot be stored (e.g. a NUL character or a number out of range).")
    elif isinstance(exc, OperationalError):
        # A connection the database closed (a restart, a failover) or could not open: the transaction was rolled
        # back, so the client may retry. Django drops the broken connection at the end of the request.
        logger.error("The database is unavailable: %s", exc)
        exc = DatabaseUnavailable()
    elif isinstance(exc, SuspiciousOperation):
        exc = BadRequest(str(exc) or "Bad request.")
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, DatabaseUnavailable):
        response["Retry-After"] = "5"
    if isinstance(exc, exceptions.ValidationError):
        lines = _flatten(exc.detail)
        return Response(
            {"detail": "; ".join(lines) or "Invalid input.", "errors": exc.detail},
            status=status.HTTP_422_UNPROCESSABLE_ENTITY,
            headers={key: value for key, value in response.items()},
        )
    if isinstance(response.data, list):
        lines = _flatten(response.data)
        response.data = {"detail": "; ".join(lines), "errors": lines}
    elif not isinstance(response.data, dict) or "detail" not in response.data:
        response.data = {"detail": "; ".join(_flatten(response.data))}
    return response
