"""Webhooks in (issue #10 item 1) and payments in (item 2): the wire faked with `responses`."""

import json
import time
import tracemalloc
from decimal import Decimal

import pytest
import responses

from attune_qbo.billing.models import InvoiceStatus, Payment, PaymentSource
from config import keys
from integrations.models import (
    ConnectionStatus,
    LinkType,
    QuickBooksConnection,
    QuickBooksLink,
    QuickBooksUnappliedPayment,
    QuickBooksWebhookDelivery,
    QuickBooksWebhookEvent,
    UnappliedStatus,
    WebhookEventStatus,
)
from integrations.quickbooks.webhooks import derived_event_id, signature_for
from integrations.services.events import deliveries_unpack, event_process, events_process_pending
from integrations.services.usage import connection_usage
from tests.integrations.conftest import API, REALM, make_connection

URL = "/api/v1/integrations/quickbooks/webhooks"
OTHER_REALM = "9130000000000002"


def signed(body: bytes, token=None) -> dict:
    return {"intuit-signature": signature_for(body, token or keys.quickbooks_webhook_verifier_token())}


def cloudevent(entity_id="7", *, op="created", entity="payment", realm=REALM, event_id=None):
    return {
        "specversion": "1.0",
        "id": event_id or f"ev-{entity}-{entity_id}-{op}",
        "source": "intuit.abc",
        "type": f"qbo.{entity}.{op}.v1",
        "datacontenttype": "application/json",
        "time": "2026-11-29T12:00:00.000Z",
        "intuitentityid": entity_id,
        "intuitaccountid": realm,
        "data": {},
    }


def post(client, payload, *, content_type="application/cloudevents+json", headers=None, raw=None):
    body = raw if raw is not None else json.dumps(payload).encode()
    return client.generic(
        "POST", URL, body, content_type=content_type, headers=headers if headers is not None else signed(body)
    )


def receive(client, payload, **kwargs):
    """Deliver, then unpack the delivery into events as the task does."""
    response = post(client, payload, **kwargs)
    deliveries_unpack()
    return response


@pytest.fixture
def conn(tenant, dispatched):
    return make_connection(tenant.company)


@pytest.fixture
def no_queue(monkeypatch):
    queued = []
    monkeypatch.setattr("integrations.services.events.dispatch_processing", lambda: queued.append(1))
    return queued


# --- item 1: receiving ---------------------------------------------------------------------------------------


def test_cloudevents_delivery_is_stored_and_processing_queued_after_commit(
    client, conn, no_queue, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, [cloudevent("7"), cloudevent("8", op="updated")])
    assert response.status_code == 200
    assert no_queue == [1]
    assert QuickBooksWebhookDelivery.objects.count() == 1  # kept as it came: the answer is one INSERT
    assert deliveries_unpack() == (2, 0)
    assert QuickBooksWebhookDelivery.objects.count() == 0
    assert QuickBooksWebhookEvent.objects.filter(status=WebhookEventStatus.RECEIVED, company=conn.company).count() == 2


def test_legacy_delivery_with_application_json_gets_derived_ids(client, conn, no_queue):
    payload = {
        "eventNotifications": [
            {
                "realmId": REALM,
                "dataChangeEvent": {
                    "entities": [
                        {"name": "Payment", "id": "7", "operation": "Create", "lastUpdated": "2026-11-29T04:00:00-0800"}
                    ]
                },
            }
        ]
    }
    response = receive(client, payload, content_type="application/json")
    assert response.status_code == 200
    event = QuickBooksWebhookEvent.objects.get()
    assert event.event_id == derived_event_id(REALM, "Payment", "7", "created", "2026-11-29T04:00:00-0800")
    assert (event.entity_name, event.operation) == ("Payment", "created")
    receive(client, payload, content_type="application/json")  # Intuit's retry: same derived id
    assert QuickBooksWebhookEvent.objects.count() == 1


@pytest.mark.parametrize("kind", ["forged", "missing", "stale_body"])
def test_bad_signature_is_refused_and_nothing_stored(client, conn, no_queue, kind):
    body = json.dumps([cloudevent()]).encode()
    headers = {
        "forged": signed(body, token="not-the-verifier-token"),
        "missing": {},
        "stale_body": signed(json.dumps([cloudevent("99")]).encode()),  # a signature of another body
    }[kind]
    response = post(client, None, raw=body, headers=headers)
    assert response.status_code == 403
    assert set(response.json()) == {"code", "message"}
    assert QuickBooksWebhookDelivery.objects.count() == 0
    assert QuickBooksWebhookEvent.objects.count() == 0
    assert no_queue == []


