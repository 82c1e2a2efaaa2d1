"""Adoption and reconciliation pages and the reconciliation API: roles, forms without JavaScript, bad input,
stored checks (no reads on reload), fixes and the CSV."""

import json

import pytest
import responses
from django.urls import reverse

from integrations.models import QuickBooksLink, QuickBooksReview, QuickBooksSyncLog
from integrations.services import reconciliation
from tests.integrations.conftest import API, REALM, query_of
from tests.integrations.test_adoption import their_invoice

pytestmark = pytest.mark.django_db
ADOPTION = "integrations:quickbooks-adoption"
RECON = "integrations:quickbooks-reconciliation"
API_BASE = "/api/v1/integrations/quickbooks"


def reads(intuit, customers=(), invoices=()):
    def answer(request):
        statement = query_of(request.url)["query"]
        entity = "Customer" if "from Customer" in statement else "Invoice"
        rows = list(customers) if entity == "Customer" else list(invoices)
        return 200, {}, json.dumps({"QueryResponse": {entity: rows}})

    intuit.add_callback(responses.GET, f"{API}/query", callback=answer)


@pytest.fixture
def invoice(tenant, connected):
    invoice = tenant.invoice(finalize=True)
    QuickBooksSyncLog.objects.all().delete()
    return invoice


def member_and_anonymous_cannot(tenant, page_client_for, api_client_for, review_pk=1):
    member = page_client_for(tenant.member)
    for name in (ADOPTION, RECON, "integrations:quickbooks-reconciliation-csv"):
        assert member.get(reverse(name)).status_code == 403
    for name in (
        "integrations:quickbooks-adoption-check",
        "integrations:quickbooks-adoption-apply",
        "integrations:quickbooks-adoption-policy",
        "integrations:quickbooks-reconciliation-check",
    ):
        assert member.post(reverse(name)).status_code == 403
    fix = reverse("integrations:quickbooks-reconciliation-fix", args=[review_pk, 0])
    assert member.post(fix).status_code == 403
    assert api_client_for(tenant.member).get(f"{API_BASE}/reconciliation").status_code == 403
    assert api_client_for(tenant.member).get(f"{API_BASE}/reconciliation.csv").status_code == 403


def test_members_get_403_on_every_endpoint(tenant, invoice, page_client_for, api_client_for):
    member_and_anonymous_cannot(tenant, page_client_for, api_client_for)


def test_adoption_page_check_link_and_roles(tenant, invoice, page_client_for, intuit):
    reads(intuit, [{"Id": "58", "DisplayName": "Alpha Client"}], [their_invoice(invoice)])
    admin = page_client_for(tenant.admin)
    assert "Not checked yet" in admin.get(reverse(ADOPTION)).content.decode()
    assert admin.post(reverse("integrations:quickbooks-adoption-check")).status_code == 302
    text = admin.get(reverse(ADOPTION)).content.decode()
    assert "2 QuickBooks reads used" in text and "Link all that agree (2)" in text
    assert f"invoice:{invoice.pk}:link:900" in text
    assert len(intuit.calls) == 2
    admin.get(reverse(ADOPTION))
    assert len(intuit.calls) == 2  # reloading reads nothing
    staff = page_client_for(tenant.staff).get(reverse(ADOPTION)).content.decode()
    assert "Check now" not in staff and f"invoice:{invoice.pk}:link:900" not in staff and "Alpha Client" in staff
    assert page_client_for(tenant.staff).post(reverse("integrations:quickbooks-adoption-apply")).status_code == 403
    admin = page_client_for(tenant.admin)
    response = admin.post(
        reverse("integrations:quickbooks-adoption-apply"), {"decide": f"invoice:{invoice.pk}:link:900"}
    )
    assert response.status_code == 302
    assert QuickBooksLink.objects.get(object_type="invoice").qbo_id == "900"
    response = admin.post(reverse("integrations:quickbooks-adoption-apply"), {"bulk": "link_agreeing"}, follow=True)
    assert QuickBooksLink.objects.get(object_type="client").qbo_id == "58"
    assert "Nothing waiting" in response.content.decode()


