"""Payments made in QuickBooks come here: the simulator's signed webhooks reach our endpoint on the live server,
the events are processed, and our invoice follows; the payment's bump of the invoice's SyncToken never breaks
the next invoice update (QBO-REFERENCE §0 #9)."""

from decimal import Decimal

import pytest
import requests

from attune_qbo.billing import services as billing
from attune_qbo.billing.models import InvoiceStatus, Payment
from integrations.models import QuickBooksSyncLog, QuickBooksWebhookEvent, WebhookEventStatus
from integrations.outbox.worker import sync_run
from integrations.services.events import events_process_pending
from tests.e2e.conftest import US_REALM, control_headers

WEBHOOK_PATH = "/api/v1/integrations/quickbooks/webhooks"


@pytest.fixture
def connected_acme(acme, browser, live_app, settings, monkeypatch):
    settings.QUICKBOOKS_PUSH_DEBOUNCE_SECONDS = 0
    settings.QUICKBOOKS_SIMULATOR_WEBHOOK_URL = live_app + WEBHOOK_PATH
    browser.sign_in("acme-admin")
    browser.connect_quickbooks()
    monkeypatch.setattr("integrations.outbox.enqueue.dispatch", lambda entry_id: sync_run(entry_id=entry_id))
    # The worker, in-process: a delivery's events are processed as soon as it is stored.
    monkeypatch.setattr("integrations.services.events.dispatch_processing", events_process_pending)
    return acme


def control(base: str, path: str, body: dict | None = None) -> requests.Response:
    return requests.post(f"{base}/simulator/control/{path}", json=body or {}, headers=control_headers(), timeout=20)


def flush(base: str) -> dict:
    answer = control(base, "webhooks/flush").json()
    assert answer["failed_attempts"] == 0, answer
    return answer


@pytest.mark.parametrize("fmt", ["cloudevents", "legacy"])
def test_payment_in_quickbooks_reaches_our_invoice_and_its_void_reverses_it(connected_acme, live_app, fmt):
    assert control(live_app, "webhooks", {"format": fmt}).status_code == 200
    invoice = connected_acme.invoice(finalize=True)  # 108.00
    entry = QuickBooksSyncLog.objects.get(object_id=invoice.pk)
    assert entry.status == "succeeded", entry.message
    flush(live_app)  # the create's own events: nothing to apply

    paid = control(live_app, f"companies/{US_REALM}/invoices/{entry.qbo_id}/payment", {"amount": "50.00"})
    assert paid.status_code == 201, paid.text
    qbo_payment_id = paid.json()["Payment"]["Id"]
    flush(live_app)
    invoice.refresh_from_db()
    assert invoice.amount_paid == Decimal("50.00") and invoice.status == InvoiceStatus.FINALIZED
    assert Payment.objects.get().external_id == f"qbo:{US_REALM}:{qbo_payment_id}:{entry.qbo_id}"

    # The payment bumped the invoice's SyncToken in QuickBooks: our cached one is stale, and the update still goes.
    billing.invoice_update(invoice=invoice, memo="Changed after the payment")
    latest = QuickBooksSyncLog.objects.filter(object_id=invoice.pk, entity_type="invoice").first()
    assert latest.status == "succeeded", latest.message

    assert control(live_app, f"companies/{US_REALM}/payments/{qbo_payment_id}/void").status_code == 200
    flush(live_app)
    invoice.refresh_from_db()
    assert invoice.amount_paid == Decimal("0.00") and not Payment.objects.exists()
    assert not QuickBooksWebhookEvent.objects.filter(status=WebhookEventStatus.RECEIVED).exists()


def test_full_payment_in_quickbooks_marks_paid_and_duplicate_deliveries_apply_once(connected_acme, live_app):
    invoice = connected_acme.invoice(finalize=True)
    entry = QuickBooksSyncLog.objects.get(object_id=invoice.pk)
    control(live_app, "faults", {"target": "webhook", "kind": "duplicate", "count": 3})
    assert control(live_app, f"companies/{US_REALM}/invoices/{entry.qbo_id}/payment").status_code == 201
    flush(live_app)
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID and invoice.amount_paid == invoice.total
    assert Payment.objects.count() == 1


