"""Payments out (issue #10 item 3): a payment recorded here goes through the outbox to QuickBooks."""

import datetime as dt
import json
from decimal import Decimal

import pytest
import responses

from attune_qbo.billing import services as billing
from attune_qbo.billing.models import PaymentSource
from integrations.models import LinkType, QuickBooksLink, QuickBooksMapping, QuickBooksSyncLog, SyncStatus
from tests.integrations.conftest import (
    API,
    REALM,
    add_customer_created,
    add_invoice_answer,
    add_no_customer,
    calls_to,
    finalize,
    run_due,
)


def link_invoice(tenant, invoice, qbo_id="130"):
    QuickBooksLink.objects.create(
        company=tenant.company,
        realm_id=REALM,
        object_type=LinkType.INVOICE,
        object_id=invoice.pk,
        qbo_id=qbo_id,
        sync_token="0",
        qbo_snapshot={"Id": qbo_id, "SyncToken": "0"},
    )
    QuickBooksLink.objects.get_or_create(
        company=tenant.company,
        realm_id=REALM,
        object_type=LinkType.CLIENT,
        object_id=invoice.client_id,
        defaults={"qbo_id": "58"},
    )


def add_payment_created(intuit, qbo_id="77"):
    def answer(request):
        body = json.loads(request.body)
        return 200, {}, json.dumps({"Payment": {**body, "Id": qbo_id, "SyncToken": "0"}})

    intuit.add_callback(responses.POST, f"{API}/payment", callback=answer)


def add_invoice_read(intuit, balance, qbo_id="130", sync_token="1"):
    intuit.add(
        responses.GET,
        f"{API}/invoice/{qbo_id}",
        json={"Invoice": {"Id": qbo_id, "SyncToken": sync_token, "TotalAmt": 110, "Balance": balance}},
    )


def pay(tenant, invoice, captured, amount="50.00", **fields):
    with captured(execute=True):
        return billing.payment_record(invoice=invoice, amount=Decimal(amount), date=dt.date(2026, 11, 29), **fields)


def payment_entry(payment):
    return QuickBooksSyncLog.objects.get(entity_type="payment", object_id=payment.pk)


def test_local_payment_is_pushed_applied_to_its_invoice_and_the_balance_checked(
    connected, tenant, captured, intuit, dispatched
):
    invoice = finalize(tenant, captured)
    link_invoice(tenant, invoice)
    QuickBooksMapping.objects.create(
        company=tenant.company, realm_id=REALM, kind="payment_method", local_key="card", qbo_id="3"
    )
    payment = pay(tenant, invoice, captured, method="card", reference="CARD-REF-0123456789-EXTRA")
    entry = payment_entry(payment)
    assert entry.pk in dispatched
    add_payment_created(intuit)
    add_invoice_read(intuit, balance=60)
    entry, _ = run_due(entry)
    assert entry.status == SyncStatus.SUCCEEDED, entry.message
    sent = json.loads(calls_to(intuit, "POST", "/payment")[0].request.body)
    assert sent["CustomerRef"] == {"value": "58"} and sent["TotalAmt"] == 50
    assert sent["Line"] == [{"Amount": 50, "LinkedTxn": [{"TxnId": "130", "TxnType": "Invoice"}]}]
    assert sent["PaymentMethodRef"] == {"value": "3"} and "DepositToAccountRef" not in sent  # Undeposited Funds
    assert len(sent["PaymentRefNum"]) == 21
    assert f"[attune:{tenant.company.pk}:p{payment.pk}]" in sent["PrivateNote"]
    assert "requestid" in calls_to(intuit, "POST", "/payment")[0].request.url
    assert QuickBooksLink.objects.get(object_type=LinkType.PAYMENT, object_id=payment.pk).qbo_id == "77"
    invoice_link = QuickBooksLink.objects.get(object_type=LinkType.INVOICE, object_id=invoice.pk)
    assert invoice_link.sync_token == "1"  # the payment bumped it: the next invoice update uses the fresh one


def test_balance_disagreement_after_payment_push_is_drift(connected, tenant, captured, intuit, dispatched):
    invoice = finalize(tenant, captured)
    link_invoice(tenant, invoice)
    payment = pay(tenant, invoice, captured)
    add_payment_created(intuit)
    add_invoice_read(intuit, balance=110)
    entry, _ = run_due(payment_entry(payment))
    assert entry.status == SyncStatus.DRIFT
    assert entry.drift["differences"][0]["field"] == "Balance"


