import pytest
from django.urls import reverse

from attune_qbo.billing.models import Invoice, InvoiceStatus

pytestmark = pytest.mark.django_db


def test_pages_need_sign_in(client):
    response = client.get(reverse("billing:invoice-list"))
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")


def test_sign_in_and_out(tenant, client):
    response = client.post(reverse("login"), {"username": "alpha-admin", "password": "pw"})
    assert response.status_code == 302
    page = client.get(reverse("billing:invoice-list")).content.decode()
    assert "Alpha" in page and "Sign out" in page
    assert client.post(reverse("logout")).status_code == 302
    assert client.get(reverse("billing:invoice-list")).status_code == 302


def test_invoice_list_filters_searches_and_paginates(tenant, page_client_for):
    for i in range(27):
        tenant.invoice(number=f"N-{i:03d}")
    tenant.invoice(number="FIN-1", finalize=True)
    client = page_client_for(tenant.member)
    page1 = client.get(reverse("billing:invoice-list")).content.decode()
    assert "Page 1 of 2" in page1 and "28 in all" in page1
    finalized = client.get(reverse("billing:invoice-list"), {"status": "finalized"}).content.decode()
    assert "FIN-1" in finalized and "N-001" not in finalized
    by_client = client.get(reverse("billing:invoice-list"), {"q": "Alpha Client"}).content.decode()
    assert "28 in all" in by_client
    by_number = client.get(reverse("billing:invoice-list"), {"q": "N-02"}).content.decode()
    assert "N-026" in by_number and "N-001" not in by_number


def test_create_invoice_with_lines_formset(tenant, page_client_for):
    client = page_client_for(tenant.member)
    assert client.get(reverse("billing:invoice-create")).status_code == 200
    response = client.post(
        reverse("billing:invoice-create"),
        {
            "client": tenant.client.pk,
            "number": "",
            "issue_date": "2026-04-01",
            "due_date": "2026-04-30",
            "currency": "",
            "memo": "Spring",
            "lines-TOTAL_FORMS": "3",
            "lines-INITIAL_FORMS": "0",
            "lines-MIN_NUM_FORMS": "0",
            "lines-MAX_NUM_FORMS": "500",
            "lines-0-product": tenant.product.pk,
            "lines-0-description": "",
            "lines-0-quantity": "2",
            "lines-0-unit_price": "",
            "lines-0-tax_rate": "",
            "lines-1-product": "",
            "lines-1-description": "Travel",
            "lines-1-quantity": "1",
            "lines-1-unit_price": "12.345",
            "lines-1-tax_rate": "",
            "lines-2-product": "",
            "lines-2-description": "",
            "lines-2-quantity": "1",
            "lines-2-unit_price": "",
            "lines-2-tax_rate": "",
        },
    )
    invoice = Invoice.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("billing:invoice-detail", args=[invoice.pk])
    assert [str(a) for a in invoice.lines.values_list("amount", flat=True)] == ["100.00", "12.35"]
    detail = client.get(response["Location"]).content.decode()
    assert "Travel" in detail and "122.35" in detail  # 100 + 10 tax + 12.35


def test_invoice_form_shows_service_errors(tenant, page_client_for):
    response = page_client_for(tenant.member).post(
        reverse("billing:invoice-create"),
        {
            "client": tenant.client.pk,
            "number": "X" * 22,
            "issue_date": "2026-04-01",
            "due_date": "2026-04-30",
            "lines-TOTAL_FORMS": "0",
            "lines-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200
    assert "it can have at most 21" in response.content.decode()
    assert not Invoice.objects.exists()


def test_finalize_void_and_payment_buttons_by_role(tenant, page_client_for):
    invoice = tenant.invoice()
    client = page_client_for(tenant.member)
    assert client.post(reverse("billing:invoice-finalize", args=[invoice.pk])).status_code == 403
    assert "Finalize</button>" not in client.get(reverse("billing:invoice-detail", args=[invoice.pk])).content.decode()

    client = page_client_for(tenant.staff)
    client.post(reverse("billing:invoice-finalize", args=[invoice.pk]))
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.FINALIZED
    assert client.post(reverse("billing:invoice-void", args=[invoice.pk])).status_code == 403
    response = client.post(
        reverse("billing:invoice-record-payment", args=[invoice.pk]),
        {"amount": "999", "date": "2026-02-01", "method": "cash"},
        follow=True,
    )
    assert "more than the 110.00 still due" in response.content.decode()
    client.post(
        reverse("billing:invoice-record-payment", args=[invoice.pk]),
        {"amount": "110", "date": "2026-02-01", "method": "cash"},
    )
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID

    other = tenant.invoice(finalize=True)
    client = page_client_for(tenant.admin)
    response = client.post(reverse("billing:invoice-void", args=[other.pk]), follow=True)
    assert f"Invoice {other.number} voided." in response.content.decode()


def test_finalize_needs_post(tenant, page_client_for):
    invoice = tenant.invoice()
    assert page_client_for(tenant.admin).get(reverse("billing:invoice-finalize", args=[invoice.pk])).status_code == 405


def test_client_and_product_forms(tenant, page_client_for):
    client = page_client_for(tenant.member)
    response = client.post(reverse("billing:client-create"), {"display_name": "Alpha Client", "currency": "USD"})
    assert "A client named “Alpha Client” already exists." in response.content.decode()
    response = client.post(reverse("billing:client-create"), {"display_name": "Fresh Co", "currency": "usd"})
    assert response.status_code == 302
    assert "Fresh Co" in client.get(reverse("billing:client-list")).content.decode()
    response = client.post(reverse("billing:product-create"), {"name": "Valve", "unit_price": "4.20", "active": "on"})
    assert response.status_code == 302


def test_tax_rates_are_admin_only_to_edit(tenant, page_client_for):
    client = page_client_for(tenant.staff)
    assert client.get(reverse("billing:tax-rate-list")).status_code == 200
    assert client.get(reverse("billing:tax-rate-create")).status_code == 403
    assert page_client_for(tenant.admin).get(reverse("billing:tax-rate-create")).status_code == 200


def test_settings_page_has_an_integrations_section(tenant, page_client_for):
    page = page_client_for(tenant.member).get(reverse("settings")).content.decode()
    assert 'id="integrations"' in page and "Integrations" in page


def test_user_with_two_companies_switches_between_them(tenant, other_tenant, page_client_for):
    from attune_qbo.tenants.models import Membership

    Membership.objects.create(user=tenant.admin, company=other_tenant.company, role="member")
    other_tenant.invoice(number="B-ONLY")
    client = page_client_for(tenant.admin)
    assert "B-ONLY" not in client.get(reverse("billing:invoice-list")).content.decode()
    client.post(reverse("company-switch"), {"company_id": other_tenant.company.pk, "next": "/invoices/"})
    assert "B-ONLY" in client.get(reverse("billing:invoice-list")).content.decode()


def test_user_without_company_gets_a_clear_403(db, client):
    from tests.factories import UserFactory

    client.force_login(UserFactory())
    response = client.get(reverse("billing:invoice-list"))
    assert response.status_code == 403
    assert "not a member of any company" in response.content.decode()