def test_cdc_finds_a_payment_whose_webhook_never_came(connected_acme, live_app):
    from integrations.models import QuickBooksConnection
    from integrations.services.cdc import cdc_sweep

    invoice = connected_acme.invoice(finalize=True)
    entry = QuickBooksSyncLog.objects.get(object_id=invoice.pk)
    control(live_app, "faults", {"target": "webhook", "kind": "drop", "count": 100})
    assert control(live_app, f"companies/{US_REALM}/invoices/{entry.qbo_id}/payment", {"amount": "8.00"}).status_code
    assert cdc_sweep() >= 1
    invoice.refresh_from_db()
    assert invoice.amount_paid == Decimal("8.00")
    assert cdc_sweep() >= 0  # the overlap brings it again: still applied once
    invoice.refresh_from_db()
    assert invoice.amount_paid == Decimal("8.00") and Payment.objects.count() == 1
    from integrations.services.usage import connection_usage

    assert connection_usage(connection=QuickBooksConnection.objects.get(realm_id=US_REALM)).reads >= 2


def test_after_a_month_offline_the_payment_query_catches_up(connected_acme, live_app):
    import datetime as dt

    from django.utils import timezone

    from integrations.models import QuickBooksConnection
    from integrations.services.cdc import cdc_sweep

    invoice = connected_acme.invoice(finalize=True)
    entry = QuickBooksSyncLog.objects.get(object_id=invoice.pk)
    assert control(live_app, f"companies/{US_REALM}/invoices/{entry.qbo_id}/payment", {"amount": "8.00"}).ok
    QuickBooksConnection.objects.filter(realm_id=US_REALM).update(cdc_watermark=timezone.now() - dt.timedelta(days=40))
    assert cdc_sweep() >= 1
    invoice.refresh_from_db()
    assert invoice.amount_paid == Decimal("8.00")


def test_unapplied_quickbooks_payment_is_applied_from_the_reconciliation_and_the_books_agree(connected_acme, live_app):
    from integrations.models import LinkType, QuickBooksLink, QuickBooksUnappliedPayment
    from integrations.services.api import client_for
    from integrations.services.reconciliation import reconciliation_check, reconciliation_fix

    invoice = connected_acme.invoice(finalize=True)  # 108.00
    flush(live_app)
    connection = connected_acme.company.quickbooks_connection
    customer = QuickBooksLink.objects.get(object_type=LinkType.CLIENT, object_id=invoice.client_id)
    # Received in QuickBooks as a credit on the customer, applied to nothing.
    client_for(connection).create(
        "Payment", {"CustomerRef": {"value": customer.qbo_id}, "TotalAmt": 40.0}, request_id="direct-unapplied-1"
    )
    flush(live_app)
    unapplied = QuickBooksUnappliedPayment.objects.get()
    assert unapplied.amount == Decimal("40.00") and unapplied.status == "open"

    review = reconciliation_check(connection=connection)
    index, row = next((i, r) for i, r in enumerate(review.rows) if r["kind"] == "unapplied_payment")
    assert row["fix"] == "apply" and [c["invoice_id"] for c in row["candidates"]] == [invoice.pk]
    done = reconciliation_fix(connection=connection, review_id=review.pk, index=index, user=None, invoice_id=invoice.pk)
    assert "Applied 40.00" in done
    invoice.refresh_from_db()
    assert invoice.amount_paid == Decimal("40.00")
    qbo_invoice = client_for(connection).read("Invoice", QuickBooksLink.objects.get(object_type="invoice").qbo_id)
    assert Decimal(str(qbo_invoice["Balance"])) == Decimal("68.00")  # QuickBooks holds the same
    unapplied.refresh_from_db()
    assert unapplied.status == "resolved"

    flush(live_app)  # QuickBooks announces the payment's change: applied once, not twice
    assert Payment.objects.count() == 1
    assert [r["kind"] for r in reconciliation_check(connection=connection).rows] == []  # the books agree
