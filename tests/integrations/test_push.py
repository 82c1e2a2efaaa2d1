"""invoice_push and the outbox against Intuit's API faked with `responses` (assert on the requests sent)."""

import datetime as dt
from decimal import Decimal

import pytest
import requests
import responses
from django.utils import timezone

from attune_qbo.billing import services as billing
from attune_qbo.billing.services import LineData
from integrations.models import ConnectionStatus, QuickBooksConnection, QuickBooksLink, QuickBooksSyncLog
from tests.integrations.conftest import (
    API,
    REALM,
    TOKEN_URL,
    add_customer_created,
    add_invoice_answer,
    add_no_customer,
    add_token_response,
    calls_to,
    fault,
    finalize,
    json_of,
    qbo_invoice,
    query_of,
    run_due,
    token_body,
)

pytestmark = pytest.mark.django_db


def entry_for(invoice) -> QuickBooksSyncLog:
    return QuickBooksSyncLog.objects.get(object_id=invoice.pk, status__in=["pending"])


def test_finalizing_queues_one_debounced_push_in_the_same_transaction(
    tenant, connected, captured, dispatched, settings
):
    settings.QUICKBOOKS_PUSH_DEBOUNCE_SECONDS = 10
    invoice = finalize(tenant, captured)
    entry = QuickBooksSyncLog.objects.get()
    assert (entry.status, entry.operation, entry.object_id, entry.object_repr) == (
        "pending",
        "push",
        invoice.pk,
        invoice.number,
    )
    assert dt.timedelta(seconds=8) < entry.next_attempt_at - timezone.now() <= dt.timedelta(seconds=10)
    assert dispatched == [entry.pk]  # queued after commit


def test_a_rolled_back_change_leaves_no_outbox_entry(tenant, connected, dispatched):
    from django.db import transaction

    invoice = tenant.invoice()
    with pytest.raises(RuntimeError), transaction.atomic():
        billing.invoice_finalize(invoice=invoice)
        raise RuntimeError("boom")
    assert not QuickBooksSyncLog.objects.exists() and dispatched == []


def test_nothing_is_queued_without_a_connection_or_with_auto_sync_off(tenant, other_tenant, captured, connected):
    finalize(other_tenant, captured)  # Beta is not connected
    QuickBooksConnection.objects.filter(pk=connected.pk).update(auto_sync=False)
    finalize(tenant, captured)
    assert not QuickBooksSyncLog.objects.exists()


