"""CDC gap-fill (issue #10 item 4): one call per realm per period, rows fed to the webhook processing."""

import datetime as dt
from decimal import Decimal

import pytest
import responses
from django.utils import timezone

from attune_qbo.billing.models import Payment
from integrations.exceptions import QuickBooksError
from integrations.models import LinkType, QuickBooksConnection, QuickBooksLink, QuickBooksWebhookEvent
from integrations.services.cdc import cdc_pull, cdc_sweep
from integrations.services.usage import connection_usage
from tests.integrations.conftest import API, REALM, calls_to, finalize, query_of


def cdc_answer(payments=(), invoices=()):
    return {
        "CDCResponse": [
            {
                "QueryResponse": [
                    {"Payment": list(payments), "startPosition": 1} if payments else {},
                    {"Invoice": list(invoices)} if invoices else {},
                    {},
                ]
            }
        ],
        "time": "2026-11-29T10:00:00-08:00",
    }


def payment_row(pid="7", amount=110, when="2026-11-29T09:00:00-08:00", invoice="130"):
    return {
        "Id": pid,
        "SyncToken": "0",
        "TxnDate": "2026-11-29",
        "TotalAmt": amount,
        "CustomerRef": {"value": "58"},
        "Line": [{"Amount": amount, "LinkedTxn": [{"TxnId": invoice, "TxnType": "Invoice"}]}],
        "MetaData": {"LastUpdatedTime": when},
    }


@pytest.fixture
def linked(connected, tenant, captured):
    invoice = finalize(tenant, captured)
    QuickBooksLink.objects.create(
        company=tenant.company, realm_id=REALM, object_type=LinkType.INVOICE, object_id=invoice.pk, qbo_id="130"
    )
    return invoice


def test_nothing_changed_costs_one_call_and_is_counted(connected, intuit, api_client_for, tenant):
    intuit.add(responses.GET, f"{API}/cdc", json=cdc_answer())
    assert cdc_sweep() == 0
    assert len(calls_to(intuit, "GET", "/cdc")) == 1
    query = query_of(calls_to(intuit, "GET", "/cdc")[0].request.url)
    assert query["entities"] == "Payment,Invoice,Customer"
    connected.refresh_from_db()
    assert connected.cdc_watermark is not None and connection_usage(connection=connected).reads == 1
    status = api_client_for(tenant.admin).get("/api/v1/integrations/quickbooks/status").json()
    assert status["reads_this_month"] == 1


def test_next_pull_starts_at_the_watermark_with_a_small_overlap(connected, intuit):
    mark = timezone.now() - dt.timedelta(minutes=15)
    QuickBooksConnection.objects.filter(pk=connected.pk).update(cdc_watermark=mark)
    intuit.add(responses.GET, f"{API}/cdc", json=cdc_answer())
    cdc_pull(connection_id=connected.pk)
    since = dt.datetime.fromisoformat(query_of(calls_to(intuit, "GET", "/cdc")[0].request.url)["changedSince"])
    assert dt.timedelta(0) < mark - since <= dt.timedelta(minutes=5)


def test_cdc_payment_row_is_applied_without_a_second_read_and_only_once(connected, linked, intuit):
    intuit.add(responses.GET, f"{API}/cdc", json=cdc_answer(payments=[payment_row()]))
    cdc_sweep()
    cdc_sweep()  # the overlap brings the same row again
    linked.refresh_from_db()
    assert linked.amount_paid == Decimal("110.00") and Payment.objects.count() == 1
    assert not calls_to(intuit, "GET", "/payment/7")
    assert QuickBooksWebhookEvent.objects.filter(source="cdc").count() == 1


def test_cdc_deleted_payment_reverses_it(connected, linked, intuit):
    intuit.add(responses.GET, f"{API}/cdc", json=cdc_answer(payments=[payment_row()]))
    cdc_sweep()
    deleted = {
        "Id": "7",
        "status": "Deleted",
        "domain": "QBO",
        "MetaData": {"LastUpdatedTime": "2026-11-29T09:30:00-08:00"},
    }
    intuit.replace(responses.GET, f"{API}/cdc", json=cdc_answer(payments=[deleted]))
    cdc_sweep()
    linked.refresh_from_db()
    assert linked.amount_paid == Decimal("0.00") and not Payment.objects.exists()


