"""Send existing invoices through the batch endpoint, against Intuit faked with `responses` (a fake QuickBooks that
replays a requestid, refuses duplicate numbers and names, and can lose an answer or throttle on demand)."""

from __future__ import annotations

import io
import json
import re
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from django.core.management import call_command
from django.core.management.base import CommandError

from integrations.models import (
    AdoptionPolicy,
    QuickBooksBackfill,
    QuickBooksConnection,
    QuickBooksLink,
    QuickBooksSyncLog,
)
from integrations.services import backfill
from tests.conftest import make_tenant
from tests.integrations.conftest import API, fault

pytestmark = pytest.mark.django_db


class FakeQuickBooks:
    """Just enough of Intuit's batch, query and invoice endpoints, with the rules the backfill relies on."""

    def __init__(self, intuit) -> None:
        self.customers: dict[str, dict] = {}
        self.invoices: list[dict] = []
        self.replays: dict[str, str] = {}
        self.batches: list[dict] = []  # every batch request received: {"requestid", "bids"}
        self.item_faults: dict[str, dict] = {}  # bId → Fault, answered once
        self.lose_next_answers = 0  # apply the batch, then let the answer time out
        self.throttle_next = 0  # answer 429 (Retry-After: 1) without applying
        self.next_id = 100
        intuit.add_callback(responses.POST, f"{API}/batch", callback=self.batch)
        intuit.add_callback(responses.GET, f"{API}/query", callback=self.query)
        intuit.add_callback(responses.POST, f"{API}/invoice", callback=self.single_invoice)

    def _id(self) -> str:
        self.next_id += 1
        return str(self.next_id)

    def _customer(self, body: dict) -> dict:
        if body["DisplayName"] in self.customers:
            return fault("6240", "Duplicate Name Exists Error")
        customer = {**body, "Id": self._id(), "SyncToken": "0"}
        self.customers[body["DisplayName"]] = customer
        return {"Customer": customer}

    def _invoice(self, body: dict, *, allow_duplicate: bool = False) -> dict:
        if not allow_duplicate and any(i["DocNumber"] == body.get("DocNumber") for i in self.invoices):
            return fault("6140", "Duplicate Document Number Error")
        known = {c["Id"] for c in self.customers.values()}
        if body["CustomerRef"]["value"] not in known:
            return fault("2500", "Invalid Reference Id")
        lines = [line for line in body["Line"] if line.get("DetailType") == "SalesItemLineDetail"]
        subtotal = sum((Decimal(str(line["Amount"])) for line in lines), Decimal(0))
        taxable = sum(
            (
                Decimal(str(x["Amount"]))
                for x in lines
                if x["SalesItemLineDetail"].get("TaxCodeRef", {}).get("value") == "TAX"
            ),
            Decimal(0),
        )
        tax = (taxable / 10).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
        invoice = {
            **body,
            "Id": self._id(),
            "SyncToken": "0",
            "TxnTaxDetail": {**(body.get("TxnTaxDetail") or {}), "TotalTax": float(tax)},
            "TotalAmt": float(subtotal + tax),
            "Balance": float(subtotal + tax),
        }
        self.invoices.append(invoice)
        return {"Invoice": invoice}

    def batch(self, request):
        rid = parse_qs(urlsplit(request.url).query).get("requestid", [""])[0]
        items = json.loads(request.body)["BatchItemRequest"]
        assert 1 <= len(items) <= 30 and len(rid) <= 36 and all(len(i["bId"]) <= 10 for i in items)
        self.batches.append({"requestid": rid, "bids": [i["bId"] for i in items]})
        if self.throttle_next:
            self.throttle_next -= 1
            return 429, {"Retry-After": "1"}, json.dumps(fault("3001", "ThrottleExceeded"))
        if rid in self.replays:
            body = self.replays[rid]
        else:
            answers = []
            for item in items:
                if item["bId"] in self.item_faults:
                    answers.append({"bId": item["bId"], **self.item_faults.pop(item["bId"])})
                elif "Customer" in item:
                    answers.append({"bId": item["bId"], **self._customer(item["Customer"])})
                else:
                    answers.append({"bId": item["bId"], **self._invoice(item["Invoice"])})
            body = json.dumps({"BatchItemResponse": answers})
            self.replays[rid] = body
        if self.lose_next_answers:
            self.lose_next_answers -= 1
            raise requests.ReadTimeout("the answer never came")
        return 200, {"intuit_tid": "tid-batch"}, body

    def query(self, request):
        statement = parse_qs(urlsplit(request.url).query)["query"][0]
        name = re.search(r"DisplayName = '([^']*)'", statement)
        number = re.search(r"DocNumber = '([^']*)'", statement)
        if name:
            found = [c for n, c in self.customers.items() if n == name.group(1)]
            return 200, {}, json.dumps({"QueryResponse": {"Customer": found} if found else {}})
        found = [i for i in self.invoices if number and i["DocNumber"] == number.group(1)]
        return 200, {}, json.dumps({"QueryResponse": {"Invoice": found} if found else {}})

    def single_invoice(self, request):
        include = parse_qs(urlsplit(request.url).query).get("include", [""])[0]
        answer = self._invoice(json.loads(request.body), allow_duplicate=include == "allowduplicatedocnum")
        return (200 if "Invoice" in answer else 400), {}, json.dumps(answer)

    def doc_numbers(self) -> list[str]:
        return [i["DocNumber"] for i in self.invoices]