def test_happy_path_creates_customer_and_invoice(tenant, connected, captured, intuit):
    invoice = finalize(
        tenant,
        captured,
        lines=[
            LineData(product=tenant.product, quantity=3),
            LineData(description="Call-out", quantity="1.5", unit_price="33.33"),
        ],
        memo="Thanks!",
    )
    add_no_customer(intuit)
    add_customer_created(intuit, "58")
    answer = qbo_invoice("130", "0", amounts=(150, 50), tax=15, memo="Thanks!", DocNumber=invoice.number)
    intuit.add(responses.POST, f"{API}/invoice", json=answer, headers={"intuit_tid": "tid-inv"})

    entry, outcome = run_due(entry_for(invoice))

    assert outcome == "succeeded", entry.message
    query = calls_to(intuit, "GET", "/query")[0]
    assert query_of(query.request.url)["query"].startswith("select * from Customer where DisplayName = 'Alpha Client'")
    customer = json_of(calls_to(intuit, "POST", "/customer")[0])
    assert customer == {"DisplayName": "Alpha Client", "PrimaryEmailAddr": {"Address": tenant.client.email}}
    call = calls_to(intuit, "POST", "/invoice")[0]
    params = query_of(call.request.url)
    assert params["minorversion"] == "75" and params["requestid"] == f"aq{entry.pk}g1-ic"
    assert call.request.headers["Authorization"] == "Bearer push-access"
    body = json_of(call)
    assert body["DocNumber"] == invoice.number and body["CustomerRef"] == {"value": "58"}
    assert body["TxnDate"] == "2026-01-15" and body["DueDate"] == "2026-02-14"
    assert body["Line"] == [
        {
            "DetailType": "SalesItemLineDetail",
            "Amount": 150,
            "Description": "Alpha Widget",
            "SalesItemLineDetail": {
                "ItemRef": {"value": "1"},
                "Qty": 3,
                "UnitPrice": 50,
                "TaxCodeRef": {"value": "TAX"},
            },
        },
        {
            "DetailType": "SalesItemLineDetail",
            "Amount": 50.0,
            "Description": "Call-out",
            "SalesItemLineDetail": {
                "ItemRef": {"value": "1"},
                "Qty": 1.5,
                "UnitPrice": 33.33,
                "TaxCodeRef": {"value": "NON"},
            },
        },
    ]  # 1.5 × 33.33 = 49.995 → 50.00: the same half-up rounding QuickBooks checks (6070)
    assert f"[attune:{tenant.company.pk}:{invoice.pk}]" in body["PrivateNote"]
    assert body["CustomerMemo"] == {"value": "Thanks!"} and "GlobalTaxCalculation" not in body
    # US manual sales tax: the invoice's one taxable rate goes as its transaction tax code (QBO-REFERENCE §5.1).
    assert body["TxnTaxDetail"] == {"TxnTaxCodeRef": {"value": "2"}}
    assert body["BillEmail"] == {"Address": tenant.client.email}
    assert "figures match ours" in entry.message and entry.drift is None
    assert (entry.status, entry.qbo_id, entry.intuit_tid, entry.attempts) == ("succeeded", "130", "tid-inv", 1)
    assert entry.payload is None  # kept only when it explains a failure
    link = QuickBooksLink.objects.get(object_type="invoice", object_id=invoice.pk)
    assert (link.qbo_id, link.sync_token, link.realm_id) == ("130", "0", REALM)
    assert QuickBooksConnection.objects.get(pk=connected.pk).last_synced_at is not None


def test_fifty_edits_inside_the_window_make_one_push_of_the_latest_state(
    tenant, connected, captured, intuit, dispatched
):
    invoice = finalize(tenant, captured)
    for quantity in range(1, 51):
        with captured(execute=True):
            billing.invoice_update(invoice=invoice, lines=[LineData(product=tenant.product, quantity=quantity)])
    assert QuickBooksSyncLog.objects.count() == 1 and len(dispatched) == 1
    add_no_customer(intuit)
    add_customer_created(intuit)
    add_invoice_answer(intuit)
    run_due(QuickBooksSyncLog.objects.get())
    pushes = calls_to(intuit, "POST", "/invoice")
    assert len(pushes) == 1
    assert json_of(pushes[0])["Line"][0]["SalesItemLineDetail"]["Qty"] == 50


def test_an_edit_after_success_sparse_updates_with_the_stored_sync_token(tenant, connected, captured, intuit):
    invoice = finalize(tenant, captured)
    add_no_customer(intuit)
    add_customer_created(intuit)
    add_invoice_answer(intuit, "130", "0")
    run_due(entry_for(invoice))
    add_invoice_answer(intuit, "130", "1", memo="Changed", replace=True)
    with captured(execute=True):
        billing.invoice_update(invoice=invoice, memo="Changed")
    entry, outcome = run_due(entry_for(invoice))
    body = json_of(calls_to(intuit, "POST", "/invoice")[-1])
    assert outcome == "succeeded" and entry.message.startswith("Updated invoice")
    assert (body["Id"], body["SyncToken"], body["sparse"]) == ("130", "0", True)
    assert body["CustomerMemo"] == {"value": "Changed"}
    assert len(calls_to(intuit, "POST", "/customer")) == 1  # customer linked, not created again
    assert QuickBooksLink.objects.get(object_type="invoice").sync_token == "1"


def test_an_unchanged_invoice_is_not_sent_again(tenant, connected, captured, intuit, dispatched):
    from integrations.outbox.enqueue import sync_now

    invoice = finalize(tenant, captured)
    add_no_customer(intuit)
    add_customer_created(intuit)
    add_invoice_answer(intuit)
    run_due(entry_for(invoice))
    calls_before = len(intuit.calls)
    entry = sync_now(invoice=invoice, user=tenant.staff)
    entry, outcome = run_due(entry)
    assert outcome == "up_to_date" and entry.message.startswith("Up to date: QuickBooks already has this version")
    assert len(intuit.calls) == calls_before


