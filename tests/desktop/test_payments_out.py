"""Payments recorded in attune reach QuickBooks Desktop (ReceivePaymentAdd), removals follow (TxnDel), and the
invoice's balance in the stand-in equals ours after each step. Payments that came from Desktop never go back,
and ours never come back as new."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from attune_qbo.billing import services as billing
from attune_qbo.billing.models import Payment, PaymentSource
from integrations.models import (
    LinkType,
    QuickBooksDesktopConnection,
    QuickBooksLink,
    QuickBooksSyncLog,
    SyncOperation,
    SyncStatus,
)

PAID_ON = dt.date(2026, 1, 20)


def _run(quickbooks, tenant):
    return quickbooks.run(tenant.desktop.username, tenant.password)


def _payments_due(tenant) -> None:
    QuickBooksDesktopConnection.objects.filter(pk=tenant.desktop.pk).update(payments_read_until=None)


def _payment_entries(tenant):
    return QuickBooksSyncLog.objects.filter(
        company=tenant.company, realm_id=tenant.desktop.realm_key, entity_type="payment"
    )


def _sent(quickbooks, tag: str):
    return [element for element in quickbooks.received if element.tag == tag]


def _balance_agrees(quickbooks, invoice) -> None:
    invoice.refresh_from_db()
    desktop = quickbooks.invoice_by_ref(invoice.number)
    assert desktop.balance == invoice.total - invoice.amount_paid


def _record(invoice, amount: str, **fields) -> Payment:
    return billing.payment_record(invoice=invoice, amount=Decimal(amount), date=PAID_ON, **fields)


def test_a_payment_recorded_here_goes_as_receive_payment_add_and_the_balances_agree(desktop_tenant, quickbooks):
    tenant = desktop_tenant
    invoice = tenant.invoice(finalize=True)
    _run(quickbooks, tenant)
    desktop_invoice = quickbooks.invoice_by_ref(invoice.number)
    customer = quickbooks.customers[tenant.client.display_name.casefold()]

    payment = _record(invoice, "40.00", reference="CHK 1001")
    report = _run(quickbooks, tenant)

    assert report.percents[-1] == 100
    [rq] = _sent(quickbooks, "ReceivePaymentAddRq")
    add = rq.find("ReceivePaymentAdd")
    assert add.find("CustomerRef/ListID").text == customer.list_id
    assert add.find("TxnDate").text == "2026-01-20"
    assert add.find("RefNumber").text == "CHK 1001"
    assert add.find("TotalAmount").text == "40.00"
    assert f"[attune:{tenant.company.pk}:p{payment.pk}]" in add.find("Memo").text
    assert add.find("AppliedToTxnAdd/TxnID").text == desktop_invoice.txn_id
    assert add.find("AppliedToTxnAdd/PaymentAmount").text == "40.00"
    link = QuickBooksLink.objects.get(
        company=tenant.company, realm_id=tenant.desktop.realm_key, object_type=LinkType.PAYMENT, object_id=payment.pk
    )
    assert link.qbo_id == quickbooks.payments[0]["txn_id"]
    assert _payment_entries(tenant).get().status == SyncStatus.SUCCEEDED
    _balance_agrees(quickbooks, invoice)

    # The payments read back include ours: it is not recorded here a second time, nor sent again.
    _payments_due(tenant)
    _run(quickbooks, tenant)
    assert [(p.amount, p.source) for p in Payment.objects.filter(invoice=invoice)] == [
        (Decimal("40.00"), PaymentSource.LOCAL)
    ]
    assert len(_sent(quickbooks, "ReceivePaymentAddRq")) == 1


def test_a_payment_recorded_before_its_invoice_reached_desktop_waits_for_its_txn_id(desktop_tenant, quickbooks):
    tenant = desktop_tenant
    invoice = tenant.invoice(finalize=True)
    _record(invoice, "25.00")  # the invoice is not in QuickBooks Desktop yet

    _run(quickbooks, tenant)

    kinds = quickbooks.kinds_received()
    assert kinds.index("ReceivePaymentAdd") > kinds.index("InvoiceAdd")  # only once the invoice had its TxnID
    assert (
        _sent(quickbooks, "ReceivePaymentAddRq")[0].find("ReceivePaymentAdd/AppliedToTxnAdd/TxnID").text
        == quickbooks.invoice_by_ref(invoice.number).txn_id
    )
    entry = _payment_entries(tenant).get()
    assert entry.status == SyncStatus.SUCCEEDED
    assert entry.attempts == 1  # waiting for the invoice was not an attempt
    _balance_agrees(quickbooks, invoice)


def test_payments_of_an_invoice_sent_later_follow_it(transactional_db, fast_outbox, wsdl_url):
    """A paid invoice from before connecting, sent with "Send them": its payment follows the InvoiceAdd."""
    from integrations.quickbooks.desktop.services import desktop_connect, desktop_send_all
    from tests.conftest import make_tenant
    from tests.desktop.standin import FakeQuickBooksDesktop

    tenant = make_tenant("Older")
    invoice = tenant.invoice(finalize=True)
    _record(invoice, str(invoice.total))  # paid in full before QuickBooks Desktop was connected
    connection, password = desktop_connect(company=tenant.company, user=tenant.admin)
    quickbooks = FakeQuickBooksDesktop(wsdl_url, items=(tenant.product.name,), sales_tax_items={"Sales tax": "10"})
    desktop_send_all(company=tenant.company, user=tenant.admin)

    quickbooks.run(connection.username, password)

    assert quickbooks.kinds_received().count("ReceivePaymentAdd") == 1
    assert quickbooks.invoice_by_ref(invoice.number).balance == Decimal("0.00")


def test_a_payment_removed_here_is_deleted_in_desktop_with_txn_del(desktop_tenant, quickbooks):
    tenant = desktop_tenant
    invoice = tenant.invoice(finalize=True)
    _run(quickbooks, tenant)
    payment = _record(invoice, "30.00")
    _run(quickbooks, tenant)
    txn_id = quickbooks.payments[0]["txn_id"]

    billing.payment_remove(payment=payment, reason="refunded")
    _run(quickbooks, tenant)

    [rq] = _sent(quickbooks, "TxnDelRq")
    assert [(child.tag, child.text) for child in rq] == [("TxnDelType", "ReceivePayment"), ("TxnID", txn_id)]
    assert quickbooks.payments == []
    entry = _payment_entries(tenant).filter(operation=SyncOperation.VOID).get()
    assert entry.status == SyncStatus.SUCCEEDED
    assert QuickBooksLink.objects.get(object_type=LinkType.PAYMENT, object_id=payment.pk).voided
    _balance_agrees(quickbooks, invoice)


def test_a_payment_removed_before_it_was_sent_sends_nothing(desktop_tenant, quickbooks):
    tenant = desktop_tenant
    invoice = tenant.invoice(finalize=True)
    _run(quickbooks, tenant)
    payment = _record(invoice, "30.00")
    billing.payment_remove(payment=payment)

    _run(quickbooks, tenant)

    assert not _sent(quickbooks, "ReceivePaymentAddRq")
    assert not _sent(quickbooks, "TxnDelRq")
    assert _payment_entries(tenant).get().status == SyncStatus.SKIPPED
    _balance_agrees(quickbooks, invoice)


def test_an_invalid_invoice_txn_id_is_a_3140_on_that_payment_only(desktop_tenant, quickbooks):
    tenant = desktop_tenant
    invoice = tenant.invoice(finalize=True)
    other = tenant.invoice(finalize=True)
    _run(quickbooks, tenant)
    del quickbooks.invoices[quickbooks.invoice_by_ref(invoice.number).txn_id]  # deleted in QuickBooks Desktop

    _record(invoice, "10.00")
    _record(other, "10.00")
    _run(quickbooks, tenant)

    outcomes = {entry.object_repr: (entry.status, entry.error_code) for entry in _payment_entries(tenant)}
    assert outcomes[invoice.number] == (SyncStatus.FAILED, "3140")
    assert outcomes[other.number] == (SyncStatus.SUCCEEDED, "")
    failed = _payment_entries(tenant).get(object_repr=invoice.number)
    assert "no longer in QuickBooks Desktop" in failed.message
    _balance_agrees(quickbooks, other)


def test_a_lost_receive_payment_add_answer_is_looked_up_not_sent_twice(desktop_tenant, quickbooks):
    tenant = desktop_tenant
    invoice = tenant.invoice(finalize=True)
    _run(quickbooks, tenant)
    payment = _record(invoice, "15.00")

    # Message 1 reads items, message 2 carries the ReceivePaymentAdd: QuickBooks applies it, the answer is lost.
    _run_report = quickbooks.run(tenant.desktop.username, tenant.password, drop_after_messages=2)
    assert len(quickbooks.payments) == 1
    _run(quickbooks, tenant)

    assert len(_sent(quickbooks, "ReceivePaymentAddRq")) == 1
    resolve = [rq for rq in _sent(quickbooks, "ReceivePaymentQueryRq") if rq.find("EntityFilter") is not None]
    assert len(resolve) == 1
    assert len(quickbooks.payments) == 1
    entry = _payment_entries(tenant).get()
    assert entry.status == SyncStatus.SUCCEEDED
    assert "looked up" in entry.message
    assert (
        QuickBooksLink.objects.get(object_type=LinkType.PAYMENT, object_id=payment.pk).qbo_id
        == (quickbooks.payments[0]["txn_id"])
    )
    _balance_agrees(quickbooks, invoice)


def test_payments_from_desktop_are_never_sent_back(desktop_tenant, quickbooks):
    tenant = desktop_tenant
    invoice = tenant.invoice(finalize=True)
    _run(quickbooks, tenant)
    quickbooks.receive_payment(invoice.number, "12.00")
    _payments_due(tenant)
    _run(quickbooks, tenant)
    _payments_due(tenant)
    _run(quickbooks, tenant)

    assert [p.source for p in Payment.objects.filter(invoice=invoice)] == [PaymentSource.QUICKBOOKS]
    assert not _sent(quickbooks, "ReceivePaymentAddRq")
    assert not _payment_entries(tenant).exists()
    _balance_agrees(quickbooks, invoice)