@pytest.fixture
def quickbooks(intuit, connected, settings, monkeypatch):
    settings.QUICKBOOKS_RATE_BATCHES_PER_WINDOW = 60_000  # the limiter's batch pace: none to speak of in tests
    waits: list[float] = []
    monkeypatch.setattr(backfill.time, "sleep", waits.append)
    fake = FakeQuickBooks(intuit)
    fake.waits = waits
    return fake


def historical(tenant, connected, count: int, *, clients: int = 1) -> list:
    """Finalized invoices from before the connection sent anything (no outbox entry, no link)."""
    from tests.factories import ClientFactory

    QuickBooksConnection.objects.filter(pk=connected.pk).update(auto_sync=False)
    people = [tenant.client] + [
        ClientFactory(company=tenant.company, display_name=f"Client {n}", email=f"c{n}@example.com")
        for n in range(1, clients)
    ]
    invoices = [tenant.invoice(finalize=True, client=people[n % clients]) for n in range(count)]
    QuickBooksConnection.objects.filter(pk=connected.pk).update(auto_sync=True)
    return invoices


def customer_already_linked(tenant, connected, quickbooks) -> None:
    """The tenant's client has QuickBooks customer 58, linked before the backfill."""
    quickbooks.customers["Alpha Client"] = {"DisplayName": "Alpha Client", "Id": "58", "SyncToken": "0"}
    QuickBooksLink.objects.create(
        company=tenant.company,
        realm_id=connected.realm_id,
        object_type="client",
        object_id=tenant.client.pk,
        qbo_id="58",
    )


def run(company, **kwargs) -> QuickBooksBackfill:
    started = backfill.backfill_start(company=company, dispatch=False, **kwargs)
    backfill.backfill_run(started.pk)
    started.refresh_from_db()
    return started


def invoice_logs(company):
    return QuickBooksSyncLog.objects.filter(company=company, entity_type="invoice")