def test_malformed_body_with_good_signature_answers_200_and_stores_nothing(client, conn, no_queue):
    for raw in (b"{not json", b'{"something": 1}', b'[1, 2, {"type": 3}]'):
        response = post(client, None, raw=raw, headers=signed(raw))
        assert response.status_code == 200
    assert deliveries_unpack() == (0, 0)  # logged and dropped; nothing stored, nothing left to retry
    assert QuickBooksWebhookDelivery.objects.count() == 0
    assert QuickBooksWebhookEvent.objects.count() == 0


def test_same_event_twice_is_stored_once(client, conn, no_queue):
    receive(client, [cloudevent()])
    receive(client, [cloudevent(), cloudevent()])
    assert QuickBooksWebhookEvent.objects.count() == 1


def test_same_event_id_in_two_realms_is_two_events(client, tenant, other_tenant, no_queue):
    make_connection(tenant.company, realm=REALM)
    make_connection(other_tenant.company, realm=OTHER_REALM)
    receive(
        client,
        [cloudevent("1", realm=REALM, event_id="same-id"), cloudevent("1", realm=OTHER_REALM, event_id="same-id")],
    )
    assert sorted(QuickBooksWebhookEvent.objects.values_list("company_id", flat=True)) == sorted(
        [tenant.company.pk, other_tenant.company.pk]
    )


def test_events_for_unknown_disconnected_or_other_tenants_realm_are_never_applied_elsewhere(
    client, tenant, other_tenant, no_queue
):
    make_connection(tenant.company, realm=REALM)
    make_connection(other_tenant.company, realm=OTHER_REALM, status=ConnectionStatus.DISCONNECTED)
    receive(client, [cloudevent("1", realm=REALM), cloudevent("2", realm=OTHER_REALM), cloudevent("3", realm="555")])
    events = {e.entity_id: e for e in QuickBooksWebhookEvent.objects.all()}
    assert events["1"].company_id == tenant.company.pk and events["1"].status == WebhookEventStatus.RECEIVED
    for key in ("2", "3"):
        assert events[key].company_id is None and events[key].status == WebhookEventStatus.IGNORED


def test_event_of_a_realm_disconnected_after_receipt_is_ignored(client, conn, no_queue):
    receive(client, [cloudevent()])
    QuickBooksConnection.objects.filter(pk=conn.pk).update(status=ConnectionStatus.DISCONNECTED)
    event = QuickBooksWebhookEvent.objects.get()
    assert event_process(event_id=event.pk) == "ignored"
    event.refresh_from_db()
    assert event.status == WebhookEventStatus.IGNORED


def test_ten_thousand_event_array_is_answered_fast_with_bounded_memory(client, conn, no_queue):
    events = [cloudevent(str(n), event_id=f"bulk-{n}") for n in range(10_000)]
    body = json.dumps(events).encode()
    assert len(body) > 2_500_000  # more than Django's DATA_UPLOAD_MAX_MEMORY_SIZE
    tracemalloc.start()
    started = time.perf_counter()
    response = post(client, None, raw=body, headers=signed(body))
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert response.status_code == 200
    assert peak < 40 * 1024 * 1024  # the answer holds the body and one row, never the events
    assert elapsed < 30  # not a timing test: a guard against something quadratic
    tracemalloc.start()
    assert deliveries_unpack() == (10_000, 0)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert QuickBooksWebhookEvent.objects.count() == 10_000
    assert peak < 120 * 1024 * 1024


def test_huge_delivery_is_refused_with_413(client, conn, no_queue, monkeypatch):
    monkeypatch.setattr("integrations.api.views.WEBHOOK_MAX_BYTES", 1000)
    body = json.dumps([cloudevent(str(n)) for n in range(20)]).encode()
    response = post(client, None, raw=body, headers=signed(body))
    assert response.status_code == 413
    assert response.json()["code"] == "too_large"
    assert QuickBooksWebhookDelivery.objects.count() == 0


