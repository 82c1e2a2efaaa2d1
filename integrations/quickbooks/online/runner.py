"""The Online target's runner for the outbox: push one claimed entry to QuickBooks Online (an invoice with
`invoice_push`, a payment with `payment_push`) and map what QuickBooks answered, or raised, to an outbox outcome
(`outbox.outcomes`: finish, retry later, dead, wait for a reconnect). Called by `outbox.worker._execute`.
"""

from __future__ import annotations

import datetime as dt
import logging

from django.utils import timezone

from integrations.books.preflight import PushRefused
from integrations.exceptions import (
    NotConnected,
    NotFound,
    QuickBooksError,
    ReconnectRequired,
    RefreshDeferred,
    StaleObject,
    Throttled,
    Unauthorized,
    Unavailable,
)
from integrations.fields import TokenDecryptionError
from integrations.models import QuickBooksConnection, QuickBooksSyncLog, SyncStatus
from integrations.outbox.outcomes import PAYMENT_WAIT_SECONDS, PushResult, finish, retry_later, wait_for_reconnect
from integrations.quickbooks.client import QuickBooksClient
from integrations.quickbooks.errors import CODE_AUTHORIZATION_FAILURE
from integrations.quickbooks.limiter import PacedOut
from integrations.quickbooks.online.push import invoice_push

logger = logging.getLogger("qbo.sync")


def online_run(entry: QuickBooksSyncLog, connection: QuickBooksConnection) -> str:
    """Push one claimed entry to QuickBooks Online and record the outcome; returns the outcome's name."""
    from integrations.services.api import client_for
    from integrations.services.payments import ENTITY_PAYMENT, PaymentWaiting, payment_push

    client = client_for(connection)
    push = payment_push if entry.entity_type == ENTITY_PAYMENT else invoice_push
    try:
        result = push(entry=entry, connection=connection, client=client)
    except PaymentWaiting as exc:
        # Not an attempt: the invoice goes first (its success wakes this entry; the sweeper re-checks anyway).
        finish(
            entry,
            SyncStatus.PENDING,
            exc.message,
            client=client,
            error_code=exc.code,
            attempts_delta=-1,
            next_attempt_at=timezone.now() + dt.timedelta(seconds=PAYMENT_WAIT_SECONDS),
        )
        return "waiting for the invoice"
    except PacedOut as exc:
        # Nothing was sent: the realm's limiter has no slot for a while (a 429 blocked it, or the queue for it
        # is long). Back to pending for then; neither an attempt nor a 429.
        finish(
            entry,
            SyncStatus.PENDING,
            exc.message,
            client=client,
            error_code="",
            attempts_delta=-1,
            next_attempt_at=timezone.now() + dt.timedelta(seconds=max(exc.retry_after or 1.0, 0.5)),
        )
        return "paced"
    except Throttled as exc:
        return retry_later(entry, exc, client, throttled=True)
    except (Unavailable, RefreshDeferred, StaleObject) as exc:
        return retry_later(entry, exc, client)
    except Unauthorized as exc:
        if exc.code == CODE_AUTHORIZATION_FAILURE:
            # 120: the person who connected is no longer an admin of that QuickBooks company (QBO-REFERENCE §3.3)
            from integrations.services.connections import connection_mark_needs_reconnect

            connection_mark_needs_reconnect(
                connection_id=connection.pk, reason=f"{exc.code}: {exc.message}"[:120], intuit_tid=exc.intuit_tid
            )
            return wait_for_reconnect(entry, client)
        # Refused although the token was just refreshed (the refresh itself was accepted): this entry tries again
        # later; the connection stays connected. A refused refresh raises ReconnectRequired instead.
        return retry_later(entry, exc, client)
    except ReconnectRequired:
        return wait_for_reconnect(entry, client)
    except TokenDecryptionError:
        finish(
            entry,
            SyncStatus.FAILED,
            "Nothing was sent: the stored QuickBooks tokens cannot be decrypted with the keys in QUICKBOOKS_TOKEN_KEYS "
            "(a key problem, not a QuickBooks one). Put the key they were encrypted with back in the list, or "
            "reconnect QuickBooks; then retry.",
            client=client,
            error_code="token_keys",
        )
        logger.error("qbo.sync.token_keys entry=%s company=%s", entry.pk, entry.company_id)
        return "failed"
    except NotConnected as exc:
        finish(entry, SyncStatus.SKIPPED, exc.message, client=client)
        return "skipped"
    except PushRefused as exc:
        finish(
            entry,
            SyncStatus.FAILED,
            exc.message,
            client=client,
            error_code=exc.qbo_code or exc.code,
            payload=exc.payload,
        )
        logger.warning("qbo.sync.failed entry=%s company=%s code=%s", entry.pk, entry.company_id, exc.qbo_code)
        return "failed"
    except QuickBooksError as exc:  # validation and other refusals: a person must look
        finish(entry, SyncStatus.FAILED, _refusal_message(exc), client=client, error_code=exc.code or str(exc.status))
        logger.warning(
            "qbo.sync.failed entry=%s company=%s code=%s intuit_tid=%s",
            entry.pk,
            entry.company_id,
            exc.code,
            exc.intuit_tid,
        )
        return "failed"
    except Exception as exc:
        logger.exception("qbo.sync.crashed entry=%s company=%s", entry.pk, entry.company_id)
        return retry_later(entry, exc, client)
    record_result(entry, result, connection, client)
    return result.status


def record_result(entry, result: PushResult, connection: QuickBooksConnection, client: QuickBooksClient) -> None:
    """Record a push's result on its entry (single or batch item): the outcome, the connection's last sync time
    (at most every 30 s: a draining worker does not rewrite the connection row for every invoice of the same
    second), and a wake-up for payments that waited for this invoice."""
    from integrations.services.payments import ENTITY_PAYMENT, payments_wake  # (payments imports the push)

    finish(
        entry,
        result.status,
        result.message,
        client=client,
        qbo_id=result.qbo_id,
        payload=result.payload,
        drift=result.drift,
        error_code="drift" if result.status == SyncStatus.DRIFT else "",
    )
    if result.status in (SyncStatus.SUCCEEDED, SyncStatus.UP_TO_DATE, SyncStatus.DRIFT):
        now = timezone.now()
        if connection.last_synced_at is None or (now - connection.last_synced_at).total_seconds() >= 30:
            QuickBooksConnection.objects.filter(pk=connection.pk).update(last_synced_at=now)
            connection.last_synced_at = now
        if entry.entity_type != ENTITY_PAYMENT and result.payments_may_wait:
            payments_wake(company_id=entry.company_id, invoice_id=entry.object_id)
    logger.info(
        "qbo.%s.push.%s entry=%s company=%s qbo_id=%s",
        entry.entity_type,
        result.status,
        entry.pk,
        entry.company_id,
        result.qbo_id,
    )


def _refusal_message(exc: QuickBooksError) -> str:
    if isinstance(exc, NotFound):
        return (
            f"QuickBooks says something on this invoice no longer exists or is inactive ({exc.code or 610}: "
            f"{exc.detail or exc.message}). Reactivate it in QuickBooks or change the mapping, then retry."
        )
    text = f"QuickBooks refused the invoice: {exc.message}"
    if exc.detail and exc.detail != exc.message:
        text += f" — {exc.detail}"
    return f"{text} (code {exc.code or exc.status})."