def test_401_refreshes_and_retries(tenant, connected, captured, intuit):
    invoice = finalize(tenant, captured)
    intuit.add(
        responses.GET,
        f"{API}/query",
        status=401,
        json={"fault": {"error": [{"message": "AuthenticationFailed", "code": "3200"}]}},
    )
    add_token_response(intuit, token_body("fresh-access", "fresh-refresh"))
    add_no_customer(intuit)
    add_customer_created(intuit)
    add_invoice_answer(intuit)
    entry, outcome = run_due(entry_for(invoice))
    assert outcome == "succeeded"
    auths = [c.request.headers["Authorization"] for c in intuit.calls if "/v3/" in c.request.url]
    assert auths[0] == "Bearer push-access" and set(auths[1:]) == {"Bearer fresh-access"}


def test_invalid_grant_on_that_refresh_waits_for_reconnect_and_loses_nothing(
    tenant, connected, captured, intuit, dispatched
):
    from integrations.outbox.enqueue import sync_resume

    invoice = finalize(tenant, captured)
    intuit.add(responses.GET, f"{API}/query", status=401, json=fault("3200", "AuthenticationFailed"))
    add_token_response(intuit, {"error": "invalid_grant"}, status=400)
    with captured(execute=True):
        entry, outcome = run_due(entry_for(invoice))
    assert outcome == "waiting for reconnect"
    assert QuickBooksConnection.objects.get(pk=connected.pk).status == ConnectionStatus.NEEDS_RECONNECT
    assert (entry.status, entry.attempts) == ("pending", 0)
    assert "needs to be reconnected" in entry.message
    # While reconnect is needed, running it again calls nobody.
    calls = len(intuit.calls)
    _, outcome = run_due(entry)
    assert outcome == "waiting for QuickBooks to be connected" and len(intuit.calls) == calls
    # After the admin reconnects, the waiting push is queued again.
    QuickBooksConnection.objects.filter(pk=connected.pk).update(status=ConnectionStatus.CONNECTED)
    dispatched.clear()
    with captured(execute=True):
        sync_resume(company_id=tenant.company.pk)
    assert dispatched == [entry.pk]


@pytest.mark.parametrize(("retry_after", "expected"), [("30", 30), (None, 60)])
def test_429_waits_for_retry_after_or_60_seconds_without_using_an_attempt(
    tenant, connected, captured, intuit, retry_after, expected
):
    invoice = finalize(tenant, captured)
    headers = {"Retry-After": retry_after} if retry_after else {}
    intuit.add(
        responses.GET,
        f"{API}/query",
        status=429,
        headers=headers,
        json=fault("3001", "message=ThrottleExceeded; errorCode=003001; statusCode=429", "SERVICE"),
    )
    entry, outcome = run_due(entry_for(invoice))
    assert outcome == "throttled"
    assert (entry.status, entry.attempts, entry.throttled, entry.error_code) == ("pending", 0, 1, "3001")
    wait = (entry.next_attempt_at - timezone.now()).total_seconds()
    assert expected - 2 < wait <= expected


def test_500_five_times_goes_to_the_dead_letter(tenant, connected, captured, intuit):
    invoice = finalize(tenant, captured)
    intuit.add(responses.GET, f"{API}/query", status=500, json=fault("10000", "An application error", "SystemFault"))
    entry = entry_for(invoice)
    waits = []
    for _ in range(5):
        entry, outcome = run_due(entry)
        if entry.next_attempt_at:
            waits.append(round((entry.next_attempt_at - timezone.now()).total_seconds() / 60, 1))
    assert outcome == "dead" and entry.status == "dead" and entry.attempts == 5
    assert "Gave up after 5 attempts" in entry.message and entry.error_code == "10000"
    assert [0.9 <= waits[0] <= 1.1, 4.5 <= waits[1] <= 5.5, 27 <= waits[2] <= 33, 108 <= waits[3] <= 132] == [True] * 4
    assert len(calls_to(intuit, "GET", "/query")) == 5
    _, outcome = run_due(entry)  # dead stays dead until a person retries
    assert outcome == "nothing to do"


