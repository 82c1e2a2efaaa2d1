"""Connecting a Company to QuickBooks Online, keeping the connection alive, and disconnecting it.

Only `connection_refresh` talks to the token endpoint after connecting. It is single-flight across
processes: it locks the connection row, re-checks whether a refresh is still needed once it holds the lock,
and saves the new access *and* refresh token in the same transaction (QBO-REFERENCE §1.5, §9).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from django.core.mail import send_mail
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from attune_qbo.audit.models import AuditLog
from attune_qbo.audit.services import audit_record
from attune_qbo.core.exceptions import ApplicationError
from attune_qbo.tenants.models import Membership, Role
from attune_qbo.tenants.permissions import is_company_admin
from integrations.conf import QuickBooksConfig, quickbooks_config
from integrations.exceptions import (
    CallbackIncomplete,
    ConfigurationError,
    ConnectFailed,
    ConnectionCancelled,
    Forbidden,
    InvalidClient,
    InvalidGrant,
    InvalidState,
    NotCompanyAdmin,
    NotConnected,
    NotFound,
    QuickBooksError,
    RealmAlreadyConnected,
    ReconnectRequired,
    RefreshDeferred,
    SignInRequired,
    Unauthorized,
    Unavailable,
)
from integrations.fields import TokenDecryptionError
from integrations.models import ConnectionStatus, OAuthState, QuickBooksConnection, SalesTaxMode
from integrations.quickbooks import oauth
from integrations.quickbooks.constants import OAUTH_ACCESS_DENIED
from integrations.quickbooks.types import TokenSet

logger = logging.getLogger("qbo.connection")


def hash_session_key(session_key: str | None) -> str:
    return hashlib.sha256(session_key.encode()).hexdigest() if session_key else ""


# --- connect ----------------------------------------------------------------------------------------------


def connection_start(*, company, user, session_key: str | None = None) -> str:
    """Begin the connect flow; returns Intuit's authorize URL.

    The state (single-use, 10 minutes) is stored with the PKCE verifier, the user and the company. Pass the
    browser's `session_key` when the flow starts from a browser session: the callback must then come back
    in that session. https://developer.intuit.com/app/developer/qbo/docs/develop/authentication-and-authorization/oauth-2.0
    """
    if not is_company_admin(user, company):
        raise NotCompanyAdmin()
    from integrations.quickbooks.desktop.services import refuse_if_desktop_active

    refuse_if_desktop_active(company_id=company.pk)  # one QuickBooks at a time
    config = quickbooks_config()
    if config.redirect_uri not in config.allowed_redirect_uris:
        raise ConfigurationError("The QuickBooks redirect URI is not in this deployment's allowlist.")
    request = oauth.authorization_request(config, redirect_uri=config.redirect_uri)
    OAuthState.objects.create(
        state=request.state,
        company=company,
        user=user,
        code_verifier_cipher=request.code_verifier,
        redirect_uri=config.redirect_uri,
        environment=config.environment,
        session_key_hash=hash_session_key(session_key),
        expires_at=timezone.now() + dt.timedelta(seconds=config.state_ttl_seconds),
    )
    logger.info("qbo.connection.start company=%s user=%s", company.pk, user.pk)
    return request.url


def _consume_state(*, state: str, session_key: str | None, user=None) -> OAuthState:
    """Validate and use up the state in one step: present, known, unexpired, unused, and coming back to the
    browser that started it: the same session for a flow started on a page, the same signed-in user for a flow
    started through the API (so nobody can hand their authorize link to someone else's QuickBooks admin)."""
    if not state:
        raise InvalidState("missing")
    now = timezone.now()
    with transaction.atomic():
        record = OAuthState.objects.select_for_update().select_related("company", "user").filter(state=state).first()
        if record is None:
            raise InvalidState("unknown")
        if record.used_at is not None:
            raise InvalidState("reused")
        if record.expires_at <= now:
            raise InvalidState("expired")
        if record.session_key_hash:
            if record.session_key_hash != hash_session_key(session_key):
                raise InvalidState("other-session")
        elif user is None or not user.is_authenticated:
            raise SignInRequired("Sign in to attune as the admin who started connecting QuickBooks to finish.")
        elif user.pk != record.user_id:
            raise InvalidState("other-user")
        if not is_company_admin(record.user, record.company):
            raise InvalidState("no-longer-admin")
        record.used_at = now
        record.save(update_fields=["used_at"])
    return record


REALM_ID_PATTERN = re.compile(r"[0-9]{1,32}")


def realm_id_is_valid(realm_id: str | None) -> bool:
    """Intuit's realm ids are decimal digits; we accept at most 32 of them and nothing else."""
    return bool(realm_id) and REALM_ID_PATTERN.fullmatch(realm_id) is not None


@dataclass(frozen=True)
class ConnectResult:
    connection: QuickBooksConnection
    reconnected: bool
    # False when QuickBooks could not be asked about the realm yet (it did not answer); the connection
    # stands and the sweep reads CompanyInfo again. Callers must not say "Connected" then.
    realm_verified: bool = True
    # The grant this one replaced could not be revoked: its tokens cannot be decrypted (a key problem).
    superseded_not_revoked: bool = False


class _NewGrantTokens:
    """Token provider for the one CompanyInfo read that proves the new grant opens the claimed realm. It
    never refreshes: a 401 means the new token does not open that realm."""

    def __init__(self, access_token: str) -> None:
        self._access_token = access_token

    def access_token(self) -> str:
        return self._access_token

    def refresh_after_rejection(self, rejected_access_token: str) -> str:
        raise Unauthorized("QuickBooks refused the new token for this company", status=401)


def _verify_realm(config: QuickBooksConfig, *, realm_id: str, tokens: TokenSet) -> bool:
    """Read CompanyInfo of `realm_id` with the new access token. True when it was read; False when
    QuickBooks did not answer (5xx, timeout); raises `ConnectFailed` when it refused (401/403, 610): the
    grant does not open that realm (a tampered or mistaken `realmId`)."""
    from integrations.quickbooks.client import QuickBooksClient

    client = QuickBooksClient(realm_id=realm_id, tokens=_NewGrantTokens(tokens.access_token), config=config)
    try:
        client.company_info()
    except (Unauthorized, Forbidden, NotFound) as exc:
        logger.warning(
            "qbo.connection.realm_refused realm=%s status=%s intuit_tid=%s", realm_id, exc.status, exc.intuit_tid
        )
        raise ConnectFailed(
            f"QuickBooks did not let this sign-in read company {realm_id}, so it was not connected and the new "
            "access was revoked. Start again from Settings → Integrations → QuickBooks and pick the company there."
        ) from None
    except QuickBooksError as exc:
        logger.warning("qbo.connection.realm_unverified realm=%s error=%s", realm_id, exc)
        return False
    return True


def connection_complete(
    *,
    state: str,
    session_key: str | None,
    user=None,
    code: str | None = None,
    realm_id: str | None = None,
    error: str | None = None,
) -> ConnectResult:
    """Finish the connect flow from Intuit's redirect: check the state, exchange the code, prove the new
    token reads the claimed realm's CompanyInfo, then store the tokens.

    Nothing is stored unless the exchange succeeds and QuickBooks does not refuse the realm. Any failure
    after the exchange revokes the grant it minted. Reconnecting replaces the token ciphers and revokes the
    superseded grant; a realm already connected to another Company is refused.
    """
    if realm_id and not realm_id_is_valid(realm_id):
        # Checked before the state is used, so a forged callback cannot burn the real owner's state.
        raise CallbackIncomplete(
            "QuickBooks' answer carries a company id (realmId) that is not valid. Nothing was stored."
        )
    record = _consume_state(state=state, session_key=session_key, user=user)
    company, user = record.company, record.user
    if error:
        if error == OAUTH_ACCESS_DENIED:
            audit_record(
                action="quickbooks.connect",
                company=company,
                actor=user,
                outcome=AuditLog.Outcome.WARNING,
                message="Cancelled at QuickBooks.",
            )
            raise ConnectionCancelled("QuickBooks connection cancelled. Nothing was changed.")
        raise ConnectFailed(f"QuickBooks did not connect ({error[:60]}). Nothing was changed; please try again.")
    if not code or not realm_id:
        missing = " and ".join(name for name, value in (("code", code), ("realmId", realm_id)) if not value)
        raise CallbackIncomplete(f"QuickBooks' answer is missing its {missing}. Nothing was stored; please try again.")

    config = quickbooks_config()
    try:
        verifier = record.code_verifier_cipher.reveal() if record.code_verifier_cipher else None
    except TokenDecryptionError:
        logger.error("qbo.connection.verifier_undecryptable company=%s", company.pk)
        raise ConfigurationError(
            "QuickBooks could not be connected because of a key problem: the sign-in's saved verifier cannot be "
            "decrypted with the current QUICKBOOKS_TOKEN_KEYS. Nothing was stored; an administrator must fix "
            "the keys, then start again."
        ) from None
    try:
        tokens = oauth.exchange_code(config, code=code, redirect_uri=record.redirect_uri, code_verifier=verifier)
    except QuickBooksError as exc:
        audit_record(
            action="quickbooks.connect",
            company=company,
            actor=user,
            outcome=AuditLog.Outcome.FAILURE,
            message=str(exc),
            details={"realm_id": realm_id, "intuit_tid": exc.intuit_tid},
        )
        raise ConnectFailed(_exchange_failure_message(exc)) from None

    try:
        verified = _verify_realm(config, realm_id=realm_id, tokens=tokens)
        result = _store_new_connection(company=company, user=user, realm_id=realm_id, tokens=tokens, config=config)
    except Exception as exc:
        # Whatever went wrong after the exchange, the grant it minted must not dangle at Intuit.
        _revoke_quietly(config, tokens.refresh_token)
        message = exc.message if isinstance(exc, ApplicationError) else f"Unexpected error: {type(exc).__name__}"
        audit_record(
            action="quickbooks.connect",
            company=company,
            actor=user,
            outcome=AuditLog.Outcome.FAILURE,
            message=message,
            details={"realm_id": realm_id, "revoked_new_grant": True},
        )
        raise
    if result.superseded_refresh_token:
        _revoke_quietly(config, result.superseded_refresh_token)
    audit_record(
        action="quickbooks.reconnect" if result.reconnected else "quickbooks.connect",
        company=company,
        actor=user,
        target=result.connection,
        details={
            "realm_id": realm_id,
            "environment": config.environment,
            "intuit_tid": tokens.intuit_tid,
            "realm_verified": verified,
            "superseded_grant_revoked": bool(result.superseded_refresh_token),
            "superseded_grant_undecryptable": result.superseded_undecryptable,
        },
    )
    if connection_fetch_company_info(connection_id=result.connection.pk):
        _suggest_mappings_quietly(result.connection)
    from integrations.outbox.enqueue import sync_after_connect

    sync_after_connect(connection_id=result.connection.pk)  # what waited, or changed while disconnected, goes now
    result.connection.refresh_from_db()
    return ConnectResult(
        connection=result.connection,
        reconnected=result.reconnected,
        realm_verified=verified,
        superseded_not_revoked=result.superseded_undecryptable,
    )


def _suggest_mappings_quietly(connection) -> None:
    from integrations.services.mappings import mappings_suggest_by_name

    try:
        mappings_suggest_by_name(connection=connection)
    except (QuickBooksError, ApplicationError) as exc:
        logger.warning("qbo.mappings.suggest.failed company=%s error=%s", connection.company_id, exc)


def _exchange_failure_message(exc: QuickBooksError) -> str:
    if isinstance(exc, Unavailable):
        return "QuickBooks could not be reached to finish connecting. Nothing was stored; please try again."
    if isinstance(exc, InvalidClient):
        return "QuickBooks refused this app's credentials. Nothing was stored; please tell your administrator."
    if isinstance(exc, InvalidGrant):
        return "QuickBooks says this sign-in has expired or was already used. Nothing was stored; please connect again."
    return f"QuickBooks refused to finish connecting ({exc.code or exc.status}). Nothing was stored; please try again."


def _apply_tokens(connection: QuickBooksConnection, tokens: TokenSet, now: dt.datetime) -> None:
    connection.access_token_cipher = tokens.access_token
    connection.refresh_token_cipher = tokens.refresh_token
    connection.access_token_expires_at = now + dt.timedelta(seconds=tokens.expires_in)
    if tokens.refresh_token_expires_in is not None:
        connection.refresh_token_expires_at = now + dt.timedelta(seconds=tokens.refresh_token_expires_in)
    if tokens.refresh_token_hard_expires_in is not None:
        connection.refresh_token_hard_expires_at = now + dt.timedelta(seconds=tokens.refresh_token_hard_expires_in)
    if tokens.intuit_tid:
        connection.last_intuit_tid = tokens.intuit_tid


@dataclass(frozen=True)
class _Stored:
    connection: QuickBooksConnection
    reconnected: bool
    superseded_refresh_token: str | None
    superseded_undecryptable: bool = False


def _store_new_connection(*, company, user, realm_id: str, tokens: TokenSet, config: QuickBooksConfig) -> _Stored:
    now = timezone.now()
    taken = (
        QuickBooksConnection.objects.filter(
            realm_id=realm_id,
            environment=config.environment,
            status__in=[ConnectionStatus.CONNECTED, ConnectionStatus.NEEDS_RECONNECT],
        )
        .exclude(company=company)
        .exists()
    )
    if taken:
        raise RealmAlreadyConnected(
            "This QuickBooks company is already connected to another attune company. "
            "Disconnect it there first, or choose a different QuickBooks company."
        )
    try:
        with transaction.atomic():
            connection, _ = QuickBooksConnection.objects.select_for_update().get_or_create(company=company)
            reconnected = connection.realm_id == realm_id and connection.connected_at is not None
            # The grant this one replaces (same or another realm) is revoked once the new one is stored.
            superseded = _revealed(connection.refresh_token_cipher) or _revealed(connection.access_token_cipher)
            undecryptable = superseded is None and (
                connection.refresh_token_cipher is not None or connection.access_token_cipher is not None
            )
            if connection.realm_id != realm_id:
                # A different QuickBooks company: what we knew about the old one no longer applies, and its
                # automatic sync starts from now (older invoices are offered, not sent: the first-sync policy).
                connection.qbo_company_name = connection.qbo_country = connection.sales_tax_mode = ""
                connection.company_info_fetched_at = None
                connection.realm_connected_at = now
                connection.initial_sync_since = None
            connection.realm_id = realm_id
            connection.environment = config.environment
            _apply_tokens(connection, tokens, now)
            connection.scopes = list(tokens.scopes or config.scopes)
            connection.status = ConnectionStatus.CONNECTED
            connection.connected_by = user
            connection.connected_at = now
            connection.disconnected_at = None
            connection.last_refreshed_at = now
            connection.last_error = ""
            connection.hard_expiry_warned_30_at = connection.hard_expiry_warned_7_at = None
            connection.refresh_lease_holder, connection.refresh_lease_until = "", None  # an old refresh is moot
            connection.save()
    except IntegrityError:  # lost a race with another company connecting the same realm
        raise RealmAlreadyConnected("This QuickBooks company is already connected to another attune company.") from None
    logger.info("qbo.connection.connected company=%s realm=%s reconnected=%s", company.pk, realm_id, reconnected)
    return _Stored(
        connection=connection,
        reconnected=reconnected,
        superseded_refresh_token=superseded,
        superseded_undecryptable=undecryptable,
    )


def sales_tax_mode(preferences: dict) -> str:
    """US only: Automated Sales Tax when `TaxPrefs.PartnerTaxEnabled`, else manual when `UsingSalesTax`
    (QBO-REFERENCE §5.1)."""
    tax_prefs = preferences.get("TaxPrefs") or {}
    if tax_prefs.get("PartnerTaxEnabled"):
        return SalesTaxMode.AUTOMATED
    return SalesTaxMode.MANUAL if tax_prefs.get("UsingSalesTax") else SalesTaxMode.OFF


def connection_fetch_company_info(*, connection_id: int) -> bool:
    """Read CompanyInfo (name, country) and Preferences (tax style, currencies). A failure leaves the
    connection standing; the refresh sweep tries again."""
    from integrations.services.api import client_for  # the API client needs connection services too

    connection = QuickBooksConnection.objects.select_related("company").get(pk=connection_id)
    if not connection.is_connected:
        return False
    client = client_for(connection)
    try:
        info = client.company_info()
        preferences = client.preferences()
    except (QuickBooksError, ReconnectRequired, RefreshDeferred, NotConnected) as exc:
        logger.warning("qbo.connection.company_info.failed company=%s error=%s", connection.company_id, exc)
        QuickBooksConnection.objects.filter(pk=connection_id).update(last_error="Could not read the company name yet.")
        return False
    currency_prefs = preferences.get("CurrencyPrefs") or {}
    country = (info.country or "")[:2].upper()
    is_us = country in ("US", "")
    QuickBooksConnection.objects.filter(pk=connection_id).update(
        qbo_company_name=info.company_name[:200],
        qbo_country=country,
        # US companies take TAX/NON on lines; everyone else a real TaxCode id per line (QBO-REFERENCE §5).
        tax_style="us" if is_us else "global",
        sales_tax_mode=sales_tax_mode(preferences) if is_us else "",
        home_currency=((currency_prefs.get("HomeCurrency") or {}).get("value") or "")[:3],
        multicurrency_enabled=bool(currency_prefs.get("MultiCurrencyEnabled")),
        company_info_fetched_at=timezone.now(),
        last_error="",
    )
    return True


# --- refresh ----------------------------------------------------------------------------------------------


def connection_refresh(
    *, connection_id: int, force: bool = False, rejected_access_token: str | None = None
) -> QuickBooksConnection:
    """Refresh the connection's tokens if (still) needed. Safe to call from many processes at once.

    Needed when `force`, when the access token expires within the refresh window, or when the caller's access
    token was just rejected with a 401 and is still the stored one. Single-flight: under a row lock we re-check
    the need and take a short lease; only the lease holder calls Intuit (outside any transaction, see
    docs/decisions/0003); it saves the new access *and* refresh token and releases the lease in one
    transaction. Everyone else waits for the lease and re-checks. `invalid_grant` marks the connection
    `needs_reconnect` and tells its admins; a transient failure changes nothing and raises `RefreshDeferred`.
    https://developer.intuit.com/app/developer/qbo/docs/develop/authentication-and-authorization/faq
    """
    config = quickbooks_config()
    lease_seconds = config.http_timeout + LEASE_MARGIN_SECONDS
    holder = uuid.uuid4().hex
    deadline = time.monotonic() + lease_seconds + LEASE_MARGIN_SECONDS
    while True:
        try:
            taken = _take_lease(
                connection_id, holder, lease_seconds, config, force=force, rejected_access_token=rejected_access_token
            )
        except TokenDecryptionError:
            raise _key_problem(connection_id) from None
        if isinstance(taken, QuickBooksConnection):  # no refresh needed (any more)
            return taken
        if taken is not None:
            refresh_token = taken
            break
        if time.monotonic() > deadline:
            raise RefreshDeferred("Another worker is renewing the QuickBooks connection; it will be tried again.")
        time.sleep(LEASE_POLL_SECONDS)
        # Whoever held the lease has refreshed by now (or failed): a forced refresh is satisfied, too.
        force = False

    try:
        tokens = oauth.refresh(config, refresh_token=refresh_token)
    except QuickBooksError as exc:
        return _refresh_failed(connection_id, holder, refresh_token, exc)
    except Exception:
        _release_lease(connection_id, holder)  # an unexpected failure must not hold the lease until it expires
        raise
    with transaction.atomic():
        connection = QuickBooksConnection.objects.select_for_update().select_related("company").get(pk=connection_id)
        if not _still_ours(connection, holder, refresh_token):
            # A reconnect or disconnect replaced the grant while we were talking to Intuit (or our lease ran
            # out and someone else refreshed): these tokens belong to a grant we no longer use.
            logger.warning("qbo.connection.refresh.superseded company=%s", connection.company_id)
            transaction.on_commit(lambda: _revoke_quietly(config, tokens.refresh_token))
            return connection
        now = timezone.now()
        _apply_tokens(connection, tokens, now)
        connection.last_refreshed_at = now
        connection.last_error = ""
        connection.refresh_lease_holder, connection.refresh_lease_until = "", None
        connection.save()
    logger.info("qbo.connection.refreshed company=%s realm=%s", connection.company_id, connection.realm_id)
    return connection


LEASE_MARGIN_SECONDS = 5
LEASE_POLL_SECONDS = 0.2
KEY_PROBLEM_MESSAGE = (
    "QuickBooks cannot be used because of a key problem: the saved sign-in cannot be decrypted with the current "
    "QUICKBOOKS_TOKEN_KEYS (was a key removed before `manage.py rotate_token_keys` ran?). Restore the key; "
    "nothing is lost."
)


def _take_lease(connection_id, holder, lease_seconds, config, *, force, rejected_access_token):
    """Under the row lock: the connection itself when no refresh is needed, the refresh token when we took the
    lease, None when someone else holds it."""
    with transaction.atomic():
        connection = _locked_connection(connection_id)
        if not _refresh_needed(connection, config, force=force, rejected_access_token=rejected_access_token):
            return connection
        now = timezone.now()
        if connection.refresh_lease_until is not None and connection.refresh_lease_until > now:
            return None
        refresh_token = connection.refresh_token_cipher.reveal()  # before the lease: a key problem takes none
        connection.refresh_lease_holder = holder
        connection.refresh_lease_until = now + dt.timedelta(seconds=lease_seconds)
        connection.save(update_fields=["refresh_lease_holder", "refresh_lease_until", "updated_at"])
        return refresh_token


def _key_problem(connection_id: int) -> ConfigurationError:
    """The stored tokens cannot be decrypted: say so where people look, and return the error to raise."""
    QuickBooksConnection.objects.filter(pk=connection_id).update(last_error=KEY_PROBLEM_MESSAGE[:300])
    logger.error("qbo.connection.tokens_undecryptable connection=%s", connection_id)
    return ConfigurationError(KEY_PROBLEM_MESSAGE)


def _locked_connection(connection_id: int) -> QuickBooksConnection:
    connection = QuickBooksConnection.objects.select_for_update().select_related("company").get(pk=connection_id)
    if connection.status == ConnectionStatus.NEEDS_RECONNECT:
        raise ReconnectRequired(_reconnect_message(connection))
    if connection.status != ConnectionStatus.CONNECTED or connection.refresh_token_cipher is None:
        raise NotConnected("QuickBooks is not connected for this company.")
    return connection


def _still_ours(connection: QuickBooksConnection, holder: str, refresh_token: str) -> bool:
    """Do we still hold the lease, on the same grant, with the refresh token we sent?"""
    return (
        connection.refresh_lease_holder == holder
        and connection.status == ConnectionStatus.CONNECTED
        and _revealed(connection.refresh_token_cipher) == refresh_token
    )


def _release_lease(connection_id: int, holder: str) -> None:
    QuickBooksConnection.objects.filter(pk=connection_id, refresh_lease_holder=holder).update(
        refresh_lease_holder="", refresh_lease_until=None
    )


def _mark_needs_reconnect(connection: QuickBooksConnection, *, reason: str, intuit_tid: str = "") -> None:
    """Inside a transaction holding the row: pause syncing until an admin reconnects, audit it, tell admins."""
    connection.status = ConnectionStatus.NEEDS_RECONNECT
    connection.last_error = f"QuickBooks refused the saved sign-in ({reason}). An admin must reconnect."[:300]
    connection.last_intuit_tid = intuit_tid or connection.last_intuit_tid
    audit_record(
        action="quickbooks.needs_reconnect",
        company=connection.company,
        target=connection,
        outcome=AuditLog.Outcome.FAILURE,
        message=reason,
        details={"realm_id": connection.realm_id, "intuit_tid": intuit_tid},
    )
    connection_id = connection.pk
    transaction.on_commit(lambda: _email_admins_reconnect(connection_id))


def connection_mark_needs_reconnect(*, connection_id: int, reason: str, intuit_tid: str = "") -> None:
    """QuickBooks refuses even a freshly refreshed token (e.g. 120: the connecting user is no longer an admin
    there). Only a person reconnecting fixes that."""
    with transaction.atomic():
        connection = QuickBooksConnection.objects.select_for_update().select_related("company").get(pk=connection_id)
        if connection.status != ConnectionStatus.CONNECTED:
            return
        _mark_needs_reconnect(connection, reason=reason, intuit_tid=intuit_tid)
        connection.save()
    logger.error("qbo.connection.needs_reconnect company=%s reason=%s", connection.company_id, reason)


def _refresh_failed(connection_id: int, holder: str, refresh_token: str, exc: QuickBooksError):
    """Release the lease; on invalid_grant (for the grant we still use) mark the connection for reconnect.
    Always raises."""
    with transaction.atomic():
        connection = QuickBooksConnection.objects.select_for_update().select_related("company").get(pk=connection_id)
        current = _still_ours(connection, holder, refresh_token)
        if connection.refresh_lease_holder == holder:
            connection.refresh_lease_holder, connection.refresh_lease_until = "", None
        if isinstance(exc, InvalidGrant) and current:
            _mark_needs_reconnect(connection, reason="invalid_grant", intuit_tid=exc.intuit_tid)
        elif not isinstance(exc, InvalidGrant):
            audit_record(
                action="quickbooks.refresh",
                company=connection.company,
                target=connection,
                outcome=AuditLog.Outcome.FAILURE,
                message=str(exc),
                details={"realm_id": connection.realm_id, "intuit_tid": exc.intuit_tid},
            )
        connection.save()
    if isinstance(exc, InvalidGrant):
        if not current:  # the old grant was refused, but a reconnect already replaced it: nothing to do
            return connection
        logger.error("qbo.connection.needs_reconnect company=%s realm=%s", connection.company_id, connection.realm_id)
        raise ReconnectRequired(_reconnect_message(connection))
    if isinstance(exc, InvalidClient):
        logger.error("qbo.connection.refresh.invalid_client company=%s", connection.company_id)
        raise ConfigurationError("QuickBooks refused this app's credentials; check QUICKBOOKS_CLIENT_ID/SECRET.")
    logger.warning("qbo.connection.refresh.deferred company=%s error=%s", connection.company_id, exc)
    raise RefreshDeferred("QuickBooks could not be reached to renew the connection; it will be tried again.")


def _refresh_needed(connection, config, *, force: bool, rejected_access_token: str | None) -> bool:
    if force:
        return True
    if rejected_access_token is not None:
        current = connection.access_token_cipher.reveal() if connection.access_token_cipher else None
        return current == rejected_access_token  # else another process refreshed already: use the new one
    return connection.access_token_expires_within(config.refresh_window_minutes * 60)


def _reconnect_message(connection) -> str:
    return (
        f"QuickBooks needs to be reconnected for {connection.company.name}: the saved sign-in was refused. "
        "An admin can reconnect from Settings → Integrations → QuickBooks."
    )


def _admin_emails(company) -> list[str]:
    memberships = Membership.objects.filter(company=company, role=Role.ADMIN).select_related("user")
    return sorted({m.user.email for m in memberships if m.user.email})


def _email_admins_reconnect(connection_id: int) -> None:
    connection = QuickBooksConnection.objects.select_related("company").get(pk=connection_id)
    recipients = _admin_emails(connection.company)
    if recipients:
        send_mail(
            subject=f"QuickBooks needs to be reconnected for {connection.company.name}",
            message=(
                f"{_reconnect_message(connection)}\n\nUntil then, invoices wait and are sent to QuickBooks "
                "as soon as you reconnect. Nothing is lost."
            ),
            from_email=None,
            recipient_list=recipients,
        )


# --- disconnect -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DisconnectResult:
    connection: QuickBooksConnection
    revoke_failed: bool
    warning: str = ""


def connection_disconnect(*, company, user) -> DisconnectResult:
    """Revoke at Intuit (best effort, outside any transaction), then clear the token ciphers and mark the
    connection disconnected. Sync history stays."""
    if not is_company_admin(user, company):
        raise NotCompanyAdmin()
    config = quickbooks_config()
    connection = QuickBooksConnection.objects.filter(company=company).first()
    if connection is None or connection.status == ConnectionStatus.DISCONNECTED:
        raise NotConnected("QuickBooks is not connected for this company.")
    warning, intuit_tid, key_problem = "", "", False
    try:
        token = _reveal_or_raise(connection.refresh_token_cipher) or _reveal_or_raise(connection.access_token_cipher)
    except TokenDecryptionError:
        token, key_problem = None, True
        warning = UNDECRYPTABLE_DISCONNECT_WARNING
        logger.error("qbo.connection.revoke.undecryptable company=%s", company.pk)
    if token:
        try:
            intuit_tid = oauth.revoke(config, token=token)
        except QuickBooksError as exc:
            warning = (
                "Disconnected here, but QuickBooks could not confirm it revoked access "
                f"({exc.code or exc.status or 'no answer'}). You can also remove the app in QuickBooks "
                "under Settings → Apps."
            )
            logger.warning("qbo.connection.revoke.failed company=%s error=%s", company.pk, exc)
    with transaction.atomic():
        connection = QuickBooksConnection.objects.select_for_update().get(pk=connection.pk)
        connection.access_token_cipher = connection.refresh_token_cipher = None
        connection.access_token_expires_at = None
        connection.refresh_lease_holder, connection.refresh_lease_until = "", None
        connection.status = ConnectionStatus.DISCONNECTED
        connection.disconnected_at = timezone.now()
        connection.last_error = warning[:300]
        connection.last_intuit_tid = intuit_tid or connection.last_intuit_tid
        connection.save()
        audit_record(
            action="quickbooks.disconnect",
            company=company,
            actor=user,
            target=connection,
            outcome=(
                AuditLog.Outcome.FAILURE
                if key_problem
                else AuditLog.Outcome.WARNING
                if warning
                else AuditLog.Outcome.SUCCESS
            ),
            message=warning,
            details={
                "realm_id": connection.realm_id,
                "revoked_at_intuit": bool(intuit_tid) or (bool(token) and not warning),
            },
        )
    return DisconnectResult(connection=connection, revoke_failed=bool(warning), warning=warning)


UNDECRYPTABLE_DISCONNECT_WARNING = (
    "Disconnected here, but could not revoke at Intuit: the tokens cannot be decrypted with the current keys "
    "(a key problem: check QUICKBOOKS_TOKEN_KEYS). Revoke the app in QuickBooks' Apps page."
)


def _reveal_or_raise(sealed) -> str | None:
    return sealed.reveal() if sealed is not None else None


def _revealed(sealed) -> str | None:
    if sealed is None:
        return None
    try:
        return sealed.reveal()
    except TokenDecryptionError:
        return None


def _revoke_quietly(config, token: str) -> None:
    try:
        oauth.revoke(config, token=token)
    except QuickBooksError as exc:
        logger.warning("qbo.connection.revoke.failed error=%s", exc)


# --- sweep ------------------------------------------------------------------------------------------------


@dataclass
class SweepReport:
    considered: int = 0
    refreshed: int = 0
    deferred: int = 0
    needs_reconnect: int = 0
    warnings_sent: int = 0
    failed: int = 0  # an unexpected error (logged with its traceback); the sweep went on with the others
    chunks: int = 0  # chunks queued for the workers (`connection_refresh_sweep_dispatch`)


# At most this many missing CompanyInfo reads per sweep (each is two metered reads; the next sweep goes on).
COMPANY_INFO_PER_SWEEP = 100


def _connected(company_id: int | None = None):
    connections = QuickBooksConnection.objects.filter(status=ConnectionStatus.CONNECTED)
    return connections.filter(company_id=company_id) if company_id is not None else connections


def connection_refresh_due(*, company_id: int | None = None, force: bool = False) -> list[int]:
    """Ids of the connected connections whose access token expires within the window (or all, with `force`),
    the most urgent first (index on `access_token_expires_at`)."""
    config = quickbooks_config()
    due = _connected(company_id)
    if not force:
        horizon = timezone.now() + dt.timedelta(minutes=config.refresh_window_minutes)
        due = due.filter(Q(access_token_expires_at__lt=horizon) | Q(access_token_expires_at__isnull=True))
    return list(due.order_by(F("access_token_expires_at").asc(nulls_first=True), "pk").values_list("pk", flat=True))


class Pacer:
    """Starts at most `per_second` calls a second from this process, whichever of its threads makes them
    (sleeping until the next free slot when ahead; never bunching calls to catch up when behind)."""

    def __init__(self, per_second: float, *, clock=None, sleep=None) -> None:
        self.interval = 1.0 / per_second if per_second > 0 else 0.0
        self.clock, self.sleep = clock or time.monotonic, sleep or time.sleep
        self.next_at: float | None = None
        self.lock = threading.Lock()

    def wait(self) -> None:
        with self.lock:
            now = self.clock()
            slot = now if self.next_at is None or self.next_at < now else self.next_at
            self.next_at = slot + self.interval
        if slot > now:
            self.sleep(slot - now)


def _refresh_one(connection_id: int, force: bool) -> str:
    """Refresh one connection for the sweep; the SweepReport field its outcome counts in."""
    try:
        connection_refresh(connection_id=connection_id, force=force)
        return "refreshed"
    except ReconnectRequired:
        return "needs_reconnect"
    except (RefreshDeferred, ConfigurationError, NotConnected, QuickBooksConnection.DoesNotExist):
        return "deferred"
    except Exception:  # noqa: BLE001  one connection's bug must not strand the thousands after it
        logger.exception("qbo.connection.refresh.error connection=%s", connection_id)
        return "failed"


def connection_refresh_many(
    *,
    connection_ids,
    force: bool = False,
    per_minute: float | None = None,
    deadline: float | None = None,
    threads: int = 1,
) -> tuple[SweepReport, list[int]]:
    """Refresh these connections at `per_minute` (default: the whole sweep's pace), `threads` at a time (each
    refresh mostly waits for Intuit and the database; the pace, not the threads, sets the rate). A failure of
    one connection never stops the others: transient ones are retried by the next sweep, `invalid_grant` marks
    only that connection. Stops taking new ones at `deadline` (monotonic) and returns the ids it did not reach.
    """
    from django.db import connection as db_connection

    config = quickbooks_config()
    pacer = Pacer((per_minute or config.refresh_per_minute) / 60)
    ids = list(connection_ids)
    report = SweepReport()
    lock = threading.Lock()
    untaken = iter(range(len(ids)))

    def work() -> None:
        while deadline is None or time.monotonic() <= deadline:
            with lock:
                index = next(untaken, None)
            if index is None:
                return
            pacer.wait()
            outcome = _refresh_one(ids[index], force)
            with lock:
                report.considered += 1
                setattr(report, outcome, getattr(report, outcome) + 1)

    def work_in_thread() -> None:
        try:
            work()
        finally:
            db_connection.close()  # each thread has its own database connection

    if threads <= 1:
        work()
    else:
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="qbo-refresh") as pool:
            for future in [pool.submit(work_in_thread) for _ in range(threads)]:
                future.result()
    return report, [ids[index] for index in untaken]


