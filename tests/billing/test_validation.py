"""Issue #8 items 4 and 5: no 500 on any input, JSON errors everywhere in the API, business rules at the door."""

import json
import logging
from decimal import Decimal

import pytest
from django.conf import settings

from attune_qbo.billing.models import INVOICE_MAX_LINES, Invoice

pytestmark = pytest.mark.django_db


def invoice_body(tenant, **overrides):
    body = {
        "client": tenant.client.pk,
        "issue_date": "2026-01-15",
        "due_date": "2026-02-14",
        "lines": [{"product": tenant.product.pk, "quantity": "2"}],
    }
    return {**body, **overrides}


# --- item 4 ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line, field",
    [
        ({"description": "big", "quantity": "99999999", "unit_price": "9999999999"}, "amount"),
        ({"description": "big", "quantity": "1", "unit_price": "99999999999999"}, "unit_price"),
        ({"description": "big", "quantity": "999999999999", "unit_price": "1"}, "quantity"),
    ],
)
def test_money_is_bounded_so_no_amount_can_overflow_the_database(tenant, api_client_for, line, field):
    response = api_client_for(tenant.admin).post("/api/v1/invoices", invoice_body(tenant, lines=[line]), format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] in ("invalid", "invoice_invalid")
    assert field in json.dumps(body) or field.replace("_", " ") in body["message"]
    assert not Invoice.objects.exists()


def test_many_lines_whose_total_would_overflow_are_refused_naming_the_total(tenant, api_client_for):
    lines = [{"description": "x", "quantity": "99999", "unit_price": "9999.99"} for _ in range(200)]
    response = api_client_for(tenant.admin).post("/api/v1/invoices", invoice_body(tenant, lines=lines), format="json")
    assert response.status_code == 400 and "total" in response.json()["message"].lower()