def test_payment_from_quickbooks_is_never_pushed_back(connected, tenant, captured, dispatched):
    invoice = finalize(tenant, captured)
    pay(tenant, invoice, captured, source=PaymentSource.QUICKBOOKS, external_id=f"qbo:{REALM}:7:130")
    assert not QuickBooksSyncLog.objects.filter(entity_type="payment").exists()


def test_payment_pushed_while_invoice_push_pending_waits_then_goes(connected, tenant, captured, intuit, dispatched):
    invoice = finalize(tenant, captured)  # its push is pending (not run yet)
    payment = pay(tenant, invoice, captured)
    entry, result = run_due(payment_entry(payment))
    assert result == "waiting for the invoice"
    assert entry.status == SyncStatus.PENDING and entry.attempts == 0
    assert "Waiting for invoice" in entry.message
    assert not calls_to(intuit, "POST", "/payment")

    add_no_customer(intuit)
    add_customer_created(intuit)
    add_invoice_answer(intuit)
    dispatched.clear()
    invoice_entry = QuickBooksSyncLog.objects.get(entity_type="invoice", object_id=invoice.pk)
    invoice_entry, _ = run_due(invoice_entry)
    assert invoice_entry.status in (SyncStatus.SUCCEEDED, SyncStatus.DRIFT), invoice_entry.message
    assert entry.pk in dispatched  # the invoice's success woke the payment
    add_payment_created(intuit)
    add_invoice_read(intuit, balance=60)
    entry, _ = run_due(entry)
    assert entry.status == SyncStatus.SUCCEEDED, entry.message
    assert len(calls_to(intuit, "POST", "/payment")) == 1


def test_one_live_entry_per_payment(connected, tenant, captured, dispatched):
    from integrations.services.payments import payment_enqueue

    invoice = finalize(tenant, captured)
    payment = pay(tenant, invoice, captured)
    again = payment_enqueue(company_id=tenant.company.pk, payment_id=payment.pk)
    assert again.pk == payment_entry(payment).pk


@pytest.mark.parametrize("status", [400])
def test_refused_payment_fails_for_a_person(connected, tenant, captured, intuit, dispatched, status):
    invoice = finalize(tenant, captured)
    link_invoice(tenant, invoice)
    payment = pay(tenant, invoice, captured)
    intuit.add(
        responses.POST,
        f"{API}/payment",
        json={"Fault": {"Error": [{"Message": "Invalid", "code": "6000"}], "type": "ValidationFault"}},
        status=status,
    )
    entry, _ = run_due(payment_entry(payment))
    assert entry.status == SyncStatus.FAILED


def test_payment_recorded_while_disconnected_waits_for_the_reconnect(connected, tenant, captured, dispatched):
    from integrations.models import ConnectionStatus, QuickBooksConnection

    invoice = finalize(tenant, captured)
    QuickBooksConnection.objects.filter(pk=connected.pk).update(status=ConnectionStatus.DISCONNECTED)
    dispatched.clear()
    payment = pay(tenant, invoice, captured)
    entry = payment_entry(payment)
    assert entry.status == SyncStatus.PENDING and entry.pk not in dispatched


def test_local_payment_whose_enqueue_was_lost_is_queued_by_the_sweeper(connected, tenant, captured, dispatched):
    from integrations.services.payments import payments_sweep

    invoice = finalize(tenant, captured)
    link_invoice(tenant, invoice)
    payment = pay(tenant, invoice, captured)
    QuickBooksSyncLog.objects.filter(entity_type="payment").delete()  # as if the process died after the commit
    old = billing.payment_record(invoice=invoice, amount=Decimal("1.00"), date=dt.date(2026, 11, 29))
    QuickBooksSyncLog.objects.filter(entity_type="payment", object_id=old.pk).delete()
    from attune_qbo.billing.models import Payment

    Payment.objects.filter(pk=old.pk).update(created_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC))  # before the link
    assert payments_sweep() == 1
    assert payment_entry(payment).status == SyncStatus.PENDING
    assert payments_sweep() == 0


# --- a payment deleted or refunded here is voided in QuickBooks ------------------------------------------------


def pushed_payment(tenant, invoice, captured, intuit, amount="50.00"):
    """A payment recorded here and created in QuickBooks (Id 77, applied to invoice 130)."""
    link_invoice(tenant, invoice)
    payment = pay(tenant, invoice, captured, amount=amount)
    add_payment_created(intuit)
    add_invoice_read(intuit, balance=float(Decimal("110.00") - Decimal(amount)))
    entry, _ = run_due(payment_entry(payment))
    assert entry.status == SyncStatus.SUCCEEDED, entry.message
    intuit.reset()
    return payment


