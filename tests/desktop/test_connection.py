"""Connecting QuickBooks Desktop: one QuickBooks at a time, the password hashed and shown once, the .qwc file,
the settings page by role, tenant isolation, and the Online worker leaving Desktop's outbox rows alone."""

from __future__ import annotations

from unittest import mock

import pytest
from defusedxml.ElementTree import fromstring
from django.contrib.auth.hashers import check_password
from django.urls import reverse
from django.utils import timezone

from integrations.models import (
    ConnectionStatus,
    QuickBooksConnection,
    QuickBooksDesktopConnection,
    QuickBooksSyncLog,
    SyncStatus,
)
from integrations.outbox import worker as sync
from integrations.quickbooks.desktop.exceptions import OtherQuickBooksActive
from integrations.quickbooks.desktop.services import desktop_connect, desktop_disconnect

PAGE = reverse("integrations:quickbooks-desktop")


@pytest.fixture
def connected(tenant, settings):
    settings.QUICKBOOKS_PUSH_DEBOUNCE_SECONDS = 0
    connection, password = desktop_connect(company=tenant.company, user=tenant.admin)
    return connection, password


def test_the_password_is_stored_hashed_only(tenant, connected):
    connection, password = connected
    stored = QuickBooksDesktopConnection.objects.get(pk=connection.pk).password_hash
    assert password not in stored and len(password) >= 20
    assert check_password(password, stored)


def test_desktop_is_refused_while_quickbooks_online_is_connected(tenant):
    QuickBooksConnection.objects.create(company=tenant.company, status=ConnectionStatus.CONNECTED, realm_id="123")
    with pytest.raises(OtherQuickBooksActive) as refused:
        desktop_connect(company=tenant.company, user=tenant.admin)
    assert "disconnect QuickBooks Online first" in refused.value.message
    assert not QuickBooksDesktopConnection.objects.exists()


def test_quickbooks_online_is_refused_while_desktop_is_connected(tenant, connected):
    from integrations.services.connections import connection_start

    with pytest.raises(OtherQuickBooksActive) as refused:
        connection_start(company=tenant.company, user=tenant.admin)
    assert "disconnect QuickBooks Desktop first" in refused.value.message


def test_only_an_admin_connects(tenant):
    from integrations.exceptions import NotCompanyAdmin

    with pytest.raises(NotCompanyAdmin):
        desktop_connect(company=tenant.company, user=tenant.staff)


def test_invoices_of_a_desktop_company_go_to_the_desktop_outbox_only(tenant, connected):
    connection, _ = connected
    with mock.patch("integrations.outbox.enqueue.dispatch") as online_dispatch:
        invoice = tenant.invoice(finalize=True)
        entry = QuickBooksSyncLog.objects.get(object_id=invoice.pk)
        assert entry.realm_id == connection.realm_key and entry.status == SyncStatus.PENDING

        # The Online worker's sweep neither dispatches it nor "revives" a running one.
        sync.sync_sweep()
        running = tenant.invoice(finalize=True)
        QuickBooksSyncLog.objects.filter(object_id=running.pk).update(
            status=SyncStatus.RUNNING, started_at=timezone.now(), lease_until=None
        )
        sync.sync_sweep()
    online_dispatch.assert_not_called()
    assert QuickBooksSyncLog.objects.get(object_id=running.pk).status == SyncStatus.RUNNING
    entry.refresh_from_db()
    assert entry.status == SyncStatus.PENDING and entry.message.startswith("Waiting for the Web Connector")


def test_a_disconnected_desktop_queues_nothing_and_refuses_the_web_connector(tenant, connected):
    from integrations.quickbooks.desktop.services import qbwc_authenticate

    connection, password = connected
    desktop_disconnect(company=tenant.company, user=tenant.admin)
    tenant.invoice(finalize=True)
    assert not QuickBooksSyncLog.objects.exists()
    assert qbwc_authenticate(username=connection.username, password=password)[1] == "nvu"


def test_the_qwc_file_names_the_endpoint_and_ids_and_holds_no_password(client, tenant, connected):
    connection, password = connected
    client.force_login(tenant.admin)
    answer = client.get(reverse("integrations:quickbooks-desktop-qwc"))
    assert answer.status_code == 200
    assert answer["Content-Disposition"].startswith("attachment;")
    assert password.encode() not in answer.content and b"Password" not in answer.content
    qwc = fromstring(answer.content)
    assert qwc.tag == "QBWCXML"
    assert qwc.findtext("AppURL").endswith(reverse("integrations:quickbooks-desktop-qbwc"))
    assert qwc.findtext("UserName") == connection.username
    assert qwc.findtext("OwnerID") == "{" + str(connection.owner_id).upper() + "}"
    assert qwc.findtext("FileID") == "{" + str(connection.file_id).upper() + "}"
    assert qwc.findtext("QBType") == "QBFS"


