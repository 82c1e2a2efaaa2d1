"""A user of company A never sees or touches company B's rows: pages, API and admin all answer 404."""

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.fixture
def b_objects(other_tenant):
    return {
        "invoice": other_tenant.invoice(number="B-SECRET-1"),
        "client": other_tenant.client,
        "product": other_tenant.product,
    }


PAGE_URLS = {
    "invoice": ["billing:invoice-detail", "billing:invoice-edit"],
    "client": ["billing:client-edit"],
    "product": ["billing:product-edit"],
}


@pytest.mark.parametrize("kind", ["invoice", "client", "product"])
def test_pages_answer_404_for_another_companys_objects(tenant, b_objects, page_client_for, kind):
    client = page_client_for(tenant.admin)
    for url_name in PAGE_URLS[kind]:
        response = client.get(reverse(url_name, args=[b_objects[kind].pk]))
        assert response.status_code == 404, url_name


@pytest.mark.parametrize(
    "url_name", ["billing:invoice-finalize", "billing:invoice-void", "billing:invoice-record-payment"]
)
def test_page_actions_on_another_companys_invoice_answer_404_and_change_nothing(
    tenant, b_objects, page_client_for, url_name
):
    response = page_client_for(tenant.admin).post(
        reverse(url_name, args=[b_objects["invoice"].pk]),
        {"amount": "1", "date": "2026-01-20", "method": "cash"},
    )
    assert response.status_code == 404
    b_objects["invoice"].refresh_from_db()
    assert b_objects["invoice"].status == "draft"


def test_page_lists_never_show_another_companys_rows(tenant, b_objects, page_client_for):
    tenant.invoice(number="A-VISIBLE-1")
    client = page_client_for(tenant.admin)
    invoices = client.get(reverse("billing:invoice-list")).content.decode()
    assert "A-VISIBLE-1" in invoices and "B-SECRET-1" not in invoices
    assert "B-SECRET-1" not in client.get(reverse("billing:invoice-list"), {"q": "B-SECRET"}).content.decode()
    assert "Beta Client" not in client.get(reverse("billing:client-list")).content.decode()
    assert "Beta Widget" not in client.get(reverse("billing:product-list")).content.decode()


@pytest.mark.parametrize("kind,path", [("invoice", "invoices"), ("client", "clients"), ("product", "products")])
def test_api_answers_404_for_another_companys_objects(tenant, b_objects, api_client_for, kind, path):
    api = api_client_for(tenant.admin)
    url = f"/api/v1/{path}/{b_objects[kind].pk}"
    assert api.get(url).status_code == 404
    assert api.patch(url, {"memo": "x", "display_name": "x", "name": "x"}, format="json").status_code == 404


def test_api_actions_on_another_companys_invoice_answer_404(tenant, b_objects, api_client_for):
    api = api_client_for(tenant.admin)
    for action in ("finalize", "void"):
        assert api.post(f"/api/v1/invoices/{b_objects['invoice'].pk}/{action}").status_code == 404
    b_objects["invoice"].refresh_from_db()
    assert b_objects["invoice"].status == "draft"


def test_api_lists_never_show_another_companys_rows(tenant, b_objects, api_client_for):
    tenant.invoice(number="A-VISIBLE-1")
    api = api_client_for(tenant.admin)
    numbers = [row["number"] for row in api.get("/api/v1/invoices").json()["results"]]
    assert numbers == ["A-VISIBLE-1"]
    assert [row["display_name"] for row in api.get("/api/v1/clients").json()["results"]] == ["Alpha Client"]
    assert [row["name"] for row in api.get("/api/v1/products").json()["results"]] == ["Alpha Widget"]


def test_api_refuses_another_companys_client_when_creating_an_invoice(tenant, b_objects, api_client_for):
    response = api_client_for(tenant.admin).post(
        "/api/v1/invoices",
        {"client": b_objects["client"].pk, "issue_date": "2026-01-15", "due_date": "2026-02-14"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "does not exist" in response.json()["message"]


def test_x_company_id_header_cannot_select_a_company_the_user_is_not_in(tenant, b_objects, api_client_for):
    api = api_client_for(tenant.admin)
    response = api.get("/api/v1/invoices", HTTP_X_COMPANY_ID=str(b_objects["invoice"].company_id))
    assert response.status_code == 403
    assert "B-SECRET-1" not in response.content.decode()


@pytest.fixture
def admin_site_client(tenant, client):
    tenant.staff.is_staff = True
    tenant.staff.save()
    client.force_login(tenant.staff)
    return client


@pytest.mark.parametrize("kind,model", [("invoice", "invoice"), ("client", "client"), ("product", "product")])
def test_django_admin_answers_404_for_another_companys_objects(admin_site_client, b_objects, kind, model):
    response = admin_site_client.get(reverse(f"admin:billing_{model}_change", args=[b_objects[kind].pk]))
    assert response.status_code == 404


def test_django_admin_lists_only_own_company_rows(tenant, admin_site_client, b_objects):
    tenant.invoice(number="A-VISIBLE-1")
    page = admin_site_client.get(reverse("admin:billing_invoice_changelist")).content.decode()
    assert "A-VISIBLE-1" in page and "B-SECRET-1" not in page
    assert "Beta Client" not in admin_site_client.get(reverse("admin:billing_client_changelist")).content.decode()


def test_django_admin_is_closed_to_plain_members(tenant, client):
    tenant.member.is_staff = True
    tenant.member.save()
    client.force_login(tenant.member)
    assert client.get(reverse("admin:billing_invoice_changelist")).status_code == 403


@pytest.mark.parametrize(
    "changelist",
    [
        "admin:billing_invoice_changelist",
        "admin:tenants_membership_changelist",
        "admin:integrations_quickbookssynclog_changelist",
        "admin:integrations_quickbooksmapping_changelist",
    ],
)
def test_django_admin_filters_never_list_another_companys_name(tenant, admin_site_client, b_objects, changelist):
    from integrations.models import QuickBooksSyncLog

    QuickBooksSyncLog.objects.create(company=tenant.company, object_id=1)
    tenant.invoice(number="A-1")
    page = admin_site_client.get(reverse(changelist)).content.decode()
    assert "Beta" not in page
