"""Invoices reach the simulator's QuickBooks over real HTTP: create, update, void, and a lost answer replayed."""

import pytest
import requests
from django.utils import timezone

from attune_qbo.billing import services as billing
from integrations.models import QuickBooksLink, QuickBooksMapping, QuickBooksSyncLog
from integrations.outbox.worker import sync_run
from tests.e2e.conftest import US_REALM, control_headers


@pytest.fixture
def connected_acme(acme, browser, live_app, settings, monkeypatch):
    settings.QUICKBOOKS_PUSH_DEBOUNCE_SECONDS = 0
    browser.sign_in("acme-admin")
    browser.connect_quickbooks()
    # The worker, run in-process: every queued entry runs at once.
    monkeypatch.setattr("integrations.outbox.enqueue.dispatch", lambda entry_id: sync_run(entry_id=entry_id))
    return acme


def simulator(base: str, path: str, **params) -> dict:
    return requests.get(f"{base}/simulator/{path}", params=params, headers=control_headers(), timeout=10).json()


def qbo_invoices(base: str) -> list[dict]:
    state = simulator(base, "control/state", realm_id=US_REALM)
    return state["counts"]["Invoice"], state


def qbo_read_invoice(base: str, qbo_id: str) -> dict:
    from integrations.models import QuickBooksConnection
    from integrations.services.api import client_for

    return client_for(QuickBooksConnection.objects.get(realm_id=US_REALM)).read("Invoice", qbo_id)


def test_finalize_edit_and_void_reach_quickbooks(connected_acme, live_app):
    assert QuickBooksMapping.objects.filter(local_key="default", qbo_name="Services").exists()  # suggested at connect
    assert QuickBooksMapping.objects.filter(kind="sales_tax_code", qbo_name="California").exists()  # by its rate
    invoice = connected_acme.invoice(finalize=True)  # on_commit runs at once: transactional test
    entry = QuickBooksSyncLog.objects.get(object_id=invoice.pk)
    assert entry.status == "succeeded", entry.message
    count, _ = qbo_invoices(live_app)
    assert count == 1
    created = qbo_read_invoice(live_app, entry.qbo_id)
    assert created["DocNumber"] == invoice.number and float(created["TotalAmt"]) == 108.0 == float(invoice.total)
    assert float(created["TxnTaxDetail"]["TotalTax"]) == 8.0

    billing.invoice_update(
        invoice=invoice, memo="Updated in attune", lines=[billing.LineData(product=connected_acme.product, quantity=5)]
    )
    updated = qbo_read_invoice(live_app, entry.qbo_id)
    assert updated["CustomerMemo"]["value"] == "Updated in attune" and float(updated["TotalAmt"]) == 270.0
    assert int(updated["SyncToken"]) == int(created["SyncToken"]) + 1

    billing.invoice_void(invoice=invoice)
    assert QuickBooksLink.objects.get(object_type="invoice", object_id=invoice.pk).voided
    _, state = qbo_invoices(live_app)
    assert state["voided_invoices"] == 1


def test_a_write_whose_answer_was_lost_lands_once(connected_acme, live_app, settings):
    settings.QUICKBOOKS_HTTP_TIMEOUT = 1
    armed = requests.post(
        f"{live_app}/simulator/control/faults",
        headers=control_headers(),
        json={"target": "api", "realm_id": US_REALM, "kind": "timeout_after_write", "count": 1, "seconds": 2},
        timeout=10,
    )
    assert armed.status_code == 201, armed.text
    invoice = connected_acme.invoice(finalize=True)
    entry = QuickBooksSyncLog.objects.get(object_id=invoice.pk)
    assert entry.status == "pending" and entry.attempts == 1  # the answer never came: retry scheduled
    QuickBooksSyncLog.objects.filter(pk=entry.pk).update(next_attempt_at=timezone.now())
    settings.QUICKBOOKS_HTTP_TIMEOUT = 5
    sync_run(entry_id=entry.pk)
    entry.refresh_from_db()
    assert entry.status == "succeeded", entry.message
    count, state = qbo_invoices(live_app)
    assert count == 1 and state["counts"]["Customer"] >= 1  # replayed by requestid, never duplicated


def test_throttling_from_the_simulator_is_waited_out(connected_acme, live_app):
    requests.post(
        f"{live_app}/simulator/control/faults",
        headers=control_headers(),
        json={"target": "api", "realm_id": US_REALM, "kind": "429", "count": 1},
        timeout=10,
    )
    invoice = connected_acme.invoice(finalize=True)
    entry = QuickBooksSyncLog.objects.get(object_id=invoice.pk)
    assert (entry.status, entry.throttled, entry.error_code) == ("pending", 1, "3001")
    assert 50 < (entry.next_attempt_at - timezone.now()).total_seconds() <= 60
    QuickBooksSyncLog.objects.filter(pk=entry.pk).update(next_attempt_at=timezone.now())
    # The 429 blocked the realm for every worker: sent early, the entry is handed back without a call or an attempt.
    assert sync_run(entry_id=entry.pk) == "paced"
    from integrations.models import QuickBooksRealmPace

    QuickBooksRealmPace.objects.filter(realm_id=US_REALM).update(blocked_until=0, next_call_at=0)  # a minute later
    QuickBooksSyncLog.objects.filter(pk=entry.pk).update(next_attempt_at=timezone.now())
    sync_run(entry_id=entry.pk)
    entry.refresh_from_db()
    assert entry.status == "succeeded" and entry.attempts == 1
