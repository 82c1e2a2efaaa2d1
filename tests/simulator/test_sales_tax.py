"""US sales tax: manual tax codes (rates rounded per rate) and the Automated Sales Tax company (QBO-REFERENCE §5.1)."""

from __future__ import annotations

import json

import pytest

from integrations.simulator.models import SimCompany, SimEntity

from .conftest import AST_REALM_ID, US_REALM_ID, sales_line

pytestmark = pytest.mark.django_db


@pytest.fixture
def ast(connect_api):
    return connect_api(AST_REALM_ID)


def tax_detail(invoice: dict) -> dict:
    return invoice["TxnTaxDetail"]


def test_group_tax_code_rounds_each_rate_half_up(api):
    """Tucson (2 % + 7.1 %) on 0.25: 0.005 → 0.01 and 0.01775 → 0.02, so 0.03 (not 0.02 from 9.1 % at once)."""
    customer = api.create_customer("Rounding Customer")
    invoice = api.create_invoice(
        customer["Id"],
        lines=[sales_line(amount=0.25, qty=1, unit_price=0.25)],
        TxnTaxDetail={"TxnTaxCodeRef": {"value": "3"}},
    )
    detail = tax_detail(invoice)
    assert detail["TotalTax"] == 0.03
    assert [(t["TaxLineDetail"]["TaxRateRef"]["value"], t["Amount"]) for t in detail["TaxLine"]] == [
        ("2", 0.01),
        ("3", 0.02),
    ]
    assert all(t["TaxLineDetail"]["NetAmountTaxable"] == 0.25 for t in detail["TaxLine"])
    assert invoice["TotalAmt"] == 0.28


def test_manual_us_company_computes_tax_only_on_tax_lines(api):
    customer = api.create_customer("Mixed Lines")
    invoice = api.create_invoice(
        customer["Id"],
        lines=[
            sales_line(amount=100, qty=1, unit_price=100),
            sales_line(amount=50, qty=1, unit_price=50, tax_code="NON"),
        ],
        TxnTaxDetail={"TxnTaxCodeRef": {"value": "2"}, "TotalTax": 99},
    )
    assert tax_detail(invoice)["TotalTax"] == 8.0  # 8 % of 100; a TotalTax sent is not honoured without AST
    assert invoice["TotalAmt"] == 158.0


def test_ast_company_is_seeded_and_says_partner_tax_enabled(ast, api):
    info = ast.get(f"companyinfo/{AST_REALM_ID}").json()["CompanyInfo"]
    assert info["CompanyName"] == "Sandbox Company US AST"
    assert info["Country"] == "US" and info["CompanyAddr"]["CountrySubDivisionCode"] == "CA"
    assert info["DefaultTimeZone"] == "America/Los_Angeles"
    prefs = ast.get("preferences").json()["Preferences"]
    assert prefs["TaxPrefs"]["PartnerTaxEnabled"] is True and prefs["TaxPrefs"]["UsingSalesTax"] is True
    assert prefs["CurrencyPrefs"] == {"MultiCurrencyEnabled": False, "HomeCurrency": {"value": "USD"}}
    manual = api.get("preferences").json()["Preferences"]
    assert manual["TaxPrefs"]["PartnerTaxEnabled"] is False and manual["TaxPrefs"]["UsingSalesTax"] is True
    codes = ast.query("select * from TaxCode").json()["QueryResponse"]["TaxCode"]
    assert "California" in {code["Name"] for code in codes}


def test_ast_ignores_the_tax_code_sent_and_taxes_by_the_ship_address(ast):
    customer = ast.create_customer("Shipped To NY")
    invoice = ast.create_invoice(
        customer["Id"],
        lines=[sales_line(amount=200, qty=2, unit_price=100)],
        TxnTaxDetail={"TxnTaxCodeRef": {"value": "2"}},  # California: overridden by AST
        ShipAddr={"Line1": "1 Broadway", "City": "New York", "CountrySubDivisionCode": "NY"},
        BillAddr={"Line1": "1 Main", "City": "Austin", "CountrySubDivisionCode": "TX"},
    )
    detail = tax_detail(invoice)
    assert detail["TxnTaxCodeRef"] == {"value": "3"}  # New York
    assert detail["TotalTax"] == 17.75  # 8.875 % of 200: 8.00 + 9.00 + 0.75
    assert [line["Amount"] for line in detail["TaxLine"]] == [8.0, 9.0, 0.75]
    assert invoice["TotalAmt"] == 217.75