def add_payment_voided(intuit, qbo_id="77", stale_first=False):
    answers = []
    if stale_first:
        answers.append((400, {}, json.dumps({"Fault": {"Error": [{"Message": "Stale Object Error", "code": "5010"}]}})))

    def answer(request):
        if answers:
            return answers.pop(0)
        body = json.loads(request.body)
        return (
            200,
            {},
            json.dumps({"Payment": {"Id": qbo_id, "SyncToken": str(int(body["SyncToken"]) + 1), "TotalAmt": 0}}),
        )

    intuit.add_callback(responses.POST, f"{API}/payment", callback=answer)


@pytest.mark.parametrize("reason", ["deleted", "refunded"])
def test_payment_removed_here_is_voided_in_quickbooks_and_the_balance_checked(
    connected, tenant, captured, intuit, dispatched, reason
):
    invoice = finalize(tenant, captured)
    payment = pushed_payment(tenant, invoice, captured, intuit)
    with captured(execute=True):
        billing.payment_remove(payment=payment, reason=reason)
    entry = QuickBooksSyncLog.objects.filter(entity_type="payment", object_id=payment.pk).first()
    assert entry.operation == "void" and entry.status == SyncStatus.PENDING and entry.pk in dispatched
    add_payment_voided(intuit)
    add_invoice_read(intuit, balance=110, sync_token="2")
    entry, _ = run_due(entry)
    assert entry.status == SyncStatus.SUCCEEDED, entry.message
    assert "Voided payment 77" in entry.message and "balance due agrees (110.00)" in entry.message
    call = calls_to(intuit, "POST", "/payment")[0]
    assert "operation=update" in call.request.url and "include=void" in call.request.url  # Intuit's payment void
    assert json.loads(call.request.body) == {"Id": "77", "SyncToken": "0", "sparse": True}
    assert QuickBooksLink.objects.get(object_type=LinkType.PAYMENT, object_id=payment.pk).voided
    assert QuickBooksLink.objects.get(object_type=LinkType.INVOICE, object_id=invoice.pk).sync_token == "2"


def test_void_of_a_payment_changed_in_quickbooks_rereads_its_sync_token(
    connected, tenant, captured, intuit, dispatched
):
    invoice = finalize(tenant, captured)
    payment = pushed_payment(tenant, invoice, captured, intuit)
    with captured(execute=True):
        billing.payment_remove(payment=payment)
    add_payment_voided(intuit, stale_first=True)
    intuit.add(responses.GET, f"{API}/payment/77", json={"Payment": {"Id": "77", "SyncToken": "3"}})
    add_invoice_read(intuit, balance=110)
    entry, _ = run_due(QuickBooksSyncLog.objects.filter(entity_type="payment", object_id=payment.pk).first())
    assert entry.status == SyncStatus.SUCCEEDED, entry.message
    voids = calls_to(intuit, "POST", "/payment")
    assert [json.loads(c.request.body)["SyncToken"] for c in voids] == ["0", "3"]


def test_balance_disagreement_after_the_void_is_drift(connected, tenant, captured, intuit, dispatched):
    invoice = finalize(tenant, captured)
    payment = pushed_payment(tenant, invoice, captured, intuit)
    with captured(execute=True):
        billing.payment_remove(payment=payment)
    add_payment_voided(intuit)
    add_invoice_read(intuit, balance=60)  # QuickBooks did not give the balance back
    entry, _ = run_due(QuickBooksSyncLog.objects.filter(entity_type="payment", object_id=payment.pk).first())
    assert entry.status == SyncStatus.DRIFT
    assert entry.drift["differences"][0] == {
        "field": "Balance",
        "label": "Balance due",
        "ours": "110.00",
        "quickbooks": "60.00",
    }


def test_payment_removed_before_its_push_sends_nothing(connected, tenant, captured, intuit, dispatched):
    invoice = finalize(tenant, captured)
    link_invoice(tenant, invoice)
    payment = pay(tenant, invoice, captured)
    with captured(execute=True):
        billing.payment_remove(payment=payment)
    entries = QuickBooksSyncLog.objects.filter(entity_type="payment", object_id=payment.pk)
    assert entries.count() == 1 and entries.get().operation == "void"  # the waiting push became the void
    entry, _ = run_due(entries.get())
    assert entry.status == SyncStatus.SKIPPED and "before it reached QuickBooks" in entry.message
    assert not intuit.calls