def connection_refresh_sweep(*, company_id: int | None = None, force: bool = False) -> SweepReport:
    """Refresh, in this process, every connected connection whose access token expires within the window (or
    all, with `force`), warn admins before the refresh token's hard expiry, and retry missing CompanyInfo reads.
    `manage.py quickbooks_refresh` runs this; the schedule runs `connection_refresh_sweep_dispatch`."""
    report, _ = connection_refresh_many(
        connection_ids=connection_refresh_due(company_id=company_id, force=force), force=force
    )
    _after_sweep(report, _connected(company_id))
    return report


def connection_refresh_sweep_dispatch() -> SweepReport:
    """The 45-minute sweep on the cluster: the due connections, most urgent first, go to the workers in chunks
    of QUICKBOOKS_REFRESH_CHUNK (`tasks.refresh_chunk`), each worker pacing itself so that all of them together
    stay at QUICKBOOKS_REFRESH_PER_MINUTE. 10,000 connections take about 3½ minutes (bench/refresh.py)."""
    from django_q.tasks import async_task

    config = quickbooks_config()
    due = connection_refresh_due()
    report = SweepReport(considered=len(due))
    for start in range(0, len(due), config.refresh_chunk):
        chunk = due[start : start + config.refresh_chunk]
        try:
            async_task("integrations.services.tasks.refresh_chunk", chunk, group="quickbooks-refresh")
            report.chunks += 1
        except Exception as exc:  # noqa: BLE001  the broker is down: refresh here rather than not at all
            logger.warning("qbo.connection.sweep.dispatch_failed error=%s", type(exc).__name__)
            done, _ = connection_refresh_many(connection_ids=due[start:])
            report.refreshed += done.refreshed
            report.deferred += done.deferred
            report.needs_reconnect += done.needs_reconnect
            report.failed += done.failed
            break
    _after_sweep(report, _connected())
    return report