def test_customers_go_first_then_invoices_in_batches_of_30_each_linked_and_logged(tenant, connected, quickbooks):
    invoices = historical(tenant, connected, 65, clients=3)
    result = run(tenant.company)
    assert (result.status, result.total, result.succeeded, result.failed) == ("done", 65, 65, 0)
    assert result.customers_total == result.customers_done == 3
    first, *rest = quickbooks.batches
    assert all(bid.startswith("c") for bid in first["bids"])  # customers first, in their own batch
    assert [len(b["bids"]) for b in rest] == [30, 30, 5]
    assert len({b["requestid"] for b in quickbooks.batches}) == 4  # one requestid per batch
    assert sorted(quickbooks.doc_numbers()) == sorted(i.number for i in invoices)
    assert QuickBooksLink.objects.filter(object_type="invoice").count() == 65
    assert QuickBooksLink.objects.filter(object_type="client").count() == 3
    logs = invoice_logs(tenant.company)
    assert logs.count() == 65 and set(logs.values_list("status", flat=True)) == {"succeeded"}
    assert "figures match ours" in logs.first().message  # books agree: checked from the batch's answer


def test_a_batch_where_some_items_fail_fails_only_those(tenant, connected, quickbooks):
    invoices = historical(tenant, connected, 5)
    customer_already_linked(tenant, connected, quickbooks)
    quickbooks.item_faults[backfill.bid_for("i", invoices[1].pk)] = fault(
        "610", "Object Not Found", detail="Something you're trying to use has been made inactive"
    )
    quickbooks.item_faults[backfill.bid_for("i", invoices[3].pk)] = fault("6000", "Business Validation Error")
    result = run(tenant.company)
    assert (result.succeeded, result.failed) == (3, 2)
    linked = set(QuickBooksLink.objects.filter(object_type="invoice").values_list("object_id", flat=True))
    assert linked == {invoices[0].pk, invoices[2].pk, invoices[4].pk}
    failed = {log.object_id: log for log in invoice_logs(tenant.company).filter(status="failed")}
    assert set(failed) == {invoices[1].pk, invoices[3].pk}
    assert failed[invoices[1].pk].error_code == "610" and "inactive" in failed[invoices[1].pk].message
    assert failed[invoices[3].pk].can_retry  # a person retries it from the activity page


def test_a_batch_whose_answer_is_lost_is_replayed_by_its_requestid(tenant, connected, quickbooks):
    historical(tenant, connected, 4)
    quickbooks.lose_next_answers = 2  # the customers' batch's answer, then once more
    result = run(tenant.company)
    assert (result.status, result.succeeded) == ("done", 4)
    customer_batches = [b for b in quickbooks.batches if b["bids"][0].startswith("c")]
    assert len(customer_batches) == 3 and len({b["requestid"] for b in customer_batches}) == 1  # same requestid
    assert len(quickbooks.customers) == 1 and len(quickbooks.invoices) == 4  # nothing twice
    assert quickbooks.waits[:2] == [2, 5]  # re-sent after a pause


def test_a_worker_killed_mid_backfill_resumes_without_duplicates_or_gaps(tenant, connected, quickbooks, monkeypatch):
    invoices = historical(tenant, connected, 70)
    started = backfill.backfill_start(company=tenant.company, dispatch=False)
    real_record = backfill._record
    recorded = []

    def killed_after_sending(run, *args, **kwargs):
        if len(recorded) == 2:  # customers, then one invoice batch; the next batch is sent and the worker dies
            raise SystemExit("worker killed")
        recorded.append(1)
        return real_record(run, *args, **kwargs)

    monkeypatch.setattr(backfill, "_record", killed_after_sending)
    with pytest.raises(SystemExit):
        backfill.backfill_run(started.pk)
    monkeypatch.setattr(backfill, "_record", real_record)
    killed = QuickBooksBackfill.objects.get(pk=started.pk)
    assert killed.status == "running" and killed.succeeded == 30 and killed.batch  # the claimed batch is kept
    assert backfill.backfill_run(started.pk) == "nothing to do"  # its lease has not run out yet
    QuickBooksBackfill.objects.filter(pk=started.pk).update(lease_until=killed.updated_at)  # ...now it has
    monkeypatch.setattr(backfill, "dispatch_run", lambda run_id: backfill.backfill_run(run_id))
    assert backfill.backfill_sweep() == 1
    done = QuickBooksBackfill.objects.get(pk=started.pk)
    assert (done.status, done.total, done.succeeded, done.failed, done.percent) == ("done", 70, 70, 0, 100)
    assert sorted(quickbooks.doc_numbers()) == sorted(i.number for i in invoices)  # no duplicates, no gaps
    assert invoice_logs(tenant.company).count() == 70
    resent = [b for b in quickbooks.batches if b["requestid"] == killed.batch_request_id]
    assert len(resent) == 2  # the batch of the killed worker, replayed