def test_a_timeout_is_retried_with_the_same_requestid(tenant, connected, captured, intuit):
    invoice = finalize(tenant, captured)
    add_no_customer(intuit)
    add_customer_created(intuit)
    intuit.add(responses.POST, f"{API}/invoice", body=requests.ReadTimeout("read timed out"))
    entry, outcome = run_due(entry_for(invoice))
    assert outcome == "retrying" and entry.status == "pending"
    add_invoice_answer(intuit, "130", "0", replace=True)
    entry, outcome = run_due(entry)
    assert outcome == "succeeded"
    creates = calls_to(intuit, "POST", "/invoice")
    ids = [query_of(c.request.url)["requestid"] for c in creates]
    assert ids[0] == ids[1] == f"aq{entry.pk}g1-ic"  # Intuit replays, never duplicates
    assert len(calls_to(intuit, "POST", "/customer")) == 1  # the customer step is linked by then


def test_stale_sync_token_is_reread_and_retried_once(tenant, connected, captured, intuit):
    invoice = finalize(tenant, captured)
    add_no_customer(intuit)
    add_customer_created(intuit)
    add_invoice_answer(intuit, "130", "0")
    run_due(entry_for(invoice))
    with captured(execute=True):
        billing.invoice_update(invoice=invoice, memo="after a payment in QuickBooks")
    intuit.replace(
        responses.POST,
        f"{API}/invoice",
        status=400,
        json=fault("5010", "Stale Object Error", detail="You and X were working on this at the same time."),
    )
    add_invoice_answer(intuit, "130", "3", memo="after a payment in QuickBooks")
    intuit.add(responses.GET, f"{API}/invoice/130", json=qbo_invoice("130", "2"))
    entry, outcome = run_due(entry_for(invoice))
    assert outcome == "succeeded", entry.message
    updates = calls_to(intuit, "POST", "/invoice")[-2:]
    assert [json_of(c)["SyncToken"] for c in updates] == ["0", "2"]
    assert QuickBooksLink.objects.get(object_type="invoice").sync_token == "3"


def test_duplicate_doc_number_that_is_ours_is_linked(tenant, connected, captured, intuit):
    invoice = finalize(tenant, captured)
    add_no_customer(intuit)
    add_customer_created(intuit)
    intuit.add(responses.POST, f"{API}/invoice", status=400, json=fault("6140", "Duplicate Document Number Error"))
    add_invoice_answer(intuit, "777", "5")
    marker = f"Sent by attune. [attune:{tenant.company.pk}:{invoice.pk}]"
    intuit.replace(responses.GET, f"{API}/query", json={"QueryResponse": {}})
    intuit.add(
        responses.GET,
        f"{API}/query",
        json={
            "QueryResponse": {
                "Invoice": [{"Id": "777", "SyncToken": "4", "DocNumber": invoice.number, "PrivateNote": marker}]
            }
        },
    )
    entry, outcome = run_due(entry_for(invoice))
    assert outcome == "succeeded" and entry.qbo_id == "777"
    assert QuickBooksLink.objects.get(object_type="invoice").qbo_id == "777"


def test_duplicate_doc_number_that_is_not_ours_fails_clearly(tenant, connected, captured, intuit):
    invoice = finalize(tenant, captured)
    add_no_customer(intuit)
    add_customer_created(intuit)
    intuit.add(responses.POST, f"{API}/invoice", status=400, json=fault("6140", "Duplicate Document Number Error"))
    intuit.add(
        responses.GET,
        f"{API}/query",
        json={
            "QueryResponse": {
                "Invoice": [
                    {
                        "Id": "9",
                        "SyncToken": "0",
                        "DocNumber": invoice.number,
                        "PrivateNote": "typed in by the bookkeeper",
                    }
                ]
            }
        },
    )
    entry, outcome = run_due(entry_for(invoice))
    assert outcome == "failed" and entry.status == "failed" and entry.error_code == "6140"
    assert entry.message.startswith(f"QuickBooks already has invoice {invoice.number}, and attune did not create it.")
    assert entry.payload["DocNumber"] == invoice.number  # what was refused, for the person fixing it
    assert not QuickBooksLink.objects.filter(object_type="invoice").exists()


