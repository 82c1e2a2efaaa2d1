"""Bad input and faults on the Web Connector path, each with what the person (or QBWC) sees and proof that
nothing was lost or sent twice."""

from __future__ import annotations

import datetime as dt

import pytest
import requests
from django.utils import timezone

from attune_qbo.billing import services as billing
from attune_qbo.billing.services import LineData
from integrations.models import (
    DesktopRequestStatus,
    QuickBooksDesktopRequest,
    QuickBooksDesktopSession,
    QuickBooksSyncLog,
    SyncStatus,
)
from integrations.quickbooks.desktop import constants

SOAP = '<?xml version="1.0" encoding="utf-8"?>{doctype}<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>{body}</soap:Body></soap:Envelope>'
AUTH = '<authenticate xmlns="http://developer.intuit.com/"><strUserName>{user}</strUserName><strPassword>{password}</strPassword></authenticate>'
BILLION_LAUGHS = (
    '<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
)
EXTERNAL = '<!DOCTYPE foo [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'


def _entries(tenant):
    return QuickBooksSyncLog.objects.filter(company=tenant.company, realm_id=tenant.desktop.realm_key)


def _make_due(tenant) -> None:
    _entries(tenant).filter(status=SyncStatus.PENDING).update(next_attempt_at=timezone.now())


def _post(url: str, envelope: str) -> requests.Response:
    return requests.post(
        url.removesuffix("?wsdl"), data=envelope.encode("utf-8"), headers={"Content-Type": "text/xml"}, timeout=10
    )


# --- authentication and tickets ---------------------------------------------------------------------


def test_a_wrong_password_or_unknown_user_is_nvu_and_opens_no_session(desktop_tenant, quickbooks):
    tenant = desktop_tenant
    assert quickbooks.run(tenant.desktop.username, "not-the-password").auth_status == "nvu"
    assert quickbooks.run("someone-else", tenant.password).auth_status == "nvu"
    assert not QuickBooksDesktopSession.objects.exists()


def test_a_new_password_retires_the_old_one(desktop_tenant, quickbooks):
    from integrations.quickbooks.desktop.services import desktop_new_password

    tenant = desktop_tenant
    new = desktop_new_password(company=tenant.company, user=tenant.admin)
    assert quickbooks.run(tenant.desktop.username, tenant.password).auth_status == "nvu"
    assert quickbooks.run(tenant.desktop.username, new).auth_status in ("", "none")


def test_an_unknown_ticket_gets_nothing_and_a_clear_last_error(desktop_tenant, quickbooks):
    service = quickbooks.client.service
    tenant = desktop_tenant
    tenant.invoice(finalize=True)
    assert not service.sendRequestXML("00000000-0000-0000-0000-000000000000", "", "", "US", 13, 0)
    assert service.receiveResponseXML("made-up", "<QBXML/>", "", "") == constants.PERCENT_ERROR
    assert "Unknown ticket" in service.getLastError("made-up")
    assert _entries(tenant).get().status == SyncStatus.PENDING  # untouched


def test_a_ticket_replayed_after_close_is_refused(desktop_tenant, quickbooks):
    tenant = desktop_tenant
    report = quickbooks.run(tenant.desktop.username, tenant.password)
    assert report.closed.startswith("OK")
    tenant.invoice(finalize=True)  # new work that a replayed ticket must not reach
    service = quickbooks.client.service

    assert not service.sendRequestXML(report.ticket, "", "", "US", 13, 0)
    assert service.receiveResponseXML(report.ticket, "<QBXML/>", "", "") == constants.PERCENT_ERROR
    assert "ended" in service.getLastError(report.ticket)
    assert _entries(tenant).get().status == SyncStatus.PENDING
    assert not QuickBooksDesktopRequest.objects.filter(status=DesktopRequestStatus.SENT).exists()


# --- hostile XML -------------------------------------------------------------------------------------


@pytest.mark.parametrize("doctype", [BILLION_LAUGHS, EXTERNAL, "<!DOCTYPE soap:Envelope>"])
def test_a_soap_request_with_a_doctype_or_entities_is_refused(desktop_tenant, wsdl_url, doctype):
    tenant = desktop_tenant
    body = AUTH.format(user=tenant.desktop.username, password=tenant.password)
    if "lol" in doctype:
        body = body.replace(tenant.password, "&lol2;")
    answer = _post(wsdl_url, SOAP.format(doctype=doctype, body=body))
    assert answer.status_code == 500
    assert "<faultstring>" in answer.text and "DOCTYPE" in answer.text
    assert not QuickBooksDesktopSession.objects.exists()


