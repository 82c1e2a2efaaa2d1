"""Regressions for defects found in review: each test failed before its fix."""

import datetime as dt

import pytest
import requests
import responses
from django.utils import timezone

from attune_qbo.billing import services as billing
from integrations.books.preflight import PushRefused
from integrations.exceptions import ReconnectRequired
from integrations.models import ConnectionStatus, QuickBooksConnection, QuickBooksLink, QuickBooksSyncLog
from integrations.outbox.outcomes import finish
from integrations.outbox.worker import _claim
from integrations.quickbooks.online.push import _save_link
from integrations.services import connections
from tests.factories import ClientFactory
from tests.integrations.conftest import (
    API,
    add_invoice_answer,
    add_no_customer,
    add_token_response,
    calls_to,
    fault,
    json_of,
    make_connection,
    query_of,
    run_due,
    token_body,
)

pytestmark = pytest.mark.django_db


def test_a_retried_customer_create_never_replays_another_clients_customer(tenant, connected, captured, intuit):
    with captured(execute=True):
        invoice = tenant.invoice(finalize=True)
    add_no_customer(intuit)
    intuit.add(responses.POST, f"{API}/customer", body=requests.ReadTimeout("lost answer"))
    entry, outcome = run_due(QuickBooksSyncLog.objects.get(object_id=invoice.pk))
    assert outcome == "retrying"
    other = ClientFactory(company=tenant.company, display_name="Other Client")
    with captured(execute=True):
        billing.invoice_update(invoice=invoice, client=other)
    intuit.replace(responses.POST, f"{API}/customer", json={"Customer": {"Id": "202", "SyncToken": "0"}})
    add_invoice_answer(intuit)
    run_due(entry)
    first, second = [query_of(c.request.url)["requestid"] for c in calls_to(intuit, "POST", "/customer")]
    assert first != second and f"-{other.pk}-" in second
    assert QuickBooksLink.objects.get(object_type="client", object_id=other.pk).qbo_id == "202"


def test_a_quickbooks_object_already_linked_elsewhere_fails_clearly(tenant, connected):
    _save_link(connected, "client", tenant.client.pk, {"Id": "101", "SyncToken": "0"}, "")
    other = ClientFactory(company=tenant.company)
    with pytest.raises(PushRefused, match="QuickBooks customer 101 is already linked to another customer here"):
        _save_link(connected, "client", other.pk, {"Id": "101", "SyncToken": "0"}, "")


def test_voiding_after_a_lost_create_voids_the_invoice_that_did_land(tenant, connected, captured, intuit):
    with captured(execute=True):
        invoice = tenant.invoice(finalize=True)
        billing.invoice_void(invoice=invoice)  # voided before any push: the entry's operation is void
    marker = f"Sent by attune. [attune:{tenant.company.pk}:{invoice.pk}]"
    intuit.add(
        responses.GET,
        f"{API}/query",
        json={
            "QueryResponse": {
                "Invoice": [{"Id": "130", "SyncToken": "0", "DocNumber": invoice.number, "PrivateNote": marker}]
            }
        },
    )
    add_invoice_answer(intuit, "130", "1")
    entry, outcome = run_due(QuickBooksSyncLog.objects.get(object_id=invoice.pk))
    assert outcome == "succeeded" and entry.message.startswith("Voided invoice")
    call = calls_to(intuit, "POST", "/invoice")[0]
    assert query_of(call.request.url)["operation"] == "void" and json_of(call)["Id"] == "130"


def test_a_401_that_survives_the_refresh_pauses_the_connection_not_the_invoice(
    tenant, connected, captured, intuit, mailoutbox
):
    with captured(execute=True):
        invoice = tenant.invoice(finalize=True)
    refused = fault("120", "AuthorizationFailure", "AUTHENTICATION")
    intuit.add(responses.GET, f"{API}/query", status=401, json=refused)
    intuit.add(responses.GET, f"{API}/query", status=401, json=refused)
    add_token_response(intuit, token_body("fresh", "fresh-refresh"))
    with captured(execute=True):
        entry, outcome = run_due(QuickBooksSyncLog.objects.get(object_id=invoice.pk))
    assert outcome == "waiting for reconnect" and (entry.status, entry.attempts) == ("pending", 0)
    assert QuickBooksConnection.objects.get(pk=connected.pk).status == ConnectionStatus.NEEDS_RECONNECT
    assert len(mailoutbox) == 1


def test_a_reconnect_during_a_refresh_is_not_overwritten(tenant, monkeypatch):
    from integrations.quickbooks import oauth
    from integrations.quickbooks.types import TokenSet

    connection = make_connection(tenant.company, access="A-access", refresh="A-refresh", expires_in=10, realm="A")

    def slow_refresh(config, *, refresh_token):
        # Meanwhile an admin reconnects to another QuickBooks company (what _store_new_connection does).
        QuickBooksConnection.objects.filter(pk=connection.pk).update(
            refresh_lease_holder="", refresh_lease_until=None, realm_id="B"
        )
        stored = QuickBooksConnection.objects.get(pk=connection.pk)
        stored.refresh_token_cipher = "B-refresh"
        stored.save()
        return TokenSet("A-access-2", "A-refresh-2", 3600, None, None)

    monkeypatch.setattr(oauth, "refresh", slow_refresh)
    monkeypatch.setattr(oauth, "revoke", lambda config, *, token: "")
    connections.connection_refresh(connection_id=connection.pk)
    stored = QuickBooksConnection.objects.get(pk=connection.pk)
    assert (stored.realm_id, stored.refresh_token_cipher.reveal()) == ("B", "B-refresh")


def test_invalid_grant_for_a_grant_already_replaced_does_not_flag_the_new_one(tenant, monkeypatch):
    from integrations.exceptions import InvalidGrant
    from integrations.quickbooks import oauth

    connection = make_connection(tenant.company, refresh="old-refresh", expires_in=10)

    def refused_after_reconnect(config, *, refresh_token):
        stored = QuickBooksConnection.objects.get(pk=connection.pk)
        stored.refresh_token_cipher = "new-refresh"
        stored.refresh_lease_holder = ""
        stored.save()
        raise InvalidGrant("old grant refused", code="invalid_grant", status=400)

    monkeypatch.setattr(oauth, "refresh", refused_after_reconnect)
    connections.connection_refresh(connection_id=connection.pk)  # no ReconnectRequired
    assert QuickBooksConnection.objects.get(pk=connection.pk).status == ConnectionStatus.CONNECTED


def test_an_outcome_from_a_worker_that_lost_its_lease_is_dropped(tenant, connected, captured):
    with captured(execute=True):
        invoice = tenant.invoice(finalize=True)
    entry = QuickBooksSyncLog.objects.get(object_id=invoice.pk)
    QuickBooksSyncLog.objects.filter(pk=entry.pk).update(next_attempt_at=timezone.now())
    stale, _ = _claim(entry.pk)
    # The sweeper revived it and another worker claimed it again.
    QuickBooksSyncLog.objects.filter(pk=entry.pk).update(started_at=timezone.now() + dt.timedelta(seconds=1))
    finish(stale, "failed", "stale worker's outcome")
    assert QuickBooksSyncLog.objects.get(pk=entry.pk).status == "running"


def test_reconnect_required_is_still_raised_for_the_current_grant(tenant, intuit):
    connection = make_connection(tenant.company, expires_in=10)
    add_token_response(intuit, {"error": "invalid_grant"}, status=400)
    with pytest.raises(ReconnectRequired):
        connections.connection_refresh(connection_id=connection.pk)
