"""Change Data Capture gap-fill (QBO-REFERENCE §2.7, §4.5): what a lost or late webhook missed.

Every `QUICKBOOKS_CDC_MINUTES` each connected realm is asked once for Payment, Invoice and Customer changes
since its watermark (minus a small overlap). The rows feed the same processing as webhooks (stored once by a
derived id, applied idempotently), carrying the whole object so no second read is needed. A full answer
(1,000 objects) is paged by moving `changedSince` to the newest row seen; a watermark older than CDC's 30 days
falls back to a query of Payments by `MetaData.LastUpdatedTime`. A Fault inside the answer leaves the
watermark where it was (the next run asks again).
"""

from __future__ import annotations

import datetime as dt
import logging

from django.conf import settings
from django.utils import timezone

from integrations.models import ConnectionStatus, QuickBooksConnection, QuickBooksWebhookEvent
from integrations.quickbooks.client import literal
from integrations.quickbooks.webhooks import WebhookEvent, derived_event_id
from integrations.services.events import count_reads, events_process_pending, events_store

logger = logging.getLogger("qbo.cdc")

ENTITIES = ["Payment", "Invoice", "Customer"]
CDC_MAX_OBJECTS = 1000  # QBO-REFERENCE §2.7
CDC_MAX_DAYS = 30
OVERLAP = dt.timedelta(minutes=2)
MAX_PAGES = 20


def cdc_minutes() -> int:
    return int(settings.QUICKBOOKS_CDC_MINUTES)


def cdc_sweep() -> int:
    """One CDC pull per connected connection. Returns how many changes were stored."""
    total = 0
    for connection_id in QuickBooksConnection.objects.filter(status=ConnectionStatus.CONNECTED).values_list(
        "pk", flat=True
    ):
        try:
            total += cdc_pull(connection_id=connection_id)
        except Exception:  # one realm's trouble never stops the others
            logger.exception("qbo.cdc.failed connection=%s", connection_id)
    if total:
        events_process_pending()
    return total


def _row_event(realm_id: str, entity: str, row: dict) -> WebhookEvent:
    deleted = row.get("status") == "Deleted"
    when = str((row.get("MetaData") or {}).get("LastUpdatedTime", ""))
    operation = "deleted" if deleted else "updated"
    return WebhookEvent(
        event_id=derived_event_id(realm_id, entity, str(row.get("Id", "")), "cdc-" + operation, when),
        realm_id=realm_id,
        entity_name=entity,
        entity_id=str(row.get("Id", ""))[:32],
        operation=operation,
        occurred_at=when[:40],
    )


def _parse_time(value: str) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(value)
    except (TypeError, ValueError):
        return None


def _store(connection: QuickBooksConnection, rows_by_entity: dict[str, list[dict]]) -> int:
    events, payloads = [], {}
    for entity, rows in rows_by_entity.items():
        for row in rows:
            if not isinstance(row, dict) or not row.get("Id"):
                continue
            event = _row_event(connection.realm_id, entity, row)
            events.append(event)
            if entity == "Payment" and row.get("status") != "Deleted":
                payloads[event.event_id] = row
    stored, _ = events_store(events, source="cdc")
    for event_id, row in payloads.items():  # the whole object: processing needs no second read
        QuickBooksWebhookEvent.objects.filter(
            realm_id=connection.realm_id, event_id=event_id, payload__isnull=True
        ).update(payload=row)
    return stored


def cdc_pull(*, connection_id: int, now: dt.datetime | None = None) -> int:
    """Read what changed in this realm since the watermark and store it as events. One call when nothing
    changed. Returns how many rows were stored."""
    from integrations.services.api import client_for

    connection = QuickBooksConnection.objects.filter(pk=connection_id, status=ConnectionStatus.CONNECTED).first()
    if connection is None:
        return 0
    now = now or timezone.now()
    since = (connection.cdc_watermark or now - dt.timedelta(minutes=cdc_minutes())) - OVERLAP
    client = client_for(connection)
    stored = 0
    try:
        if now - since >= dt.timedelta(days=CDC_MAX_DAYS):
            stored = _query_fallback(connection, client, since)
        else:
            for _ in range(MAX_PAGES):
                changed = client.cdc(ENTITIES, changed_since=since)
                stored += _store(connection, changed)
                rows = [row for rows in changed.values() for row in rows if isinstance(row, dict)]
                if len(rows) < CDC_MAX_OBJECTS:
                    break
                # A full answer: ask again from the newest change seen (the overlap is de-duplicated by id).
                newest = max(
                    (_parse_time(str((row.get("MetaData") or {}).get("LastUpdatedTime", ""))) for row in rows),
                    default=None,
                    key=lambda value: value or since,
                )
                if newest is None or newest <= since:
                    logger.warning("qbo.cdc.page_stuck connection=%s", connection.pk)
                    break
                since = newest
    finally:
        count_reads(connection.pk, client.calls)
    QuickBooksConnection.objects.filter(pk=connection.pk).update(cdc_watermark=now)
    logger.info("qbo.cdc.pulled connection=%s stored=%s calls=%s", connection.pk, stored, client.calls)
    return stored


def _query_fallback(connection, client, since: dt.datetime) -> int:
    """Past CDC's 30 days: every Payment changed since then, by query (paged by the client)."""
    # Our own datetime, quoted by the client's literal(): nothing from outside goes into the statement.
    statement = "select * from Payment where MetaData.LastUpdatedTime >= " + literal(since.isoformat())  # noqa: S608
    stored = 0
    batch: list[dict] = []
    for row in client.query(statement, entity="Payment"):
        batch.append(row)
        if len(batch) >= 500:
            stored += _store(connection, {"Payment": batch})
            batch = []
    if batch:
        stored += _store(connection, {"Payment": batch})
    return stored