@pytest.mark.parametrize(
    ("invoice_fields", "customer_fields", "expected_code", "expected_tax"),
    [
        ({"BillAddr": {"CountrySubDivisionCode": "TX"}}, {}, "4", 8.25),  # invoice BillAddr, no ShipAddr
        ({}, {"BillAddr": {"City": "Seattle", "CountrySubDivisionCode": "WA"}}, "5", 10.1),  # customer's
        ({}, {}, "2", 7.25),  # the company's address (California)
        ({"ShipAddr": {"CountrySubDivisionCode": "OR"}}, {}, "6", 0.0),  # a state not in the table
    ],
)
def test_ast_address_order_ship_then_bill_then_customer_then_company(
    ast, invoice_fields, customer_fields, expected_code, expected_tax
):
    customer = ast.create_customer("Address Order", **customer_fields)
    invoice = ast.create_invoice(
        customer["Id"], lines=[sales_line(amount=100, qty=1, unit_price=100)], **invoice_fields
    )
    assert tax_detail(invoice)["TxnTaxCodeRef"] == {"value": expected_code}
    assert tax_detail(invoice)["TotalTax"] == expected_tax


def test_ast_taxes_only_tax_lines(ast):
    customer = ast.create_customer("Some Exempt")
    invoice = ast.create_invoice(
        customer["Id"],
        lines=[
            sales_line(amount=100, qty=1, unit_price=100),
            sales_line(amount=300, qty=2, unit_price=150, tax_code="NON"),
        ],
    )
    assert tax_detail(invoice)["TotalTax"] == 7.25  # California, on the TAX line only
    assert invoice["TotalAmt"] == 407.25


def test_ast_honours_a_total_tax_sent_and_prorates_it_across_the_code_rates(ast):
    customer = ast.create_customer("Given Tax")
    invoice = ast.create_invoice(
        customer["Id"],
        lines=[sales_line(amount=100, qty=1, unit_price=100)],
        TxnTaxDetail={"TotalTax": 10.00, "TxnTaxCodeRef": {"value": "5"}},
    )
    detail = tax_detail(invoice)
    assert detail["TxnTaxCodeRef"] == {"value": "2"}  # still AST's choice (California, the company address)
    assert detail["TotalTax"] == 10.0 and invoice["TotalAmt"] == 110.0
    # 6 % and 1.25 % of 7.25 %: 8.28 and the rest, 1.72
    assert [line["Amount"] for line in detail["TaxLine"]] == [8.28, 1.72]
    # A sparse update that doesn't send TotalTax lets AST compute again.
    updated = ast.post(
        "invoice", {"Id": invoice["Id"], "SyncToken": invoice["SyncToken"], "sparse": True, "PrivateNote": "x"}
    ).json()["Invoice"]
    assert updated["TxnTaxDetail"]["TotalTax"] == 7.25


def test_reset_seeds_the_ast_company_again(client, ast):
    assert client.post("/simulator/control/reset").json() == {"reset": True}
    company = SimCompany.objects.get(realm_id=AST_REALM_ID)
    assert company.automated_sales_tax is True
    assert SimEntity.objects.filter(company=company, entity_type="TaxCode", entity_id="2").exists()
    assert SimCompany.objects.get(realm_id=US_REALM_ID).automated_sales_tax is False
    state = client.get("/simulator/control/state", {"realm_id": AST_REALM_ID}).json()
    assert state["name"] == "Sandbox Company US AST" and state["counts"]["TaxRate"] == 10
    assert json.dumps(state)  # serialisable
