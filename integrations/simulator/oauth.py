"""Intuit's OAuth 2.0 server, as QBO-REFERENCE §1 describes it.

Deliberately stricter than Intuit in one place: every refresh token is single-use (Intuit keeps the
previous one alive for 24 h; third parties report immediate invalidation; §1.5 says design for both).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import secrets
import threading
import uuid
from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import unquote, urlencode, urlsplit

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from config import keys

from . import faults
from .models import SimAuthorizationCode, SimCompany, SimGrant, SimToken, TokenKind

logger = logging.getLogger(__name__)

ACCOUNTING_SCOPE = "com.intuit.quickbooks.accounting"
KNOWN_SCOPES = frozenset(
    {
        ACCOUNTING_SCOPE,
        "com.intuit.quickbooks.payment",
        "openid",
        "profile",
        "email",
        "phone",
        "address",
    }
)
CODE_LIFETIME = timedelta(minutes=10)
ACCESS_TOKEN_SECONDS = 3600
REFRESH_TOKEN_SECONDS = 8726400  # what Intuit answers in x_refresh_token_expires_in (~101 days, rolling)
HARD_CAP = timedelta(days=5 * 365)


class AuthorizePageError(Exception):
    """The authorize request cannot be trusted enough to redirect (bad client or redirect URI)."""


class AuthorizeRedirectError(Exception):
    """An error to send back to the (validated) redirect URI as ?error=..."""

    def __init__(self, error: str, description: str) -> None:
        super().__init__(description)
        self.error = error
        self.description = description


class TokenError(Exception):
    """An OAuth error answer from the token or revoke endpoint."""

    def __init__(self, error: str, description: str = "", status: int = 400) -> None:
        super().__init__(error)
        self.error = error
        self.description = description
        self.status = status

    def body(self) -> dict:
        body = {"error": self.error}
        if self.description:
            body["error_description"] = self.description
        return body


@dataclass(frozen=True)
class AuthorizeRequest:
    client_id: str
    redirect_uri: str
    scope: str
    state: str
    code_challenge: str
    code_challenge_method: str

    def as_params(self) -> dict:
        return {
            "client_id": self.client_id,
            "response_type": "code",
            "scope": self.scope,
            "redirect_uri": self.redirect_uri,
            "state": self.state,
            "code_challenge": self.code_challenge,
            "code_challenge_method": self.code_challenge_method,
        }


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def allowed_redirect_uris() -> list[str]:
    """The redirect URIs registered for the simulator's one client. Intuit redirects only to URIs registered
    for the app (QBO-REFERENCE §1.3); here they are `QUICKBOOKS_SIMULATOR_REDIRECT_URIS`, or, when that is
    empty, the app's own `QUICKBOOKS_REDIRECT_URI_ALLOWLIST` and `QUICKBOOKS_REDIRECT_URI`."""
    configured = list(getattr(settings, "QUICKBOOKS_SIMULATOR_REDIRECT_URIS", None) or [])
    if configured:
        return configured
    uris = list(getattr(settings, "QUICKBOOKS_REDIRECT_URI_ALLOWLIST", None) or [])
    own = getattr(settings, "QUICKBOOKS_REDIRECT_URI", "")
    if own and own not in uris:
        uris.append(own)
    return uris


def _redirect_uri_is_acceptable(uri: str) -> bool:
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
        return False
    return any(hmac.compare_digest(uri, allowed) for allowed in allowed_redirect_uris())


def validate_authorize_request(params) -> AuthorizeRequest:
    """Check an authorize request. Client and redirect URI first: until both are valid we never redirect."""
    client_id = params.get("client_id", "")
    redirect_uri = params.get("redirect_uri", "")
    if not client_id or not hmac.compare_digest(client_id, keys.quickbooks_client_id()):
        raise AuthorizePageError("Unknown client_id. Use the app's QUICKBOOKS_CLIENT_ID.")
    if not redirect_uri or not _redirect_uri_is_acceptable(redirect_uri):
        raise AuthorizePageError(
            "The redirect_uri is not one of the redirect URIs registered for this app "
            "(QUICKBOOKS_SIMULATOR_REDIRECT_URIS, or the app's QUICKBOOKS_REDIRECT_URI_ALLOWLIST)."
        )
    request = AuthorizeRequest(
        client_id=client_id,
        redirect_uri=redirect_uri,
        scope=params.get("scope", ""),
        state=params.get("state", ""),
        code_challenge=params.get("code_challenge", ""),
        code_challenge_method=params.get("code_challenge_method", ""),
    )
    if params.get("response_type") != "code":
        raise AuthorizeRedirectError("unsupported_response_type", "response_type must be code")
    scopes = request.scope.split()
    if ACCOUNTING_SCOPE not in scopes or any(scope not in KNOWN_SCOPES for scope in scopes):
        raise AuthorizeRedirectError("invalid_scope", f"scope must include {ACCOUNTING_SCOPE}")
    if request.code_challenge:
        method = request.code_challenge_method or "plain"
        if method not in ("S256", "plain"):
            raise AuthorizeRedirectError("invalid_request", "code_challenge_method must be S256 or plain")
        request = AuthorizeRequest(**{**request.__dict__, "code_challenge_method": method})
    elif request.code_challenge_method:
        raise AuthorizeRedirectError("invalid_request", "code_challenge_method without code_challenge")
    return request