def _worker_count() -> int:
    from django.conf import settings

    return max(1, int(settings.Q_CLUSTER.get("workers") or 1))


def connection_refresh_chunk(*, connection_ids, force: bool = False) -> SweepReport:
    """One chunk of the sweep in one worker, at this worker's share of the pace. A chunk that runs long (Intuit
    slow to answer) queues the rest as a new chunk well before the task timeout would kill it."""
    from django.conf import settings

    config = quickbooks_config()
    budget = max(10.0, float(settings.Q_CLUSTER.get("timeout") or 120) / 2 - config.http_timeout)
    report, rest = connection_refresh_many(
        connection_ids=connection_ids,
        force=force,
        per_minute=config.refresh_per_minute / _worker_count(),
        deadline=time.monotonic() + budget,
        threads=config.refresh_threads,
    )
    if rest:
        from django_q.tasks import async_task

        async_task("integrations.services.tasks.refresh_chunk", rest, group="quickbooks-refresh")
        report.chunks = 1
    logger.info(
        "qbo.connection.sweep.chunk considered=%s refreshed=%s deferred=%s needs_reconnect=%s failed=%s requeued=%s",
        report.considered,
        report.refreshed,
        report.deferred,
        report.needs_reconnect,
        report.failed,
        len(rest),
    )
    return report


