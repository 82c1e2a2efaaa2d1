"""Bits every simulator view shares: the `intuit_tid` header, JSON bodies, and the wrappers that make
sure nothing the simulator answers is ever a Django debug page or traceback (JSON `Fault`s for the API,
JSON errors for the control API, an error page for pages), that the control API needs its token, and
that the browsing pages need a signed-in user of the app."""

from __future__ import annotations

import functools
import hmac
import json
import logging

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.http import Http404
from django.shortcuts import render

from .. import faults
from ..faults import json_response, new_intuit_tid

logger = logging.getLogger(__name__)

CONTROL_TOKEN_HEADER = "X-Simulator-Token"


def with_intuit_tid(view):
    """Every response from Intuit carries an `intuit_tid` header; so does every simulator response."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        response = view(request, *args, **kwargs)
        response["intuit_tid"] = new_intuit_tid()
        return response

    return wrapper


def json_body(request):
    """The parsed JSON body, or None when it is not JSON."""
    try:
        return json.loads(request.body.decode("utf-8") or "null")
    except (UnicodeDecodeError, ValueError):
        return None


def fault_response(fault: faults.ApiFault):
    return json_response(fault.body(), fault.status, fault.headers)


def api_view(methods: tuple[str, ...]):
    """An Accounting API (or OAuth JSON) endpoint: wrong method → 405 Fault, any unexpected exception →
    500 SystemFault (never Django's HTML page), `intuit_tid` on every answer."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method not in methods:
                response = fault_response(faults.method_not_allowed(request.method, methods))
                response["Allow"] = ", ".join(methods)
            else:
                try:
                    response = view(request, *args, **kwargs)
                except Exception:
                    logger.exception("simulator.api.error path=%s", request.path)
                    response = fault_response(faults.system_failure())
            response["intuit_tid"] = new_intuit_tid()
            return response

        wrapper.csrf_exempt = True
        return wrapper

    return decorate


def oauth_json_view(methods: tuple[str, ...]):
    """An OAuth endpoint answering JSON: errors are OAuth-style `{"error": …}` bodies."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            if request.method not in methods:
                response = json_response(
                    {"error": "invalid_request", "error_description": f"{request.method} is not allowed"}, 405
                )
                response["Allow"] = ", ".join(methods)
            else:
                try:
                    response = view(request, *args, **kwargs)
                except Exception:
                    logger.exception("simulator.oauth.error path=%s", request.path)
                    response = json_response(
                        {"error": "server_error", "error_description": "An unexpected error occurred"}, 500
                    )
            response["intuit_tid"] = new_intuit_tid()
            return response

        wrapper.csrf_exempt = True
        return wrapper

    return decorate


def _control_token_problem(request) -> tuple[int, str] | None:
    expected = getattr(settings, "QUICKBOOKS_SIMULATOR_CONTROL_TOKEN", "") or ""
    if not expected:
        return 403, (
            "The simulator's control API is disabled: set QUICKBOOKS_SIMULATOR_CONTROL_TOKEN and send it "
            f"as '{CONTROL_TOKEN_HEADER}: <token>' or 'Authorization: Bearer <token>'."
        )
    sent = request.headers.get(CONTROL_TOKEN_HEADER, "")
    if not sent:
        authorization = request.headers.get("Authorization", "")
        if authorization[:7].lower() == "bearer ":
            sent = authorization[7:].strip()
    if not sent or not hmac.compare_digest(sent.encode(), expected.encode()):
        return 401, (
            f"The control API needs the simulator's control token ('{CONTROL_TOKEN_HEADER}: <token>' or "
            "'Authorization: Bearer <token>')."
        )
    return None


def control_view(methods: tuple[str, ...]):
    """A control API endpoint: token required (constant-time compare), JSON errors only."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            problem = _control_token_problem(request)
            if problem is not None:
                response = json_response({"error": problem[1]}, problem[0])
                if problem[0] == 401:
                    response["WWW-Authenticate"] = 'Bearer realm="simulator-control"'
            elif request.method not in methods:
                response = json_response({"error": f"{request.method} is not allowed here"}, 405)
                response["Allow"] = ", ".join(methods)
            else:
                try:
                    response = view(request, *args, **kwargs)
                except Exception:
                    logger.exception("simulator.control.error path=%s", request.path)
                    response = json_response({"error": "internal error in the simulator"}, 500)
            response["intuit_tid"] = new_intuit_tid()
            return response

        wrapper.csrf_exempt = True
        return wrapper

    return decorate


def error_page(request, message: str, status: int):
    return render(request, "simulator/error.html", {"message": message, "status": status}, status=status)


def page_view(methods: tuple[str, ...], *, sign_in: bool = True):
    """A browsing page or page form: a signed-in user of the app (else the login page), CSRF as usual,
    and an error page — never a traceback — when something goes wrong."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(request, *args, **kwargs):
            if sign_in and not request.user.is_authenticated:
                response = redirect_to_login(request.get_full_path())
            elif request.method not in methods:
                response = error_page(request, f"{request.method} is not allowed on this page.", 405)
                response["Allow"] = ", ".join(methods)
            else:
                try:
                    response = view(request, *args, **kwargs)
                except Http404 as missing:
                    response = error_page(request, str(missing) or "No such page.", 404)
                except Exception:
                    logger.exception("simulator.page.error path=%s", request.path)
                    response = error_page(request, "Something went wrong inside the simulator.", 500)
            response["intuit_tid"] = new_intuit_tid()
            return response

        return wrapper

    return decorate


@api_view(("GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"))
def unknown_path(request, rest: str = ""):
    """Anything under /simulator/ that is not an endpoint or a page: a JSON Fault, as Intuit answers."""
    return fault_response(faults.not_found_resource(request.path))