def test_the_password_is_shown_once_on_the_page(client, tenant):
    client.force_login(tenant.admin)
    answer = client.post(reverse("integrations:quickbooks-desktop-connect"), follow=True)
    page = answer.content.decode()
    assert 'id="qbd-password-value"' in page
    shown = page.split('id="qbd-password-value">')[1].split("<")[0]
    stored = QuickBooksDesktopConnection.objects.get(company=tenant.company).password_hash
    assert check_password(shown, stored)
    assert shown not in client.get(PAGE).content.decode()  # gone on the next view


def test_the_page_by_role(client, tenant, connected):
    client.force_login(tenant.member)
    assert client.get(PAGE).status_code == 403
    client.force_login(tenant.staff)
    page = client.get(PAGE).content.decode()
    assert "Web Connector user name" in page and "Download .qwc file" not in page
    assert client.post(reverse("integrations:quickbooks-desktop-password")).status_code == 403
    assert client.get(reverse("integrations:quickbooks-desktop-qwc")).status_code == 403


def test_another_tenants_entry_cannot_be_retried(client, tenant, other_tenant, connected, settings):
    desktop_connect(company=other_tenant.company, user=other_tenant.admin)
    theirs = other_tenant.invoice(finalize=True)
    entry = QuickBooksSyncLog.objects.get(object_id=theirs.pk)
    QuickBooksSyncLog.objects.filter(pk=entry.pk).update(status=SyncStatus.FAILED)
    client.force_login(tenant.admin)
    assert client.post(reverse("integrations:quickbooks-desktop-retry", args=[entry.pk])).status_code == 404
    assert QuickBooksSyncLog.objects.filter(object_id=theirs.pk).count() == 1


def test_a_failed_entry_is_retried_as_a_new_entry(client, tenant, connected):
    invoice = tenant.invoice(finalize=True)
    entry = QuickBooksSyncLog.objects.get(object_id=invoice.pk)
    QuickBooksSyncLog.objects.filter(pk=entry.pk).update(status=SyncStatus.FAILED, message="3140: …")
    client.force_login(tenant.staff)
    client.post(reverse("integrations:quickbooks-desktop-retry", args=[entry.pk]))
    assert QuickBooksSyncLog.objects.filter(object_id=invoice.pk, status=SyncStatus.PENDING).count() == 1


def test_the_wsdl_describes_every_method(client, db):
    answer = client.get(reverse("integrations:quickbooks-desktop-qbwc") + "?wsdl")
    assert answer.status_code == 200
    wsdl = answer.content.decode()
    for method in (
        "serverVersion",
        "clientVersion",
        "authenticate",
        "sendRequestXML",
        "receiveResponseXML",
        "connectionError",
        "getLastError",
        "closeConnection",
    ):
        assert f'soapAction="http://developer.intuit.com/{method}"' in wsdl


def test_a_non_soap_post_is_a_fault_not_a_500_page(client, db):
    url = reverse("integrations:quickbooks-desktop-qbwc")
    for body in (
        b"not xml",
        b"<html/>",
        b'<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><x:drop xmlns:x="http://developer.intuit.com/"/></soap:Body></soap:Envelope>',
    ):
        answer = client.post(url, body, content_type="text/xml")
        assert answer.status_code == 500 and b"<faultstring>" in answer.content


def test_a_body_above_djangos_form_limit_is_read_and_an_oversized_one_refused(client, monkeypatch, db):
    from integrations.quickbooks.desktop import constants

    url = reverse("integrations:quickbooks-desktop-qbwc")
    envelope = (
        '<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>'
        '<getLastError xmlns="http://developer.intuit.com/"><ticket>{}</ticket></getLastError></soap:Body></soap:Envelope>'
    )
    big = envelope.format("x" * 3_000_000).encode()  # a large answer (e.g. a month of payments) is more than 2.5 MB
    answer = client.post(url, big, content_type="text/xml")
    assert answer.status_code == 200 and b"Unknown ticket" in answer.content
    monkeypatch.setattr(constants, "MAX_SOAP_BYTES", 1000)
    answer = client.post(url, big, content_type="text/xml")
    assert answer.status_code == 413 and b"too large" in answer.content


def test_send_them_offers_invoices_neither_in_desktop_nor_on_their_way(tenant, connected):
    from integrations.quickbooks.desktop.services import invoices_not_in_desktop

    connection, _ = connected
    failed, skipped, waiting = (tenant.invoice(finalize=True) for _ in range(3))
    QuickBooksSyncLog.objects.filter(object_id=failed.pk).update(status=SyncStatus.FAILED)
    QuickBooksSyncLog.objects.filter(object_id=skipped.pk).update(status=SyncStatus.SKIPPED)
    assert list(invoices_not_in_desktop(connection=connection)) == [skipped]
    assert waiting.pk in QuickBooksSyncLog.objects.filter(status=SyncStatus.PENDING).values_list("object_id", flat=True)