@pytest.mark.parametrize(("their_email", "adopted"), [("alpha@example.com", True), ("someone@else.example", False)])
def test_duplicate_customer_name_adopts_only_when_the_email_matches(
    tenant, connected, captured, intuit, their_email, adopted
):
    tenant.client.email = "alpha@example.com"
    tenant.client.save()
    invoice = finalize(tenant, captured)
    add_no_customer(intuit)  # not among active customers (first lookup)
    add_no_customer(intuit)  # nor after the 6240 (no other worker created it meanwhile)
    intuit.add(responses.POST, f"{API}/customer", status=400, json=fault("6240", "Duplicate Name Exists Error"))
    intuit.add(
        responses.GET,
        f"{API}/query",
        json={
            "QueryResponse": {
                "Customer": [
                    {
                        "Id": "66",
                        "SyncToken": "2",
                        "DisplayName": "Alpha Client",
                        "Active": False,
                        "PrimaryEmailAddr": {"Address": their_email},
                    }
                ]
            }
        },
    )
    intuit.add(responses.POST, f"{API}/customer", json={"Customer": {"Id": "66", "SyncToken": "3", "Active": True}})
    add_invoice_answer(intuit)
    entry, outcome = run_due(entry_for(invoice))
    if adopted:
        assert outcome == "succeeded"
        assert json_of(calls_to(intuit, "POST", "/invoice")[0])["CustomerRef"] == {"value": "66"}
        assert json_of(calls_to(intuit, "POST", "/customer")[1]) == {
            "Id": "66",
            "SyncToken": "2",
            "Active": True,
            "sparse": True,
        }
    else:
        assert outcome == "failed" and entry.error_code == "6240"
        assert "already has a customer, vendor or employee named “Alpha Client”" in entry.message
        assert calls_to(intuit, "POST", "/invoice") == []


def test_inactive_item_610_fails_with_a_message_a_person_can_act_on(tenant, connected, captured, intuit):
    invoice = finalize(tenant, captured)
    add_no_customer(intuit)
    add_customer_created(intuit)
    intuit.add(
        responses.POST,
        f"{API}/invoice",
        status=400,
        json=fault("610", "Object Not Found", detail="Something you're trying to use has been made inactive."),
    )
    entry, outcome = run_due(entry_for(invoice))
    assert outcome == "failed" and entry.error_code == "610" and entry.attempts == 1
    assert "no longer exists or is inactive" in entry.message and "change the mapping" in entry.message


def test_missing_mapping_fails_before_any_call(tenant, connected, captured, intuit):
    from integrations.models import QuickBooksMapping

    QuickBooksMapping.objects.all().delete()
    invoice = finalize(tenant, captured)
    entry, outcome = run_due(entry_for(invoice))
    assert outcome == "failed" and entry.error_code == "mapping_incomplete"
    assert entry.message == (
        "Before this invoice can go to QuickBooks: map product “Alpha Widget” to a QuickBooks item; "
        "map tax rate “Sales tax” to a QuickBooks sales tax code."
    )
    assert len(intuit.calls) == 0


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ("no lines", "has no lines; QuickBooks needs at least one"),
        ("long number", "is longer than QuickBooks' 21 characters"),
        ("colon", "contains “:”, which QuickBooks does not allow"),
    ],
)
def test_preflight_refuses_what_quickbooks_would_refuse(tenant, connected, captured, intuit, change, message):
    invoice = finalize(tenant, captured)
    if change == "no lines":
        invoice.lines.all().delete()
    elif change == "long number":
        # The billing service and the varchar(21) column refuse it already; the pre-flight check still guards
        # data that arrives some other way (SQLite, for one, does not enforce the length).
        from integrations.books.preflight import PushRefused, preflight
        from integrations.quickbooks.online.push import company_profile

        invoice.number = "N" * 22
        with pytest.raises(PushRefused, match=message):
            preflight(invoice, connection=connected, profile=company_profile(connected))
        return
    else:
        tenant.client.display_name = "Acme: Plumbing"
        tenant.client.save()
    entry, outcome = run_due(entry_for(invoice))
    assert outcome == "failed" and message in entry.message
    assert len(intuit.calls) == 0