def test_payment_removed_while_its_push_runs_is_voided_after_it(connected, tenant, captured, intuit, dispatched):
    invoice = finalize(tenant, captured)
    link_invoice(tenant, invoice)
    payment = pay(tenant, invoice, captured)
    entry = payment_entry(payment)
    QuickBooksSyncLog.objects.filter(pk=entry.pk).update(status=SyncStatus.RUNNING)
    with captured(execute=True):
        billing.payment_remove(payment=payment)
    entry.refresh_from_db()
    assert entry.rerun_requested  # its outcome queues a follower, which voids what the push made


def test_removal_after_a_lost_create_replays_it_then_voids(connected, tenant, captured, intuit, dispatched):
    invoice = finalize(tenant, captured)
    link_invoice(tenant, invoice)
    payment = pay(tenant, invoice, captured)
    intuit.add(responses.POST, f"{API}/payment", body=ConnectionError("answer lost"))
    entry, _ = run_due(payment_entry(payment))
    assert entry.status == SyncStatus.PENDING and entry.create_request_id
    sent_rid = entry.create_request_id
    intuit.reset()
    with captured(execute=True):
        billing.payment_remove(payment=payment)
    replays = []

    def answer(request):
        body = json.loads(request.body)
        if "include=void" in request.url:
            return 200, {}, json.dumps({"Payment": {"Id": "77", "SyncToken": "1", "TotalAmt": 0}})
        replays.append(request.url)
        return 200, {}, json.dumps({"Payment": {**body, "Id": "77", "SyncToken": "0"}})

    intuit.add_callback(responses.POST, f"{API}/payment", callback=answer)
    add_invoice_read(intuit, balance=110)
    entry, _ = run_due(QuickBooksSyncLog.objects.filter(entity_type="payment", object_id=payment.pk).first())
    assert entry.status == SyncStatus.SUCCEEDED, entry.message
    assert len(replays) == 1 and f"requestid={sent_rid}" in replays[0]  # Intuit answers what the lost create made
    assert QuickBooksLink.objects.get(object_type=LinkType.PAYMENT, object_id=payment.pk).voided


def test_quickbooks_payments_cannot_be_removed_here(connected, tenant, captured, dispatched):
    from attune_qbo.billing.exceptions import PaymentRefused

    invoice = finalize(tenant, captured)
    payment = pay(tenant, invoice, captured, source=PaymentSource.QUICKBOOKS, external_id=f"qbo:{REALM}:7:130")
    with pytest.raises(PaymentRefused, match="came from QuickBooks"):
        billing.payment_remove(payment=payment)
    assert not QuickBooksSyncLog.objects.filter(entity_type="payment").exists()


def test_payments_recorded_before_the_invoice_was_ever_sent_follow_it_and_its_push_is_not_drift(
    connected, tenant, captured, intuit, dispatched
):
    from tests.integrations.conftest import add_invoice_answer

    invoice = finalize(tenant, captured)  # 110.00, its push pending
    payment = pay(tenant, invoice, captured, amount="40.00")
    QuickBooksSyncLog.objects.filter(entity_type="payment").delete()  # recorded before QuickBooks was connected
    add_no_customer(intuit)
    add_customer_created(intuit)
    add_invoice_answer(intuit)
    entry, _ = run_due(QuickBooksSyncLog.objects.get(entity_type="invoice", object_id=invoice.pk))
    # QuickBooks holds none of our payments yet: its balance of 110.00 is what it should show now.
    assert entry.status == SyncStatus.SUCCEEDED, entry.message
    queued = QuickBooksSyncLog.objects.get(entity_type="payment", object_id=payment.pk)  # goes right after
    add_payment_created(intuit)
    add_invoice_read(intuit, balance=70)
    queued, _ = run_due(queued)
    assert queued.status == SyncStatus.SUCCEEDED, queued.message
    assert "the balance due agrees (70.00)" in queued.message


def test_payments_of_an_adopted_invoice_are_left_to_a_person(connected, tenant, captured, dispatched):
    from integrations.services.payments import payments_wake

    invoice = finalize(tenant, captured)
    pay(tenant, invoice, captured, amount="40.00")
    QuickBooksSyncLog.objects.filter(entity_type="payment").delete()
    link_invoice(tenant, invoice)  # typed into QuickBooks and adopted: no marker of ours, it may hold the payment
    payments_wake(company_id=tenant.company.pk, invoice_id=invoice.pk)
    assert not QuickBooksSyncLog.objects.filter(entity_type="payment").exists()