def redirect_url(redirect_uri: str, params: dict) -> str:
    separator = "&" if urlsplit(redirect_uri).query else "?"
    return redirect_uri + separator + urlencode({k: v for k, v in params.items() if v != ""})


def error_redirect_url(request_params: AuthorizeRequest | dict, error: str, description: str = "") -> str:
    if isinstance(request_params, AuthorizeRequest):
        uri, state = request_params.redirect_uri, request_params.state
    else:
        uri, state = request_params.get("redirect_uri", ""), request_params.get("state", "")
    return redirect_url(uri, {"error": error, "error_description": description, "state": state})


def issue_authorization_code(request: AuthorizeRequest, company: SimCompany) -> str:
    """The user clicked Connect: a single-use code bound to client, redirect URI, realm, scope and PKCE."""
    now = timezone.now()
    code = "AB11" + secrets.token_urlsafe(36)
    SimAuthorizationCode.objects.create(
        code=code,
        company=company,
        client_id=request.client_id,
        redirect_uri=request.redirect_uri,
        scope=request.scope,
        code_challenge=request.code_challenge,
        code_challenge_method=request.code_challenge_method,
        created_at=now,
        expires_at=now + CODE_LIFETIME,
    )
    logger.info("simulator.oauth.code_issued realm=%s", company.realm_id)
    return code


# --- Token endpoint ------------------------------------------------------------------------------------


