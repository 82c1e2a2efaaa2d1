"""Changes QuickBooks tells us about: webhook deliveries and CDC rows, stored once, processed in a task.

Receive (DESIGN §3 Pull, QBO-REFERENCE §4): verify `intuit-signature` over the raw body before parsing, keep the
delivery as it came (one INSERT), answer at once; a django-q2 task queued after the commit unpacks it into events
(each stored once: unique per realm and event id) and processes them. A lost task loses nothing: `events_sweep`
(run by the sync sweeper every minute) picks up waiting deliveries and received events, and
CDC repairs what never arrived. Processing re-reads the object from QuickBooks, so duplicates and out-of-order
events are harmless; an event is marked processed in the same transaction as its effect, so a worker killed
mid-way leaves it received (nothing applied) and the next run applies it once.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from config import keys
from integrations.exceptions import NotFound
from integrations.models import (
    ConnectionStatus,
    QuickBooksConnection,
    QuickBooksWebhookDelivery,
    QuickBooksWebhookEvent,
    WebhookEventStatus,
)
from integrations.quickbooks.webhooks import MalformedPayload, WebhookEvent, events_in, signature_valid

logger = logging.getLogger("qbo.webhooks")

STORE_CHUNK = 500
PROCESS_BATCH = 200
MAX_EVENT_ATTEMPTS = 10


@dataclass(frozen=True)
class Receipt:
    accepted: bool  # False: bad or missing signature (nothing stored)
    delivery_id: int | None = None


def webhook_receive(*, body: bytes, signature: str | None) -> Receipt:
    """Verify one delivery and keep it as it arrived; a task unpacks it after the commit. The answer costs one
    INSERT whatever the number of events (Intuit holds back later deliveries until this one is answered,
    QBO-REFERENCE §4.4). A bad body with a good signature is found and logged by the unpacking, never refused
    (Intuit would retry it forever)."""
    if not signature_valid(body, signature, keys.quickbooks_webhook_verifier_token()):
        logger.warning("qbo.webhook.bad_signature present=%s bytes=%s", bool(signature), len(body))
        return Receipt(accepted=False)
    delivery = QuickBooksWebhookDelivery.objects.create(body=body)
    transaction.on_commit(dispatch_processing)
    logger.info("qbo.webhook.received delivery=%s bytes=%s", delivery.pk, len(body))
    return Receipt(accepted=True, delivery_id=delivery.pk)


def deliveries_unpack(*, limit: int = 100) -> tuple[int, int]:
    """Turn stored deliveries into events, oldest first, each in one transaction with its deletion (a worker
    killed half-way leaves the delivery to unpack again; events are unique per realm, so nothing doubles).
    Returns (events to process, events ignored)."""
    stored = ignored = 0
    for delivery_id in list(QuickBooksWebhookDelivery.objects.order_by("id").values_list("id", flat=True)[:limit]):
        with transaction.atomic():
            delivery = QuickBooksWebhookDelivery.objects.select_for_update().filter(pk=delivery_id).first()
            if delivery is None:
                continue  # another worker unpacked it
            body = bytes(delivery.body)
            try:
                payload = json.loads(body)
                found, unknown = events_store(events_in(payload), source="webhook")
            except (ValueError, MalformedPayload, RecursionError) as exc:
                logger.warning(
                    "qbo.webhook.malformed delivery=%s error=%s bytes=%s", delivery_id, type(exc).__name__, len(body)
                )
                found = unknown = 0
            delivery.delete()
        stored, ignored = stored + found, ignored + unknown
        logger.info("qbo.webhook.unpacked delivery=%s events=%s ignored=%s", delivery_id, found, unknown)
    return stored, ignored


def _companies_by_realm(realm_ids: Iterable[str]) -> dict[str, int]:
    """Connected realms → their company (one connected company per realm: a DB constraint per environment)."""
    pairs = QuickBooksConnection.objects.filter(
        realm_id__in=set(realm_ids), status=ConnectionStatus.CONNECTED
    ).values_list("realm_id", "company_id")
    found: dict[str, list[int]] = {}
    for realm, company in pairs:
        found.setdefault(realm, []).append(company)
    return {realm: companies[0] for realm, companies in found.items() if len(companies) == 1}


def events_store(events: Iterable[WebhookEvent], *, source: str) -> tuple[int, int]:
    """Store events not seen before, in chunks (bounded memory for huge deliveries). Events of a realm no
    company has connected are stored as ignored (never applied to anyone). Returns (to process, ignored)."""
    stored = ignored = 0
    chunk: list[WebhookEvent] = []

    def flush() -> None:
        nonlocal stored, ignored
        companies = _companies_by_realm(event.realm_id for event in chunk)
        rows = []
        for event in chunk:
            company_id = companies.get(event.realm_id)
            rows.append(
                QuickBooksWebhookEvent(
                    event_id=event.event_id,
                    source=source,
                    realm_id=event.realm_id,
                    entity_name=event.entity_name,
                    entity_id=event.entity_id,
                    operation=event.operation,
                    occurred_at=event.occurred_at,
                    payload=event.payload,
                    company_id=company_id,
                    status=WebhookEventStatus.RECEIVED if company_id else WebhookEventStatus.IGNORED,
                    message="" if company_id else "No company here has this QuickBooks company connected.",
                )
            )
            if company_id is None:
                ignored += 1
                logger.info("qbo.webhook.unknown_realm realm=%s entity=%s", event.realm_id, event.entity_name)
            else:
                stored += 1
        QuickBooksWebhookEvent.objects.bulk_create(rows, ignore_conflicts=True)
        chunk.clear()

    for event in events:
        chunk.append(event)
        if len(chunk) >= STORE_CHUNK:
            flush()
    if chunk:
        flush()
    return stored, ignored


def dispatch_processing() -> None:
    """Queue one task that processes received events; a broker failure is only logged (the sweeper repairs)."""
    try:
        from django_q.tasks import async_task

        async_task("integrations.services.tasks.process_events", group="quickbooks-events")
    except Exception as exc:  # noqa: BLE001  the request must not fail because the queue is down
        logger.warning("qbo.webhook.dispatch_failed error=%s", type(exc).__name__)


def events_process_pending(*, limit: int = 10_000) -> int:
    """Unpack waiting deliveries, then process received events, oldest first, in batches. Returns how many
    were handled."""
    deliveries_unpack(limit=1_000)
    done = 0
    last_id = 0
    while done < limit:
        ids = list(
            QuickBooksWebhookEvent.objects.filter(status=WebhookEventStatus.RECEIVED, id__gt=last_id)
            .order_by("id")
            .values_list("id", flat=True)[:PROCESS_BATCH]
        )
        if not ids:
            break
        _process_batch(ids)
        done += len(ids)
        last_id = ids[-1]
    return done


def events_sweep() -> int:
    """Deliveries and events whose task was lost (older than a minute) are processed now."""
    cutoff = timezone.now() - dt.timedelta(minutes=1)
    if (
        QuickBooksWebhookDelivery.objects.filter(received_at__lt=cutoff).exists()
        or QuickBooksWebhookEvent.objects.filter(status=WebhookEventStatus.RECEIVED, received_at__lt=cutoff).exists()
    ):
        return events_process_pending()
    return 0


def _mark(event_id: int, status: str, message: str = "") -> None:
    QuickBooksWebhookEvent.objects.filter(pk=event_id).update(
        status=status, message=message[:500], processed_at=timezone.now()
    )


def event_process(*, event_id: int) -> str:
    """Apply one stored event (see `_process_batch`). Returns what happened: processed, ignored, retrying,
    failed, or "nothing to do" when it was handled already."""
    return _process_batch([event_id]).get(event_id, "nothing to do")


def _process_batch(event_ids: list[int]) -> dict[int, str]:
    """Apply a batch of stored events. Reads from QuickBooks (only for webhook events: CDC rows carry the
    object) happen first, outside any transaction; then one transaction applies them, each event in its own
    savepoint and marked processed together with its effect. Events another worker holds are skipped (locked
    rows), so a worker killed mid-way leaves its events received and the next run applies each once."""
    from integrations.services.api import client_for
    from integrations.services.payments import payment_apply_from_quickbooks

    outcomes: dict[int, str] = {}
    events = list(
        QuickBooksWebhookEvent.objects.filter(pk__in=event_ids, status=WebhookEventStatus.RECEIVED).order_by("id")
    )
    connections: dict[tuple, QuickBooksConnection | None] = {}
    clients: dict[int, object] = {}
    informational: list[int] = []
    to_apply: list[tuple[QuickBooksWebhookEvent, QuickBooksConnection, dict | None]] = []
    for event in events:
        key = (event.company_id, event.realm_id)
        if key not in connections:
            connections[key] = QuickBooksConnection.objects.filter(
                company_id=event.company_id, realm_id=event.realm_id, status=ConnectionStatus.CONNECTED
            ).first()
        connection = connections[key]
        if connection is None:
            _mark(event.pk, WebhookEventStatus.IGNORED, "QuickBooks is no longer connected to this company.")
            outcomes[event.pk] = "ignored"
        elif event.entity_name != "Payment":
            # Invoices and customers: our side is the source of truth; their changes are checked by the push's
            # drift check and the reconciliation page. Recorded, nothing to apply.
            informational.append(event.pk)
        elif event.operation == "deleted":
            to_apply.append((event, connection, None))
        elif event.payload is not None:
            to_apply.append((event, connection, event.payload))  # a CDC row: the whole object already
        else:
            client = clients.get(connection.pk) or clients.setdefault(connection.pk, client_for(connection))
            try:
                to_apply.append((event, connection, client.read("Payment", event.entity_id)))
            except NotFound:
                to_apply.append((event, connection, None))  # deleted since the event: treat it as deleted
            except Exception as exc:  # noqa: BLE001  throttled, unreachable, reconnect needed…: retried, then failed
                outcomes[event.pk] = _failed_attempt(event, exc)
    if informational:
        QuickBooksWebhookEvent.objects.filter(pk__in=informational, status=WebhookEventStatus.RECEIVED).update(
            status=WebhookEventStatus.PROCESSED,
            message="Nothing to apply for this entity.",
            processed_at=timezone.now(),
        )
        outcomes.update(dict.fromkeys(informational, "processed"))
    if not to_apply:
        return outcomes
    with transaction.atomic():
        mine = set(
            QuickBooksWebhookEvent.objects.select_for_update(skip_locked=True)
            .filter(pk__in=[event.pk for event, _, _ in to_apply], status=WebhookEventStatus.RECEIVED)
            .values_list("pk", flat=True)
        )
        for event, connection, qbo_payment in to_apply:
            if event.pk not in mine:
                continue  # another worker has it
            try:
                with transaction.atomic():
                    outcome = payment_apply_from_quickbooks(
                        connection=connection, qbo_payment_id=event.entity_id, qbo_payment=qbo_payment
                    )
                    _mark(event.pk, WebhookEventStatus.PROCESSED, outcome)
            except Exception as exc:  # noqa: BLE001  a bug must not block every later event: counted, then failed
                logger.exception("qbo.webhook.apply_failed event=%s", event.pk)
                outcomes[event.pk] = _failed_attempt(event, exc, step="Applying it here")
                continue
            outcomes[event.pk] = "processed"
            logger.info("qbo.webhook.processed event=%s realm=%s outcome=%s", event.pk, event.realm_id, outcome)
    return outcomes


def _failed_attempt(event: QuickBooksWebhookEvent, exc: Exception, *, step: str = "Reading it from QuickBooks") -> str:
    give_up = event.attempts + 1 >= MAX_EVENT_ATTEMPTS
    QuickBooksWebhookEvent.objects.filter(pk=event.pk).update(
        attempts=F("attempts") + 1,
        status=WebhookEventStatus.FAILED if give_up else WebhookEventStatus.RECEIVED,
        message=f"{step} failed: {exc}"[:500],
    )
    logger.warning("qbo.webhook.attempt_failed event=%s step=%s error=%s", event.pk, step, type(exc).__name__)
    return "failed" if give_up else "retrying"
