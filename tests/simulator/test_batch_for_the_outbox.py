"""What the outbox batches rely on from the batch endpoint (QBO-REFERENCE §2.4, §2.6, §2.8), checked against the
simulator: updates in a batch (sparse and full) with per-item 5010 on a stale SyncToken, and one requestid store per
company, so a retried batch replays and a requestid already used by a batch never writes again."""

from __future__ import annotations

import pytest

from .conftest import invoice_body

pytestmark = pytest.mark.django_db


@pytest.fixture
def customer(api):
    return api.create_customer("Outbox Batch Customer")


def items_of(response) -> dict:
    assert response.status_code == 200, response.content
    return {item["bId"]: item for item in response.json()["BatchItemResponse"]}


def count_invoices(api) -> int:
    return api.query("select count(*) from Invoice").json()["QueryResponse"]["totalCount"]


def test_updates_in_a_batch_check_the_synctoken_per_item_and_full_updates_clear(api, customer):
    first = api.create_invoice(customer["Id"], DocNumber="OB-1", PrivateNote="keep?")
    second = api.create_invoice(customer["Id"], DocNumber="OB-2")
    items = items_of(
        api.post(
            "batch",
            {
                "BatchItemRequest": [
                    {
                        "bId": "i1",
                        "operation": "update",
                        "Invoice": {
                            **invoice_body(customer["Id"], DocNumber="OB-1"),
                            "Id": first["Id"],
                            "SyncToken": "0",
                        },
                    },
                    {
                        "bId": "i2",
                        "operation": "update",
                        "Invoice": {"Id": second["Id"], "SyncToken": "7", "sparse": True, "PrivateNote": "stale"},
                    },
                    {"bId": "i3", "operation": "create", "Invoice": invoice_body(customer["Id"], DocNumber="OB-3")},
                ]
            },
            params={"requestid": "ob-update-check"},
        )
    )
    assert items["i1"]["Invoice"]["SyncToken"] == "1"
    assert "PrivateNote" not in items["i1"]["Invoice"] or not items["i1"]["Invoice"]["PrivateNote"]  # full: cleared
    assert items["i2"]["Fault"]["Error"][0]["code"] == "5010"  # only that item; the others were applied
    assert items["i3"]["Invoice"]["DocNumber"] == "OB-3" and count_invoices(api) == 3


def test_a_batch_requestid_replays_the_batch_and_a_single_create_with_it_writes_nothing(api, customer):
    body = {"BatchItemRequest": [{"bId": "i9", "operation": "create", "Invoice": invoice_body(customer["Id"])}]}
    first = items_of(api.post("batch", body, params={"requestid": "ob0123456789abcdef"}))
    again = items_of(api.post("batch", body, params={"requestid": "ob0123456789abcdef"}))
    assert first == again and count_invoices(api) == 1
    single = api.post("invoice", invoice_body(customer["Id"]), params={"requestid": "ob0123456789abcdef"})
    assert "Invoice" not in single.json() and count_invoices(api) == 1  # the batch's answer, not a new invoice