def test_a_429_on_a_batch_is_waited_out_and_the_same_batch_sent_again(tenant, connected, quickbooks):
    historical(tenant, connected, 3)
    quickbooks.throttle_next = 1
    result = run(tenant.company)
    assert (result.status, result.succeeded) == ("done", 3)
    assert quickbooks.batches[0]["requestid"] == quickbooks.batches[1]["requestid"]
    # Retry-After honoured: the shared limiter held the realm back (for every worker) before the same batch went.
    from integrations.models import QuickBooksRealmPace

    assert QuickBooksRealmPace.objects.get(realm_id=connected.realm_id).blocked_until > 0


def test_a_429_inside_a_batch_defers_only_that_item(tenant, connected, quickbooks):
    invoices = historical(tenant, connected, 3)
    quickbooks.item_faults[backfill.bid_for("i", invoices[0].pk)] = fault("3001", "ThrottleExceeded")
    result = run(tenant.company)
    assert (result.status, result.succeeded, result.failed) == ("done", 3, 0)
    assert quickbooks.batches[-1]["bids"] == [backfill.bid_for("i", invoices[0].pk)]  # sent again, alone
    assert len(quickbooks.invoices) == 3


def test_duplicate_name_links_the_existing_customer(tenant, connected, quickbooks):
    historical(tenant, connected, 2)
    quickbooks.customers["Alpha Client"] = {"DisplayName": "Alpha Client", "Id": "77", "SyncToken": "3"}
    result = run(tenant.company)
    assert (result.succeeded, result.failed) == (2, 0)
    assert QuickBooksLink.objects.get(object_type="client").qbo_id == "77"
    assert {i["CustomerRef"]["value"] for i in quickbooks.invoices} == {"77"}


def test_duplicate_number_follows_the_adoption_policy(tenant, connected, quickbooks):
    invoices = historical(tenant, connected, 2)
    customer_already_linked(tenant, connected, quickbooks)
    quickbooks.invoices.append(  # someone typed invoice 1 into QuickBooks, with the same figures
        {
            "Id": "9",
            "DocNumber": invoices[0].number,
            "CustomerRef": {"value": "58"},
            "TotalAmt": 110.0,
            "TxnDate": "2026-01-15",
            "Line": [],
            "SyncToken": "0",
        }
    )
    quickbooks.invoices.append(
        {
            "Id": "10",
            "DocNumber": invoices[1].number,
            "CustomerRef": {"value": "5"},
            "TotalAmt": 1.0,
            "TxnDate": "2026-01-15",
            "Line": [],
            "SyncToken": "0",
        }
    )
    result = run(tenant.company)
    assert (result.succeeded + result.drift, result.failed) == (1, 1)
    assert QuickBooksLink.objects.get(object_type="invoice").qbo_id == "9"  # "link matches": adopted
    assert "did not create it" in invoice_logs(tenant.company).get(status="failed").message

    QuickBooksConnection.objects.filter(pk=connected.pk).update(adoption_policy=AdoptionPolicy.CREATE)
    QuickBooksSyncLog.objects.all().delete()
    again = run(tenant.company)
    assert again.succeeded == 1 and QuickBooksLink.objects.filter(object_type="invoice").count() == 2
    assert quickbooks.doc_numbers().count(invoices[1].number) == 2  # created with allowduplicatedocnum