def _after_sweep(report: SweepReport, connections) -> None:
    report.warnings_sent = _warn_hard_expiry(connections)
    missing = connections.filter(company_info_fetched_at__isnull=True).order_by("pk")
    for connection_id in missing.values_list("pk", flat=True)[:COMPANY_INFO_PER_SWEEP]:
        connection_fetch_company_info(connection_id=connection_id)
    logger.info(
        "qbo.connection.sweep considered=%s refreshed=%s deferred=%s needs_reconnect=%s failed=%s chunks=%s "
        "warnings=%s",
        report.considered,
        report.refreshed,
        report.deferred,
        report.needs_reconnect,
        report.failed,
        report.chunks,
        report.warnings_sent,
    )


def _warn_hard_expiry(connections) -> int:
    """Tell admins 30 and 7 days before the 5-year cap ends the connection (QBO-REFERENCE §1.5), once each."""
    now = timezone.now()
    sent = 0
    expiring = connections.filter(
        refresh_token_hard_expires_at__isnull=False,
        refresh_token_hard_expires_at__lte=now + dt.timedelta(days=30),
    ).select_related("company")
    for connection in expiring:
        within_7 = connection.refresh_token_hard_expires_at <= now + dt.timedelta(days=7)
        flag = "hard_expiry_warned_7_at" if within_7 else "hard_expiry_warned_30_at"
        # Mark first, atomically, so two sweeps never send the same warning twice.
        marks = {flag: now, "hard_expiry_warned_30_at": connection.hard_expiry_warned_30_at or now}
        if not QuickBooksConnection.objects.filter(pk=connection.pk, **{f"{flag}__isnull": True}).update(**marks):
            continue
        recipients = _admin_emails(connection.company)
        if not recipients:
            continue
        days_left = max(0, (connection.refresh_token_hard_expires_at - now).days)
        send_mail(
            subject=f"Reconnect QuickBooks for {connection.company.name} within {days_left} days",
            message=(
                f"QuickBooks limits every connection to five years. The connection of {connection.company.name} "
                f"ends on {connection.refresh_token_hard_expires_at:%Y-%m-%d}. Reconnect from Settings → "
                "Integrations → QuickBooks before then to keep invoices flowing."
            ),
            from_email=None,
            recipient_list=recipients,
        )
        sent += 1
    return sent


