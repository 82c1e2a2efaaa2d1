"""Customers, Items, Accounts, TaxCodes and TaxRates."""

from __future__ import annotations

import pytest

from .conftest import CA_REALM_ID, GB_REALM_ID, fault_code

pytestmark = pytest.mark.django_db


def test_create_and_read_customer(api):
    created = api.create_customer("Acme Corp", PrimaryEmailAddr={"Address": "billing@acme.example"}, GivenName="Ada")
    assert created["Id"] and created["SyncToken"] == "0"
    assert created["DisplayName"] == "Acme Corp" and created["Active"] is True
    assert created["CurrencyRef"]["value"] == "USD"
    assert created["MetaData"]["CreateTime"]
    read = api.get(f"customer/{created['Id']}").json()["Customer"]
    assert read == created


def test_customer_display_name_is_unique_case_insensitively(api):
    api.create_customer("Acme Corp")
    response = api.post("customer", {"DisplayName": "  ACME corp "})
    assert response.status_code == 400
    error = response.json()["Fault"]["Error"][0]
    assert error["code"] == "6240" and error["Message"] == "Duplicate Name Exists Error"
    assert response.json()["Fault"]["type"] == "ValidationFault"
    assert response.json()["time"]


def test_customer_name_rules(api):
    response = api.post("customer", {"DisplayName": "Parent:Child"})
    assert response.status_code == 400 and fault_code(response) == "6000"
    response = api.post("customer", {"CompanyName": "Nameless"})
    assert response.status_code == 400 and fault_code(response) == "2020"
    response = api.post("customer", {"DisplayName": "x" * 501})
    assert fault_code(response) == "2050"
    response = api.post("customer", {"DisplayName": "Bad Mail", "PrimaryEmailAddr": {"Address": "nope"}})
    assert fault_code(response) == "6000"
    derived = api.create_customer(None, GivenName="Grace", FamilyName="Hopper")
    assert derived["DisplayName"] == "Grace Hopper"


def test_customer_sparse_update_and_sync_token(api):
    created = api.create_customer("Sparse Co", PrimaryEmailAddr={"Address": "a@b.example"})
    response = api.post(
        "customer", {"Id": created["Id"], "SyncToken": "0", "sparse": True, "DisplayName": "Sparse Company"}
    )
    assert response.status_code == 200
    updated = response.json()["Customer"]
    assert updated["SyncToken"] == "1"
    assert updated["DisplayName"] == "Sparse Company"
    assert updated["PrimaryEmailAddr"] == {"Address": "a@b.example"}
    stale = api.post("customer", {"Id": created["Id"], "SyncToken": "0", "sparse": True, "Notes": "late"})
    assert stale.status_code == 400
    error = stale.json()["Fault"]["Error"][0]
    assert error["code"] == "5010" and error["Message"] == "Stale Object Error"
    assert "were working on this at the same time" in error["Detail"]


def test_customer_full_update_clears_omitted_fields(api):
    created = api.create_customer("Full Co", Notes="keep?")
    updated = api.post("customer", {"Id": created["Id"], "SyncToken": "0", "DisplayName": "Full Co"}).json()
    assert "Notes" not in updated["Customer"]


def test_update_needs_sync_token_and_existing_id(api):
    created = api.create_customer("Needs Token")
    assert fault_code(api.post("customer", {"Id": created["Id"], "DisplayName": "x"})) == "2020"
    assert fault_code(api.post("customer", {"Id": "9999", "SyncToken": "0", "DisplayName": "x"})) == "610"


def test_inactive_customer_cannot_be_invoiced(api):
    created = api.create_customer("Gone Inc")
    api.post("customer", {"Id": created["Id"], "SyncToken": "0", "sparse": True, "Active": False})
    response = api.post(
        "invoice",
        {
            "CustomerRef": {"value": created["Id"]},
            "Line": [
                {"Amount": 10, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {"ItemRef": {"value": "2"}}}
            ],
        },
    )
    assert response.status_code == 400 and fault_code(response) == "610"
    # Inactive customers are hidden from queries unless asked for.
    assert api.query("select * from Customer").json()["QueryResponse"] == {}
    rows = api.query("select * from Customer where Active = false").json()["QueryResponse"]["Customer"]
    assert rows[0]["Active"] is False


