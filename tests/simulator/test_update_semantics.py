"""Updates as Intuit does them (QBO-REFERENCE §2.4): sparse never clears, full clears what it omits,
computed fields are never taken from the request, unset fields are left out of answers."""

from __future__ import annotations

import pytest

from .conftest import invoice_body, sales_line

pytestmark = pytest.mark.django_db

ADDRESS = {"Line1": "1 Market St", "City": "San Francisco", "CountrySubDivisionCode": "CA", "PostalCode": "94105"}


@pytest.fixture
def customer(api):
    return api.create_customer("Update Customer")


@pytest.fixture
def full_invoice(api, customer):
    return api.create_invoice(
        customer["Id"],
        CustomerMemo={"value": "Thanks!"},
        BillEmail={"Address": "billing@example.com"},
        BillAddr=ADDRESS,
        ShipAddr=ADDRESS,
        PrivateNote="internal",
        TxnDate="2026-01-10",
        DueDate="2026-03-01",
        TxnTaxDetail={"TxnTaxCodeRef": {"value": "2"}},
    )


def update(api, entity: str, body: dict) -> dict:
    response = api.post(entity, body)
    assert response.status_code == 200, response.content
    return response.json()[entity.capitalize()]


def test_sparse_update_ignores_empty_values_and_keeps_omitted_fields(api, full_invoice):
    updated = update(
        api,
        "invoice",
        {
            "Id": full_invoice["Id"],
            "SyncToken": full_invoice["SyncToken"],
            "sparse": True,
            "CustomerMemo": {"value": ""},
            "BillEmail": {},
            "PrivateNote": "",
            "ShipAddr": None,
            "DueDate": "",
            "DocNumber": "",
        },
    )
    for field in ("CustomerMemo", "BillEmail", "BillAddr", "ShipAddr", "PrivateNote", "DueDate", "DocNumber"):
        assert updated[field] == full_invoice[field], field
    assert updated["TxnTaxDetail"]["TxnTaxCodeRef"] == {"value": "2"}  # kept
    assert updated["SyncToken"] == "1"


def test_full_update_clears_every_writable_field_it_omits(api, full_invoice, customer):
    updated = update(
        api,
        "invoice",
        {
            "Id": full_invoice["Id"],
            "SyncToken": full_invoice["SyncToken"],
            "CustomerRef": {"value": customer["Id"]},
            "TxnDate": "2026-01-10",
            "Line": [sales_line()],
        },
    )
    for field in ("CustomerMemo", "BillEmail", "BillAddr", "ShipAddr", "PrivateNote", "TxnTaxDetail.TxnTaxCodeRef"):
        head, _, tail = field.partition(".")
        assert (tail not in updated.get(head, {})) if tail else (head not in updated), field
    assert updated["DueDate"] == "2026-02-09"  # back to its default, TxnDate + 30 days
    assert updated["TxnTaxDetail"]["TotalTax"] == 0.0


def test_full_update_of_a_customer_clears_omitted_fields(api):
    created = api.create_customer(
        "Full Customer",
        PrimaryEmailAddr={"Address": "a@example.com"},
        BillAddr=ADDRESS,
        CompanyName="Full Co",
        Notes="note",
    )
    updated = update(api, "customer", {"Id": created["Id"], "SyncToken": "0", "DisplayName": "Full Customer"})
    for field in ("PrimaryEmailAddr", "BillAddr", "CompanyName", "Notes"):
        assert field not in updated, field
    # A sparse customer update with empty values clears nothing.
    again = update(
        api,
        "customer",
        {"Id": created["Id"], "SyncToken": "1", "sparse": True, "CompanyName": "Back Co", "Notes": "", "BillAddr": {}},
    )
    assert again["CompanyName"] == "Back Co" and "Notes" not in again and "BillAddr" not in again


def test_sparse_customer_update_keeps_what_it_does_not_send(api):
    created = api.create_customer("Sparse Keep", PrimaryEmailAddr={"Address": "k@example.com"}, BillAddr=ADDRESS)
    updated = update(
        api,
        "customer",
        {"Id": created["Id"], "SyncToken": "0", "sparse": True, "PrimaryEmailAddr": {"Address": ""}, "Notes": "n"},
    )
    assert updated["PrimaryEmailAddr"] == {"Address": "k@example.com"}
    assert updated["BillAddr"] == ADDRESS and updated["Notes"] == "n"


