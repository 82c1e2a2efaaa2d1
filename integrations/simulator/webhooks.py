"""Webhooks: what QuickBooks sends to the app after a change (QBO-REFERENCE §4).

Every notified write (Customer, Invoice, Payment: create, update, void, delete) adds a `SimWebhookEvent`
row in the write's own transaction — an outbox, so nothing is announced that was rolled back. After the
commit, a drain forms deliveries from the pending events (up to 100 per POST, as Intuit batches) and POSTs
them, signed, to the one configured URL. Deliveries go out one at a time, in order; a delivery the app
did not answer with 200 within 3 seconds is retried on Intuit's schedule and blocks every later event
until it is acknowledged (head-of-line blocking).

How the drain runs (`delivery_mode()`): `background` (a thread started after the commit, waits
`QUICKBOOKS_SIMULATOR_WEBHOOK_AGGREGATION_SECONDS` so close writes share a delivery), `sync` (right after the
commit, in the writing request: tests only) or `manual` (only `POST control/webhooks/flush`; the test
settings' default).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import requests
from django.conf import settings
from django.db import close_old_connections, transaction
from django.db.models import F
from django.utils import timezone

from config import keys

from .faults import PACIFIC
from .models import (
    FaultKind,
    FaultTarget,
    SimCompany,
    SimControl,
    SimFaultSwitch,
    SimGrant,
    SimWebhookDelivery,
    SimWebhookEvent,
    WebhookState,
)

logger = logging.getLogger(__name__)

APP_WEBHOOK_PATH = "/api/v1/integrations/quickbooks/webhooks"
# Entities the simulated app subscribes to, and the operations Intuit notifies for them (Intuit's webhooks
# page, table "entities that support webhooks"; Void for Invoice and Payment: Intuit blog 2017-05-11).
NOTIFIED = {
    "Customer": {"Create", "Update"},
    "Invoice": {"Create", "Update", "Delete", "Void"},
    "Payment": {"Create", "Update", "Delete", "Void"},
}
CLOUDEVENT_VERBS = {"Create": "created", "Update": "updated", "Delete": "deleted", "Void": "voided", "Merge": "merged"}
FORMATS = ("cloudevents", "legacy")
MODES = ("background", "sync", "manual")
CONTENT_TYPES = {"cloudevents": "application/cloudevents+json", "legacy": "application/json"}
MAX_EVENTS_PER_DELIVERY = 100  # "Up to 100 events / ~1 MB per delivery" (QBO-REFERENCE §4.2)
RESPONSE_TIMEOUT_SECONDS = 3.0  # "Respond HTTP 200 within 3 seconds" (§4.4)
# Wait before each retry after a failed attempt (§4.4: 0 s, 10 s, 20 s, 30 s, 5 m, 20 m, 2 h, 4 h, 6 h,
# then every 6 h).
RETRY_SCHEDULE_SECONDS = (0, 10, 20, 30, 300, 1200, 7200, 14400, 21600)
DEFAULT_DELAY_SECONDS = 5.0

_drain_lock = threading.Lock()
_worker_lock = threading.Lock()
_worker: threading.Thread | None = None


# --- Settings ----------------------------------------------------------------------------------------------


def _control() -> SimControl:
    from .control import control_row  # control imports this module

    return control_row()


def default_url() -> str:
    configured = getattr(settings, "QUICKBOOKS_SIMULATOR_WEBHOOK_URL", "") or ""
    if configured:
        return configured
    base = urlsplit(getattr(settings, "QUICKBOOKS_SIMULATOR_BASE_URL", "http://127.0.0.1:8000"))
    return f"{base.scheme}://{base.netloc}{APP_WEBHOOK_PATH}"


def webhook_url(row: SimControl | None = None) -> str:
    row = row or _control()
    return row.webhook_url or default_url()


def webhook_format(row: SimControl | None = None) -> str:
    row = row or _control()
    value = row.webhook_format or getattr(settings, "QUICKBOOKS_SIMULATOR_WEBHOOK_FORMAT", "cloudevents")
    return value if value in FORMATS else "cloudevents"


def delivery_mode(row: SimControl | None = None) -> str:
    row = row or _control()
    value = row.webhook_delivery or getattr(settings, "QUICKBOOKS_SIMULATOR_WEBHOOK_DELIVERY", "background")
    return value if value in MODES else "background"


def aggregation_seconds() -> float:
    return float(getattr(settings, "QUICKBOOKS_SIMULATOR_WEBHOOK_AGGREGATION_SECONDS", 1.0))


def check_url(url: str) -> str:
    parts = urlsplit(url or "")
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.fragment:
        raise ValueError("url must be an absolute http(s) URL without a fragment")
    return url


def settings_snapshot(row: SimControl | None = None) -> dict:
    row = row or _control()
    return {
        "url": webhook_url(row),
        "format": webhook_format(row),
        "delivery": delivery_mode(row),
        "pending_events": SimWebhookEvent.objects.filter(delivery__isnull=True).count(),
        "pending_deliveries": SimWebhookDelivery.objects.filter(state=WebhookState.PENDING).count(),
    }


def update_settings(data: dict) -> None:
    """`url`, `format`, `delivery`: a value, or null to follow the Django settings again."""
    row = _control()
    if "url" in data:
        row.webhook_url = check_url(data["url"]) if data["url"] else ""
    if "format" in data:
        if data["format"] not in (None, *FORMATS):
            raise ValueError(f"format must be one of {list(FORMATS)} or null")
        row.webhook_format = data["format"] or ""
    if "delivery" in data:
        if data["delivery"] not in (None, *MODES):
            raise ValueError(f"delivery must be one of {list(MODES)} or null")
        row.webhook_delivery = data["delivery"] or ""
    row.save()


# --- Recording (inside the write's transaction) -----------------------------------------------------------


def _connected(company: SimCompany) -> bool:
    """Only companies connected to the app through OAuth send it events (Intuit's webhooks page)."""
    return SimGrant.objects.filter(company=company, revoked_at__isnull=True).exists()


def record(entity, operation: str) -> None:
    """Note a change to `entity` (a SimEntity just saved) for the webhook, if the app subscribes to it."""
    if operation not in NOTIFIED.get(entity.entity_type, ()):
        return
    if not _connected(entity.company):
        return
    SimWebhookEvent.objects.create(
        company=entity.company,
        event_id=str(uuid.uuid4()),
        entity_type=entity.entity_type,
        entity_id=entity.entity_id,
        operation=operation,
        occurred_at=entity.updated_at,
    )
    transaction.on_commit(_after_commit)


def _after_commit() -> None:
    mode = delivery_mode()
    if mode == "sync":
        deliver_due()
    elif mode == "background":
        start_worker()


# --- Payloads ---------------------------------------------------------------------------------------------


def _source() -> str:
    """`source` in Intuit's sample looks like "intuit." + a base64 SHA-256; ours hashes the client id."""
    digest = hashlib.sha256(keys.quickbooks_client_id().encode()).digest()
    return "intuit." + base64.b64encode(digest).decode()


def _utc_time(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _legacy_time(moment: datetime) -> str:
    """Intuit's legacy sample: `2015-10-05T14:42:19-0700` (Pacific, no milliseconds, offset without colon)."""
    return moment.astimezone(PACIFIC).strftime("%Y-%m-%dT%H:%M:%S%z")


def payload(events: list[SimWebhookEvent], fmt: str) -> str:
    if fmt == "legacy":
        realms: dict[str, list[dict]] = {}
        for event in events:
            realms.setdefault(event.company.realm_id, []).append(
                {
                    "name": event.entity_type,
                    "id": event.entity_id,
                    "operation": event.operation,
                    "lastUpdated": _legacy_time(event.occurred_at),
                }
            )
        data = {
            "eventNotifications": [
                {"realmId": realm_id, "dataChangeEvent": {"entities": entities}}
                for realm_id, entities in realms.items()
            ]
        }
    else:
        source = _source()
        data = [
            {
                "specversion": "1.0",
                "id": event.event_id,
                "source": source,
                "type": f"qbo.{event.entity_type.lower()}.{CLOUDEVENT_VERBS[event.operation]}.v1",
                "datacontenttype": "application/json",
                "time": _utc_time(event.occurred_at),
                "intuitentityid": event.entity_id,
                "intuitaccountid": event.company.realm_id,
                "data": {},
            }
            for event in events
        ]
    return json.dumps(data, separators=(",", ":"))


def sign(body: bytes, token: str | None = None) -> str:
    """`intuit-signature`: base64(HMAC-SHA256(verifier token, raw body)) (QBO-REFERENCE §4.3)."""
    key = (token if token is not None else keys.quickbooks_webhook_verifier_token()).encode()
    return base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()


# --- Switches ---------------------------------------------------------------------------------------------


def take_switch(kind: str) -> SimFaultSwitch | None:
    for switch in SimFaultSwitch.objects.filter(target=FaultTarget.WEBHOOK, kind=kind, remaining__gt=0):
        if SimFaultSwitch.objects.filter(pk=switch.pk, remaining__gt=0).update(remaining=F("remaining") - 1):
            logger.info("simulator.webhook.switch kind=%s", kind)
            return switch
    return None


def _armed(kind: str) -> bool:
    return SimFaultSwitch.objects.filter(target=FaultTarget.WEBHOOK, kind=kind, remaining__gt=0).exists()


# --- Forming and sending deliveries -----------------------------------------------------------------------


def _new_delivery(events: list[SimWebhookEvent], now: datetime) -> SimWebhookDelivery:
    fmt = webhook_format()
    delivery = SimWebhookDelivery.objects.create(
        url=webhook_url(),
        format=fmt,
        content_type=CONTENT_TYPES[fmt],
        body=payload(events, fmt),
        created_at=now,
        next_attempt_at=now,
    )
    SimWebhookEvent.objects.filter(pk__in=[e.pk for e in events]).update(delivery=delivery)
    return delivery


@transaction.atomic
def _form_next(now: datetime) -> bool:
    """Turn the oldest pending events into the next delivery (or two, when a reorder switch fires).
    False when there is nothing to form (no events, or a reorder switch waiting for a second one)."""
    pending = list(
        SimWebhookEvent.objects.filter(delivery__isnull=True).select_related("company")[:MAX_EVENTS_PER_DELIVERY]
    )
    if not pending:
        return False
    if _armed(FaultKind.REORDER):
        if len(pending) < 2:
            return False  # waits for a second event to swap with
        take_switch(FaultKind.REORDER)
        first = _new_delivery([pending[1]], now)
        _new_delivery([pending[0]], now)
    else:
        first = _new_delivery(pending, now)
    for delivery in SimWebhookDelivery.objects.filter(state=WebhookState.PENDING, attempts=0, pk__gte=first.pk):
        _apply_forming_switches(delivery, now)
    return True


def _apply_forming_switches(delivery: SimWebhookDelivery, now: datetime) -> None:
    if take_switch(FaultKind.DROP):
        delivery.state = WebhookState.DROPPED
        delivery.last_error = "dropped by a switch"
    delay = take_switch(FaultKind.DELAY)
    if delay is not None:
        delivery.next_attempt_at = now + timedelta(seconds=delay.seconds)
    if take_switch(FaultKind.DUPLICATE):
        delivery.duplicate = True
    if take_switch(FaultKind.CORRUPT_SIGNATURE):
        delivery.corrupt_attempts = 1
    delivery.save()


def _post(delivery: SimWebhookDelivery, signature: str) -> tuple[int | None, str]:
    try:
        response = requests.post(
            delivery.url,
            data=delivery.body.encode("utf-8"),
            headers={
                "Content-Type": delivery.content_type,
                "intuit-signature": signature,
                "User-Agent": "Intuit-Webhooks (QuickBooks simulator)",
                "Accept": "*/*",
            },
            timeout=RESPONSE_TIMEOUT_SECONDS,
            allow_redirects=False,
        )
    except requests.RequestException as error:
        return None, f"{type(error).__name__}"
    return response.status_code, "" if response.status_code == 200 else f"HTTP {response.status_code}"


def _attempt(delivery: SimWebhookDelivery) -> bool:
    """One attempt (two POSTs when duplicated). Only HTTP 200 acknowledges the delivery."""
    body = delivery.body.encode("utf-8")
    signature = sign(body)
    corrupt = delivery.corrupt_attempts > 0
    if corrupt:
        signature = sign(body, "not-the-verifier-token")
    status, error = _post(delivery, signature)
    delivery.attempts += 1
    delivery.last_status = status
    delivery.last_error = error
    if corrupt:
        delivery.corrupt_attempts -= 1
    now = timezone.now()
    if status == 200:
        if delivery.duplicate:
            _post(delivery, sign(body))
        delivery.state = WebhookState.DELIVERED
        delivery.delivered_at = now
    else:
        wait = RETRY_SCHEDULE_SECONDS[min(delivery.attempts - 1, len(RETRY_SCHEDULE_SECONDS) - 1)]
        delivery.next_attempt_at = now + timedelta(seconds=wait)
    delivery.save()
    logger.info("simulator.webhook.attempt delivery=%s attempt=%s status=%s", delivery.pk, delivery.attempts, status)
    return status == 200


def deliver_due(*, force: bool = False) -> dict:
    """Send every delivery that is due, in order, stopping at a head that isn't (head-of-line blocking).

    `force` makes the head due once, whatever its schedule (a test's "time has passed").
    """
    sent = failed = 0
    forced: set[int] = set()
    with _drain_lock:
        for _ in range(10_000):
            now = timezone.now()
            head = SimWebhookDelivery.objects.filter(state=WebhookState.PENDING).first()
            if head is None:
                if not _form_next(now):
                    break
                continue
            if head.next_attempt_at > now:
                if not force or head.pk in forced:
                    break
                forced.add(head.pk)
            if _attempt(head):
                sent += 1
            else:
                failed += 1
    head = SimWebhookDelivery.objects.filter(state=WebhookState.PENDING).first()
    return {
        "delivered": sent,
        "failed_attempts": failed,
        "pending_deliveries": SimWebhookDelivery.objects.filter(state=WebhookState.PENDING).count(),
        "pending_events": SimWebhookEvent.objects.filter(delivery__isnull=True).count(),
        "next_attempt_at": head.next_attempt_at.isoformat() if head else None,
    }


# --- Background worker ------------------------------------------------------------------------------------


def start_worker() -> None:
    global _worker
    with _worker_lock:
        if _worker is not None and _worker.is_alive():
            return
        _worker = threading.Thread(target=_run_worker, name="simulator-webhooks", daemon=True)
        _worker.start()


def _run_worker() -> None:
    """Wait the aggregation window, then deliver until nothing is pending (sleeping until retries are due)."""
    try:
        time.sleep(aggregation_seconds())
        while True:
            close_old_connections()
            result = deliver_due()
            if not result["pending_deliveries"] and not result["pending_events"]:
                return
            if delivery_mode() != "background":
                return
            head = SimWebhookDelivery.objects.filter(state=WebhookState.PENDING).first()
            wait = (head.next_attempt_at - timezone.now()).total_seconds() if head else 1.0
            time.sleep(min(max(wait, 0.2), 5.0))
    except Exception:
        logger.exception("simulator.webhook.worker_error")
    finally:
        close_old_connections()


def delivery_snapshot(delivery: SimWebhookDelivery) -> dict:
    return {
        "id": delivery.pk,
        "state": delivery.state,
        "url": delivery.url,
        "format": delivery.format,
        "content_type": delivery.content_type,
        "attempts": delivery.attempts,
        "last_status": delivery.last_status,
        "last_error": delivery.last_error,
        "next_attempt_at": delivery.next_attempt_at.isoformat(),
        "delivered_at": delivery.delivered_at.isoformat() if delivery.delivered_at else None,
        "events": [
            {
                "id": e.event_id,
                "realm_id": e.company.realm_id,
                "name": e.entity_type,
                "entity_id": e.entity_id,
                "operation": e.operation,
            }
            for e in delivery.events.select_related("company")
        ],
        "body": json.loads(delivery.body),
    }