def test_a_qbxml_response_with_an_entity_expansion_is_refused_and_nothing_is_lost(desktop_tenant, quickbooks):
    tenant = desktop_tenant
    invoice = tenant.invoice(finalize=True)
    hostile = '<?xml version="1.0"?>' + BILLION_LAUGHS + "<QBXML><QBXMLMsgsRs>&lol2;</QBXMLMsgsRs></QBXML>"

    report = quickbooks.run(
        tenant.desktop.username, tenant.password, answer_with={"at": 2, "response": hostile, "applied": False}
    )

    assert report.percents[-1] == constants.PERCENT_ERROR
    assert "DOCTYPE" in report.last_error
    entry = _entries(tenant).get()
    assert entry.status == SyncStatus.PENDING and entry.error_code == "doctype"
    assert not quickbooks.invoices
    _make_due(tenant)
    quickbooks.run(tenant.desktop.username, tenant.password)
    assert quickbooks.invoice_by_ref(invoice.number)


def test_an_error_hresult_puts_the_message_back_in_the_outbox(desktop_tenant, quickbooks):
    tenant = desktop_tenant
    invoice = tenant.invoice(finalize=True)

    report = quickbooks.run(
        tenant.desktop.username,
        tenant.password,
        answer_with={"at": 2, "hresult": "0x80040408", "message": "Could not start QuickBooks.", "applied": False},
    )

    assert report.percents[-1] == constants.PERCENT_ERROR
    assert "0x80040408" in report.last_error and "Could not start QuickBooks" in report.last_error
    entry = _entries(tenant).get()
    assert entry.status == SyncStatus.PENDING
    assert entry.error_code == "0x80040408" and "Could not start QuickBooks" in entry.message
    assert entry.next_attempt_at > timezone.now()  # backs off
    _make_due(tenant)
    quickbooks.run(tenant.desktop.username, tenant.password)
    assert len(quickbooks.invoices) == 1 and quickbooks.invoice_by_ref(invoice.number)
    assert _entries(tenant).get().status == SyncStatus.SUCCEEDED


# --- QuickBooks refusing one request ------------------------------------------------------------------


def test_a_refusal_of_one_request_fails_only_that_invoice(desktop_tenant, quickbooks):
    tenant = desktop_tenant
    first, refused, third = (tenant.invoice(finalize=True) for _ in range(3))
    quickbooks.refuse[refused.number] = ("3140", 'There is an invalid reference to QuickBooks Class "West".')

    quickbooks.run(tenant.desktop.username, tenant.password)

    assert sorted(quickbooks.invoices[t].ref_number for t in quickbooks.invoices) == sorted(
        [first.number, third.number]
    )
    failed = _entries(tenant).get(object_id=refused.pk)
    assert failed.status == SyncStatus.FAILED
    assert failed.error_code == "3140"
    assert 'invalid reference to QuickBooks Class "West"' in failed.message
    assert failed.payload["statusCode"] == "3140"
    assert set(_entries(tenant).exclude(pk=failed.pk).values_list("status", flat=True)) == {SyncStatus.SUCCEEDED}


def test_a_customer_that_already_exists_in_quickbooks_is_linked_not_duplicated(desktop_tenant, quickbooks):
    from integrations.models import LinkType, QuickBooksLink

    tenant = desktop_tenant
    existing = quickbooks.add_customer(tenant.client.display_name)
    tenant.invoice(finalize=True)

    quickbooks.run(tenant.desktop.username, tenant.password)

    assert quickbooks.kinds_received().count("CustomerAdd") == 1  # answered 3100
    assert "CustomerQuery" in quickbooks.kinds_received()
    assert len(quickbooks.customers) == 1
    link = QuickBooksLink.objects.get(company=tenant.company, object_type=LinkType.CLIENT, object_id=tenant.client.pk)
    assert link.qbo_id == existing.list_id
    assert len(quickbooks.invoices) == 1


def test_a_stale_edit_sequence_is_read_again_and_the_mod_goes_once(desktop_tenant, quickbooks):
    tenant = desktop_tenant
    invoice = tenant.invoice(finalize=True)
    quickbooks.run(tenant.desktop.username, tenant.password)
    quickbooks.edit_invoice_in_quickbooks(invoice.number)  # someone changed it in QuickBooks: 3200 next

    billing.invoice_update(invoice=invoice, lines=[LineData(product=tenant.product, quantity=7)])
    quickbooks.run(tenant.desktop.username, tenant.password)

    kinds = quickbooks.kinds_received()
    assert kinds.count("InvoiceMod") == 2 and "InvoiceQuery" in kinds  # 3200, read, mod again
    assert [line.quantity for line in quickbooks.invoice_by_ref(invoice.number).lines] == [7]
    assert _entries(tenant).latest("id").status == SyncStatus.SUCCEEDED


def test_an_item_quickbooks_does_not_have_fails_before_sending(desktop_tenant, quickbooks):
    tenant = desktop_tenant
    quickbooks.items.clear()
    tenant.invoice(finalize=True)

    quickbooks.run(tenant.desktop.username, tenant.password)

    entry = _entries(tenant).get()
    assert entry.status == SyncStatus.FAILED and entry.error_code == "preflight"
    assert tenant.product.name in entry.message and "Item List" in entry.message
    assert "InvoiceAdd" not in quickbooks.kinds_received()


