"""OAuth 2.0 with Intuit (QBO-REFERENCE §1): authorize URL, code exchange, refresh, revoke.

The only module that talks to the OAuth endpoints. Built on requests-oauthlib with automatic refresh
turned off: a library that refreshes on its own and loses the rotated token is the #1 cause of
`invalid_grant` (§8 #2). Only `services.connections.connection_refresh` calls `refresh()`.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import logging
import os
import secrets
from urllib.parse import urlsplit

import requests
from oauthlib.oauth2 import OAuth2Error
from requests.auth import HTTPBasicAuth
from requests_oauthlib import OAuth2Session

from integrations.conf import QuickBooksConfig
from integrations.exceptions import InvalidClient, InvalidGrant, TokenEndpointError, Unavailable
from integrations.quickbooks.constants import (
    HARD_EXPIRY_HEADER,
    INTUIT_TID_HEADER,
    OAUTH_INVALID_CLIENT,
    OAUTH_INVALID_GRANT,
)
from integrations.quickbooks.types import AuthorizationRequest, TokenSet

logger = logging.getLogger("qbo.oauth")

# requests-oauthlib and oauthlib log whole token requests and responses (access and refresh tokens) at
# DEBUG. Whatever the deployment's logging config, they never log below WARNING.
for _library_logger in ("requests_oauthlib", "oauthlib"):
    logging.getLogger(_library_logger).setLevel(logging.WARNING)


def is_loopback_http(url: str) -> bool:
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname:
        return False
    if parts.hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(parts.hostname).is_loopback
    except ValueError:
        return False


def _allow_http_for_loopback(url: str) -> None:
    """oauthlib refuses plain http. The simulator (and a local stand-in server) run on loopback http, so
    for those only we switch oauthlib's check off; real endpoints are https (system check attune.E006)."""
    if is_loopback_http(url):
        os.environ.setdefault("OAUTHLIB_INSECURE_TRANSPORT", "1")


def new_state() -> str:
    return secrets.token_urlsafe(32)


def new_code_verifier() -> str:
    return secrets.token_urlsafe(64)  # 86 characters, inside RFC 7636's 43..128


def code_challenge(verifier: str) -> str:
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def authorization_request(config: QuickBooksConfig, *, redirect_uri: str) -> AuthorizationRequest:
    """Intuit's authorize URL with `response_type=code`, scopes, redirect URI, a fresh state and (when
    enabled) a PKCE S256 challenge."""
    _allow_http_for_loopback(config.endpoints.authorization)
    state = new_state()
    verifier = new_code_verifier() if config.use_pkce else None
    session = OAuth2Session(config.client_id, redirect_uri=redirect_uri, scope=list(config.scopes), state=state)
    extra = {"code_challenge": code_challenge(verifier), "code_challenge_method": "S256"} if verifier else {}
    url, _ = session.authorization_url(config.endpoints.authorization, **extra)
    return AuthorizationRequest(url=url, state=state, code_verifier=verifier)


def _raise_for_token_response(response: requests.Response) -> requests.Response:
    """Compliance hook: turn an error answer into our typed error before oauthlib parses it."""
    intuit_tid = response.headers.get(INTUIT_TID_HEADER, "")
    if response.status_code < 400:
        return response
    try:
        body = response.json()
    except ValueError:
        body = {}
    error = body.get("error", "") if isinstance(body, dict) else ""
    description = body.get("error_description", "") if isinstance(body, dict) else ""
    kwargs = {"status": response.status_code, "code": error, "detail": description, "intuit_tid": intuit_tid}
    if response.status_code >= 500:
        raise Unavailable("Intuit's token service is unavailable", **kwargs)
    if error == OAUTH_INVALID_GRANT:
        raise InvalidGrant("Intuit refused the grant (invalid_grant)", **kwargs)
    if error == OAUTH_INVALID_CLIENT or response.status_code == 401:
        raise InvalidClient("Intuit refused our client credentials (invalid_client)", **kwargs)
    raise TokenEndpointError(f"Intuit's token endpoint refused the request ({error or 'no error code'})", **kwargs)


def _token_session(config: QuickBooksConfig, **kwargs) -> OAuth2Session:
    _allow_http_for_loopback(config.endpoints.token)
    session = OAuth2Session(config.client_id, **kwargs)
    session.register_compliance_hook("access_token_response", _raise_for_token_response)
    session.register_compliance_hook("refresh_token_response", _raise_for_token_response)
    return session


