"""The batch endpoint as strict as Intuit (QBO-REFERENCE §2.6, §2.8, §3.4), the time scale and the call counters."""

from __future__ import annotations

import json
import time

import pytest

from integrations.simulator import limits

from .conftest import US_REALM_ID, fault_code, invoice_body

pytestmark = pytest.mark.django_db


def configure(client, **fields):
    response = client.post("/simulator/control/settings", json.dumps(fields), content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()


def calls(client) -> dict:
    return client.get("/simulator/control/state", {"realm_id": US_REALM_ID}).json()["calls"]


def test_more_than_30_items_is_refused_with_1040(api):
    items = [{"bId": str(i), "Query": "select * from Item"} for i in range(31)]
    response = api.post("batch", {"BatchItemRequest": items})
    assert response.status_code == 400 and fault_code(response) == "1040"
    assert api.post("batch", {"BatchItemRequest": items[:30]}).status_code == 200


def test_with_a_requestid_bids_are_at_most_10_and_the_requestid_at_most_36_characters(api):
    item = {"bId": "b" * 11, "Query": "select * from Item"}
    refused = api.post("batch", {"BatchItemRequest": [item]}, params={"requestid": "r1"})
    assert refused.status_code == 400 and fault_code(refused) == "2050"
    assert "bId" in refused.content.decode()
    assert api.post("batch", {"BatchItemRequest": [item]}).status_code == 200  # no requestid: long bIds are fine
    ok = {"bId": "b" * 10, "Query": "select * from Item"}
    assert api.post("batch", {"BatchItemRequest": [ok]}, params={"requestid": "r" * 36}).status_code == 200
    too_long = api.post("batch", {"BatchItemRequest": [ok]}, params={"requestid": "r" * 37})
    assert too_long.status_code == 400 and fault_code(too_long) == "2050"


def test_items_cannot_see_what_earlier_items_of_the_same_batch_created(api):
    response = api.post(
        "batch",
        {
            "BatchItemRequest": [
                {"bId": "c1", "operation": "create", "Customer": {"DisplayName": "Fresh Customer"}},
                {"bId": "q1", "Query": "select * from Customer where DisplayName = 'Fresh Customer'"},
            ]
        },
    )
    assert response.status_code == 200
    items = {item["bId"]: item for item in response.json()["BatchItemResponse"]}
    customer_id = items["c1"]["Customer"]["Id"]
    assert "Customer" not in items["q1"]["QueryResponse"]  # the query did not see it
    # An invoice for it in the same batch fails (Fault with HTTP 200); in the next batch it works.
    same = api.post(
        "batch",
        {
            "BatchItemRequest": [
                {"bId": "c2", "operation": "create", "Customer": {"DisplayName": "Second Customer"}},
                {"bId": "i1", "operation": "create", "Invoice": invoice_body("PLACEHOLDER", DocNumber="S-1")},
            ]
        },
    )
    second_id = same.json()["BatchItemResponse"][0]["Customer"]["Id"]
    retry = api.post(
        "batch",
        {
            "BatchItemRequest": [
                {"bId": "c3", "operation": "create", "Customer": {"DisplayName": "Third Customer"}},
                {"bId": "i2", "operation": "create", "Invoice": invoice_body(str(int(second_id) + 1), DocNumber="S-2")},
                {"bId": "i3", "operation": "create", "Invoice": invoice_body(customer_id, DocNumber="S-3")},
            ]
        },
    )
    assert retry.status_code == 200
    results = {item["bId"]: item for item in retry.json()["BatchItemResponse"]}
    assert results["i2"]["Fault"]["Error"][0]["code"] == "2500"  # the customer made by c3, unseen
    assert results["i3"]["Invoice"]["CustomerRef"]["value"] == customer_id  # made by an earlier batch: fine


def test_each_item_is_metered_like_a_call_and_counters_are_kept_by_kind(client, api):
    before = calls(client)
    api.get("preferences")
    api.post("customer", {"DisplayName": "Single Write"})
    items = [{"bId": str(i), "operation": "create", "Customer": {"DisplayName": f"Batch {i}"}} for i in range(4)]
    items.append({"bId": "q", "Query": "select * from Item"})
    assert api.post("batch", {"BatchItemRequest": items}).status_code == 200
    after = calls(client)
    delta = {kind: after[kind] - before[kind] for kind in after}
    assert delta == {"reads": 2, "writes": 1, "batch_requests": 1, "batch_items": 5}
    state = client.get("/simulator/control/state", {"realm_id": US_REALM_ID}).json()
    assert state["api_calls"] >= 7  # 1 read + 1 write + 5 metered items


def test_40_batch_requests_a_minute_per_realm(client, api):
    configure(client, batch_requests_per_minute=2)
    query = {"BatchItemRequest": [{"bId": "1", "Query": "select * from Item"}]}
    assert api.post("batch", query).status_code == 200
    assert api.post("batch", query).status_code == 200
    throttled = api.post("batch", query)
    assert throttled.status_code == 429 and fault_code(throttled) == "3001"


def test_time_scale_shortens_the_minute_with_the_same_limits(client, api, settings):
    settings.QUICKBOOKS_SIMULATOR_TIME_SCALE = 30  # a "minute" lasts 2 s
    assert configure(client, requests_per_minute=2)["time_scale"] == 30
    window = limits.window_seconds(30)
    assert window == 2
    # Start at the beginning of a window so the three calls fall into one.
    time.sleep(window - (time.time() % window) + 0.05)
    assert api.get("preferences").status_code == 200
    assert api.get("preferences").status_code == 200
    throttled = api.get("preferences")
    assert throttled.status_code == 429 and 1 <= int(throttled["Retry-After"]) <= 2
    time.sleep(int(throttled["Retry-After"]) + 0.05)
    assert api.get("preferences").status_code == 200  # the next scaled minute


def test_time_scale_can_be_set_on_the_control_api(client):
    assert configure(client, time_scale=10)["time_scale"] == 10
    refused = client.post("/simulator/control/settings", json.dumps({"time_scale": 0}), content_type="application/json")
    assert refused.status_code == 400 and "time_scale" in refused.json()["error"]
    assert configure(client, time_scale=None)["time_scale"] == 1