def test_failed_enqueue_does_not_fail_the_request(client, conn, monkeypatch, django_capture_on_commit_callbacks):
    def broken(*args, **kwargs):
        raise ConnectionError("broker down")

    monkeypatch.setattr("django_q.tasks.async_task", broken)
    with django_capture_on_commit_callbacks(execute=True):
        response = post(client, [cloudevent()])
    assert response.status_code == 200
    assert QuickBooksWebhookDelivery.objects.count() == 1  # kept: the sweeper unpacks it
    assert events_process_pending() == 1


# --- item 2: payments in -------------------------------------------------------------------------------------


def linked_invoice(tenant, captured, qbo_id="130"):
    from tests.integrations.conftest import finalize

    invoice = finalize(tenant, captured)  # total 110.00
    QuickBooksLink.objects.create(
        company=tenant.company,
        realm_id=REALM,
        object_type=LinkType.INVOICE,
        object_id=invoice.pk,
        qbo_id=qbo_id,
        sync_token="0",
    )
    return invoice


def qbo_payment(pid="7", applied=(("130", 110),), total=None, **extra):
    lines = [{"Amount": amount, "LinkedTxn": [{"TxnId": inv, "TxnType": "Invoice"}]} for inv, amount in applied]
    return {
        "Id": pid,
        "SyncToken": "0",
        "TxnDate": "2026-11-29",
        "TotalAmt": total if total is not None else sum(a for _, a in applied),
        "CustomerRef": {"value": "58", "name": "Alpha Client"},
        "Line": lines,
        **extra,
    }


def add_read(intuit, body, pid="7", status=200):
    if status == 200:
        intuit.add(responses.GET, f"{API}/payment/{pid}", json={"Payment": body}, status=200)
    else:
        intuit.add(
            responses.GET,
            f"{API}/payment/{pid}",
            json={"Fault": {"Error": [{"Message": "Object Not Found", "code": "610"}], "type": "ValidationFault"}},
            status=400,
        )


def deliver_and_process(client, events):
    post(client, events)
    return events_process_pending()


def test_full_payment_from_quickbooks_marks_invoice_paid_once(client, connected, tenant, captured, intuit, no_queue):
    invoice = linked_invoice(tenant, captured)
    add_read(intuit, qbo_payment())
    deliver_and_process(client, [cloudevent("7")])
    deliver_and_process(client, [cloudevent("7", op="updated")])  # the same payment again
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.PAID and invoice.amount_paid == Decimal("110.00")
    payment = Payment.objects.get()
    assert payment.source == PaymentSource.QUICKBOOKS and payment.external_id == f"qbo:{REALM}:7:130"
    assert QuickBooksWebhookEvent.objects.filter(status=WebhookEventStatus.PROCESSED).count() == 2
    connected.refresh_from_db()
    assert connection_usage(connection=connected).reads == 2  # one metered read per event, counted once


def test_partial_payment_keeps_invoice_open(client, connected, tenant, captured, intuit, no_queue):
    invoice = linked_invoice(tenant, captured)
    add_read(intuit, qbo_payment(applied=(("130", 40),)))
    deliver_and_process(client, [cloudevent("7")])
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.FINALIZED and invoice.amount_paid == Decimal("40.00")


def test_payment_applied_to_two_invoices_is_recorded_on_each_once(
    client, connected, tenant, captured, intuit, no_queue
):
    first = linked_invoice(tenant, captured, "130")
    second = linked_invoice(tenant, captured, "131")
    add_read(intuit, qbo_payment(applied=(("130", 110), ("131", 30))))
    deliver_and_process(client, [cloudevent("7"), cloudevent("7", op="updated")])
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.amount_paid, second.amount_paid) == (Decimal("110.00"), Decimal("30.00"))
    assert Payment.objects.count() == 2


def test_update_before_create_and_delete_before_update_end_in_the_current_state(
    client, connected, tenant, captured, intuit, no_queue
):
    invoice = linked_invoice(tenant, captured)
    add_read(intuit, qbo_payment(applied=(("130", 50),)))
    deliver_and_process(client, [cloudevent("7", op="updated")])  # the update arrives first
    deliver_and_process(client, [cloudevent("7", op="created")])
    invoice.refresh_from_db()
    assert invoice.amount_paid == Decimal("50.00")
    deliver_and_process(client, [cloudevent("7", op="deleted")])
    intuit.replace(
        responses.GET,
        f"{API}/payment/7",
        json={"Fault": {"Error": [{"Message": "Object Not Found", "code": "610"}], "type": "ValidationFault"}},
        status=400,
    )
    deliver_and_process(client, [cloudevent("7", op="updated", event_id="late-update")])  # after the delete
    invoice.refresh_from_db()
    assert invoice.amount_paid == Decimal("0.00") and invoice.status == InvoiceStatus.FINALIZED
    assert Payment.objects.count() == 0