def test_fault_inside_query_response_keeps_the_watermark(connected, intuit):
    mark = timezone.now() - dt.timedelta(minutes=15)
    QuickBooksConnection.objects.filter(pk=connected.pk).update(cdc_watermark=mark)
    body = {
        "CDCResponse": [
            {"QueryResponse": [{"Fault": {"Error": [{"Message": "boom", "code": "10000"}], "type": "SystemFault"}}]}
        ]
    }
    intuit.add(responses.GET, f"{API}/cdc", json=body)
    with pytest.raises(QuickBooksError):
        cdc_pull(connection_id=connected.pk)
    connected.refresh_from_db()
    assert connected.cdc_watermark == mark
    assert cdc_sweep() == 0  # the sweep logs it and goes on
    connected.refresh_from_db()
    assert connected.cdc_watermark == mark


def test_full_answer_is_followed_by_payment_pages_from_the_newest_change(connected, intuit):
    base = dt.datetime(2026, 11, 29, 9, 0, tzinfo=dt.UTC)
    full = [payment_row(str(n), when=(base + dt.timedelta(seconds=n)).isoformat()) for n in range(1000)]
    intuit.add(responses.GET, f"{API}/cdc", json=cdc_answer(payments=full))  # the usual call: full
    intuit.add(responses.GET, f"{API}/cdc", json=cdc_answer(payments=full))  # Payment alone, from the same time
    intuit.add(responses.GET, f"{API}/cdc", json=cdc_answer(payments=[payment_row("2000")]))
    now = base + dt.timedelta(minutes=10)
    cdc_pull(connection_id=connected.pk, now=now)
    calls = calls_to(intuit, "GET", "/cdc")
    assert [query_of(c.request.url)["entities"] for c in calls] == ["Payment,Invoice,Customer", "Payment", "Payment"]
    third_since = dt.datetime.fromisoformat(query_of(calls[2].request.url)["changedSince"])
    assert third_since == base + dt.timedelta(seconds=999)
    assert QuickBooksWebhookEvent.objects.filter(source="cdc").count() == 1001
    connected.refresh_from_db()
    assert connected.cdc_watermark == now and connection_usage(connection=connected).reads == 3  # one per call


def test_more_changes_than_one_run_reads_resumes_where_it_stopped(connected, intuit, monkeypatch):
    monkeypatch.setattr("integrations.services.cdc.MAX_PAGES", 2)
    base = dt.datetime(2026, 11, 29, 9, 0, tzinfo=dt.UTC)

    def page(start):
        return cdc_answer(
            payments=[
                payment_row(str(n), when=(base + dt.timedelta(seconds=n)).isoformat())
                for n in range(start, start + 1000)
            ]
        )

    for start in (0, 0, 999):
        intuit.add(responses.GET, f"{API}/cdc", json=page(start))
    cdc_pull(connection_id=connected.pk, now=base + dt.timedelta(minutes=10))
    connected.refresh_from_db()
    assert connected.cdc_watermark < base + dt.timedelta(seconds=1998)  # not "now": the rest is read next time
    assert connected.cdc_watermark >= base + dt.timedelta(seconds=1998) - dt.timedelta(minutes=3)


def test_past_thirty_days_falls_back_to_a_payment_query(connected, intuit):
    QuickBooksConnection.objects.filter(pk=connected.pk).update(cdc_watermark=timezone.now() - dt.timedelta(days=45))
    intuit.add(responses.GET, f"{API}/query", json={"QueryResponse": {"Payment": [payment_row()]}})
    assert cdc_pull(connection_id=connected.pk) == 1
    assert not calls_to(intuit, "GET", "/cdc")
    statement = query_of(calls_to(intuit, "GET", "/query")[0].request.url)["query"]
    assert statement.startswith("select * from Payment where MetaData.LastUpdatedTime >= '")
