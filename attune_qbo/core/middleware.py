"""Request hygiene before any view runs: no NUL bytes in parameters, JSON errors for the API."""

from __future__ import annotations

import logging

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation, TooManyFieldsSent
from django.http import JsonResponse
from django.shortcuts import render

logger = logging.getLogger("attune.request")

API_PREFIX = "/api/"
NUL = "\x00"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


def is_api_request(request) -> bool:
    return request.path.startswith(API_PREFIX)


def error_response(request, *, status: int, code: str, message: str):
    """`{code, message}` for the API; a small page for people."""
    if is_api_request(request):
        return JsonResponse({"code": code, "message": message}, status=status)
    return render(request, "error.html", {"status": status, "message": message}, status=status)


def _has_nul(query_dict) -> str | None:
    for key, values in query_dict.lists():
        if NUL in key or any(NUL in value for value in values):
            return key.replace(NUL, "\\0")
    return None


class RequestHygieneMiddleware:
    """Refuses NUL bytes in any query parameter or form field (400 with a message: databases refuse them
    and they hide text from people), and turns Django's refusals of oversized or over-long form bodies into
    a 413/400 with a message (JSON under /api/)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            bad = _has_nul(request.GET)
            if bad is None and request.method == "POST" and request.content_type in FORM_TYPES:
                request.body  # noqa: B018 - read (bounded) first, so views that want the raw body still can
                bad = _has_nul(request.POST)
        except RequestDataTooBig:
            return error_response(
                request, status=413, code="too_large", message="The request body is larger than this server accepts."
            )
        except TooManyFieldsSent:
            return error_response(
                request, status=400, code="too_many_fields", message="The form sends more fields than allowed."
            )
        except SuspiciousOperation as error:
            return error_response(request, status=400, code="bad_request", message=str(error) or "Bad request.")
        if bad is not None:
            logger.warning("request.nul_byte path=%s", request.path)
            return error_response(
                request,
                status=400,
                code="invalid",
                message=f"“{bad}” contains a NUL character (\\0), which is not allowed in any field.",
            )
        response = self.get_response(request)
        if is_api_request(request) and response.status_code >= 400 and not _is_json(response):
            return _as_json_error(request, response)
        return response


_STATUS_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    429: "throttled",
}


def _is_json(response) -> bool:
    return response.get("Content-Type", "").startswith("application/json")


def _as_json_error(request, response):
    """Every API error is `{code, message}`, whoever produced it (Django's 404/405, a bare 400, ...). The
    OAuth callback's pages for people (HTML with a message) are left alone."""
    if (
        request.path.endswith("/callback")
        and response.get("Content-Type", "").startswith("text/html")
        and getattr(response, "content", b"")
    ):
        return response
    status = response.status_code
    code = _STATUS_CODES.get(status, "server_error" if status >= 500 else "error")
    message = {
        404: "Not found.",
        405: f"Method “{request.method}” not allowed.",
        413: "The request body is larger than this API accepts.",
    }.get(status, response.reason_phrase or "Error.")
    converted = JsonResponse({"code": code, "message": message}, status=status)
    if response.has_header("Allow"):
        converted["Allow"] = response["Allow"]
    return converted


class PermissionsPolicyMiddleware:
    """Adds `Permissions-Policy` (settings.PERMISSIONS_POLICY) to every response."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from django.conf import settings

        response = self.get_response(request)
        policy = getattr(settings, "PERMISSIONS_POLICY", "")
        if policy and "Permissions-Policy" not in response:
            response["Permissions-Policy"] = policy
        return response
