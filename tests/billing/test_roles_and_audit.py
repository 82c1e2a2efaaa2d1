"""Issue #8 item 1: roles hold everywhere (pages and API agree) and every invoice change is audited."""

import datetime as dt
from decimal import Decimal

import pytest

from attune_qbo.audit.models import AuditLog
from attune_qbo.billing import services
from attune_qbo.billing.models import Invoice, InvoiceStatus

pytestmark = pytest.mark.django_db


def invoice_in(tenant, state: str) -> Invoice:
    invoice = tenant.invoice(finalize=state != "draft")
    if state == "paid":
        services.payment_record(invoice=invoice, amount=invoice.total, date=dt.date(2026, 1, 20))
    if state == "void":
        services.invoice_void(invoice=invoice)
    invoice.refresh_from_db()
    return invoice


@pytest.mark.parametrize("state", ["finalized", "paid", "void"])
def test_member_cannot_edit_a_finalized_paid_or_void_invoice_through_the_page_or_the_api(
    tenant, page_client_for, api_client_for, state
):
    invoice = invoice_in(tenant, state)
    before = (invoice.memo, invoice.total, invoice.updated_at)
    page = page_client_for(tenant.member)
    response = page.get(f"/invoices/{invoice.pk}/edit/")
    assert response.status_code == 403 and "members can edit drafts only" in response.content.decode()
    response = page.post(f"/invoices/{invoice.pk}/edit/", {"memo": "changed"})
    assert response.status_code == 403
    assert "/edit/" not in page.get(f"/invoices/{invoice.pk}/").content.decode()  # no Edit button either
    response = api_client_for(tenant.member).patch(f"/api/v1/invoices/{invoice.pk}", {"memo": "changed"}, format="json")
    assert response.status_code == 403
    assert (
        response.json()["code"] == "permission_denied" and "members can edit drafts only" in response.json()["message"]
    )
    invoice.refresh_from_db()
    assert (invoice.memo, invoice.total, invoice.updated_at) == before


@pytest.mark.parametrize("role", ["staff", "admin"])
def test_staff_and_admins_may_edit_a_finalized_invoice(tenant, api_client_for, role):
    invoice = invoice_in(tenant, "finalized")
    response = api_client_for(tenant.user(role)).patch(f"/api/v1/invoices/{invoice.pk}", {"memo": "ok"}, format="json")
    assert response.status_code == 200 and response.json()["memo"] == "ok"


def test_member_still_edits_drafts(tenant, api_client_for):
    invoice = tenant.invoice()
    response = api_client_for(tenant.member).patch(f"/api/v1/invoices/{invoice.pk}", {"memo": "draft"}, format="json")
    assert response.status_code == 200


def test_every_invoice_change_writes_an_audit_entry_with_totals_before_and_after(tenant, api_client_for):
    api = api_client_for(tenant.admin)
    body = {
        "client": tenant.client.pk,
        "issue_date": "2026-01-15",
        "due_date": "2026-02-14",
        "lines": [{"product": tenant.product.pk, "quantity": "2"}],
    }
    invoice_id = api.post("/api/v1/invoices", body, format="json").json()["id"]
    api.patch(
        f"/api/v1/invoices/{invoice_id}", {"lines": [{"product": tenant.product.pk, "quantity": "3"}]}, format="json"
    )
    api.post(f"/api/v1/invoices/{invoice_id}/finalize")
    api.post(f"/api/v1/invoices/{invoice_id}/payments", {"amount": "10.00", "date": "2026-01-20"}, format="json")
    entries = list(AuditLog.objects.filter(target_type="Invoice", target_id=str(invoice_id)).order_by("id"))
    assert [e.action for e in entries] == ["invoice.create", "invoice.update", "invoice.finalize", "invoice.payment"]
    assert all(e.actor == tenant.admin and e.company == tenant.company for e in entries)
    update = entries[1]
    assert update.details["before"]["total"] == "110.00" and update.details["after"]["total"] == "165.00"
    assert entries[3].details["after"]["amount_paid"] == "10.00"
    other = tenant.invoice(finalize=True)
    services.invoice_void(invoice=other, user=tenant.admin)
    void = AuditLog.objects.get(action="invoice.void")
    assert void.details["before"]["status"] == InvoiceStatus.FINALIZED and void.details["after"]["status"] == "void"
    assert Decimal(void.details["after"]["total"]) == other.total


def test_members_see_the_same_quickbooks_summary_on_the_page_and_the_api(tenant, api_client_for):
    from integrations.permissions import MEMBER_VISIBLE_STATUS_FIELDS, can_view_quickbooks_operations
    from tests.integrations.conftest import make_connection

    make_connection(tenant.company)
    member = api_client_for(tenant.member).get("/api/v1/integrations/quickbooks/status").json()
    staff = api_client_for(tenant.staff).get("/api/v1/integrations/quickbooks/status").json()
    assert set(member) == {*MEMBER_VISIBLE_STATUS_FIELDS, "details_visible"}
    assert "realm_id" not in member and "last_failures" not in member and "access_token_expires_at" not in member
    assert staff["details_visible"] is True and staff["realm_id"]
    memberships = {m.user_id: m for m in tenant.company.memberships.all()}
    assert not can_view_quickbooks_operations(memberships[tenant.member.pk])
    assert can_view_quickbooks_operations(memberships[tenant.staff.pk])