def test_payment_changed_in_quickbooks_is_updated_here(client, connected, tenant, captured, intuit, no_queue):
    invoice = linked_invoice(tenant, captured)
    add_read(intuit, qbo_payment())
    deliver_and_process(client, [cloudevent("7")])
    intuit.replace(responses.GET, f"{API}/payment/7", json={"Payment": qbo_payment(applied=(("130", 60),))})
    deliver_and_process(client, [cloudevent("7", op="updated")])
    invoice.refresh_from_db()
    assert invoice.amount_paid == Decimal("60.00") and invoice.status == InvoiceStatus.FINALIZED


def test_voided_payment_is_reversed_here(client, connected, tenant, captured, intuit, no_queue):
    invoice = linked_invoice(tenant, captured)
    add_read(intuit, qbo_payment())
    deliver_and_process(client, [cloudevent("7")])
    intuit.replace(
        responses.GET,
        f"{API}/payment/7",
        json={"Payment": {**qbo_payment(), "TotalAmt": 0, "Line": [], "PrivateNote": "Voided"}},
    )
    deliver_and_process(client, [cloudevent("7", op="voided")])
    invoice.refresh_from_db()
    assert invoice.amount_paid == Decimal("0.00") and invoice.status == InvoiceStatus.FINALIZED


def test_payment_we_pushed_never_comes_back_as_new(client, connected, tenant, captured, intuit, no_queue):
    invoice = linked_invoice(tenant, captured)
    QuickBooksLink.objects.create(
        company=tenant.company, realm_id=REALM, object_type=LinkType.PAYMENT, object_id=999, qbo_id="7"
    )
    add_read(intuit, qbo_payment())
    deliver_and_process(client, [cloudevent("7")])
    invoice.refresh_from_db()
    assert invoice.amount_paid == Decimal("0.00")
    assert Payment.objects.count() == 0


def test_payment_with_our_marker_but_no_link_is_ours(client, connected, tenant, captured, intuit, no_queue):
    linked_invoice(tenant, captured)
    add_read(intuit, qbo_payment(PrivateNote=f"Paid [attune:{tenant.company.pk}:p55]"))
    deliver_and_process(client, [cloudevent("7")])
    assert Payment.objects.count() == 0


def test_payment_not_linked_to_our_invoices_is_kept_for_a_person(client, connected, tenant, captured, intuit, no_queue):
    from integrations.selectors import unapplied_payments

    add_read(intuit, qbo_payment(applied=(("999", 25),), total=40))
    deliver_and_process(client, [cloudevent("7")])
    row = unapplied_payments(company=tenant.company).get()
    assert row.amount == Decimal("40.00") and row.qbo_payment_id == "7" and row.status == UnappliedStatus.OPEN
    intuit.replace(
        responses.GET,
        f"{API}/payment/7",
        json={"Fault": {"Error": [{"Message": "Object Not Found", "code": "610"}], "type": "ValidationFault"}},
        status=400,
    )
    deliver_and_process(client, [cloudevent("7", op="deleted")])
    assert QuickBooksUnappliedPayment.objects.get().status == UnappliedStatus.GONE
    assert not unapplied_payments(company=tenant.company).exists()


def test_payment_of_another_tenants_invoice_is_never_recorded_here(
    client, connected, tenant, other_tenant, captured, intuit, no_queue
):
    from tests.integrations.conftest import finalize

    theirs = finalize(other_tenant, captured)
    QuickBooksLink.objects.create(
        company=other_tenant.company,
        realm_id=OTHER_REALM,
        object_type=LinkType.INVOICE,
        object_id=theirs.pk,
        qbo_id="130",
    )
    add_read(intuit, qbo_payment())
    deliver_and_process(client, [cloudevent("7")])
    theirs.refresh_from_db()
    assert theirs.amount_paid == Decimal("0.00")
    assert Payment.objects.count() == 0
    assert QuickBooksUnappliedPayment.objects.get().company_id == tenant.company.pk


