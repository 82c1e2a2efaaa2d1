"""Payments recorded here reach the simulator's QuickBooks, and their own webhooks never come back as new ones."""

import datetime as dt
from decimal import Decimal

from attune_qbo.billing import services as billing
from attune_qbo.billing.models import Payment
from integrations.models import LinkType, QuickBooksLink, QuickBooksSyncLog, QuickBooksWebhookEvent
from integrations.services.api import client_for
from tests.e2e.test_payments_in_simulator import connected_acme, flush  # noqa: F401  (fixture)


def test_local_payment_reaches_quickbooks_and_does_not_come_back(connected_acme, live_app):  # noqa: F811
    invoice = connected_acme.invoice(finalize=True)  # 108.00
    billing.payment_record(invoice=invoice, amount=Decimal("30.00"), date=dt.date(2026, 11, 29), reference="CHQ 1")
    payment = Payment.objects.get()
    entry = QuickBooksSyncLog.objects.get(entity_type="payment", object_id=payment.pk)
    assert entry.status == "succeeded", entry.message
    link = QuickBooksLink.objects.get(object_type=LinkType.PAYMENT, object_id=payment.pk)
    connection = connected_acme.company.quickbooks_connection
    qbo_invoice = client_for(connection).read("Invoice", entry.payload["Line"][0]["LinkedTxn"][0]["TxnId"])
    assert Decimal(str(qbo_invoice["Balance"])) == Decimal("78.00")

    flush(live_app)  # the simulator announces the payment we created (and the invoice it touched)
    assert QuickBooksWebhookEvent.objects.filter(entity_name="Payment", entity_id=link.qbo_id).exists()
    assert Payment.objects.count() == 1  # ours: not recorded a second time
    invoice.refresh_from_db()
    assert invoice.amount_paid == Decimal("30.00")

    billing.invoice_update(invoice=invoice, memo="After our payment")  # our cached SyncToken was refreshed
    latest = QuickBooksSyncLog.objects.filter(object_id=invoice.pk, entity_type="invoice").first()
    assert latest.status == "succeeded", latest.message


def test_payment_refunded_here_is_voided_in_quickbooks_and_the_balances_agree(connected_acme, live_app):  # noqa: F811
    invoice = connected_acme.invoice(finalize=True)  # 108.00
    payment = billing.payment_record(invoice=invoice, amount=invoice.total, date=dt.date(2026, 11, 29))
    push = QuickBooksSyncLog.objects.get(entity_type="payment", object_id=payment.pk)
    assert push.status == "succeeded", push.message
    client = client_for(connected_acme.company.quickbooks_connection)
    qbo_invoice_id = push.payload["Line"][0]["LinkedTxn"][0]["TxnId"]
    assert Decimal(str(client.read("Invoice", qbo_invoice_id)["Balance"])) == Decimal("0.00")

    billing.payment_remove(payment=payment, reason="refunded")
    void = QuickBooksSyncLog.objects.filter(entity_type="payment", object_id=payment.pk).first()
    assert void.operation == "void" and void.status == "succeeded", void.message
    assert Decimal(str(client.read("Invoice", qbo_invoice_id)["Balance"])) == invoice.total  # open again there too
    link = QuickBooksLink.objects.get(object_type=LinkType.PAYMENT, object_id=payment.pk)
    assert link.voided

    flush(live_app)  # the simulator announces the void of our own payment: nothing is recorded here
    assert Payment.objects.count() == 0
    invoice.refresh_from_db()
    assert invoice.status == "finalized" and invoice.amount_paid == Decimal("0.00")