def test_a_forged_decision_is_refused_and_nothing_is_saved(tenant, other_tenant, invoice, page_client_for, intuit):
    reads(intuit, [], [their_invoice(invoice)])
    admin = page_client_for(tenant.admin)
    admin.post(reverse("integrations:quickbooks-adoption-check"))
    theirs = other_tenant.invoice(finalize=True)
    for value in (f"invoice:{invoice.pk}:link:4242", f"invoice:{theirs.pk}:link:900", "invoice:x:link:900", "junk"):
        response = admin.post(reverse("integrations:quickbooks-adoption-apply"), {"decide": value}, follow=True)
        assert response.status_code == 200
        assert "Nothing was changed" in response.content.decode() or "Choose Link" in response.content.decode()
    assert not QuickBooksLink.objects.exists()


def test_the_policy_is_saved_by_admins_only(tenant, connected, page_client_for):
    url = reverse("integrations:quickbooks-adoption-policy")
    assert page_client_for(tenant.staff).post(url, {"policy": "create"}).status_code == 403
    page_client_for(tenant.admin).post(url, {"policy": "bogus"})
    connected.refresh_from_db()
    assert connected.adoption_policy == "link"
    page_client_for(tenant.admin).post(url, {"policy": "create"})
    connected.refresh_from_db()
    assert connected.adoption_policy == "create"


def linked(tenant, invoice, qbo_id="130"):
    return QuickBooksLink.objects.create(
        company=tenant.company, realm_id=REALM, object_type="invoice", object_id=invoice.pk, qbo_id=qbo_id
    )


def test_reconciliation_check_shows_drift_with_reads_and_push_again_fixes_it(
    tenant, invoice, page_client_for, api_client_for, intuit
):
    linked(tenant, invoice)
    reads(intuit, [], [their_invoice(invoice, "130", total="1.00")])
    admin = page_client_for(tenant.admin)
    assert "Not checked yet" in admin.get(reverse(RECON)).content.decode()
    admin.post(reverse("integrations:quickbooks-reconciliation-check"))
    text = admin.get(reverse(RECON)).content.decode()
    assert "Figures differ" in text and "1.00" in text and "Push again" in text
    assert "used <strong>1</strong> QuickBooks read" in text
    calls = len(intuit.calls)
    admin.get(reverse(RECON))
    assert len(intuit.calls) == calls  # reload: no reads
    review = QuickBooksReview.objects.get(kind="reconciliation")
    api = api_client_for(tenant.staff).get(f"{API_BASE}/reconciliation").json()
    assert api["reads"] == 1 and api["rows"][0]["kind"] == "drift" and api["rows"][0]["fix"] == "push"
    csv_text = api_client_for(tenant.staff).get(f"{API_BASE}/reconciliation?format=csv").content.decode()
    assert csv_text.splitlines()[0].startswith("kind,number") and "Figures differ" in csv_text
    assert "Total" in api_client_for(tenant.staff).get(f"{API_BASE}/reconciliation.csv").content.decode()
    assert "Total" in admin.get(reverse("integrations:quickbooks-reconciliation-csv")).content.decode()
    fix = reverse("integrations:quickbooks-reconciliation-fix", args=[review.pk, 0])
    assert page_client_for(tenant.staff).post(fix).status_code == 403
    admin = page_client_for(tenant.admin)
    admin.post(fix)
    assert QuickBooksSyncLog.objects.filter(object_id=invoice.pk, status="pending", trigger="manual").count() == 1
    assert "Done" in admin.get(reverse(RECON)).content.decode()


