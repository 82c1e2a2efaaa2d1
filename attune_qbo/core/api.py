"""The one DRF exception handler: every API error is JSON `{"code", "message"}` (+ `errors` for fields)."""

from __future__ import annotations

import logging
import uuid

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from attune_qbo.core.exceptions import ApplicationError

logger = logging.getLogger(__name__)


def _first_message(detail) -> str:
    if isinstance(detail, dict):
        for field, value in detail.items():
            message = _first_message(value)
            return message if field == "non_field_errors" else f"{field}: {message}"
        return "Invalid input."
    if isinstance(detail, list):
        return _first_message(detail[0]) if detail else "Invalid input."
    return str(detail)


def exception_handler(exc, context):
    if isinstance(exc, ApplicationError):
        body = {"code": exc.code, "message": exc.message}
        if exc.extra:
            body["extra"] = exc.extra
        return Response(body, status=exc.status_code)

    if isinstance(exc, RequestDataTooBig):
        return Response(
            {"code": "too_large", "message": "The request body is larger than this API accepts."},
            status=status.HTTP_413_REQUEST_ENTITY_TOO_LARGE,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound("Not found.")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        # Anything unexpected: still JSON, with a reference the person can quote and we can find in the log.
        return server_error_response(exc)

    if isinstance(exc, exceptions.ValidationError):
        response.data = {
            "code": "invalid",
            "message": _first_message(exc.detail),
            "errors": exc.detail,
        }
    else:
        detail = getattr(exc, "detail", "")
        code = getattr(detail, "code", None) or getattr(exc, "default_code", "error")
        response.data = {"code": code, "message": str(detail)}
    if response.status_code >= status.HTTP_500_INTERNAL_SERVER_ERROR:
        logger.error("api.error status=%s code=%s", response.status_code, response.data.get("code"))
    return response


def new_reference() -> str:
    return uuid.uuid4().hex[:12]


def server_error_response(exc: BaseException | None = None) -> Response:
    from rest_framework.views import set_rollback

    reference = new_reference()
    logger.error("api.unhandled reference=%s error=%s", reference, type(exc).__name__ if exc else "", exc_info=exc)
    set_rollback()
    return Response(
        {
            "code": "server_error",
            "message": f"Something went wrong on our side. Quote reference {reference} if you contact support.",
            "reference": reference,
        },
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


class ApiDocsPermission:
    """The OpenAPI schema and Swagger UI: open in development, signed-in users only when
    `settings.API_DOCS_REQUIRE_SIGN_IN` (production)."""

    message = "Sign in to read the API documentation."

    def has_permission(self, request, view) -> bool:
        from django.conf import settings

        if not getattr(settings, "API_DOCS_REQUIRE_SIGN_IN", False):
            return True
        return bool(request.user and request.user.is_authenticated)

    def has_object_permission(self, request, view, obj) -> bool:
        return True
