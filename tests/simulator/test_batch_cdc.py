"""Batch and change data capture."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from integrations.simulator.models import SimEntity

from .conftest import fault_code, invoice_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(api):
    return api.create_customer("Batch Customer")


def test_batch_mixes_creates_updates_queries_and_per_item_faults(api, customer):
    existing = api.create_invoice(customer["Id"], DocNumber="B-0")
    response = api.post(
        "batch",
        {
            "BatchItemRequest": [
                {"bId": "1", "operation": "create", "Invoice": invoice_body(customer["Id"], DocNumber="B-1")},
                {"bId": "2", "operation": "create", "Invoice": invoice_body(customer["Id"], DocNumber="B-0")},
                {
                    "bId": "3",
                    "operation": "update",
                    "Invoice": {"Id": existing["Id"], "SyncToken": "0", "sparse": True, "PrivateNote": "from batch"},
                },
                {"bId": "4", "Query": "select * from Invoice where DocNumber = 'B-0'"},
                {"bId": "5", "operation": "create", "Customer": {"DisplayName": "Batch Customer"}},
            ]
        },
    )
    assert response.status_code == 200
    items = {item["bId"]: item for item in response.json()["BatchItemResponse"]}
    assert items["1"]["Invoice"]["DocNumber"] == "B-1"
    assert items["2"]["Fault"]["Error"][0]["code"] == "6140"
    assert items["2"]["Fault"]["type"] == "ValidationFault"
    assert items["3"]["Invoice"]["PrivateNote"] == "from batch"
    assert items["4"]["QueryResponse"]["Invoice"][0]["Id"] == existing["Id"]
    assert items["5"]["Fault"]["Error"][0]["code"] == "6240"
    assert api.query("select count(*) from Invoice").json()["QueryResponse"]["totalCount"] == 2


def test_batch_void_delete_and_duplicate_option(api, customer):
    to_void = api.create_invoice(customer["Id"], DocNumber="V-1")
    to_delete = api.create_invoice(customer["Id"], DocNumber="D-1")
    response = api.post(
        "batch",
        {
            "BatchItemRequest": [
                {
                    "bId": "v",
                    "operation": "update",
                    "optionsData": "void",
                    "Invoice": {"Id": to_void["Id"], "SyncToken": "0"},
                },
                {"bId": "d", "operation": "delete", "Invoice": {"Id": to_delete["Id"], "SyncToken": "0"}},
                {
                    "bId": "dup",
                    "operation": "create",
                    "optionsData": "allowduplicatedocnum",
                    "Invoice": invoice_body(customer["Id"], DocNumber="V-1"),
                },
            ]
        },
    )
    items = {item["bId"]: item for item in response.json()["BatchItemResponse"]}
    assert items["v"]["Invoice"]["TotalAmt"] == 0
    assert items["d"]["Invoice"]["status"] == "Deleted"
    assert items["dup"]["Invoice"]["DocNumber"] == "V-1"


def test_batch_over_30_items_is_1040(api, customer):
    items = [{"bId": str(i), "Query": "select * from Item"} for i in range(31)]
    response = api.post("batch", {"BatchItemRequest": items})
    assert response.status_code == 400 and fault_code(response) == "1040"


def test_batch_needs_items_and_unique_bids(api):
    assert fault_code(api.post("batch", {})) == "2020"
    duplicate = api.post("batch", {"BatchItemRequest": [{"bId": "1", "Query": "select * from Item"}] * 2})
    assert duplicate.status_code == 400


def test_batch_requestid_replays_the_whole_batch(api, customer):
    body = {
        "BatchItemRequest": [
            {"bId": "1", "operation": "create", "Invoice": invoice_body(customer["Id"], DocNumber="RB-1")}
        ]
    }
    first = api.post("batch", body, params={"requestid": "batch-1"})
    second = api.post("batch", body, params={"requestid": "batch-1"})
    assert first.json() == second.json()
    assert "Invoice" in second.json()["BatchItemResponse"][0]
    too_long = api.post("batch", body, params={"requestid": "b" * 37})
    assert too_long.status_code == 400


# --- CDC -------------------------------------------------------------------------------------------------


def test_cdc_returns_changes_since_and_deleted_objects(api, customer):
    old = api.create_invoice(customer["Id"], DocNumber="OLD")
    SimEntity.objects.filter(entity_type="Invoice", entity_id=old["Id"]).update(
        updated_at=timezone.now() - timedelta(days=2)
    )
    SimEntity.objects.filter(entity_type="Customer").update(updated_at=timezone.now() - timedelta(days=2))
    since = (timezone.now() - timedelta(days=1)).isoformat()
    fresh = api.create_invoice(customer["Id"], DocNumber="NEW")
    gone = api.create_invoice(customer["Id"], DocNumber="GONE")
    api.post("invoice", {"Id": gone["Id"], "SyncToken": "0"}, params={"operation": "delete"})
    payment = api.post(
        "payment",
        {
            "CustomerRef": {"value": customer["Id"]},
            "TotalAmt": 10,
            "Line": [{"Amount": 10, "LinkedTxn": [{"TxnId": fresh["Id"], "TxnType": "Invoice"}]}],
        },
    )
    assert payment.status_code == 200
    response = api.get("cdc", {"entities": "Invoice,Customer,Payment", "changedSince": since})
    assert response.status_code == 200
    body = response.json()
    assert body["time"]
    query_responses = body["CDCResponse"][0]["QueryResponse"]
    invoices = query_responses[0]["Invoice"]
    assert {i["Id"] for i in invoices} == {fresh["Id"], gone["Id"]}
    deleted = next(i for i in invoices if i["Id"] == gone["Id"])
    assert deleted["status"] == "Deleted"
    assert next(i for i in invoices if i["Id"] == fresh["Id"])["Balance"] == 140.0
    assert query_responses[1] == {}
    assert query_responses[2]["Payment"][0]["TotalAmt"] == 10.0


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"entities": "Invoice", "changedSince": (timezone.now() - timedelta(days=31)).isoformat()}, "4001"),
        ({"entities": "TaxCode", "changedSince": timezone.now().isoformat()}, "4001"),
        ({"entities": "TaxRate,Invoice", "changedSince": timezone.now().isoformat()}, "4001"),
        ({"entities": "Invoice", "changedSince": "yesterday"}, "4001"),
        ({"entities": "Invoice"}, "2020"),
        ({"changedSince": timezone.now().isoformat()}, "2020"),
    ],
)
def test_cdc_refusals(api, params, code):
    response = api.get("cdc", params)
    assert response.status_code == 400 and fault_code(response) == code


def test_cdc_accepts_a_date(api, customer):
    today = timezone.now().date().isoformat()
    response = api.get("cdc", {"entities": "Customer", "changedSince": today})
    assert response.status_code == 200
