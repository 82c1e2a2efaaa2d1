"""OAuth 2.0 / OpenID Connect endpoints: consent page, token endpoint, revoke, discovery document, userinfo,
JWKS."""

from __future__ import annotations

import logging

from django.http import HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse

from .. import control, oauth
from ..faults import ApiFault, json_response
from ..models import FaultKind, FaultTarget, SimCompany
from ..store import ensure_seeded
from .common import json_body, oauth_json_view, page_view

logger = logging.getLogger(__name__)
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _error_page(request, message: str):
    return render(request, "simulator/authorize_error.html", {"message": message}, status=400)


@page_view(("GET", "POST"), sign_in=False)
def authorize(request):
    """GET: the consent page. POST (the form, CSRF-protected): Connect or Cancel."""
    params = request.GET if request.method == "GET" else request.POST
    try:
        auth_request = oauth.validate_authorize_request(params)
    except oauth.AuthorizePageError as error:
        return _error_page(request, str(error))
    except oauth.AuthorizeRedirectError as error:
        return HttpResponseRedirect(oauth.error_redirect_url(params, error.error, error.description))
    ensure_seeded()
    if request.method == "GET":
        return render(
            request,
            "simulator/authorize.html",
            {
                "params": auth_request.as_params(),
                "companies": SimCompany.objects.all(),
                "scopes": auth_request.scope.split(),
            },
        )
    if "cancel" in request.POST:
        return HttpResponseRedirect(
            oauth.error_redirect_url(auth_request, "access_denied", "The user declined")
        )
    company = SimCompany.objects.filter(realm_id=request.POST.get("realm_id", "")).first()
    if company is None:
        return render(
            request,
            "simulator/authorize.html",
            {
                "params": auth_request.as_params(),
                "companies": SimCompany.objects.all(),
                "scopes": auth_request.scope.split(),
                "error": "Choose a company to connect.",
            },
            status=400,
        )
    code = oauth.issue_authorization_code(auth_request, company)
    return HttpResponseRedirect(
        oauth.redirect_url(
            auth_request.redirect_uri,
            {
                "code": code,
                "state": auth_request.state,
                "realmId": company.realm_id,
            },
        )
    )


def _token_fault_response(kind: str, seconds: float):
    if kind == FaultKind.INVALID_GRANT:
        return json_response(
            {"error": "invalid_grant", "error_description": "Token invalid (simulated fault)"}, 400, NO_STORE
        )
    if kind == FaultKind.HTTP_500:
        return json_response({"error": "server_error", "error_description": "Simulated server error"}, 500)
    control.sleep(seconds)  # timeout: nothing applied
    return json_response({"error": "temporarily_unavailable", "error_description": "Simulated timeout"}, 504)


@oauth_json_view(("POST",))
def token(request):
    form = request.POST
    realm_id = oauth.realm_for_token_request(form)
    control.count_token_call(realm_id)
    injected = control.take_fault(FaultTarget.TOKEN, realm_id, writing=True)
    if injected is not None and injected.kind != FaultKind.TIMEOUT_AFTER_WRITE:
        return _token_fault_response(injected.kind, injected.seconds)
    include_hard = request.headers.get("x-include-refresh-token-hard-expires-in", "").lower() == "true"
    try:
        client_id = oauth.authenticate_client(request.headers.get("Authorization", ""), form)
        grant_type = form.get("grant_type")
        if not grant_type:
            raise oauth.TokenError("invalid_request", "grant_type is required")
        if grant_type == "authorization_code":
            body = oauth.exchange_code(
                client_id=client_id,
                code=form.get("code", ""),
                redirect_uri=form.get("redirect_uri", ""),
                code_verifier=form.get("code_verifier", ""),
                include_hard_expiry=include_hard,
            )
        elif grant_type == "refresh_token":
            body = oauth.refresh(
                client_id=client_id,
                refresh_token=form.get("refresh_token", ""),
                include_hard_expiry=include_hard,
            )
        else:
            raise oauth.TokenError("unsupported_grant_type")
    except oauth.TokenError as error:
        logger.info("simulator.oauth.token_refused error=%s", error.error)
        headers = {"WWW-Authenticate": 'Basic realm="simulator"'} if error.status == 401 else {}
        return json_response(error.body(), error.status, {**NO_STORE, **headers})
    if injected is not None:
        control.sleep(injected.seconds)  # tokens were issued (and the old refresh token spent); answer late
    return json_response(body, 200, NO_STORE)


@oauth_json_view(("POST",))
def revoke(request):
    data = json_body(request)
    form = request.POST
    try:
        oauth.authenticate_client(request.headers.get("Authorization", ""), form)
    except oauth.TokenError as error:
        return json_response(error.body(), error.status)
    value = data.get("token") if isinstance(data, dict) else form.get("token")
    if not value:
        return json_response({"error": "invalid_request", "error_description": "token is required"}, 400)
    oauth.revoke(value)
    return HttpResponse(status=200)


@oauth_json_view(("GET",))
def discovery(request):
    """Like Intuit's discovery document (QBO-REFERENCE §1.1; https://developer.intuit.com/.well-known/
    openid_sandbox_configuration), pointing at the simulator's endpoints. Served at both of Intuit's paths
    (`openid_configuration`, `openid_sandbox_configuration`), with and without a trailing slash."""

    def absolute(name):
        return request.build_absolute_uri(reverse(name))

    return json_response(
        {
            "issuer": absolute("simulator:index") + "oauth2",
            "authorization_endpoint": absolute("simulator:authorize"),
            "token_endpoint": absolute("simulator:token"),
            "userinfo_endpoint": absolute("simulator:userinfo"),
            "revocation_endpoint": absolute("simulator:revoke"),
            "jwks_uri": absolute("simulator:jwks"),
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "email", "profile", "address", "phone"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "claims_supported": [
                "aud",
                "exp",
                "iat",
                "iss",
                "realmid",
                "sub",
                "email",
                "emailVerified",
                "givenName",
                "familyName",
                "phoneNumber",
                "phoneNumberVerified",
                "address",
            ],
        }
    )


@oauth_json_view(("GET", "POST"))
def userinfo(request):
    """OpenID Connect userinfo for a valid access token (Bearer)."""
    try:
        grant = oauth.access_grant(request.headers.get("Authorization", ""))
        body = oauth.userinfo(grant)
    except ApiFault:
        response = json_response(
            {"error": "invalid_token", "error_description": "The access token is missing, expired or revoked"},
            401,
        )
        response["WWW-Authenticate"] = 'Bearer error="invalid_token"'
        return response
    except oauth.TokenError as error:
        return json_response(error.body(), error.status)
    return json_response(body, 200, NO_STORE)


@oauth_json_view(("GET",))
def jwks(request):
    return json_response(oauth.jwks())