def test_read_unknown_object_is_610(api):
    response = api.get("customer/424242")
    assert response.status_code == 400 and fault_code(response) == "610"


def test_unknown_entity_path_is_404(api):
    assert api.get("widget/1").status_code == 404
    assert api.post("widget", {}).status_code == 404


def test_item_create_read_query(api):
    response = api.post(
        "item", {"Name": "Workshop", "Type": "Service", "UnitPrice": 500, "IncomeAccountRef": {"value": "1"}}
    )
    assert response.status_code == 200
    item = response.json()["Item"]
    assert item["IncomeAccountRef"] == {"value": "1", "name": "Services"}
    assert api.get(f"item/{item['Id']}").json()["Item"]["Name"] == "Workshop"
    assert fault_code(api.post("item", {"Name": "workshop", "IncomeAccountRef": {"value": "1"}})) == "6240"
    assert fault_code(api.post("item", {"Name": "No Account", "Type": "Service"})) == "2020"
    assert fault_code(api.post("item", {"Name": "Bad Account", "IncomeAccountRef": {"value": "999"}})) == "2500"
    assert fault_code(api.post("item", {"Name": "Old Account", "IncomeAccountRef": {"value": "7"}})) == "610"
    assert fault_code(api.post("item", {"IncomeAccountRef": {"value": "1"}})) == "2020"
    assert fault_code(api.post("item", {"Name": "Kit", "Type": "Bundle", "IncomeAccountRef": {"value": "1"}})) == "2170"


def test_seeded_reference_data(api, connect_api):
    items = api.query("select * from Item").json()["QueryResponse"]["Item"]
    assert [i["Id"] for i in items] == ["1", "2", "3", "4"]  # 5 is inactive
    assert all(i["Type"] == "Service" and i["IncomeAccountRef"]["value"] for i in items)
    accounts = api.query("select * from Account where AccountType = 'Income'").json()["QueryResponse"]["Account"]
    assert {a["Id"] for a in accounts} == {"1", "2"}
    assert api.get("account/3").json()["Account"]["AccountType"] == "Accounts Receivable"
    codes = api.query("select * from TaxCode").json()["QueryResponse"]["TaxCode"]
    assert {c["Id"] for c in codes} == {"TAX", "NON", "2", "3"}
    assert api.get("taxrate/1").json()["TaxRate"]["RateValue"] == 8
    ca_codes = connect_api(CA_REALM_ID).query("select * from TaxCode").json()["QueryResponse"]["TaxCode"]
    assert {(c["Id"], c["Name"]) for c in ca_codes} == {("4", "GST"), ("5", "HST ON"), ("6", "Exempt")}
    gb = connect_api(GB_REALM_ID)
    gb_codes = gb.query("select * from TaxCode").json()["QueryResponse"]["TaxCode"]
    assert {c["Name"] for c in gb_codes} == {"20.0% S", "0.0% Z", "Exempt"}
    standard = gb.get("taxcode/2").json()["TaxCode"]
    assert standard["SalesTaxRateList"]["TaxRateDetail"][0]["TaxRateRef"]["value"] == "1"
    assert (
        gb.query("select * from TaxRate where Name = '20.0% S'").json()["QueryResponse"]["TaxRate"][0]["RateValue"]
        == 20
    )


def test_accounts_and_tax_codes_are_read_only(api):
    response = api.post("account", {"Name": "New", "AccountType": "Income"})
    assert response.status_code == 400 and fault_code(response) == "500"
    assert fault_code(api.post("taxcode", {"Name": "New"})) == "500"
    assert fault_code(api.post("customer", {"Id": "1", "SyncToken": "0"}, params={"operation": "delete"})) == "500"