def _token_set(token: dict, intuit_tid: str) -> TokenSet:
    def seconds(name: str) -> int | None:
        value = token.get(name)
        return int(value) if value not in (None, "") else None

    scope = token.get("scope") or []
    return TokenSet(
        access_token=token["access_token"],
        refresh_token=token["refresh_token"],
        expires_in=seconds("expires_in") or 3600,
        refresh_token_expires_in=seconds("x_refresh_token_expires_in"),
        refresh_token_hard_expires_in=seconds("x_refresh_token_hard_expires_in"),
        scopes=tuple(scope.split() if isinstance(scope, str) else scope),
        intuit_tid=intuit_tid,
    )


def _call_token_endpoint(config: QuickBooksConfig, operation: str, call) -> TokenSet:
    captured = {}

    def capture_tid(response):
        captured["intuit_tid"] = response.headers.get(INTUIT_TID_HEADER, "")
        return response

    try:
        token = call(capture_tid)
    except (requests.Timeout, requests.ConnectionError) as error:
        logger.warning("qbo.oauth.%s.unreachable error=%s", operation, type(error).__name__)
        raise Unavailable(f"Intuit's token service could not be reached ({type(error).__name__})") from None
    except OAuth2Error as error:
        # oauthlib could not make sense of a 2xx answer (e.g. no access_token in it).
        raise TokenEndpointError(f"Intuit's token endpoint sent an unusable answer ({error.error})") from None
    except TokenEndpointError as error:
        logger.warning(
            "qbo.oauth.%s.refused status=%s code=%s intuit_tid=%s",
            operation,
            error.status,
            error.code,
            error.intuit_tid,
        )
        raise
    except Unavailable as error:
        logger.warning("qbo.oauth.%s.unavailable status=%s intuit_tid=%s", operation, error.status, error.intuit_tid)
        raise
    if "refresh_token" not in token or "access_token" not in token:
        raise TokenEndpointError(
            "Intuit's token endpoint answered without the tokens", intuit_tid=captured.get("intuit_tid", "")
        )
    logger.info("qbo.oauth.%s.ok intuit_tid=%s", operation, captured.get("intuit_tid", ""))
    return _token_set(token, captured.get("intuit_tid", ""))


_TOKEN_HEADERS = {"Accept": "application/json", HARD_EXPIRY_HEADER: "true"}


def exchange_code(config: QuickBooksConfig, *, code: str, redirect_uri: str, code_verifier: str | None) -> TokenSet:
    """Trade the authorization code for tokens (HTTP Basic client auth; §1.4)."""

    def call(capture_tid):
        session = _token_session(config, redirect_uri=redirect_uri)
        session.register_compliance_hook("access_token_response", capture_tid)
        extra = {"code_verifier": code_verifier} if code_verifier else {}
        return session.fetch_token(
            config.endpoints.token,
            code=code,
            auth=HTTPBasicAuth(config.client_id, config.client_secret),
            include_client_id=False,
            headers=_TOKEN_HEADERS,
            timeout=config.http_timeout,
            **extra,
        )

    return _call_token_endpoint(config, "exchange", call)


def refresh(config: QuickBooksConfig, *, refresh_token: str) -> TokenSet:
    """Use the refresh token once; the answer carries the new pair (rotation, §1.5)."""

    def call(capture_tid):
        session = _token_session(config)
        session.register_compliance_hook("refresh_token_response", capture_tid)
        return session.refresh_token(
            config.endpoints.token,
            refresh_token=refresh_token,
            auth=HTTPBasicAuth(config.client_id, config.client_secret),
            headers=_TOKEN_HEADERS,
            timeout=config.http_timeout,
        )

    return _call_token_endpoint(config, "refresh", call)


def revoke(config: QuickBooksConfig, *, token: str) -> str:
    """Revoke a refresh (or access) token at Intuit (§1.7). Returns Intuit's `intuit_tid`."""
    try:
        response = requests.post(
            config.endpoints.revocation,
            json={"token": token},
            auth=HTTPBasicAuth(config.client_id, config.client_secret),
            headers={"Accept": "application/json"},
            timeout=config.http_timeout,
        )
    except (requests.Timeout, requests.ConnectionError) as error:
        logger.warning("qbo.oauth.revoke.unreachable error=%s", type(error).__name__)
        raise Unavailable(f"Intuit's revocation service could not be reached ({type(error).__name__})") from None
    if response.status_code >= 400:
        _raise_for_token_response(response)
    intuit_tid = response.headers.get(INTUIT_TID_HEADER, "")
    logger.info("qbo.oauth.revoke.ok intuit_tid=%s", intuit_tid)
    return intuit_tid