def test_drift_is_recorded_when_quickbooks_figures_differ(tenant, connected, quickbooks, monkeypatch):
    historical(tenant, connected, 1)
    real = quickbooks._invoice
    monkeypatch.setattr(
        quickbooks, "_invoice", lambda body, **kw: {"Invoice": {**real(body, **kw)["Invoice"], "TotalAmt": 999}}
    )
    result = run(tenant.company)
    assert (result.drift, result.succeeded) == (1, 0)
    log = invoice_logs(tenant.company).get()
    assert log.status == "drift" and log.drift["differences"]


def test_two_backfills_for_one_company_the_second_is_refused(tenant, connected, quickbooks, other_tenant):
    historical(tenant, connected, 2)
    first = backfill.backfill_start(company=tenant.company, dispatch=False)
    with pytest.raises(backfill.BackfillRunning) as refused:
        backfill.backfill_start(company=tenant.company, dispatch=False)
    assert refused.value.status_code == 409 and "already being sent" in refused.value.message
    assert QuickBooksBackfill.objects.filter(company=tenant.company).count() == 1
    backfill.backfill_run(first.pk)
    assert backfill.backfill_start(company=tenant.company, dispatch=False).status == "queued"  # once it is done


def test_api_starts_refuses_a_second_and_scopes_to_the_company(
    tenant, connected, quickbooks, other_tenant, api_client_for, captured
):
    historical(tenant, connected, 2)
    api = api_client_for(tenant.admin)
    with captured(execute=False):
        started = api.post("/api/v1/integrations/quickbooks/backfill", {}, format="json")
    assert started.status_code == 202, started.content
    body = started.json()
    assert body["status"] == "queued" and body["total"] == 2
    second = api.post("/api/v1/integrations/quickbooks/backfill", {}, format="json")
    assert second.status_code == 409 and second.json()["code"] == "backfill_running"
    status = api.get(f"/api/v1/integrations/quickbooks/backfill/{body['id']}")
    assert status.status_code == 200 and status.json()["percent"] == 0
    assert api.get("/api/v1/integrations/quickbooks/backfill").json()["id"] == body["id"]  # the latest run
    other = api_client_for(other_tenant.admin)
    assert other.get(f"/api/v1/integrations/quickbooks/backfill/{body['id']}").status_code == 404
    assert api_client_for(tenant.member).post("/api/v1/integrations/quickbooks/backfill", {}).status_code == 403
    bad = api_client_for(other_tenant.admin).post(
        "/api/v1/integrations/quickbooks/backfill", {"since": "soon"}, format="json"
    )
    assert bad.status_code == 400


def test_command_sends_and_prints_progress_and_a_summary(tenant, connected, quickbooks):
    historical(tenant, connected, 3)
    out, err = io.StringIO(), io.StringIO()
    call_command("quickbooks_backfill", "--company", tenant.company.slug, stdout=out, stderr=err)
    text = out.getvalue()
    assert "3 invoices to send" in text and "Done: 3 sent" in text, text
    assert "3/3" in err.getvalue()  # the terminal progress bar (tqdm writes to stderr)
    with pytest.raises(CommandError, match="No company"):
        call_command("quickbooks_backfill", "--company", "nope", stdout=io.StringIO())
    with pytest.raises(CommandError, match="YYYY-MM-DD"):
        call_command("quickbooks_backfill", "--company", tenant.company.slug, "--since", "2026-13-01")


def test_since_limits_the_invoices_sent(tenant, connected, quickbooks):
    import datetime as dt

    historical(tenant, connected, 1)
    QuickBooksConnection.objects.filter(pk=connected.pk).update(auto_sync=False)
    newer = tenant.invoice(finalize=True, issue_date=dt.date(2026, 3, 1), due_date=dt.date(2026, 4, 1))
    result = run(tenant.company, since=dt.date(2026, 2, 1))
    assert result.total == 1 and quickbooks.doc_numbers() == [newer.number]


def test_a_company_without_quickbooks_cannot_start(other_tenant):
    with pytest.raises(Exception, match="not connected"):
        backfill.backfill_start(company=make_tenant("Gamma").company, dispatch=False)


