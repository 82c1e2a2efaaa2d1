"""The simulator sends what Intuit sends after a change: signed webhooks (QBO-REFERENCE §4), in order, with
Intuit's retries, batched, and the switches that make them misbehave. A receiver on 127.0.0.1 checks the
signature with the verifier token, as the app will, and records every POST."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import threading
import time
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from config import keys
from integrations.simulator import webhooks
from integrations.simulator.models import SimGrant, SimWebhookEvent

from .conftest import CA_REALM_ID, US_REALM_ID, connect, control_headers, fault_code, sales_line

pytestmark = pytest.mark.django_db

S = "/simulator"
CLOUDEVENT_FIELDS = {
    "specversion",
    "id",
    "source",
    "type",
    "datacontenttype",
    "time",
    "intuitentityid",
    "intuitaccountid",
    "data",
}


def expected_signature(body: bytes) -> str:
    key = keys.quickbooks_webhook_verifier_token().encode()
    return base64.b64encode(hmac.new(key, body, hashlib.sha256).digest()).decode()


class Receiver:
    """The app's webhook endpoint, reduced to what matters: 403 on a bad signature, else the next queued
    status (200 when none), optionally slowly."""

    def __init__(self) -> None:
        self.posts: list[dict] = []
        self.statuses: list[int] = []
        self.sleep = 0.0
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                signature = self.headers.get("intuit-signature", "")
                valid = hmac.compare_digest(signature, expected_signature(body))
                receiver.posts.append(
                    {
                        "path": self.path,
                        "body": body,
                        "json": json.loads(body),
                        "content_type": self.headers.get("Content-Type"),
                        "signature": signature,
                        "valid": valid,
                    }
                )
                if receiver.sleep:
                    time.sleep(receiver.sleep)
                status = 403 if not valid else (receiver.statuses.pop(0) if receiver.statuses else 200)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/api/v1/integrations/quickbooks/webhooks"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def accepted(self) -> list[dict]:
        return [post for post in self.posts if post["valid"]]

    def events(self) -> list[dict]:
        """Every CloudEvent received with a valid signature, in arrival order."""
        return [event for post in self.accepted for event in post["json"]]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver(settings):
    server = Receiver()
    settings.QUICKBOOKS_SIMULATOR_WEBHOOK_URL = server.url
    yield server
    server.close()


def flush(client, force: bool = False) -> dict:
    response = client.post(f"{S}/control/webhooks/flush", {"force": force}, content_type="application/json")
    assert response.status_code == 200, response.content
    return response.json()


def arm(client, kind: str, count: int = 1, **extra):
    response = client.post(
        f"{S}/control/faults",
        {"target": "webhook", "kind": kind, "count": count, **extra},
        content_type="application/json",
    )
    assert response.status_code == 201, response.content


def kinds(events: list[dict]) -> list[tuple[str, str]]:
    return [(event["type"], event["intuitentityid"]) for event in events]


def pay(api, invoice, amount):
    response = api.post(
        "payment",
        {
            "CustomerRef": invoice["CustomerRef"],
            "TotalAmt": amount,
            "Line": [{"Amount": amount, "LinkedTxn": [{"TxnId": invoice["Id"], "TxnType": "Invoice"}]}],
        },
    )
    assert response.status_code == 200, response.content
    return response.json()["Payment"]


@pytest.fixture
def invoice(api):
    customer = api.create_customer("Webhook Customer")
    return api.create_invoice(customer["Id"], DocNumber="WH-1", lines=[sales_line(amount=300, qty=2, unit_price=150)])


# --- Formats and signature --------------------------------------------------------------------------------


def test_api_writes_are_delivered_as_one_signed_cloudevents_batch_after_flush(client, api, receiver, invoice):
    payment = pay(api, invoice, 100)
    assert receiver.posts == []  # nothing leaves before a flush (manual delivery in tests)

    result = flush(client)

    assert result["delivered"] == 1 and result["pending_events"] == 0
    [post] = receiver.posts
    assert post["valid"]
    assert post["path"] == "/api/v1/integrations/quickbooks/webhooks"
    assert post["content_type"] == "application/cloudevents+json"
    assert post["signature"] == expected_signature(post["body"])
    events = post["json"]
    assert isinstance(events, list)
    assert kinds(events) == [
        ("qbo.customer.created.v1", invoice["CustomerRef"]["value"]),
        ("qbo.invoice.created.v1", invoice["Id"]),
        ("qbo.payment.created.v1", payment["Id"]),
        ("qbo.invoice.updated.v1", invoice["Id"]),  # applying the payment changed the invoice (§0 #9)
    ]
    for event in events:
        assert set(event) == CLOUDEVENT_FIELDS
        assert event["specversion"] == "1.0"
        assert event["intuitaccountid"] == US_REALM_ID
        assert event["datacontenttype"] == "application/json"
        assert event["data"] == {}
        assert re.fullmatch(r"intuit\.[A-Za-z0-9+/]{43}=", event["source"])
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", event["time"])
    assert len({event["id"] for event in events}) == 4


def test_legacy_format_is_event_notifications_per_realm_as_application_json(client, connect_api, receiver):
    response = client.post(f"{S}/control/webhooks", {"format": "legacy"}, content_type="application/json")
    assert response.json()["format"] == "legacy"
    us, ca = connect_api(US_REALM_ID), connect_api(CA_REALM_ID)
    us_customer = us.create_customer("US Buyer")
    ca_customer = ca.create_customer("CA Buyer")

    flush(client)

    [post] = receiver.posts
    assert post["valid"] and post["content_type"] == "application/json"
    notifications = post["json"]["eventNotifications"]
    assert [n["realmId"] for n in notifications] == [US_REALM_ID, CA_REALM_ID]
    us_entity = notifications[0]["dataChangeEvent"]["entities"][0]
    assert set(us_entity) == {"name", "id", "operation", "lastUpdated"}
    assert (us_entity["name"], us_entity["id"], us_entity["operation"]) == ("Customer", us_customer["Id"], "Create")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d-0[78]00", us_entity["lastUpdated"])
    assert notifications[1]["dataChangeEvent"]["entities"][0]["id"] == ca_customer["Id"]


def test_cloudevents_batch_mixes_realms_and_routes_by_intuitaccountid(client, connect_api, receiver):
    connect_api(US_REALM_ID).create_customer("One")
    connect_api(CA_REALM_ID).create_customer("Two")
    flush(client)
    [post] = receiver.posts
    assert [event["intuitaccountid"] for event in post["json"]] == [US_REALM_ID, CA_REALM_ID]


def test_signature_is_hmac_sha256_of_the_raw_body_with_the_verifier_token(client, api, receiver):
    api.create_customer("Signed")
    flush(client)
    [post] = receiver.posts
    digest = hmac.new(b"attune-dev-webhook-verifier", post["body"], hashlib.sha256).digest()
    assert post["signature"] == base64.b64encode(digest).decode()


def test_corrupt_signature_switch_fails_verification_then_the_retry_is_signed_correctly(client, api, receiver):
    arm(client, "corrupt_signature")
    api.create_customer("Tampered")

    result = flush(client)

    first, retry = receiver.posts
    assert not first["valid"]  # the receiver answered 403
    assert retry["valid"] and retry["body"] == first["body"]
    assert result == {**result, "delivered": 1, "failed_attempts": 1}


# --- Delivery: batching, retries, ordering ----------------------------------------------------------------


def test_events_of_several_writes_share_one_delivery_up_to_the_batch_size(client, api, receiver, monkeypatch):
    monkeypatch.setattr(webhooks, "MAX_EVENTS_PER_DELIVERY", 3)
    for n in range(5):
        api.create_customer(f"Batch {n}")

    flush(client)

    assert [len(post["json"]) for post in receiver.posts] == [3, 2]
    assert [e["type"] for e in receiver.events()] == ["qbo.customer.created.v1"] * 5
    assert [int(e["intuitentityid"]) for e in receiver.events()] == sorted(
        int(e["intuitentityid"]) for e in receiver.events()
    )


def test_failed_delivery_is_retried_with_the_same_events_and_blocks_later_ones(client, api, receiver):
    receiver.statuses = [500, 500]
    first_customer = api.create_customer("First")

    result = flush(client)

    # Attempt 1 fails, the immediate retry (0 s) fails, the next one is 10 s away.
    assert result["delivered"] == 0 and result["failed_attempts"] == 2 and result["pending_deliveries"] == 1
    assert len(receiver.posts) == 2 and receiver.posts[0]["body"] == receiver.posts[1]["body"]
    second_customer = api.create_customer("Second")
    assert flush(client)["delivered"] == 0  # head-of-line: not due yet, and the later event waits behind it
    assert len(receiver.posts) == 2

    result = flush(client, force=True)  # time passes: the retry is due

    assert result["delivered"] == 2 and result["pending_events"] == 0
    assert receiver.posts[2]["body"] == receiver.posts[0]["body"]  # same CloudEvents ids on the retry
    assert kinds(receiver.events()[-2:]) == [
        ("qbo.customer.created.v1", first_customer["Id"]),
        ("qbo.customer.created.v1", second_customer["Id"]),
    ]
    deliveries = client.get(f"{S}/control/webhooks/deliveries").json()["deliveries"]
    assert [(d["state"], d["attempts"], d["last_status"]) for d in deliveries] == [
        ("delivered", 3, 200),
        ("delivered", 1, 200),
    ]


def test_retry_schedule_follows_intuit(client, api, receiver):
    receiver.statuses = [500] * 20
    api.create_customer("Down")
    flush(client)
    waits = []
    for _ in range(8):
        before = time.time()
        result = flush(client, force=True)
        assert result["delivered"] == 0
        waits.append(round(datetime.fromisoformat(result["next_attempt_at"]).timestamp() - before))
    assert waits == [20, 30, 300, 1200, 7200, 14400, 21600, 21600]


def test_only_http_200_acknowledges_a_delivery(client, api, receiver):
    receiver.statuses = [204, 202]
    api.create_customer("Picky")
    assert flush(client)["failed_attempts"] == 2
    assert flush(client, force=True)["delivered"] == 1


def test_an_answer_slower_than_3_seconds_is_a_failure(client, api, receiver, monkeypatch):
    monkeypatch.setattr(webhooks, "RESPONSE_TIMEOUT_SECONDS", 0.2)
    receiver.sleep = 0.5
    api.create_customer("Slow")
    result = flush(client)
    assert result["delivered"] == 0 and result["pending_deliveries"] == 1
    deliveries = client.get(f"{S}/control/webhooks/deliveries").json()["deliveries"]
    assert deliveries[0]["last_error"] == "ReadTimeout"


def test_unreachable_url_is_retried_not_lost(client, api, receiver):
    receiver.close()
    api.create_customer("Nobody home")
    result = flush(client)
    assert result["delivered"] == 0 and result["pending_deliveries"] == 1


# --- Switches ---------------------------------------------------------------------------------------------


def test_drop_switch_loses_the_next_delivery(client, api, receiver):
    arm(client, "drop")
    api.create_customer("Lost")
    assert flush(client)["delivered"] == 0
    kept = api.create_customer("Kept")
    flush(client)
    assert kinds(receiver.events()) == [("qbo.customer.created.v1", kept["Id"])]
    states = [d["state"] for d in client.get(f"{S}/control/webhooks/deliveries").json()["deliveries"]]
    assert states == ["dropped", "delivered"]


def test_delay_switch_holds_the_delivery_and_everything_behind_it(client, api, receiver):
    arm(client, "delay", seconds=0.5)
    api.create_customer("Late")
    assert flush(client)["delivered"] == 0
    api.create_customer("Behind")
    assert flush(client)["delivered"] == 0 and receiver.posts == []
    time.sleep(0.6)
    assert flush(client)["delivered"] == 2
    assert [e["intuitentityid"] for e in receiver.events()] == ["1", "2"]


def test_duplicate_switch_sends_the_same_delivery_twice(client, api, receiver):
    arm(client, "duplicate")
    api.create_customer("Twice")
    flush(client)
    first, second = receiver.posts
    assert first["body"] == second["body"] and first["valid"] and second["valid"]


def test_reorder_switch_delivers_the_next_two_events_in_reverse_order(client, api, receiver):
    arm(client, "reorder")
    earlier = api.create_customer("Earlier")
    later = api.create_customer("Later")
    flush(client)
    assert [len(post["json"]) for post in receiver.posts] == [1, 1]
    assert kinds(receiver.events()) == [
        ("qbo.customer.created.v1", later["Id"]),
        ("qbo.customer.created.v1", earlier["Id"]),
    ]


def test_reorder_switch_waits_for_a_second_event(client, api, receiver):
    arm(client, "reorder")
    api.create_customer("Alone")
    assert flush(client)["pending_events"] == 1 and receiver.posts == []
    api.create_customer("Company")
    flush(client)
    assert [e["intuitentityid"] for e in receiver.events()] == ["2", "1"]


def test_webhook_switches_refuse_a_realm_and_unknown_kinds(client):
    response = client.post(
        f"{S}/control/faults",
        {"target": "webhook", "kind": "drop", "realm_id": US_REALM_ID},
        content_type="application/json",
    )
    assert response.status_code == 400
    response = client.post(f"{S}/control/faults", {"target": "webhook", "kind": "500"}, content_type="application/json")
    assert response.status_code == 400


# --- Which writes notify ----------------------------------------------------------------------------------


def test_void_and_delete_through_the_api_notify(client, api, receiver, invoice):
    payment = pay(api, invoice, 300)
    voided = api.post(
        "payment", {"Id": payment["Id"], "SyncToken": "0"}, params={"operation": "update", "include": "void"}
    )
    assert voided.status_code == 200
    deleted = api.post("payment", {"Id": payment["Id"], "SyncToken": "1"}, params={"operation": "delete"})
    assert deleted.status_code == 200
    other = api.create_invoice(invoice["CustomerRef"]["value"], DocNumber="WH-2")
    assert api.post("invoice", {"Id": other["Id"], "SyncToken": "0"}, params={"operation": "void"}).status_code == 200
    assert api.post("invoice", {"Id": other["Id"], "SyncToken": "1"}, params={"operation": "delete"}).status_code == 200
    flush(client)
    types = [e["type"] for e in receiver.events()[2:]]
    assert types == [
        "qbo.payment.created.v1",
        "qbo.invoice.updated.v1",
        "qbo.invoice.updated.v1",  # the void gave the invoice its balance back
        "qbo.payment.voided.v1",
        "qbo.payment.deleted.v1",
        "qbo.invoice.created.v1",
        "qbo.invoice.voided.v1",
        "qbo.invoice.deleted.v1",
    ]


def test_refused_write_sends_nothing(client, api, receiver):
    assert api.post("customer", {"DisplayName": "a:b"}).status_code == 400
    assert SimWebhookEvent.objects.count() == 0


def test_company_not_connected_to_the_app_sends_nothing(client, api, receiver):
    SimGrant.objects.update(revoked_at="2026-01-01T00:00:00Z")
    response = client.post(
        f"{S}/control/companies/{US_REALM_ID}/customers", {"DisplayName": "Offline"}, content_type="application/json"
    )
    assert response.status_code == 201
    assert SimWebhookEvent.objects.count() == 0


def test_reset_empties_the_outbox(client, api, receiver):
    api.create_customer("Forgotten")
    client.post(f"{S}/control/reset")
    assert SimWebhookEvent.objects.count() == 0


# --- Directly in QuickBooks -------------------------------------------------------------------------------


def test_direct_customer_invoice_and_partial_payment_via_control_api_notify(client, api, receiver):
    customer = client.post(
        f"{S}/control/companies/{US_REALM_ID}/customers",
        {"DisplayName": "Walk-in Ltd", "PrimaryEmailAddr": {"Address": "ap@walkin.example"}},
        content_type="application/json",
    )
    assert customer.status_code == 201
    customer_id = customer.json()["Customer"]["Id"]
    response = client.post(
        f"{S}/control/companies/{US_REALM_ID}/invoices",
        {
            "CustomerRef": {"value": customer_id},
            "DocNumber": "QB-1001",
            "Line": [sales_line(amount=300, qty=2, unit_price=150)],
            "TxnTaxDetail": {"TxnTaxCodeRef": {"value": "2"}},
        },
        content_type="application/json",
    )
    assert response.status_code == 201, response.content
    invoice = response.json()["Invoice"]
    assert invoice["DocNumber"] == "QB-1001" and invoice["TotalAmt"] == 324.0  # 8 % California tax
    response = client.post(
        f"{S}/control/companies/{US_REALM_ID}/invoices/{invoice['Id']}/payment",
        {"amount": "100.00"},
        content_type="application/json",
    )
    assert response.status_code == 201
    payment = response.json()["Payment"]
    assert api.get(f"invoice/{invoice['Id']}").json()["Invoice"]["Balance"] == 224.0

    flush(client)

    assert kinds(receiver.events()) == [
        ("qbo.customer.created.v1", customer_id),
        ("qbo.invoice.created.v1", invoice["Id"]),
        ("qbo.payment.created.v1", payment["Id"]),
        ("qbo.invoice.updated.v1", invoice["Id"]),
    ]


def test_direct_void_and_delete_of_a_payment_give_the_balance_back_bump_sync_token_and_notify(
    client, api, receiver, invoice
):
    url = f"{S}/control/companies/{US_REALM_ID}"
    first = client.post(f"{url}/invoices/{invoice['Id']}/payment", {"amount": 100}, content_type="application/json")
    second = client.post(f"{url}/invoices/{invoice['Id']}/payment", {}, content_type="application/json")
    first_id, second_id = first.json()["Payment"]["Id"], second.json()["Payment"]["Id"]
    paid = api.get(f"invoice/{invoice['Id']}").json()["Invoice"]
    assert paid["Balance"] == 0.0 and paid["SyncToken"] == "2"

    voided = client.post(f"{url}/payments/{first_id}/void")
    assert voided.status_code == 200 and voided.json()["Payment"]["TotalAmt"] == 0.0
    after_void = api.get(f"invoice/{invoice['Id']}").json()["Invoice"]
    assert after_void["Balance"] == 100.0 and after_void["SyncToken"] == "3"

    deleted = client.post(f"{url}/payments/{second_id}/delete")
    assert deleted.status_code == 200 and deleted.json()["Payment"]["status"] == "Deleted"
    after_delete = api.get(f"invoice/{invoice['Id']}").json()["Invoice"]
    assert after_delete["Balance"] == 300.0 and after_delete["SyncToken"] == "4"
    assert after_delete.get("LinkedTxn", []) == []
    # A cached invoice token is now stale (5010).
    stale = api.post("invoice", {"Id": invoice["Id"], "SyncToken": "0", "sparse": True, "PrivateNote": "x"})
    assert stale.status_code == 400

    assert client.post(f"{url}/payments/{first_id}/void").status_code == 400  # already void
    gone = client.post(f"{url}/payments/{second_id}/delete")
    assert gone.status_code == 400 and fault_code(gone) == "610"  # gone: Object Not Found, as the API says
    assert client.post(f"{url}/payments/{first_id}/refund").status_code == 404

    flush(client)
    assert kinds(receiver.events()[2:]) == [
        ("qbo.payment.created.v1", first_id),
        ("qbo.invoice.updated.v1", invoice["Id"]),
        ("qbo.payment.created.v1", second_id),
        ("qbo.invoice.updated.v1", invoice["Id"]),
        ("qbo.invoice.updated.v1", invoice["Id"]),
        ("qbo.payment.voided.v1", first_id),
        ("qbo.invoice.updated.v1", invoice["Id"]),
        ("qbo.payment.deleted.v1", second_id),
    ]


def test_direct_invoice_is_refused_like_the_api(client, api):
    response = client.post(
        f"{S}/control/companies/{US_REALM_ID}/invoices",
        {"CustomerRef": {"value": "999"}},
        content_type="application/json",
    )
    assert response.status_code == 400 and "Fault" in response.json()


def test_receive_payment_button_sends_the_webhook(client, api, receiver, invoice):
    response = client.post(f"{S}/companies/{US_REALM_ID}/invoices/{invoice['Id']}/receive-payment", {"amount": "50"})
    assert response.status_code == 302
    flush(client)
    assert kinds(receiver.events()[-2:]) == [
        ("qbo.payment.created.v1", "1"),
        ("qbo.invoice.updated.v1", invoice["Id"]),
    ]
    assert api.get(f"invoice/{invoice['Id']}").json()["Invoice"]["Balance"] == 250.0


def test_pages_create_customer_and_invoice_and_void_and_delete_payments(client, api, receiver):
    base = f"{S}/companies/{US_REALM_ID}"
    assert client.post(f"{base}/customers/new", {"display_name": "Typed In", "email": "a@b.example"}).status_code == 302
    customer = api.query("select * from Customer where DisplayName = 'Typed In'").json()["QueryResponse"]["Customer"][0]
    response = client.post(
        f"{base}/invoices/new",
        {
            "customer": customer["Id"],
            "doc_number": "PAGE-1",
            "item": "2",
            "qty": "2",
            "unit_price": "150",
            "tax_code": "TAX",
            "txn_tax_code": "2",
        },
    )
    assert response.status_code == 302
    invoice = api.query("select * from Invoice where DocNumber = 'PAGE-1'").json()["QueryResponse"]["Invoice"][0]
    assert invoice["TotalAmt"] == 324.0
    client.post(f"{base}/invoices/{invoice['Id']}/receive-payment")
    client.post(f"{base}/invoices/{invoice['Id']}/receive-payment", {"amount": "1"})  # nothing left: refused
    assert client.post(f"{base}/payments/1/void").status_code == 302
    assert client.post(f"{base}/payments/1/delete").status_code == 302
    assert api.get(f"invoice/{invoice['Id']}").json()["Invoice"]["Balance"] == 324.0
    assert client.get(f"{base}/invoices").status_code == 200
    assert client.get(f"{base}/payments").status_code == 200
    flush(client)
    assert [e["type"] for e in receiver.events()] == [
        "qbo.customer.created.v1",
        "qbo.invoice.created.v1",
        "qbo.payment.created.v1",
        "qbo.invoice.updated.v1",
        "qbo.invoice.updated.v1",
        "qbo.payment.voided.v1",
        "qbo.payment.deleted.v1",
    ]


def test_direct_pages_need_a_signed_in_user(anonymous_client):
    response = anonymous_client.post(f"{S}/companies/{US_REALM_ID}/customers/new", {"display_name": "X"})
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_direct_control_endpoints_need_the_control_token(anonymous_client):
    response = anonymous_client.post(
        f"{S}/control/companies/{US_REALM_ID}/customers", {"DisplayName": "X"}, content_type="application/json"
    )
    assert response.status_code == 401


# --- Settings and delivery modes --------------------------------------------------------------------------


def test_default_url_is_the_app_webhook_path_on_the_simulator_base_url(client, settings):
    settings.QUICKBOOKS_SIMULATOR_WEBHOOK_URL = ""
    settings.QUICKBOOKS_SIMULATOR_BASE_URL = "http://127.0.0.1:8123"
    body = client.get(f"{S}/control/webhooks").json()
    assert body["url"] == "http://127.0.0.1:8123/api/v1/integrations/quickbooks/webhooks"
    assert body["format"] == "cloudevents" and body["delivery"] == "manual"


def test_control_api_changes_url_format_and_delivery_and_null_restores_settings(client, receiver):
    url = f"{S}/control/webhooks"
    changed = client.post(
        url, {"url": "http://127.0.0.1:9/hook", "format": "legacy", "delivery": "sync"}, content_type="application/json"
    ).json()
    assert (changed["url"], changed["format"], changed["delivery"]) == ("http://127.0.0.1:9/hook", "legacy", "sync")
    restored = client.post(url, {"url": None, "format": None, "delivery": None}, content_type="application/json").json()
    assert (restored["url"], restored["format"], restored["delivery"]) == (receiver.url, "cloudevents", "manual")
    for bad in ({"url": "ftp://x"}, {"url": "/relative"}, {"format": "xml"}, {"delivery": "often"}):
        assert client.post(url, bad, content_type="application/json").status_code == 400


def test_sync_delivery_sends_right_after_the_commit(
    client, api, receiver, settings, django_capture_on_commit_callbacks
):
    settings.QUICKBOOKS_SIMULATOR_WEBHOOK_DELIVERY = "sync"
    with django_capture_on_commit_callbacks(execute=True):
        customer = api.create_customer("Immediate")
    assert kinds(receiver.events()) == [("qbo.customer.created.v1", customer["Id"])]


def test_nothing_is_sent_before_the_commit(client, api, receiver, settings, django_capture_on_commit_callbacks):
    settings.QUICKBOOKS_SIMULATOR_WEBHOOK_DELIVERY = "sync"
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        api.create_customer("Uncommitted")
    assert callbacks and receiver.posts == []


@pytest.mark.django_db(transaction=True)
def test_background_delivery_sends_after_the_aggregation_window(receiver, settings):
    from django.contrib.auth import get_user_model
    from django.test import Client

    settings.QUICKBOOKS_SIMULATOR_WEBHOOK_DELIVERY = "background"
    settings.QUICKBOOKS_SIMULATOR_WEBHOOK_AGGREGATION_SECONDS = 0.3
    settings.QUICKBOOKS_SIMULATOR_REDIRECT_URIS = ["http://testserver/integrations/quickbooks/callback"]
    client = Client(headers=control_headers())
    client.force_login(get_user_model().objects.create_user(username="bg", password="pw"))
    token = connect(client, US_REALM_ID)["access_token"]
    for name in ("Background A", "Background B"):
        response = client.post(
            f"{S}/v3/company/{US_REALM_ID}/customer",
            data=json.dumps({"DisplayName": name}),
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
        )
        assert response.status_code == 200
    deadline = time.time() + 10
    while len(receiver.events()) < 2 and time.time() < deadline:
        time.sleep(0.05)
    assert [len(post["json"]) for post in receiver.posts] == [2]  # both writes in one delivery
    deadline = time.time() + 5
    while webhooks._worker is not None and webhooks._worker.is_alive() and time.time() < deadline:
        time.sleep(0.05)


# --- CDC for payments -------------------------------------------------------------------------------------


def test_cdc_returns_voided_payments_whole_and_deleted_ones_as_deleted_in_pacific_time(api, invoice):
    since = (timezone.now() - timedelta(minutes=5)).isoformat()
    voided = pay(api, invoice, 100)
    deleted = pay(api, invoice, 50)
    assert (
        api.post(
            "payment", {"Id": voided["Id"], "SyncToken": "0"}, params={"operation": "update", "include": "void"}
        ).status_code
        == 200
    )
    assert (
        api.post("payment", {"Id": deleted["Id"], "SyncToken": "0"}, params={"operation": "delete"}).status_code == 200
    )
    body = api.get("cdc", {"entities": "Payment,Invoice", "changedSince": since}).json()
    payments, invoices = body["CDCResponse"][0]["QueryResponse"]
    by_id = {p["Id"]: p for p in payments["Payment"]}
    assert by_id[voided["Id"]]["TotalAmt"] == 0.0 and by_id[voided["Id"]]["PrivateNote"] == "Voided"
    assert by_id[deleted["Id"]] == {
        "Id": deleted["Id"],
        "status": "Deleted",
        "domain": "QBO",
        "MetaData": by_id[deleted["Id"]]["MetaData"],
    }
    assert invoices["Invoice"][0]["Balance"] == 300.0
    pacific = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}-0[78]:00")
    for payment in payments["Payment"]:
        assert pacific.fullmatch(payment["MetaData"]["LastUpdatedTime"])
    assert pacific.fullmatch(body["time"])


def test_a_dropped_delivery_does_not_stop_the_ones_behind_it(client, api, receiver, monkeypatch):
    monkeypatch.setattr(webhooks, "MAX_EVENTS_PER_DELIVERY", 1)
    arm(client, "drop")
    api.create_customer("Dropped")
    kept = api.create_customer("Delivered")
    result = flush(client)
    assert result["delivered"] == 1 and result["pending_events"] == 0
    assert kinds(receiver.events()) == [("qbo.customer.created.v1", kept["Id"])]


def test_customer_update_and_direct_invoice_void_and_delete_notify(client, api, receiver):
    customer = api.create_customer("Renamed Later")
    updated = api.post(
        "customer", {"Id": customer["Id"], "SyncToken": customer["SyncToken"], "sparse": True, "Active": False}
    )
    assert updated.status_code == 200
    active = api.create_customer("Still Here")
    invoice = api.create_invoice(active["Id"], DocNumber="DIRECT-V")
    url = f"{S}/control/companies/{US_REALM_ID}/invoices/{invoice['Id']}"
    voided = client.post(f"{url}/void")
    assert voided.status_code == 200 and voided.json()["Invoice"]["TotalAmt"] == 0.0
    again = client.post(f"{url}/void")
    assert again.status_code == 400 and fault_code(again) == "6000"
    assert client.post(f"{url}/delete").status_code == 200
    flush(client)
    assert kinds(receiver.events()) == [
        ("qbo.customer.created.v1", customer["Id"]),
        ("qbo.customer.updated.v1", customer["Id"]),
        ("qbo.customer.created.v1", active["Id"]),
        ("qbo.invoice.created.v1", invoice["Id"]),
        ("qbo.invoice.voided.v1", invoice["Id"]),
        ("qbo.invoice.deleted.v1", invoice["Id"]),
    ]


def test_invoice_page_voids_and_deletes_and_refuses_unknown_operations(client, api, receiver):
    customer = api.create_customer("Page Voids")
    invoice = api.create_invoice(customer["Id"], DocNumber="PV-1")
    base = f"{S}/companies/{US_REALM_ID}/invoices/{invoice['Id']}"
    assert client.post(f"{base}/void").status_code == 302
    assert api.get(f"invoice/{invoice['Id']}").json()["Invoice"]["TotalAmt"] == 0.0
    assert client.post(f"{base}/delete").status_code == 302
    assert api.get(f"invoice/{invoice['Id']}").status_code == 400
    assert client.post(f"{base}/refund").status_code == 404
    flush(client)
    assert [e["type"] for e in receiver.events()][-2:] == ["qbo.invoice.voided.v1", "qbo.invoice.deleted.v1"]


def test_index_page_shows_webhook_settings_and_flush_button_works(client, api, receiver):
    page = client.get(f"{S}/")
    assert page.status_code == 200 and receiver.url in page.content.decode()
    api.create_customer("Flushed From The Page")
    assert client.post(f"{S}/webhooks/flush").status_code == 302
    assert len(receiver.events()) == 1
    assert client.post(f"{S}/webhooks", {"format": "legacy"}).status_code == 302
    assert client.get(f"{S}/control/webhooks").json()["format"] == "legacy"
