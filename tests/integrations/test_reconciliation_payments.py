"""Unapplied payments on the reconciliation page, with the payments work faked (it lives on another branch):
without it the page says so; with it each unapplied payment is a row whose fix records it here."""

import json
import sys
import types

import pytest
import responses

from integrations import selectors
from integrations.models import QuickBooksSyncLog
from integrations.services import reconciliation
from tests.integrations.conftest import API

pytestmark = pytest.mark.django_db


@pytest.fixture
def no_invoices_there(intuit):
    intuit.add(responses.GET, f"{API}/query", body=json.dumps({"QueryResponse": {}}))


def test_without_the_payments_work_there_are_no_payment_rows(tenant, connected, no_invoices_there, monkeypatch):
    monkeypatch.delattr(selectors, "unapplied_payments", raising=False)
    assert not reconciliation.payments_available()
    review = reconciliation.reconciliation_check(connection=connected)
    assert review.rows == [] and review.summary["payments"] is False


def test_unapplied_payments_are_rows_and_the_fix_records_them(tenant, connected, no_invoices_there, monkeypatch):
    invoice = tenant.invoice(finalize=True)
    QuickBooksSyncLog.objects.all().delete()
    monkeypatch.setattr(
        selectors,
        "unapplied_payments",
        lambda *, company: [
            {"qbo_payment_id": "77", "invoice_id": invoice.pk, "invoice_number": invoice.number, "amount": "50.00"}
        ],
        raising=False,
    )
    recorded = []
    fake = types.ModuleType("integrations.services.payments")
    fake.payment_record_from_quickbooks = lambda **kwargs: recorded.append(kwargs)
    monkeypatch.setitem(sys.modules, "integrations.services.payments", fake)
    review = reconciliation.reconciliation_check(connection=connected)
    (row,) = review.rows
    assert (row["kind"], row["qbo_id"], row["fix"]) == ("unapplied_payment", "77", "record")
    reconciliation.reconciliation_fix(connection=connected, review_id=review.pk, index=0, user=tenant.admin)
    assert recorded == [
        {"connection": connected, "qbo_payment_id": "77", "invoice_id": invoice.pk, "user": tenant.admin}
    ]
    with pytest.raises(Exception, match="Already done"):
        reconciliation.reconciliation_fix(connection=connected, review_id=review.pk, index=0, user=tenant.admin)