def test_nul_bytes_in_a_query_parameter_or_form_field_are_a_400_with_a_message(tenant, api_client_for, page_client_for):
    api = api_client_for(tenant.admin)
    response = api.get("/api/v1/invoices", {"search": "a\x00b"})
    assert response.status_code == 400 and response.json()["code"] == "invalid" and "NUL" in response.json()["message"]
    page = page_client_for(tenant.admin)
    response = page.post("/clients/new/", {"display_name": "Evil\x00Corp", "currency": "USD"})
    assert response.status_code == 400 and "NUL" in response.content.decode()
    response = api.post("/api/v1/clients", {"display_name": "Evil\x00Corp"}, format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid"
    assert not tenant.company.clients.filter(display_name__startswith="Evil").exists()


def test_deeply_nested_or_oversized_json_is_a_json_400_or_413(tenant, api_client_for, settings):
    api = api_client_for(tenant.admin)
    nested = "[" * 100_000 + "]" * 100_000
    response = api.post("/api/v1/invoices", nested, content_type="application/json")
    assert response.status_code == 400 and response.json()["code"] == "parse_error"
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    response = api.post("/api/v1/clients", {"display_name": "x" * 20_000}, format="json")
    assert response.status_code == 413 and response.json()["code"] == "too_large"


def test_every_api_error_is_json_with_code_and_message(tenant, api_client_for, client):
    api = api_client_for(tenant.admin)
    for response, status in [
        (api.get("/api/v1/no-such-endpoint"), 404),
        (api.get("/api/v1/invoices/999999"), 404),
        (api.delete("/api/v1/invoices"), 405),
        (api.post("/api/v1/integrations/quickbooks/callback"), 405),
        (client.get("/api/v1/invoices"), 401),
    ]:
        assert response.status_code == status
        body = response.json()
        assert set(body) >= {"code", "message"} and body["message"]


def test_a_500_in_the_api_is_json_and_logs_the_reference_the_user_sees(tenant, api_client_for, monkeypatch, caplog):
    from attune_qbo.billing import selectors

    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(selectors, "client_list", broken)
    with caplog.at_level(logging.ERROR, logger="attune_qbo.core.api"):
        response = api_client_for(tenant.admin).get("/api/v1/clients")
    assert response.status_code == 500
    body = response.json()
    assert body["code"] == "server_error" and body["reference"] in body["message"]
    assert any(body["reference"] in record.getMessage() for record in caplog.records)


# --- item 5 ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("currency", ["ABC", "US$", "usdd", "XXX", "ZZZ"])
def test_currencies_must_be_iso_4217_codes(tenant, api_client_for, page_client_for, currency):
    api = api_client_for(tenant.admin)
    response = api.post("/api/v1/invoices", invoice_body(tenant, currency=currency), format="json")
    assert response.status_code == 400 and "currency" in json.dumps(response.json())
    response = api.post("/api/v1/clients", {"display_name": "C", "currency": currency}, format="json")
    assert response.status_code == 400
    page = page_client_for(tenant.admin).post("/clients/new/", {"display_name": "C", "currency": currency})
    assert page.status_code == 200 and "ISO 4217" in page.content.decode()
    assert not Invoice.objects.exists() and not tenant.company.clients.filter(display_name="C").exists()
    ok = api.post("/api/v1/invoices", invoice_body(tenant, currency="eur"), format="json")
    assert ok.status_code == 201 and ok.json()["currency"] == "EUR"


@pytest.mark.parametrize("date", ["1899-12-31", "2101-01-01", "0001-01-01", "9999-12-31"])
def test_dates_must_be_between_1900_and_2100(tenant, api_client_for, date):
    response = api_client_for(tenant.admin).post(
        "/api/v1/invoices", invoice_body(tenant, issue_date=date, due_date="2101-06-01"), format="json"
    )
    assert response.status_code == 400 and "1900" in json.dumps(response.json())


def test_invoice_numbers_are_at_most_21_characters_everywhere(tenant, api_client_for, page_client_for):
    from attune_qbo.billing.forms import InvoiceForm
    from attune_qbo.billing.models import INVOICE_NUMBER_MAX_LENGTH

    assert INVOICE_NUMBER_MAX_LENGTH == 21
    assert Invoice._meta.get_field("number").max_length == 21
    assert InvoiceForm(company=tenant.company).fields["number"].max_length == 21
    response = api_client_for(tenant.admin).post(
        "/api/v1/invoices", invoice_body(tenant, number="N" * 22), format="json"
    )
    assert response.status_code == 400 and "21" in response.json()["message"]


@pytest.mark.parametrize("value", [1.5, "1.5", True, "1e0", " 1", "0x1", [1], {"id": 1}])
def test_integer_ids_must_be_integers(tenant, api_client_for, value):
    response = api_client_for(tenant.admin).post("/api/v1/invoices", invoice_body(tenant, client=value), format="json")
    assert response.status_code == 400 and response.json()["code"] == "invalid"
    assert not Invoice.objects.exists()


def test_memos_longer_than_quickbooks_keeps_are_refused(tenant, api_client_for):
    from integrations.quickbooks.constants import MEMO_MAX_LENGTH

    api = api_client_for(tenant.admin)
    response = api.post("/api/v1/invoices", invoice_body(tenant, memo="m" * (MEMO_MAX_LENGTH + 1)), format="json")
    assert response.status_code == 400 and "memo" in response.json()["message"]
    assert (
        api.post("/api/v1/invoices", invoice_body(tenant, memo="m" * MEMO_MAX_LENGTH), format="json").status_code == 201
    )


def test_line_count_is_bounded_by_one_number_on_the_page_and_in_the_api(tenant, api_client_for, page_client_for):
    lines = [{"description": f"l{i}", "quantity": "1", "unit_price": "1"} for i in range(INVOICE_MAX_LINES + 1)]
    response = api_client_for(tenant.admin).post("/api/v1/invoices", invoice_body(tenant, lines=lines), format="json")
    assert response.status_code == 400 and str(INVOICE_MAX_LINES) in json.dumps(response.json())
    form = {
        "client": tenant.client.pk,
        "issue_date": "2026-01-15",
        "due_date": "2026-02-14",
        "lines-TOTAL_FORMS": str(INVOICE_MAX_LINES + 1),
        "lines-INITIAL_FORMS": "0",
    }
    for i in range(INVOICE_MAX_LINES + 1):
        form.update({f"lines-{i}-description": f"l{i}", f"lines-{i}-quantity": "1", f"lines-{i}-unit_price": "1"})
    page = page_client_for(tenant.admin).post("/invoices/new/", form)
    assert page.status_code == 200  # the form's own message, not Django's bare 400 for too many fields
    assert f"{INVOICE_MAX_LINES}" in page.content.decode()
    assert settings.DATA_UPLOAD_MAX_NUMBER_FIELDS > (INVOICE_MAX_LINES + 1) * 6 + 20
    assert not Invoice.objects.exists()


def test_exchange_rate_is_editable_in_the_form_and_the_api_for_foreign_currency_invoices(
    tenant, api_client_for, page_client_for
):
    api = api_client_for(tenant.admin)
    response = api.post("/api/v1/invoices", invoice_body(tenant, currency="EUR", exchange_rate="1.085"), format="json")
    assert response.status_code == 201 and Decimal(response.json()["exchange_rate"]) == Decimal("1.085")
    invoice_id = response.json()["id"]
    for bad in ("0", "-1", "1.1234567", "10000000", "abc"):
        response = api.patch(f"/api/v1/invoices/{invoice_id}", {"exchange_rate": bad}, format="json")
        assert response.status_code == 400 and "exchange_rate" in json.dumps(response.json()), bad
    response = api.patch(f"/api/v1/invoices/{invoice_id}", {"currency": "USD", "exchange_rate": "1.2"}, format="json")
    assert response.status_code == 400 and "another currency" in response.json()["message"]
    assert Invoice.objects.get(pk=invoice_id).exchange_rate == Decimal("1.085")
    page = page_client_for(tenant.admin)
    edit = page.get(f"/invoices/{invoice_id}/edit/").content.decode()
    assert 'name="exchange_rate"' in edit and "home currency" in edit
    form = {
        "client": tenant.client.pk,
        "issue_date": "2026-01-15",
        "due_date": "2026-02-14",
        "currency": "EUR",
        "exchange_rate": "1.1",
        "lines-TOTAL_FORMS": "1",
        "lines-INITIAL_FORMS": "0",
        "lines-0-description": "x",
        "lines-0-quantity": "1",
        "lines-0-unit_price": "5",
    }
    assert page.post(f"/invoices/{invoice_id}/edit/", form).status_code == 302
    assert Invoice.objects.get(pk=invoice_id).exchange_rate == Decimal("1.1")