def test_worker_killed_mid_processing_loses_nothing_and_applies_once(
    client, connected, tenant, captured, intuit, no_queue, monkeypatch
):
    invoice = linked_invoice(tenant, captured)
    add_read(intuit, qbo_payment())
    receive(client, [cloudevent("7")])
    event = QuickBooksWebhookEvent.objects.get()

    def killed(*args, **kwargs):
        raise SystemExit("worker killed")

    monkeypatch.setattr("integrations.services.events._mark", killed)  # dies after the effect, before the mark
    with pytest.raises(SystemExit):
        event_process(event_id=event.pk)
    monkeypatch.undo()
    invoice.refresh_from_db()
    assert invoice.amount_paid == Decimal("0.00")  # the effect rolled back with the missing mark
    event.refresh_from_db()
    assert event.status == WebhookEventStatus.RECEIVED
    assert events_process_pending() == 1
    assert events_process_pending() == 0
    invoice.refresh_from_db()
    assert invoice.amount_paid == Decimal("110.00") and Payment.objects.count() == 1


def test_worker_killed_mid_unpacking_keeps_the_delivery_and_stores_each_event_once(client, conn, no_queue, monkeypatch):
    post(client, [cloudevent("7"), cloudevent("8")])
    real_store = __import__("integrations.services.events", fromlist=["events_store"]).events_store

    def store_then_die(*args, **kwargs):
        real_store(*args, **kwargs)
        raise SystemExit("worker killed")

    monkeypatch.setattr("integrations.services.events.events_store", store_then_die)
    with pytest.raises(SystemExit):
        deliveries_unpack()
    monkeypatch.undo()
    assert QuickBooksWebhookDelivery.objects.count() == 1  # its events rolled back with it
    assert QuickBooksWebhookEvent.objects.count() == 0
    assert deliveries_unpack() == (2, 0)
    assert deliveries_unpack() == (0, 0)
    assert QuickBooksWebhookEvent.objects.count() == 2


def test_read_failure_leaves_event_for_a_retry(client, connected, tenant, captured, intuit, no_queue):
    linked_invoice(tenant, captured)
    intuit.add(responses.GET, f"{API}/payment/7", json={"Fault": {"Error": [{"code": "10000"}]}}, status=503)
    receive(client, [cloudevent("7")])
    events_process_pending()
    event = QuickBooksWebhookEvent.objects.get()
    assert event.status == WebhookEventStatus.RECEIVED and event.attempts == 1


def test_unapplied_payment_resolved_by_a_person_leaves_the_list_and_is_scoped(
    client, connected, tenant, other_tenant, intuit, no_queue
):
    from integrations.selectors import unapplied_payments
    from integrations.services.payments import unapplied_payment_resolve

    add_read(intuit, qbo_payment(applied=(), total=40))
    deliver_and_process(client, [cloudevent("7")])
    row = unapplied_payments(company=tenant.company).get()
    with pytest.raises(QuickBooksUnappliedPayment.DoesNotExist):
        unapplied_payment_resolve(company=other_tenant.company, unapplied_id=row.pk)
    unapplied_payment_resolve(company=tenant.company, unapplied_id=row.pk, user=tenant.admin)
    assert not unapplied_payments(company=tenant.company).exists()
    assert unapplied_payments(company=tenant.company, include_closed=True).get().status == UnappliedStatus.RESOLVED


def test_an_event_that_cannot_be_applied_does_not_hold_back_the_others(
    client, connected, tenant, captured, intuit, no_queue, monkeypatch
):
    invoice = linked_invoice(tenant, captured)
    add_read(intuit, qbo_payment("7", applied=(("130", 10),)), pid="7")
    add_read(intuit, qbo_payment("8", applied=(("130", 20),)), pid="8")
    receive(client, [cloudevent("7"), cloudevent("8")])
    real = __import__("integrations.services.payments", fromlist=["x"]).payment_apply_from_quickbooks

    def broken_for_seven(*, connection, qbo_payment_id, qbo_payment):
        if qbo_payment_id == "7":
            raise RuntimeError("a bug")
        return real(connection=connection, qbo_payment_id=qbo_payment_id, qbo_payment=qbo_payment)

    monkeypatch.setattr("integrations.services.payments.payment_apply_from_quickbooks", broken_for_seven)
    events_process_pending()
    invoice.refresh_from_db()
    assert invoice.amount_paid == Decimal("20.00")  # payment 8 went on
    seven = QuickBooksWebhookEvent.objects.get(entity_id="7")
    assert seven.status == WebhookEventStatus.RECEIVED and seven.attempts == 1
    assert seven.message.startswith("Applying it here failed")
