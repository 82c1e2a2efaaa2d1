"""A whole Web Connector session, driven through zeep against the live endpoint, with the stand-in answering."""

from __future__ import annotations

from decimal import Decimal

from attune_qbo.billing import services as billing
from attune_qbo.billing.models import Payment, PaymentSource
from attune_qbo.billing.services import LineData
from integrations.models import LinkType, QuickBooksDesktopConnection, QuickBooksLink, QuickBooksSyncLog, SyncStatus
from integrations.quickbooks.desktop.services import desktop_send_all


def _entries(tenant):
    return QuickBooksSyncLog.objects.filter(company=tenant.company, realm_id=tenant.desktop.realm_key)


def payments_due(tenant) -> None:
    """Time passes: the next run reads payments again."""
    QuickBooksDesktopConnection.objects.filter(pk=tenant.desktop.pk).update(payments_read_until=None)


def test_a_whole_session_leaves_every_invoice_in_quickbooks_once(desktop_tenant, quickbooks):
    tenant = desktop_tenant
    before = [tenant.invoice(finalize=True) for _ in range(2)]  # finalized after connecting: queued by themselves
    assert _entries(tenant).filter(status=SyncStatus.PENDING).count() == 2

    report = quickbooks.run(tenant.desktop.username, tenant.password)

    assert report.auth_status == ""
    assert report.percents[-1] == 100
    assert report.closed.startswith("OK")
    assert sorted(i.ref_number for i in quickbooks.invoices.values()) == sorted(i.number for i in before)
    assert list(quickbooks.customers) == [tenant.client.display_name.casefold()]  # one customer for both
    assert quickbooks.kinds_received().count("CustomerAdd") == 1
    assert all(entry.status == SyncStatus.SUCCEEDED for entry in _entries(tenant))
    for invoice in before:
        desktop = quickbooks.invoice_by_ref(invoice.number)
        link = QuickBooksLink.objects.get(
            company=tenant.company,
            realm_id=tenant.desktop.realm_key,
            object_type=LinkType.INVOICE,
            object_id=invoice.pk,
        )
        assert (link.qbo_id, link.sync_token) == (desktop.txn_id, desktop.edit_sequence)
        assert (desktop.total, desktop.sales_tax) == (invoice.total, invoice.tax_total)  # the books agree

    # The next run has nothing to do; once payments are due for a look, it reads items and payments, nothing more.
    received = len(quickbooks.received)
    assert quickbooks.run(tenant.desktop.username, tenant.password).auth_status == "none"
    payments_due(tenant)
    quickbooks.run(tenant.desktop.username, tenant.password)
    assert [e.tag for e in quickbooks.received[received:]] == ["ItemQueryRq", "ReceivePaymentQueryRq"]
    assert len(quickbooks.invoices) == 2


def test_an_edited_invoice_goes_as_invoice_mod_with_the_stored_edit_sequence(desktop_tenant, quickbooks):
    tenant = desktop_tenant
    invoice = tenant.invoice(finalize=True)
    quickbooks.run(tenant.desktop.username, tenant.password)
    stored = quickbooks.invoice_by_ref(invoice.number).edit_sequence

    billing.invoice_update(invoice=invoice, lines=[LineData(product=tenant.product, quantity=5)])
    quickbooks.run(tenant.desktop.username, tenant.password)

    mods = [e for e in quickbooks.received if e.tag == "InvoiceModRq"]
    assert len(mods) == 1
    assert mods[0].find("InvoiceMod/EditSequence").text == stored
    desktop = quickbooks.invoice_by_ref(invoice.number)
    assert [line.quantity for line in desktop.lines] == [Decimal("5")]
    assert len(quickbooks.invoices) == 1


def test_send_all_sends_invoices_finalized_before_connecting(transactional_db, fast_outbox, wsdl_url):
    from integrations.quickbooks.desktop.services import desktop_connect
    from tests.conftest import make_tenant
    from tests.desktop.standin import FakeQuickBooksDesktop

    tenant = make_tenant("Older")
    old = [tenant.invoice(finalize=True) for _ in range(3)]
    tenant.invoice()  # a draft never goes
    connection, password = desktop_connect(company=tenant.company, user=tenant.admin)
    quickbooks = FakeQuickBooksDesktop(wsdl_url, items=(tenant.product.name,), sales_tax_items={"Sales tax": "10"})
    assert desktop_send_all(company=tenant.company, user=tenant.admin) == 3

    quickbooks.run(connection.username, password)

    assert sorted(i.ref_number for i in quickbooks.invoices.values()) == sorted(i.number for i in old)


def test_payments_received_in_quickbooks_come_back_once(desktop_tenant, quickbooks):
    tenant = desktop_tenant
    invoice = tenant.invoice(finalize=True)
    quickbooks.run(tenant.desktop.username, tenant.password)
    quickbooks.receive_payment(invoice.number, "40.00")

    payments_due(tenant)
    quickbooks.run(tenant.desktop.username, tenant.password)
    payments_due(tenant)
    quickbooks.run(tenant.desktop.username, tenant.password)  # the same payment read again: recorded once

    payments = Payment.objects.filter(invoice=invoice)
    assert [(p.amount, p.source) for p in payments] == [(Decimal("40.00"), PaymentSource.QUICKBOOKS)]
