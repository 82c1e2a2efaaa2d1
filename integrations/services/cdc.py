"""Change Data Capture gap-fill (QBO-REFERENCE §2.7, §4.5): what a lost or late webhook missed.

Every `QUICKBOOKS_CDC_MINUTES` each connected realm is asked once for Payment, Invoice and Customer changes
since its watermark (minus a small overlap). The rows feed the same processing as webhooks (stored once by a
derived id, applied idempotently), carrying the whole object so no second read is needed. A full answer
(1,000 objects) is followed by Payment-only calls paged by moving `changedSince` to the newest payment seen
(`MAX_PAGES` per run; the watermark then stops where reading stopped); a watermark older than CDC's 30 days
falls back to a query of Payments by `MetaData.LastUpdatedTime`. A Fault inside the answer leaves the
watermark where it was (the next run asks again).
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import replace

from django.conf import settings
from django.utils import timezone

from integrations.models import ConnectionStatus, QuickBooksConnection
from integrations.quickbooks.client import literal
from integrations.quickbooks.webhooks import WebhookEvent, derived_event_id
from integrations.services.events import events_process_pending, events_store

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
    events = []
    for entity, rows in rows_by_entity.items():
        for row in rows:
            if not isinstance(row, dict) or not row.get("Id"):
                continue
            event = _row_event(connection.realm_id, entity, row)
            if entity == "Payment" and row.get("status") != "Deleted":
                event = replace(event, payload=row)  # the whole object: processing needs no second read
            events.append(event)
    stored, _ = events_store(events, source="cdc")
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
    watermark = now
    # Every call is counted by the client's limiter (the realm's reads this month); nothing to count here.
    if now - since >= dt.timedelta(days=CDC_MAX_DAYS):
        stored = _query_fallback(connection, client, since)
    else:
        changed = client.cdc(ENTITIES, changed_since=since)
        stored += _store(connection, changed)
        if sum(len(rows) for rows in changed.values()) >= CDC_MAX_OBJECTS:
            paged, complete_to = _page_payments(connection, client, since)
            stored += paged
            watermark = complete_to or now
    QuickBooksConnection.objects.filter(pk=connection.pk).update(cdc_watermark=watermark)
    logger.info("qbo.cdc.pulled connection=%s stored=%s calls=%s", connection.pk, stored, client.calls)
    return stored


def _page_payments(connection, client, since: dt.datetime) -> tuple[int, dt.datetime | None]:
    """A full answer left changes out, and CDC has no end time to narrow the window by: ask for Payments alone
    (the only changes applied here; invoice and customer changes are informational) and move `changedSince` to
    the newest payment of each full page. Relies on a full page holding the oldest changes after
    `changedSince` (the simulator's order; Intuit does not document it — the overlap and the ids make repeats
    harmless). Returns (stored, where to resume) — None when every change was read."""
    stored = 0
    for _ in range(MAX_PAGES):
        rows = [row for row in client.cdc(["Payment"], changed_since=since).get("Payment", []) if isinstance(row, dict)]
        stored += _store(connection, {"Payment": rows})
        if len(rows) < CDC_MAX_OBJECTS:
            return stored, None
        newest = max(
            (_parse_time(str((row.get("MetaData") or {}).get("LastUpdatedTime", ""))) or since for row in rows),
            default=since,
        )
        if newest <= since:
            # More than a page of changes in one instant: only a query pages by position (no deletions in it).
            logger.warning("qbo.cdc.page_stuck connection=%s", connection.pk)
            return stored + _query_fallback(connection, client, since), None
        since = newest
    logger.warning("qbo.cdc.more_to_read connection=%s resume=%s", connection.pk, since.isoformat())
    return stored, since - OVERLAP  # the next run goes on from here (its own overlap is added again)


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