def test_another_tenants_reconciliation_row_is_404(tenant, other_tenant, invoice, page_client_for, intuit):
    from tests.integrations.conftest import make_connection

    make_connection(other_tenant.company, realm="4620816365000000001")
    theirs = QuickBooksReview.objects.create(
        company=other_tenant.company,
        realm_id="4620816365000000001",
        kind="reconciliation",
        rows=[{"kind": "drift", "number": "X", "invoice_id": 1, "qbo_id": "1", "status": "sent", "fix": "push"}],
    )
    admin = page_client_for(tenant.admin)
    assert admin.post(reverse("integrations:quickbooks-reconciliation-fix", args=[theirs.pk, 0])).status_code == 404
    assert not QuickBooksSyncLog.objects.exists()


def test_void_here_open_there_offers_void_there(tenant, invoice, connected, page_client_for, intuit, dispatched):
    from attune_qbo.billing import services as billing

    linked(tenant, invoice)
    billing.invoice_void(invoice=invoice)
    QuickBooksSyncLog.objects.all().delete()
    reads(intuit, [], [their_invoice(invoice, "130")])
    review = reconciliation.reconciliation_check(connection=connected)
    assert review.rows[0]["fix"] == "void"
    reconciliation.reconciliation_fix(connection=connected, review_id=review.pk, index=0, user=tenant.admin)
    assert QuickBooksSyncLog.objects.get(object_id=invoice.pk).operation == "void"


def test_quickbooks_verify_output_is_unchanged(tenant, invoice, connected, intuit):
    from integrations.services.verification import books_check

    linked(tenant, invoice)
    reads(intuit, [], [their_invoice(invoice, "130", total="1.00")])
    report = books_check(connection=connected)
    assert report.problems[0].startswith(f"invoice {invoice.number} (Id 130): Total: attune ")
    assert report.rows[0].kind == "drift" and report.rows[0].differences[0]["field"] == "total"


def test_an_invoice_sent_by_attune_but_unlinked_is_missing_here_and_link_fixes_it(tenant, invoice, connected, intuit):
    marked = their_invoice(invoice, "130", PrivateNote=f"Sent by attune. [attune:{tenant.company.pk}:{invoice.pk}]")
    reads(intuit, [], [marked])
    review = reconciliation.reconciliation_check(connection=connected)
    row = next(r for r in review.rows if r["kind"] == "missing_here")
    assert (row["invoice_id"], row["qbo_id"], row["fix"]) == (invoice.pk, "130", "link")
    index = review.rows.index(row)
    reconciliation.reconciliation_fix(connection=connected, review_id=review.pk, index=index, user=tenant.admin)
    link = QuickBooksLink.objects.get(object_type="invoice", object_id=invoice.pk)
    assert link.qbo_id == "130" and link.qbo_snapshot["Id"] == "130" and link.payload_hash == ""


def test_linking_an_object_linked_since_the_check_is_refused(tenant, invoice, connected, intuit):
    from attune_qbo.core.exceptions import ValidationError
    from integrations.services.adoption import adoption_apply, adoption_check

    reads(intuit, [], [their_invoice(invoice)])
    adoption_check(connection=connected)
    linked(tenant, invoice, "555")
    with pytest.raises(ValidationError, match="already linked"):
        adoption_apply(connection=connected, decisions=[("invoice", invoice.pk, "link", "900")], user=None)
    assert QuickBooksLink.objects.get(object_type="invoice").qbo_id == "555"


def test_the_api_shows_only_the_callers_company(tenant, other_tenant, invoice, connected, api_client_for, intuit):
    linked(tenant, invoice)
    reads(intuit, [], [their_invoice(invoice, "130", total="1.00")])
    reconciliation.reconciliation_check(connection=connected)
    assert len(api_client_for(tenant.staff).get(f"{API_BASE}/reconciliation").json()["rows"]) == 1
    theirs = api_client_for(other_tenant.admin).get(f"{API_BASE}/reconciliation").json()
    assert theirs["rows"] == [] and theirs["checked_at"] is None