def test_settings_page_offers_the_button_and_shows_live_progress(
    tenant, connected, quickbooks, page_client_for, captured
):
    historical(tenant, connected, 3)
    page = page_client_for(tenant.admin)
    html = page.get("/settings/integrations/quickbooks/").content.decode()
    assert "Send existing invoices" in html and "3 finalized invoices" in html
    with captured(execute=False):
        response = page.post("/settings/integrations/quickbooks/backfill/", {"since": ""})
    assert response.status_code == 302
    html = page.get("/settings/integrations/quickbooks/").content.decode()
    assert 'hx-trigger="every 2s"' in html and "0 of 3 invoices" in html  # polled while live
    backfill.backfill_run(QuickBooksBackfill.objects.get().pk)
    fragment = page.get("/settings/integrations/quickbooks/backfill/progress/", HTTP_HX_REQUEST="true").content.decode()
    assert "every 2s" not in fragment and "Done: 3 sent" in fragment  # the polling stops when done
    refused = page.post("/settings/integrations/quickbooks/backfill/", {"since": "13/13/2026"}, follow=True)
    assert "must be a date" in refused.content.decode()
    assert page_client_for(tenant.member).post("/settings/integrations/quickbooks/backfill/").status_code in (302, 403)


def test_batches_are_paced_by_the_realms_shared_limiter_at_the_batch_limit(tenant, connected, quickbooks, monkeypatch):
    """One mechanism: the run has no pace of its own; every batch takes a batch slot of the realm's limiter (the one
    every worker shares), 40 a minute at Intuit's limit, and is counted by its items (30 invoices = 30 writes)."""
    from integrations.models import QuickBooksRealmPace
    from integrations.quickbooks import client as client_module
    from integrations.quickbooks.limiter import DatabaseStore, LocalStore, RateLimits, RealmLimiter

    historical(tenant, connected, 60)
    customer_already_linked(tenant, connected, quickbooks)
    clock, slept, starts = [1_000_000.0], [], []

    def sleep(seconds):
        slept.append(seconds)
        clock[0] += seconds

    limits = RateLimits()  # Intuit's: 500 calls and 40 batches a minute
    shared = RealmLimiter(limits, store=DatabaseStore(), fallback=LocalStore(), clock=lambda: clock[0], sleep=sleep)
    monkeypatch.setattr(client_module, "realm_limiter", lambda: shared)
    real_permit = shared.permit

    def permit(realm_id, **kwargs):
        held = real_permit(realm_id, **kwargs)
        starts.append((clock[0], kwargs.get("batch")))
        clock[0] += 0.2  # the answer and our bookkeeping take a moment
        return held

    monkeypatch.setattr(shared, "permit", permit)
    result = run(tenant.company)
    assert (result.succeeded, result.batches_sent) == (60, 2)
    batch_starts = [at for at, batch in starts if batch]
    assert batch_starts[1] - batch_starts[0] == pytest.approx(limits.batch_interval)  # 60 / (40 × 98 %) s
    row = QuickBooksRealmPace.objects.get(realm_id=connected.realm_id)
    assert (row.reads, row.writes) == (0, 60)  # two batches of 30 creates, counted as Intuit meters them


def test_an_invoice_refused_before_sending_is_recorded_once_and_not_sent(tenant, connected, quickbooks):
    from attune_qbo.billing.models import Client

    invoices = historical(tenant, connected, 3, clients=2)  # invoice 1 is for "Client 1"
    Client.objects.filter(pk=invoices[1].client_id).update(display_name="Client: One")  # ":" is refused by QBO
    result = run(tenant.company)
    assert (result.succeeded, result.failed, result.total) == (2, 1, 3)
    refused = invoice_logs(tenant.company).get(status="failed")
    assert refused.object_id == invoices[1].pk and "“:”" in refused.message
    assert backfill.bid_for("i", invoices[1].pk) not in [bid for b in quickbooks.batches for bid in b["bids"]]
