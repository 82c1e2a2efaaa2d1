"""Invoices: Intuit's rules for lines, tax, DocNumber, SyncToken, void, delete and requestid."""

from __future__ import annotations

import pytest

from .conftest import CA_REALM_ID, GB_REALM_ID, fault_code, invoice_body, sales_line

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(api):
    return api.create_customer("Invoice Customer")


def error(response) -> dict:
    return response.json()["Fault"]["Error"][0]


def test_us_invoice_totals_with_transaction_tax_code(api, customer):
    body = invoice_body(
        customer["Id"],
        lines=[
            sales_line(amount=300, qty=2, unit_price=150, tax_code="TAX"),
            sales_line(amount=75, qty=1, unit_price=75, item="3", tax_code="NON"),
        ],
        DocNumber="INV-1001",
        TxnDate="2026-01-15",
        TxnTaxDetail={"TxnTaxCodeRef": {"value": "2"}},
        PrivateNote="hello",
    )
    response = api.post("invoice", body)
    assert response.status_code == 200, response.content
    invoice = response.json()["Invoice"]
    assert invoice["DocNumber"] == "INV-1001"
    assert invoice["TxnDate"] == "2026-01-15" and invoice["DueDate"] == "2026-02-14"
    assert invoice["TxnTaxDetail"]["TotalTax"] == 24.0  # 8 % of the taxable 300
    assert invoice["TxnTaxDetail"]["TxnTaxCodeRef"] == {"value": "2"}
    assert invoice["TotalAmt"] == 399.0 and invoice["Balance"] == 399.0
    assert invoice["SyncToken"] == "0" and invoice["PrivateNote"] == "hello"
    assert invoice["CustomerRef"] == {"value": customer["Id"], "name": "Invoice Customer"}
    assert invoice["Line"][-1]["DetailType"] == "SubTotalLineDetail"
    assert invoice["Line"][-1]["Amount"] == 375.0
    assert [line["Id"] for line in invoice["Line"][:-1]] == ["1", "2"]
    assert "GlobalTaxCalculation" not in invoice
    assert api.get(f"invoice/{invoice['Id']}").json()["Invoice"] == invoice


def test_us_tax_group_sums_its_rates(api, customer):
    response = api.post(
        "invoice",
        invoice_body(
            customer["Id"],
            lines=[sales_line(amount=100, qty=1, unit_price=100)],
            TxnTaxDetail={"TxnTaxCodeRef": {"value": "3"}},
        ),
    )
    invoice = response.json()["Invoice"]
    assert invoice["TxnTaxDetail"]["TotalTax"] == 9.1
    assert len(invoice["TxnTaxDetail"]["TaxLine"]) == 2
    assert invoice["TotalAmt"] == 109.1


def test_us_line_tax_code_must_be_tax_or_non(api, customer):
    response = api.post("invoice", invoice_body(customer["Id"], lines=[sales_line(tax_code="2")]))
    assert response.status_code == 400 and error(response)["code"] == "6100"
    without = api.post("invoice", invoice_body(customer["Id"], lines=[sales_line(tax_code=None)]))
    assert without.status_code == 200
    assert without.json()["Invoice"]["Line"][0]["SalesItemLineDetail"]["TaxCodeRef"] == {"value": "NON"}


def test_amount_must_equal_qty_times_unit_price(api, customer):
    response = api.post(
        "invoice", invoice_body(customer["Id"], lines=[sales_line(amount=100, qty=3, unit_price=33.33)])
    )
    assert response.status_code == 400 and error(response)["code"] == "6070"
    ok = api.post("invoice", invoice_body(customer["Id"], lines=[sales_line(amount=99.99, qty=3, unit_price=33.33)]))
    assert ok.status_code == 200