def test_non_us_company_sends_mapped_tax_codes_and_global_tax_calculation(tenant, connected, captured, intuit):
    from integrations.models import QuickBooksMapping

    QuickBooksConnection.objects.filter(pk=connected.pk).update(tax_style="global", home_currency="USD")
    QuickBooksMapping.objects.create(
        company=tenant.company,
        realm_id=REALM,
        kind="tax_code",
        local_key=str(tenant.tax_rate.pk),
        qbo_id="4",
        qbo_name="GST",
    )
    invoice = finalize(tenant, captured)
    add_no_customer(intuit)
    add_customer_created(intuit)
    add_invoice_answer(intuit)
    run_due(entry_for(invoice))
    body = json_of(calls_to(intuit, "POST", "/invoice")[0])
    assert body["GlobalTaxCalculation"] == "TaxExcluded"
    assert body["Line"][0]["SalesItemLineDetail"]["TaxCodeRef"] == {"value": "4"}


def test_non_us_company_without_a_tax_code_mapping_fails_before_any_call(tenant, connected, captured, intuit):
    QuickBooksConnection.objects.filter(pk=connected.pk).update(tax_style="global")
    invoice = finalize(tenant, captured)
    entry, _ = run_due(entry_for(invoice))
    assert "map tax rate “Sales tax” to a QuickBooks tax code" in entry.message and len(intuit.calls) == 0


def test_voiding_our_invoice_voids_it_in_quickbooks(tenant, connected, captured, intuit):
    invoice = finalize(tenant, captured)
    add_no_customer(intuit)
    add_customer_created(intuit)
    add_invoice_answer(intuit, "130", "0")
    run_due(entry_for(invoice))
    with captured(execute=True):
        billing.invoice_void(invoice=invoice)
    entry = entry_for(invoice)
    assert entry.operation == "void"
    voided = qbo_invoice("130", "1", amounts=(0,), tax=0, PrivateNote="Voided")
    intuit.replace(responses.POST, f"{API}/invoice", json=voided)
    entry, outcome = run_due(entry)
    call = calls_to(intuit, "POST", "/invoice")[-1]
    assert query_of(call.request.url)["operation"] == "void"
    assert json_of(call) == {"Id": "130", "SyncToken": "0"}
    assert outcome == "succeeded" and QuickBooksLink.objects.get(object_type="invoice").voided


def test_an_edit_while_a_push_runs_is_sent_after_it_never_beside_it(tenant, connected, captured, intuit, dispatched):
    from integrations.outbox.outcomes import finish
    from integrations.outbox.worker import _claim

    invoice = finalize(tenant, captured)
    first = entry_for(invoice)
    QuickBooksSyncLog.objects.filter(pk=first.pk).update(next_attempt_at=timezone.now())
    running, _ = _claim(first.pk)
    assert running.status == "running"
    with captured(execute=True):
        billing.invoice_update(invoice=invoice, memo="edited mid-push")
    # Still one live entry: the running one now owes a rerun.
    live = QuickBooksSyncLog.objects.filter(object_id=invoice.pk, status__in=["pending", "running"])
    assert list(live.values_list("pk", "rerun_requested")) == [(first.pk, True)]
    dispatched.clear()
    with captured(execute=True):
        finish(running, "succeeded", "Created.")
    second = QuickBooksSyncLog.objects.get(object_id=invoice.pk, status="pending")
    assert second.pk != first.pk and dispatched == [second.pk]
    assert QuickBooksSyncLog.objects.get(pk=first.pk).status == "succeeded"