def authenticate_client(authorization_header: str, form) -> str:
    """HTTP Basic (client_secret_basic) or client_id/client_secret in the body (client_secret_post)."""
    client_id = client_secret = None
    if authorization_header.lower().startswith("basic "):
        try:
            decoded = base64.b64decode(authorization_header[6:].strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise TokenError("invalid_client", status=401) from None
        client_id, _, client_secret = decoded.partition(":")
        client_id, client_secret = unquote(client_id), unquote(client_secret)
    elif form.get("client_id") is not None:
        client_id, client_secret = form.get("client_id"), form.get("client_secret", "")
    if (
        client_id is None
        or not hmac.compare_digest(client_id.encode(), keys.quickbooks_client_id().encode())
        or not hmac.compare_digest((client_secret or "").encode(), keys.quickbooks_client_secret().encode())
    ):
        raise TokenError("invalid_client", status=401)
    return client_id


def realm_for_token_request(form) -> str:
    """Which realm a token request is about (for realm-targeted fault switches), without validating it."""
    grant_type = form.get("grant_type")
    if grant_type == "authorization_code" and form.get("code"):
        code = SimAuthorizationCode.objects.filter(code=form["code"]).select_related("company").first()
        return code.company.realm_id if code else ""
    if grant_type == "refresh_token" and form.get("refresh_token"):
        token = (
            SimToken.objects.filter(token_hash=hash_token(form["refresh_token"]))
            .select_related("grant__company")
            .first()
        )
        return token.grant.company.realm_id if token else ""
    return ""


def _pkce_matches(code: SimAuthorizationCode, verifier: str) -> bool:
    if not verifier:
        return False
    if code.code_challenge_method == "S256":
        digest = hashlib.sha256(verifier.encode("ascii", "replace")).digest()
        expected = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    else:
        expected = verifier
    return hmac.compare_digest(expected, code.code_challenge)


def _mint(grant: SimGrant, kind: str, lifetime: timedelta, now) -> str:
    prefix = "sim-at-" if kind == TokenKind.ACCESS else "sim-rt-"
    token = prefix + secrets.token_urlsafe(48)
    SimToken.objects.create(
        grant=grant, kind=kind, token_hash=hash_token(token), created_at=now, expires_at=now + lifetime
    )
    return token


def _token_pair(grant: SimGrant, now, include_hard_expiry: bool) -> dict:
    hard_left = int((grant.hard_expires_at - now).total_seconds())
    refresh_seconds = max(0, min(REFRESH_TOKEN_SECONDS, hard_left))
    body = {
        "token_type": "bearer",
        "access_token": _mint(grant, TokenKind.ACCESS, timedelta(seconds=ACCESS_TOKEN_SECONDS), now),
        "refresh_token": _mint(grant, TokenKind.REFRESH, timedelta(seconds=refresh_seconds), now),
        "expires_in": ACCESS_TOKEN_SECONDS,
        "x_refresh_token_expires_in": refresh_seconds,
    }
    if include_hard_expiry:
        body["x_refresh_token_hard_expires_in"] = max(0, hard_left)
    return body


def revoke_grant(grant: SimGrant, now=None) -> None:
    now = now or timezone.now()
    SimGrant.objects.filter(pk=grant.pk, revoked_at__isnull=True).update(revoked_at=now)
    SimToken.objects.filter(grant=grant, revoked_at__isnull=True).update(revoked_at=now)


def exchange_code(
    *, client_id: str, code: str, redirect_uri: str, code_verifier: str, include_hard_expiry: bool
) -> dict:
    """grant_type=authorization_code."""
    if not code:
        raise TokenError("invalid_request", "code is required")
    if not redirect_uri:
        raise TokenError("invalid_request", "redirect_uri is required")
    now = timezone.now()
    with transaction.atomic():
        record = (
            SimAuthorizationCode.objects.select_for_update()
            .filter(code=code)
            .select_related("company")
            .first()
        )
        if record is None or record.client_id != client_id:
            raise TokenError("invalid_grant", "Invalid authorization code")
        replayed_grant = record.grant if record.used_at is not None else None
        if record.used_at is None:
            if record.expires_at <= now:
                raise TokenError("invalid_grant", "Authorization code has expired")
            if record.redirect_uri != redirect_uri:
                raise TokenError("invalid_grant", "redirect_uri does not match the authorization request")
            if record.code_challenge and not _pkce_matches(record, code_verifier):
                raise TokenError("invalid_grant", "code_verifier does not match the code_challenge")
            grant = SimGrant.objects.create(
                company=record.company,
                client_id=client_id,
                scope=record.scope,
                created_at=now,
                hard_expires_at=now + HARD_CAP,
            )
            record.used_at = now
            record.grant = grant
            record.save(update_fields=["used_at", "grant"])
            logger.info("simulator.oauth.code_exchanged realm=%s grant=%s", record.company.realm_id, grant.pk)
            return _token_pair(grant, now, include_hard_expiry)
    if replayed_grant is not None:
        revoke_grant(replayed_grant, now)  # a replayed code kills what it minted (RFC 6749 §4.1.2)
    raise TokenError("invalid_grant", "Authorization code has already been used")


@transaction.atomic
def refresh(*, client_id: str, refresh_token: str, include_hard_expiry: bool) -> dict:
    """grant_type=refresh_token: rotate; the presented refresh token is dead from now on."""
    if not refresh_token:
        raise TokenError("invalid_request", "refresh_token is required")
    now = timezone.now()
    token = (
        SimToken.objects.select_for_update()
        .filter(token_hash=hash_token(refresh_token), kind=TokenKind.REFRESH)
        .select_related("grant")
        .first()
    )
    if token is None or token.grant.client_id != client_id:
        raise TokenError("invalid_grant", "Incorrect or invalid refresh token")
    if token.revoked_at is not None or token.grant.revoked_at is not None:
        raise TokenError("invalid_grant", "Token has been expired or revoked.")
    if token.used_at is not None:
        raise TokenError("invalid_grant", "Incorrect or invalid refresh token")
    if token.expires_at <= now or token.grant.hard_expires_at <= now:
        raise TokenError("invalid_grant", "Token has been expired or revoked.")
    token.used_at = now
    token.save(update_fields=["used_at"])
    logger.info("simulator.oauth.refreshed grant=%s", token.grant_id)
    return _token_pair(token.grant, now, include_hard_expiry)


@transaction.atomic
def revoke(token_value: str) -> None:
    """Revoke the grant the token belongs to (all its tokens). Unknown tokens are ignored."""
    token = SimToken.objects.filter(token_hash=hash_token(token_value)).select_related("grant").first()
    if token is not None:
        revoke_grant(token.grant)
        logger.info("simulator.oauth.revoked grant=%s", token.grant_id)


# --- Bearer tokens on the Accounting API ---------------------------------------------------------------


def authenticate_bearer(authorization_header: str, realm_id: str) -> SimGrant:
    """The grant behind a valid access token for this realm, or a gateway fault (401 3200 / 403 3100)."""
    grant = access_grant(authorization_header)
    if grant.company.realm_id != realm_id:
        raise faults.authorization_failed()
    return grant


def access_grant(authorization_header: str) -> SimGrant:
    """The grant behind a valid (unexpired, unrevoked) access token, or a 401 gateway fault."""
    if not authorization_header.lower().startswith("bearer "):
        raise faults.authentication_failed("Authorization header missing or not a bearer token")
    value = authorization_header[7:].strip()
    token = (
        SimToken.objects.filter(token_hash=hash_token(value), kind=TokenKind.ACCESS)
        .select_related("grant__company")
        .first()
    )
    now = timezone.now()
    if token is None or token.revoked_at is not None or token.grant.revoked_at is not None:
        raise faults.authentication_failed()
    if token.expires_at <= now:
        raise faults.authentication_failed("Token expired")
    return token.grant


# --- OpenID Connect: userinfo and JWKS -------------------------------------------------------------------

_signing_key = None
_signing_key_lock = threading.Lock()
SIGNING_KEY_ID = "simulator-rs256-1"


def _b64url_uint(value: int) -> str:
    raw = value.to_bytes((value.bit_length() + 7) // 8, "big")
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def jwks() -> dict:
    """One RSA public key (made once per process), as a JWK Set (RFC 7517). The simulator issues no
    id_token, so nothing is signed with it; it exists so OIDC clients that load `jwks_uri` work."""
    global _signing_key
    with _signing_key_lock:
        if _signing_key is None:
            from cryptography.hazmat.primitives.asymmetric import rsa

            _signing_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    numbers = _signing_key.public_key().public_numbers()
    return {
        "keys": [
            {
                "kty": "RSA",
                "use": "sig",
                "alg": "RS256",
                "kid": SIGNING_KEY_ID,
                "n": _b64url_uint(numbers.n),
                "e": _b64url_uint(numbers.e),
            }
        ]
    }


def userinfo(grant: SimGrant) -> dict:
    """Intuit's userinfo answer (camelCase claims), limited to what the grant's scopes allow. Needs the
    `openid` scope (else TokenError insufficient_scope, 403)."""
    scopes = set(grant.scope.split())
    if "openid" not in scopes:
        raise TokenError("insufficient_scope", "The access token was not granted the openid scope", 403)
    company = grant.company
    info = {"sub": str(uuid.uuid5(uuid.NAMESPACE_URL, f"simulator-user:{company.realm_id}"))}
    if "email" in scopes:
        info.update({"email": company.email, "emailVerified": True})
    if "profile" in scopes:
        info.update({"givenName": "Sandbox", "familyName": "Admin"})
    if "phone" in scopes:
        info.update({"phoneNumber": "+1 555-0100", "phoneNumberVerified": False})
    if "address" in scopes:
        info["address"] = {
            "streetAddress": company.address_line1,
            "locality": company.city,
            "region": company.region,
            "postalCode": company.postal_code,
            "country": company.country,
        }
    return info


# --- Intuit-side events, for the control API and pages ---------------------------------------------------

TOKEN_ACTIONS = ("revoke", "expire_access", "expire_refresh")


@transaction.atomic
def age_tokens(*, realm_id: str, action: str) -> int:
    """Revoke every active grant of a realm (the user disconnected the app in QuickBooks), or make their
    access / refresh tokens expired. Returns how many grants were touched."""
    if action not in TOKEN_ACTIONS:
        raise ValueError(f"action must be one of {', '.join(TOKEN_ACTIONS)}")
    if not SimCompany.objects.filter(realm_id=realm_id).exists():
        raise ValueError("unknown realm_id")
    grants = list(SimGrant.objects.filter(company__realm_id=realm_id, revoked_at__isnull=True))
    now = timezone.now()
    for grant in grants:
        if action == "revoke":
            revoke_grant(grant, now)
        else:
            kind = TokenKind.ACCESS if action == "expire_access" else TokenKind.REFRESH
            SimToken.objects.filter(grant=grant, kind=kind, expires_at__gt=now).update(
                expires_at=now - timedelta(seconds=1)
            )
    logger.info("simulator.oauth.tokens_aged realm=%s action=%s grants=%s", realm_id, action, len(grants))
    return len(grants)