# --- status -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConnectionStatusReport:
    status: str
    status_label: str
    realm_id: str
    company_name: str
    country: str
    environment: str
    connected_at: dt.datetime | None
    connected_by: str
    access_token_expires_at: dt.datetime | None
    refresh_token_expires_at: dt.datetime | None
    refresh_token_hard_expires_at: dt.datetime | None
    last_refreshed_at: dt.datetime | None
    last_synced_at: dt.datetime | None
    last_error: str
    sync_counts: dict
    auto_sync: bool
    last_failures: list


def connection_status(*, company, with_history: bool = True) -> ConnectionStatusReport:
    """The connection's state for the status API and the pages. `with_history=False` leaves out the all-time sync
    counts and the latest failures (a GROUP BY over every log row: the settings page and its polled pill skip it)."""
    from integrations.selectors import last_failures, sync_counts

    # A company that never connected reads as an unsaved connection: its defaults are the "not connected" values.
    connection = QuickBooksConnection.objects.select_related("connected_by").filter(
        company=company
    ).first() or QuickBooksConnection(company=company)
    return ConnectionStatusReport(
        status=connection.status,
        status_label=connection.get_status_display(),
        realm_id=connection.realm_id,
        company_name=connection.qbo_company_name,
        country=connection.qbo_country,
        environment=connection.environment or quickbooks_config().environment,
        connected_at=connection.connected_at,
        connected_by=connection.connected_by.get_username() if connection.connected_by else "",
        access_token_expires_at=connection.access_token_expires_at,
        refresh_token_expires_at=connection.refresh_token_expires_at,
        refresh_token_hard_expires_at=connection.refresh_token_hard_expires_at,
        last_refreshed_at=connection.last_refreshed_at,
        last_synced_at=connection.last_synced_at,
        last_error=connection.last_error,
        sync_counts=sync_counts(company=company) if with_history else {},
        auto_sync=connection.auto_sync,
        last_failures=[
            {
                "id": entry.pk,
                "invoice_id": entry.object_id,
                "invoice": entry.object_repr,
                "status": entry.status,
                "error_code": entry.error_code,
                "message": entry.message,
                "updated_at": entry.updated_at.isoformat(),
            }
            for entry in (last_failures(company=company) if with_history else [])
        ],
    )


# --- housekeeping -----------------------------------------------------------------------------------------


def connection_states_purge(*, older_than_seconds: int = 0) -> int:
    """Delete connect-flow states that expired (used or not) more than `older_than_seconds` ago. Runs on
    a django-q2 schedule (migration 0009); returns how many were deleted."""
    horizon = timezone.now() - dt.timedelta(seconds=older_than_seconds)
    deleted, _ = OAuthState.objects.filter(expires_at__lt=horizon).delete()
    if deleted:
        logger.info("qbo.connection.states_purged count=%s", deleted)
    return deleted