def test_the_database_refuses_a_second_live_entry_for_one_invoice(tenant, connected, captured):
    from django.db import IntegrityError, transaction

    invoice = finalize(tenant, captured)
    entry = entry_for(invoice)
    with pytest.raises(IntegrityError), transaction.atomic():
        QuickBooksSyncLog.objects.create(
            company=tenant.company, entity_type="invoice", object_id=invoice.pk, status="running"
        )
    assert QuickBooksSyncLog.objects.filter(object_id=invoice.pk).count() == 1 and entry.status == "pending"


def test_sweeper_requeues_lost_tasks_and_revives_dead_workers(tenant, connected, captured, dispatched):
    from integrations.outbox.worker import sync_sweep

    invoice = finalize(tenant, captured)
    entry = entry_for(invoice)
    QuickBooksSyncLog.objects.filter(pk=entry.pk).update(
        status="running", lease_until=timezone.now() - dt.timedelta(seconds=1)
    )
    dispatched.clear()
    assert sync_sweep() == 1
    assert dispatched == [entry.pk] and QuickBooksSyncLog.objects.get(pk=entry.pk).status == "pending"


def test_no_token_reaches_a_sync_log_row(tenant, connected, captured, intuit):
    invoice = finalize(tenant, captured)
    intuit.add(responses.GET, f"{API}/query", status=401, json=fault("3200", "AuthenticationFailed"))
    add_token_response(intuit, token_body("NEW-SECRET-ACCESS", "NEW-SECRET-REFRESH"))
    add_no_customer(intuit)
    add_customer_created(intuit)
    intuit.add(responses.POST, f"{API}/invoice", status=400, json=fault("6000", "Business Validation Error"))
    run_due(entry_for(invoice))
    rows = str(list(QuickBooksSyncLog.objects.values()))
    for secret in ("push-access", "push-refresh", "NEW-SECRET-ACCESS", "NEW-SECRET-REFRESH"):
        assert secret not in rows


def test_amounts_are_sent_exactly(tenant, connected, captured, intuit):
    invoice = finalize(tenant, captured, lines=[LineData(description="x", quantity=3, unit_price="33.33")])
    add_no_customer(intuit)
    add_customer_created(intuit)
    add_invoice_answer(intuit)
    run_due(entry_for(invoice))
    line = json_of(calls_to(intuit, "POST", "/invoice")[0])["Line"][0]
    assert (
        Decimal(str(line["Amount"]))
        == Decimal(str(line["SalesItemLineDetail"]["Qty"])) * Decimal(str(line["SalesItemLineDetail"]["UnitPrice"]))
        == Decimal("99.99")
    )
    assert TOKEN_URL  # (imported for the 401 tests above)


def test_duplicate_name_because_another_worker_just_created_the_customer_is_adopted(
    tenant, connected, captured, intuit
):
    tenant.client.email = "alpha@example.com"
    tenant.client.save()
    invoice = finalize(tenant, captured)
    add_no_customer(intuit)
    intuit.add(responses.POST, f"{API}/customer", status=400, json=fault("6240", "Duplicate Name Exists Error"))
    intuit.add(
        responses.GET,
        f"{API}/query",
        json={
            "QueryResponse": {
                "Customer": [
                    {
                        "Id": "70",
                        "SyncToken": "0",
                        "DisplayName": "Alpha Client",
                        "Active": True,
                        "PrimaryEmailAddr": {"Address": "alpha@example.com"},
                    }
                ]
            }
        },
    )
    add_invoice_answer(intuit)
    entry, outcome = run_due(entry_for(invoice))
    assert outcome == "succeeded"
    assert json_of(calls_to(intuit, "POST", "/invoice")[0])["CustomerRef"] == {"value": "70"}
    assert len(calls_to(intuit, "POST", "/customer")) == 1  # adopted, not reactivated or created again


def test_a_foreign_currency_invoice_is_refused_when_quickbooks_has_one_currency(tenant, connected, captured, intuit):
    invoice = finalize(tenant, captured, currency="EUR")
    entry, outcome = run_due(entry_for(invoice))
    assert outcome == "failed" and len(intuit.calls) == 0
    assert entry.message == (
        f"Invoice {invoice.number} is in EUR, but the QuickBooks company works only in USD (multicurrency is off)."
    )