@pytest.mark.parametrize(
    ("change", "code", "element"),
    [
        ({"CustomerRef": None}, "2020", "CustomerRef"),
        ({"CustomerRef": {"value": "999"}}, "2500", "CustomerRef"),
        ({"Line": []}, "2020", "Line"),
        ({"Line": None}, "2020", "Line"),
        ({"DocNumber": "X" * 22}, "2050", "DocNumber"),
        ({"Line": [sales_line(item=None)]}, "2020", "ItemRef"),
        ({"Line": [sales_line(item="999")]}, "2500", "ItemRef"),
        ({"Line": [sales_line(item="5")]}, "610", "ItemRef"),
        (
            {"Line": [{"DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "2"}}}]},
            "2020",
            "Line.Amount",
        ),
        ({"Line": [{"Amount": 1, "DetailType": "GroupLineDetail"}]}, "2170", "Line.DetailType"),
        ({"TxnTaxDetail": {"TxnTaxCodeRef": {"value": "77"}}}, "2500", "TxnTaxCodeRef"),
        ({"CurrencyRef": {"value": "EUR"}}, "6000", "CurrencyRef"),
    ],
)
def test_invalid_invoices_are_refused_with_intuit_codes(api, customer, change, code, element):
    body = invoice_body(customer["Id"])
    for key, value in change.items():
        if value is None:
            body.pop(key, None)
        else:
            body[key] = value
    response = api.post("invoice", body)
    assert response.status_code == 400, response.content
    assert error(response)["code"] == code
    assert error(response)["element"] == element
    assert api.query("select count(*) from Invoice").json()["QueryResponse"]["totalCount"] == 0


def test_doc_number_is_unique_unless_duplicates_are_allowed(api, customer):
    first = api.create_invoice(customer["Id"], DocNumber="INV-7")
    response = api.post("invoice", invoice_body(customer["Id"], DocNumber="INV-7"))
    assert response.status_code == 400
    assert error(response)["code"] == "6140"
    assert error(response)["Message"] == "Duplicate Document Number Error"
    assert error(response)["element"] == "DocNumber"
    assert first["Id"] in error(response)["Detail"]
    allowed = api.post(
        "invoice", invoice_body(customer["Id"], DocNumber="INV-7"), params={"include": "allowduplicatedocnum"}
    )
    assert allowed.status_code == 200


def test_doc_number_is_assigned_when_omitted(api, customer):
    first = api.create_invoice(customer["Id"])
    second = api.create_invoice(customer["Id"])
    assert first["DocNumber"] == "1001" and second["DocNumber"] == "1002"


def test_sparse_update_keeps_other_fields_and_bumps_sync_token(api, customer):
    invoice = api.create_invoice(customer["Id"], DocNumber="SP-1", PrivateNote="first")
    response = api.post(
        "invoice", {"Id": invoice["Id"], "SyncToken": invoice["SyncToken"], "sparse": True, "PrivateNote": "second"}
    )
    assert response.status_code == 200
    updated = response.json()["Invoice"]
    assert updated["SyncToken"] == "1" and updated["PrivateNote"] == "second"
    assert updated["DocNumber"] == "SP-1" and updated["TotalAmt"] == invoice["TotalAmt"]
    assert updated["MetaData"]["CreateTime"] == invoice["MetaData"]["CreateTime"]


def test_sparse_update_with_lines_replaces_the_lines(api, customer):
    invoice = api.create_invoice(customer["Id"])
    response = api.post(
        "invoice",
        {
            "Id": invoice["Id"],
            "SyncToken": "0",
            "sparse": True,
            "Line": [sales_line(amount=50, qty=1, unit_price=50, item="4")],
        },
    )
    updated = response.json()["Invoice"]
    assert len(updated["Line"]) == 2 and updated["TotalAmt"] == 50.0


def test_full_update_round_trips_what_was_read(api, customer):
    invoice = api.create_invoice(customer["Id"], PrivateNote="note")
    invoice["Line"][0]["Description"] = "changed"
    response = api.post("invoice", invoice)
    assert response.status_code == 200, response.content
    updated = response.json()["Invoice"]
    assert updated["Line"][0]["Description"] == "changed" and updated["SyncToken"] == "1"
    # A full update without PrivateNote clears it.
    updated.pop("PrivateNote")
    cleared = api.post("invoice", updated).json()["Invoice"]
    assert "PrivateNote" not in cleared


def test_stale_sync_token_is_5010(api, customer):
    invoice = api.create_invoice(customer["Id"])
    api.post("invoice", {"Id": invoice["Id"], "SyncToken": "0", "sparse": True, "PrivateNote": "a"})
    response = api.post("invoice", {"Id": invoice["Id"], "SyncToken": "0", "sparse": True, "PrivateNote": "b"})
    assert response.status_code == 400 and error(response)["code"] == "5010"
    assert api.get(f"invoice/{invoice['Id']}").json()["Invoice"]["PrivateNote"] == "a"


def test_void_zeroes_the_invoice_and_blocks_updates(api, customer):
    invoice = api.create_invoice(customer["Id"])
    stale = api.post("invoice", {"Id": invoice["Id"], "SyncToken": "5"}, params={"operation": "void"})
    assert error(stale)["code"] == "5010"
    response = api.post("invoice", {"Id": invoice["Id"], "SyncToken": "0"}, params={"operation": "void"})
    assert response.status_code == 200
    voided = response.json()["Invoice"]
    assert voided["TotalAmt"] == 0 and voided["Balance"] == 0 and voided["PrivateNote"] == "Voided"
    assert voided["SyncToken"] == "1"
    again = api.post("invoice", {"Id": invoice["Id"], "SyncToken": "1", "sparse": True, "PrivateNote": "x"})
    assert again.status_code == 400 and error(again)["code"] == "6000"


def test_delete_invoice(api, customer):
    invoice = api.create_invoice(customer["Id"], DocNumber="DEL-1")
    response = api.post("invoice", {"Id": invoice["Id"], "SyncToken": "0"}, params={"operation": "delete"})
    assert response.status_code == 200
    assert response.json()["Invoice"] == {"status": "Deleted", "domain": "QBO", "Id": invoice["Id"]}
    assert api.get(f"invoice/{invoice['Id']}").status_code == 400
    # The DocNumber is free again.
    assert api.post("invoice", invoice_body(customer["Id"], DocNumber="DEL-1")).status_code == 200


def test_requestid_replays_the_original_response(api, customer):
    first = api.post("invoice", invoice_body(customer["Id"], DocNumber="R-1"), params={"requestid": "abc-1"})
    second = api.post("invoice", invoice_body(customer["Id"], DocNumber="R-1"), params={"requestid": "abc-1"})
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert api.query("select count(*) from Invoice").json()["QueryResponse"]["totalCount"] == 1
    other_realm_style = api.post(
        "invoice", invoice_body(customer["Id"], DocNumber="R-1"), params={"requestid": "abc-2"}
    )
    assert error(other_realm_style)["code"] == "6140"


def test_refused_write_is_not_replayed(api, customer):
    bad = api.post("invoice", invoice_body(customer["Id"], DocNumber="Y" * 30), params={"requestid": "fix-me"})
    assert bad.status_code == 400
    fixed = api.post("invoice", invoice_body(customer["Id"], DocNumber="Y"), params={"requestid": "fix-me"})
    assert fixed.status_code == 200


def test_requestid_longer_than_50_is_refused(api, customer):
    response = api.post("invoice", invoice_body(customer["Id"]), params={"requestid": "r" * 51})
    assert response.status_code == 400 and error(response)["element"] == "requestid"


def test_malformed_json_body(api):
    response = api.client.post(
        api.url("invoice"),
        data="{not json",
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {api.access_token}",
    )
    assert response.status_code == 400 and fault_code(response) == "2010"


# --- non-US tax ------------------------------------------------------------------------------------------


def test_gb_lines_need_a_vat_code(connect_api):
    gb = connect_api(GB_REALM_ID)
    customer = gb.create_customer("London Client")
    response = gb.post("invoice", invoice_body(customer["Id"], lines=[sales_line(tax_code=None)]))
    assert response.status_code == 400
    assert error(response)["code"] == "6000"
    assert "Make sure all your transactions have a VAT rate" in error(response)["Detail"]
    assert error(gb.post("invoice", invoice_body(customer["Id"], lines=[sales_line(tax_code="TAX")])))["code"] == "2500"


def test_gb_tax_exclusive_and_inclusive(connect_api):
    gb = connect_api(GB_REALM_ID)
    customer = gb.create_customer("VAT Client")
    exclusive = gb.create_invoice(
        customer["Id"],
        lines=[
            sales_line(amount=100, qty=1, unit_price=100, tax_code="2"),
            sales_line(amount=50, qty=1, unit_price=50, tax_code="3"),
        ],
        GlobalTaxCalculation="TaxExcluded",
    )
    assert exclusive["TxnTaxDetail"]["TotalTax"] == 20.0
    assert exclusive["TotalAmt"] == 170.0 and exclusive["GlobalTaxCalculation"] == "TaxExcluded"
    rate_line = next(
        t for t in exclusive["TxnTaxDetail"]["TaxLine"] if t["TaxLineDetail"]["TaxRateRef"]["value"] == "1"
    )
    assert rate_line["TaxLineDetail"]["NetAmountTaxable"] == 100.0 and rate_line["TaxLineDetail"]["TaxPercent"] == 20
    inclusive = gb.create_invoice(
        customer["Id"],
        lines=[sales_line(amount=120, qty=1, unit_price=120, tax_code="2")],
        GlobalTaxCalculation="TaxInclusive",
    )
    assert inclusive["TxnTaxDetail"]["TotalTax"] == 20.0 and inclusive["TotalAmt"] == 120.0
    assert (
        fault_code(
            gb.post(
                "invoice",
                invoice_body(customer["Id"], lines=[sales_line(tax_code="2")], GlobalTaxCalculation="TaxIncluded"),
            )
        )
        == "2170"
    )


def test_ca_gst_hst_and_message(connect_api):
    ca = connect_api(CA_REALM_ID)
    customer = ca.create_customer("Toronto Client")
    response = ca.post("invoice", invoice_body(customer["Id"], lines=[sales_line(tax_code=None)]))
    assert "GST/HST rate" in error(response)["Detail"]
    invoice = ca.create_invoice(
        customer["Id"],
        lines=[
            sales_line(amount=100, qty=1, unit_price=100, tax_code="5"),
            sales_line(amount=200, qty=2, unit_price=100, tax_code="4"),
            sales_line(amount=10, qty=1, unit_price=10, tax_code="6"),
        ],
    )
    assert invoice["TxnTaxDetail"]["TotalTax"] == 23.0  # 13 + 10 + 0
    assert invoice["TotalAmt"] == 333.0
    assert invoice["CurrencyRef"]["value"] == "CAD" and invoice["ExchangeRate"] == 1.0


def test_ca_multicurrency_customer_invoice(connect_api):
    ca = connect_api(CA_REALM_ID)
    customer = ca.create_customer("US Buyer", CurrencyRef={"value": "USD"})
    invoice = ca.create_invoice(
        customer["Id"],
        lines=[sales_line(amount=100, qty=1, unit_price=100, tax_code="6")],
        CurrencyRef={"value": "USD"},
        ExchangeRate=1.35,
    )
    assert invoice["CurrencyRef"]["value"] == "USD"
    assert invoice["HomeTotalAmt"] == 135.0
    mismatch = ca.post(
        "invoice", invoice_body(customer["Id"], lines=[sales_line(tax_code="6")], CurrencyRef={"value": "CAD"})
    )
    assert error(mismatch)["code"] == "6000"


@pytest.mark.parametrize(("rounding", "tax"), [("half_up", 0.82), ("down", 0.81)])
def test_the_tax_rounding_switch_decides_how_computed_tax_reaches_cents(api, customer, client, rounding, tax):
    import json

    switched = client.post(
        "/simulator/control/settings", json.dumps({"tax_rounding": rounding}), content_type="application/json"
    )
    assert switched.status_code == 200 and switched.json()["tax_rounding"] == rounding
    body = invoice_body(
        customer["Id"],
        lines=[sales_line(amount=10.19, qty=1, unit_price=10.19, tax_code="TAX")],
        TxnTaxDetail={"TxnTaxCodeRef": {"value": "2"}},
    )
    invoice = api.post("invoice", body).json()["Invoice"]
    assert invoice["TxnTaxDetail"]["TotalTax"] == tax  # 8 % of 10.19 = 0.8152
    bad = client.post(
        "/simulator/control/settings", json.dumps({"tax_rounding": "up"}), content_type="application/json"
    )
    assert bad.status_code == 400