def test_read_only_and_computed_fields_are_never_taken_from_the_request(api, customer):
    body = invoice_body(
        customer["Id"],
        TotalAmt=1,
        Balance=2,
        HomeTotalAmt=3,
        LinkedTxn=[{"TxnId": "99", "TxnType": "Payment"}],
        TxnTaxDetail={
            "TxnTaxCodeRef": {"value": "2"},
            "TaxLine": [
                {"Amount": 500, "DetailType": "TaxLineDetail", "TaxLineDetail": {"TaxRateRef": {"value": "1"}}}
            ],
        },
        MetaData={"CreateTime": "2001-01-01T00:00:00-08:00"},
    )
    created = api.post("invoice", body).json()["Invoice"]
    assert created["TotalAmt"] == 162.0 and created["Balance"] == 162.0  # 150 + 8 % tax
    assert created["LinkedTxn"] == [] and "HomeTotalAmt" not in created
    assert [line["Amount"] for line in created["TxnTaxDetail"]["TaxLine"]] == [12.0]
    assert not created["MetaData"]["CreateTime"].startswith("2001")
    updated = update(
        api,
        "invoice",
        {**created, "TotalAmt": 5, "Balance": 0, "LinkedTxn": [{"TxnId": "1", "TxnType": "Payment"}]},
    )
    assert updated["TotalAmt"] == 162.0 and updated["Balance"] == 162.0 and updated["LinkedTxn"] == []


def test_lines_sent_in_any_update_replace_the_lines(api, customer):
    invoice = api.create_invoice(
        customer["Id"], lines=[sales_line(), sales_line(amount=75, qty=1, unit_price=75, item="3")]
    )
    for sparse in (True, False):
        body = {
            "Id": invoice["Id"],
            "SyncToken": invoice["SyncToken"],
            "CustomerRef": {"value": customer["Id"]},
            "Line": [sales_line(amount=50, qty=1, unit_price=50, item="4")],
        }
        if sparse:
            body["sparse"] = True
        invoice = update(api, "invoice", body)
        sales = [line for line in invoice["Line"] if line["DetailType"] == "SalesItemLineDetail"]
        assert [line["SalesItemLineDetail"]["ItemRef"]["value"] for line in sales] == ["4"], sparse
        assert invoice["TotalAmt"] == 50.0


def test_unset_fields_are_left_out_of_answers(api, customer):
    invoice = api.create_invoice(
        customer["Id"],
        CustomerMemo={"value": ""},
        BillEmail={"Address": ""},
        PrivateNote="",
        ShipAddr={"Line1": "", "City": ""},
        BillAddr={"Line1": "5 Elm", "Line2": "", "City": "Reno"},
    )
    for field in ("CustomerMemo", "BillEmail", "PrivateNote", "ShipAddr"):
        assert field not in invoice, field
    assert invoice["BillAddr"] == {"Line1": "5 Elm", "City": "Reno"}
    assert "TaxLine" not in invoice["TxnTaxDetail"]  # no tax code, no tax lines
    created = api.create_customer("No Extras", PrimaryEmailAddr={"Address": ""}, CompanyName="", Notes=None)
    for field in ("PrimaryEmailAddr", "CompanyName", "Notes"):
        assert field not in created, field
    info = api.get(f"companyinfo/{api.realm_id}").json()["CompanyInfo"]
    assert all(value not in ("", {}, None) for value in info.values())


def test_sparse_update_of_tax_detail_keeps_the_stored_tax_code(api, full_invoice):
    updated = update(
        api,
        "invoice",
        {
            "Id": full_invoice["Id"],
            "SyncToken": full_invoice["SyncToken"],
            "sparse": True,
            "TxnTaxDetail": {"TotalTax": 1, "TxnTaxCodeRef": {"value": ""}},
        },
    )
    assert updated["TxnTaxDetail"]["TxnTaxCodeRef"] == {"value": "2"}
    assert updated["TxnTaxDetail"]["TotalTax"] == full_invoice["TxnTaxDetail"]["TotalTax"]  # no AST: computed
