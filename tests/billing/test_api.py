from decimal import Decimal

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def test_api_without_credentials_is_401_with_a_json_message(tenant):
    response = APIClient().get("/api/v1/invoices")
    assert response.status_code == 401
    assert response.json() == {
        "code": "not_authenticated",
        "message": "Authentication credentials were not provided.",
    }


def test_api_with_a_bad_token_is_401(tenant):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    assert client.get("/api/v1/invoices").status_code == 401


def test_member_gets_403_on_admin_only_void_and_staff_only_finalize(tenant, api_client_for):
    invoice = tenant.invoice()
    member = api_client_for(tenant.member)
    response = member.post(f"/api/v1/invoices/{invoice.pk}/finalize")
    assert response.status_code == 403
    assert response.json()["message"] == "This action needs the staff or admin role in this company."
    staff = api_client_for(tenant.staff)
    assert staff.post(f"/api/v1/invoices/{invoice.pk}/finalize").status_code == 200
    response = staff.post(f"/api/v1/invoices/{invoice.pk}/void")
    assert response.status_code == 403
    assert response.json()["message"] == "This action needs the admin role in this company."
    invoice.refresh_from_db()
    assert invoice.status == "finalized"


def test_user_without_a_company_is_403(db, api_client_for):
    from tests.factories import UserFactory

    response = api_client_for(UserFactory()).get("/api/v1/invoices")
    assert response.status_code == 403
    assert response.json()["message"] == "You are not a member of any company."


def test_create_update_finalize_pay_through_the_api(tenant, api_client_for):
    api = api_client_for(tenant.admin)
    response = api.post(
        "/api/v1/invoices",
        {
            "client": tenant.client.pk,
            "issue_date": "2026-03-01",
            "due_date": "2026-03-31",
            "memo": "March",
            "lines": [
                {"product": tenant.product.pk, "quantity": "3"},
                {"description": "Call-out", "quantity": "1", "unit_price": "33.33"},
            ],
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "draft" and body["number"] == "INV-0001"
    assert [line["amount"] for line in body["lines"]] == ["150.00", "33.33"]
    assert body["total"] == "198.33"  # 150 + 15 tax + 33.33 untaxed

    invoice_url = f"/api/v1/invoices/{body['id']}"
    response = api.patch(invoice_url, {"lines": [{"product": tenant.product.pk, "quantity": "1"}]}, format="json")
    assert response.status_code == 200 and response.json()["total"] == "55.00"

    assert api.post(f"{invoice_url}/finalize").json()["status"] == "finalized"
    response = api.post(f"{invoice_url}/payments", {"amount": "55.00", "date": "2026-03-05"}, format="json")
    assert response.status_code == 201
    assert response.json()["status"] == "paid" and response.json()["balance_due"] == "0.00"


def test_validation_errors_are_json_with_code_and_message(tenant, api_client_for):
    api = api_client_for(tenant.admin)
    response = api.post(
        "/api/v1/invoices",
        {"client": tenant.client.pk, "issue_date": "2026-03-10", "due_date": "2026-03-01"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invoice_invalid"
    assert response.json()["message"] == "The due date (2026-03-01) cannot be before the issue date (2026-03-10)."

    response = api.post("/api/v1/invoices", {"issue_date": "not a date"}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid" and set(body["errors"]) >= {"client", "issue_date", "due_date"}

    invoice = tenant.invoice()
    response = api.post(f"/api/v1/invoices/{invoice.pk}/finalize")
    assert response.status_code == 200
    response = api.post(f"/api/v1/invoices/{invoice.pk}/finalize")
    assert response.status_code == 409 and response.json()["code"] == "invoice_state"


def test_overpayment_through_the_api_is_refused(tenant, api_client_for):
    invoice = tenant.invoice(finalize=True)
    response = api_client_for(tenant.staff).post(
        f"/api/v1/invoices/{invoice.pk}/payments", {"amount": "500", "date": "2026-03-05"}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {
        "code": "payment_refused",
        "message": f"A payment of 500.00 is more than the 110.00 still due on invoice {invoice.number}.",
    }
    assert invoice.payments.count() == 0


def test_invoice_list_filters_by_status_and_search(tenant, api_client_for):
    tenant.invoice(number="D-1")
    tenant.invoice(number="F-1", finalize=True)
    api = api_client_for(tenant.member)
    assert [r["number"] for r in api.get("/api/v1/invoices", {"status": "finalized"}).json()["results"]] == ["F-1"]
    assert [r["number"] for r in api.get("/api/v1/invoices", {"search": "D-"}).json()["results"]] == ["D-1"]


def test_clients_and_products_are_created_through_services(tenant, api_client_for):
    api = api_client_for(tenant.member)
    response = api.post("/api/v1/clients", {"display_name": "New Co", "email": "a@b.example"}, format="json")
    assert response.status_code == 201 and response.json()["currency"] == "USD"
    response = api.post("/api/v1/clients", {"display_name": "New Co"}, format="json")
    assert response.status_code == 400 and response.json()["message"] == "A client named “New Co” already exists."
    response = api.post("/api/v1/products", {"name": "Gadget", "unit_price": "-1"}, format="json")
    assert response.status_code == 400 and "cannot be negative" in response.json()["message"]
    response = api.post("/api/v1/products", {"name": "Gadget", "unit_price": "12.50"}, format="json")
    assert response.status_code == 201 and Decimal(response.json()["unit_price"]) == Decimal("12.5")


def test_openapi_schema_and_offline_swagger_ui(tenant, page_client_for):
    client = page_client_for(tenant.admin)
    schema = client.get("/api/v1/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/invoices/{id}/finalize" in schema.content
    docs = client.get("/api/v1/docs/").content.decode()
    assert "swagger-ui" in docs and "cdn." not in docs  # assets served locally (sidecar), no CDN