def test_an_answer_to_a_request_never_sent_is_ignored_and_the_real_one_resolved(desktop_tenant, quickbooks):
    tenant = desktop_tenant
    invoice = tenant.invoice(finalize=True)
    stray = (
        '<?xml version="1.0"?><QBXML><QBXMLMsgsRs><InvoiceAddRs requestID="never-sent" statusCode="0" '
        'statusSeverity="Info" statusMessage="Status OK"><InvoiceRet><TxnID>9-999</TxnID><EditSequence>1</EditSequence>'
        "</InvoiceRet></InvoiceAddRs></QBXMLMsgsRs></QBXML>"
    )

    quickbooks.run(tenant.desktop.username, tenant.password, answer_with={"at": 2, "response": stray})

    session = QuickBooksDesktopSession.objects.get()
    assert "never sent" in session.last_error
    entry = _entries(tenant).get()
    assert entry.qbo_id != "9-999"
    # QuickBooks applied the real request; its answer never came, so the invoice was looked up by number,
    # linked, and never added twice.
    assert quickbooks.kinds_received().count("InvoiceAdd") == 1
    assert entry.status == SyncStatus.SUCCEEDED and entry.qbo_id == quickbooks.invoice_by_ref(invoice.number).txn_id


@pytest.mark.parametrize("applied", [True, False], ids=["quickbooks-applied-it", "message-lost-on-the-way"])
def test_a_session_dropped_mid_queue_loses_nothing_and_sends_nothing_twice(desktop_tenant, quickbooks, applied):
    tenant = desktop_tenant
    invoices = [tenant.invoice(finalize=True) for _ in range(constants.REQUESTS_PER_MESSAGE + 5)]
    if applied:
        quickbooks.run(tenant.desktop.username, tenant.password, drop_after_messages=2)
    else:
        quickbooks.run(tenant.desktop.username, tenant.password, lose_message=2)
    assert len(quickbooks.invoices) == (constants.REQUESTS_PER_MESSAGE - 1 if applied else 0)  # 1 CustomerAdd + 19

    report = quickbooks.run(tenant.desktop.username, tenant.password)

    assert report.percents[-1] == 100
    numbers = sorted(i.ref_number for i in quickbooks.invoices.values())
    assert numbers == sorted(i.number for i in invoices)  # every invoice, once
    adds = [e.find("InvoiceAdd/RefNumber").text for e in quickbooks.received if e.tag == "InvoiceAddRq"]
    if applied:
        assert len(adds) == len(set(adds))  # the in-doubt ones were looked up, not added again
    assert set(_entries(tenant).values_list("status", flat=True)) == {SyncStatus.SUCCEEDED}


def test_an_invoice_number_longer_than_desktop_allows_fails_with_a_message(desktop_tenant, quickbooks):
    tenant = desktop_tenant
    invoice = tenant.invoice(number="INV-2026-000123")
    billing.invoice_finalize(invoice=invoice)

    quickbooks.run(tenant.desktop.username, tenant.password)

    entry = _entries(tenant).get()
    assert entry.status == SyncStatus.FAILED and "11 characters" in entry.message
    assert not quickbooks.invoices


def test_voiding_an_invoice_voids_it_in_quickbooks(desktop_tenant, quickbooks):
    tenant = desktop_tenant
    invoice = tenant.invoice(finalize=True)
    quickbooks.run(tenant.desktop.username, tenant.password)

    billing.invoice_void(invoice=invoice)
    quickbooks.run(tenant.desktop.username, tenant.password)

    assert quickbooks.invoice_by_ref(invoice.number).voided
    assert _entries(tenant).latest("id").status == SyncStatus.SUCCEEDED


def test_an_expired_session_is_refused(desktop_tenant, quickbooks):
    tenant = desktop_tenant
    service = quickbooks.client.service
    ticket, _ = service.authenticate(tenant.desktop.username, tenant.password)
    QuickBooksDesktopSession.objects.update(expires_at=timezone.now() - dt.timedelta(seconds=1))
    assert not service.sendRequestXML(ticket, "", "", "US", 13, 0)
    assert "ended" in service.getLastError(ticket)


def test_a_disconnect_after_a_dropped_run_neither_loses_nor_duplicates(desktop_tenant, quickbooks):
    from integrations.quickbooks.desktop.services import desktop_connect, desktop_disconnect

    tenant = desktop_tenant
    invoices = [tenant.invoice(finalize=True) for _ in range(3)]
    quickbooks.run(tenant.desktop.username, tenant.password, drop_after_messages=2)  # applied, answer lost
    desktop_disconnect(company=tenant.company, user=tenant.admin)
    assert not _entries(tenant).filter(status=SyncStatus.RUNNING).exists()  # nothing blocks the invoices

    _, password = desktop_connect(company=tenant.company, user=tenant.admin)
    quickbooks.run(tenant.desktop.username, password)

    assert sorted(i.ref_number for i in quickbooks.invoices.values()) == sorted(i.number for i in invoices)
    assert quickbooks.kinds_received().count("InvoiceAdd") == 3
    assert set(_entries(tenant).values_list("status", flat=True)) == {SyncStatus.SUCCEEDED}
