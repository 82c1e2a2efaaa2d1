"""The outbox batches due invoices of one realm (issue 11 item 2, decision 0020), against Intuit faked with
`responses`: a fake QuickBooks per realm that replays a requestid (batch or single, one store per company, as Intuit
and the simulator do), refuses duplicate numbers and stale SyncTokens, and can lose an answer or throttle."""

from __future__ import annotations

import json
import re
from decimal import ROUND_HALF_UP, Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses
from django.utils import timezone

from attune_qbo.billing import services as billing
from integrations.models import QuickBooksConnection, QuickBooksLink, QuickBooksMapping, QuickBooksSyncLog
from integrations.outbox import batches, worker
from integrations.quickbooks.online.batch import bid_for_invoice, is_batch_request_id
from integrations.quickbooks.online.push import company_profile, customer_payload
from integrations.quickbooks.online.render import payload_hash
from tests.conftest import make_tenant
from tests.integrations.conftest import REALM, fault, make_connection

pytestmark = pytest.mark.django_db

OTHER_REALM = "9130000000000002"
API_PATTERN = re.compile(r"https://sandbox-quickbooks\.api\.intuit\.com/v3/company/(\d+)/(\w+)")


class FakeRealm:
    def __init__(self) -> None:
        self.invoices: dict[str, dict] = {}
        self.customers: dict[str, dict] = {}
        self.replays: dict[str, tuple[int, str]] = {}
        self.batches: list[dict] = []  # {"requestid", "bids", "operations"}
        self.singles: list[str] = []  # "create" | "update" for every single invoice write
        self.voided: list[str] = []
        self.item_faults: dict[str, dict] = {}  # bId → Fault, answered once
        self.refused_numbers: dict[str, dict] = {}  # DocNumber → Fault, every time (batch and single)
        self.lose_next_answers = 0  # apply the batch, then let the answer time out
        self.throttle_next: tuple[int, str] | None = None  # (count, Retry-After) for the next batches

    def next_id(self) -> str:
        return str(200 + len(self.invoices) + len(self.customers))


class FakeQuickBooks:
    def __init__(self, intuit) -> None:
        self.realms = {REALM: FakeRealm(), OTHER_REALM: FakeRealm()}
        intuit.add_callback(responses.POST, API_PATTERN, callback=self.post)
        intuit.add_callback(responses.GET, API_PATTERN, callback=self.get)

    def __getitem__(self, realm: str) -> FakeRealm:
        return self.realms[realm]

    # --- entities ---

    def _figures(self, invoice: dict) -> dict:
        lines = [line for line in invoice["Line"] if line.get("DetailType") == "SalesItemLineDetail"]
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
        return {
            **invoice,
            "TxnTaxDetail": {**(invoice.get("TxnTaxDetail") or {}), "TotalTax": float(tax)},
            "TotalAmt": float(subtotal + tax),
            "Balance": float(subtotal + tax),
        }

    def _write_invoice(self, realm: FakeRealm, body: dict, operation: str) -> dict:
        number = body.get("DocNumber")
        if number in realm.refused_numbers:
            return realm.refused_numbers[number]
        if operation == "create":
            if any(i["DocNumber"] == number for i in realm.invoices.values()):
                return fault("6140", "Duplicate Document Number Error")
            if body["CustomerRef"]["value"] not in {c["Id"] for c in realm.customers.values()}:
                return fault("2500", "Invalid Reference Id")
            invoice = self._figures({**body, "Id": realm.next_id(), "SyncToken": "0"})
        else:
            current = realm.invoices.get(str(body.get("Id")))
            if current is None:
                return fault("610", "Object Not Found")
            if str(body.get("SyncToken")) != current["SyncToken"]:
                return fault("5010", "Stale Object Error")
            fields = {k: v for k, v in body.items() if k != "sparse"}
            base = current if body.get("sparse") else {"Id": current["Id"]}
            invoice = self._figures({**base, **fields, "SyncToken": str(int(current["SyncToken"]) + 1)})
        realm.invoices[invoice["Id"]] = invoice
        return {"Invoice": invoice}

    # --- endpoints ---

    def post(self, request):
        realm_id, path = API_PATTERN.match(request.url).groups()
        realm = self.realms[realm_id]
        rid = parse_qs(urlsplit(request.url).query).get("requestid", [""])[0]
        body = json.loads(request.body)
        if path == "batch":
            items = body["BatchItemRequest"]
            assert 1 <= len(items) <= 30 and len(rid) <= 36 and all(len(i["bId"]) <= 10 for i in items)  # §2.6, §2.8
            assert len({i["bId"] for i in items}) == len(items)
            realm.batches.append(
                {"requestid": rid, "bids": [i["bId"] for i in items], "operations": [i["operation"] for i in items]}
            )
            if realm.throttle_next and realm.throttle_next[0]:
                count, wait = realm.throttle_next
                realm.throttle_next = (count - 1, wait)
                return 429, {"Retry-After": wait}, json.dumps(fault("3001", "ThrottleExceeded"))
            if rid in realm.replays:
                status, text = realm.replays[rid]
            else:
                answers = []
                for item in items:  # items cannot see each other: none reads another's result
                    if item["bId"] in realm.item_faults:
                        answers.append({"bId": item["bId"], **realm.item_faults.pop(item["bId"])})
                    else:
                        answers.append(
                            {"bId": item["bId"], **self._write_invoice(realm, item["Invoice"], item["operation"])}
                        )
                status, text = 200, json.dumps({"BatchItemResponse": answers})
                realm.replays[rid] = (status, text)
            if realm.lose_next_answers:
                realm.lose_next_answers -= 1
                raise requests.ReadTimeout("the answer never came")
            return status, {"intuit_tid": "tid-batch"}, text
        if rid in realm.replays:
            status, text = realm.replays[rid]
            return status, {}, text
        if path == "customer" and body.get("Id"):
            current = next(c for c in realm.customers.values() if c["Id"] == str(body["Id"]))
            current.update({k: v for k, v in body.items() if k != "sparse"})
            current["SyncToken"] = str(int(current["SyncToken"]) + 1)
            answer = {"Customer": current}
        elif path == "customer":
            customer = {**body, "Id": realm.next_id(), "SyncToken": "0"}
            realm.customers[body["DisplayName"]] = customer
            answer = {"Customer": customer}
        elif parse_qs(urlsplit(request.url).query).get("operation") == ["void"]:
            current = realm.invoices[str(body["Id"])]
            current.update(
                SyncToken=str(int(current["SyncToken"]) + 1), TotalAmt=0.0, Balance=0.0, PrivateNote="Voided"
            )
            realm.voided.append(current["Id"])
            answer = {"Invoice": current}
        else:
            operation = "update" if body.get("Id") else "create"
            realm.singles.append(operation)
            answer = self._write_invoice(realm, body, operation)
        status = 200 if "Fault" not in answer else 400
        if status == 200 and rid:
            realm.replays[rid] = (status, json.dumps(answer))
        return status, {}, json.dumps(answer)

    def get(self, request):
        realm_id, path = API_PATTERN.match(request.url).groups()
        realm = self.realms[realm_id]
        statement = parse_qs(urlsplit(request.url).query).get("query", [""])[0]
        name = re.search(r"DisplayName = '([^']*)'", statement)
        number = re.search(r"DocNumber = '([^']*)'", statement)
        if name:
            found = [c for n, c in realm.customers.items() if n == name.group(1)]
            return 200, {}, json.dumps({"QueryResponse": {"Customer": found} if found else {}})
        found = [i for i in realm.invoices.values() if number and i["DocNumber"] == number.group(1)]
        return 200, {}, json.dumps({"QueryResponse": {"Invoice": found} if found else {}})


# --- set-up ---


def connect(tenant, realm: str) -> QuickBooksConnection:
    connection = make_connection(tenant.company, access=f"access-{realm}", refresh=f"refresh-{realm}", realm=realm)
    QuickBooksConnection.objects.filter(pk=connection.pk).update(
        tax_style="us", sales_tax_mode="manual", home_currency="USD"
    )
    QuickBooksMapping.objects.create(
        company=tenant.company, realm_id=realm, kind="item", local_key="default", qbo_id="1", qbo_name="Services"
    )
    QuickBooksMapping.objects.create(
        company=tenant.company,
        realm_id=realm,
        kind="sales_tax_code",
        local_key=str(tenant.tax_rate.pk),
        qbo_id="2",
        qbo_name="Ten percent",
    )
    connection.refresh_from_db()
    return connection


def link_customer(tenant, connection, fake: FakeQuickBooks, qbo_id: str = "58") -> None:
    """The tenant's client is already a linked QuickBooks customer, unchanged since (a batch can carry its invoices)."""
    fingerprint = payload_hash(customer_payload(tenant.client, company_profile(connection)))
    customer = {"DisplayName": tenant.client.display_name, "Id": qbo_id, "SyncToken": "0"}
    fake[connection.realm_id].customers[tenant.client.display_name] = customer
    QuickBooksLink.objects.create(
        company=tenant.company,
        realm_id=connection.realm_id,
        object_type="client",
        object_id=tenant.client.pk,
        qbo_id=qbo_id,
        payload_hash=fingerprint,
        sync_token="0",
        qbo_snapshot=dict(customer),
    )


@pytest.fixture
def fake(intuit, settings, monkeypatch):
    settings.QUICKBOOKS_PUSH_DEBOUNCE_SECONDS = 0
    settings.QUICKBOOKS_OUTBOX_BATCH_THRESHOLD = 10
    settings.QUICKBOOKS_RATE_BATCHES_PER_WINDOW = 100_000  # no pacing between batches in tests
    settings.QUICKBOOKS_RATE_CALLS_PER_WINDOW = 100_000
    monkeypatch.setattr("integrations.outbox.enqueue.dispatch", lambda entry_id: None)
    monkeypatch.setattr("integrations.outbox.enqueue.dispatch_drain", lambda *a, **k: None)
    return FakeQuickBooks(intuit)


@pytest.fixture
def alpha(tenant, fake):
    connection = connect(tenant, REALM)
    link_customer(tenant, connection, fake)
    return tenant, connection


def due_invoices(tenant, count: int, **fields) -> list:
    invoices = [tenant.invoice(finalize=True, **fields) for _ in range(count)]
    make_all_due()
    return invoices


def make_all_due() -> None:
    QuickBooksSyncLog.objects.filter(status="pending").update(next_attempt_at=timezone.now())


def entries_of(invoices) -> list[QuickBooksSyncLog]:
    return list(QuickBooksSyncLog.objects.filter(object_id__in=[i.pk for i in invoices]).order_by("pk"))


# --- tests ---


def test_more_than_the_threshold_due_go_in_one_batch_each_linked_and_checked(alpha, fake):
    tenant, connection = alpha
    invoices = due_invoices(tenant, 12)
    assert batches.drain_batch(REALM) == 12
    realm = fake[REALM]
    assert len(realm.batches) == 1 and realm.singles == []
    sent = realm.batches[0]
    assert sorted(sent["bids"]) == sorted(bid_for_invoice(i.pk) for i in invoices)
    assert set(sent["operations"]) == {"create"} and is_batch_request_id(sent["requestid"])
    assert len(realm.invoices) == 12
    for entry in entries_of(invoices):
        assert entry.status == "succeeded", entry.message
        assert "figures match ours" in entry.message  # the books agree: checked from the batch's answer
        assert entry.attempts == 1 and entry.create_request_id == "" and entry.qbo_id
    assert QuickBooksLink.objects.filter(object_type="invoice").count() == 12
    assert batches.drain_batch(REALM) is None  # nothing left


def test_not_more_than_the_threshold_due_is_left_to_single_pushes(alpha, fake, settings, django_assert_num_queries):
    tenant, connection = alpha
    invoices = due_invoices(tenant, 10)
    with django_assert_num_queries(1):  # what the hook adds to a single push's turn: one bounded query
        assert batches.drain_batch(REALM) is None
    assert fake[REALM].batches == []
    assert {(e.status, e.attempts) for e in entries_of(invoices)} == {("pending", 0)}
    settings.QUICKBOOKS_OUTBOX_BATCH_THRESHOLD = 0  # off
    due_invoices(tenant, 5)
    assert batches.drain_batch(REALM) is None and fake[REALM].batches == []


def test_items_refused_inside_a_batch_go_single_and_only_those_fail(alpha, fake):
    tenant, connection = alpha
    invoices = due_invoices(tenant, 12)
    realm = fake[REALM]
    realm.item_faults[bid_for_invoice(invoices[3].pk)] = fault("5010", "Stale Object Error")  # passes single
    realm.refused_numbers[invoices[7].number] = fault(
        "610", "Object Not Found", detail="Something you're trying to use has been made inactive"
    )
    assert batches.drain_batch(REALM) == 12
    entries = {e.object_id: e for e in entries_of(invoices)}
    assert realm.singles == ["create", "create"]  # only the two refused items went single
    assert entries[invoices[3].pk].status == "succeeded" and entries[invoices[3].pk].attempts == 1
    failed = entries[invoices[7].pk]
    assert failed.status == "failed" and failed.error_code == "610" and "no longer exists" in failed.message
    assert failed.attempts == 1  # the batch and its single push are one attempt
    others = [e for pk, e in entries.items() if pk != invoices[7].pk]
    assert {e.status for e in others} == {"succeeded"}
    assert len(realm.invoices) == 11
    assert QuickBooksLink.objects.filter(object_type="invoice").count() == 11


def test_a_lost_batch_answer_is_asked_for_again_at_once_and_replayed(alpha, fake):
    tenant, connection = alpha
    invoices = due_invoices(tenant, 12)
    realm = fake[REALM]
    realm.lose_next_answers = 1
    assert batches.drain_batch(REALM) == 12
    assert [b["requestid"] for b in realm.batches] == [realm.batches[0]["requestid"]] * 2  # the same requestid
    assert len(realm.invoices) == 12  # replayed: nothing created twice
    assert {(e.status, e.attempts) for e in entries_of(invoices)} == {("succeeded", 1)}


def test_a_batch_whose_answer_stays_lost_is_retried_later_and_replayed_without_duplicates(alpha, fake, settings):
    tenant, connection = alpha
    invoices = due_invoices(tenant, 12)
    realm = fake[REALM]
    realm.lose_next_answers = 3  # the first send and both resends
    assert batches.drain_batch(REALM) == 12
    assert len(realm.invoices) == 12  # QuickBooks applied it; we never heard
    entries = entries_of(invoices)
    rid = realm.batches[0]["requestid"]
    assert {b["requestid"] for b in realm.batches} == {rid} and len(realm.batches) == 3
    assert {(e.status, e.attempts, e.create_request_id) for e in entries} == {("pending", 1, rid)}
    assert "same request id" in entries[0].message
    assert QuickBooksLink.objects.filter(object_type="invoice").count() == 0
    settings.QUICKBOOKS_OUTBOX_BATCH_THRESHOLD = 1000  # a lost batch is gathered again whatever the number due
    tenant.invoice(finalize=True)  # a newcomer is not mixed into the replayed batch
    make_all_due()
    assert batches.drain_batch(REALM) == 12
    assert realm.batches[3]["requestid"] == rid and sorted(realm.batches[3]["bids"]) == sorted(realm.batches[0]["bids"])
    assert len(realm.invoices) == 12  # replayed: nothing created twice
    assert {(e.status, e.attempts) for e in entries_of(invoices)} == {("succeeded", 2)}
    assert QuickBooksLink.objects.filter(object_type="invoice").count() == 12
    assert realm.singles == []
    assert batches.drain_batch(REALM) is None  # the newcomer waits for single pushes (threshold)


def test_a_lost_batch_is_resolved_by_its_replay_first_even_for_an_invoice_voided_or_a_customer_changed_since(
    alpha, fake
):
    tenant, connection = alpha
    invoices = due_invoices(tenant, 12)
    realm = fake[REALM]
    realm.lose_next_answers = 3
    batches.drain_batch(REALM)
    rid = realm.batches[0]["requestid"]
    billing.invoice_void(invoice=invoices[0])
    from attune_qbo.billing.models import Client

    Client.objects.filter(pk=tenant.client.pk).update(email="changed@example.com", updated_at=timezone.now())
    make_all_due()
    assert batches.drain_batch(REALM) == 12
    assert realm.batches[3]["requestid"] == rid and len(realm.batches[3]["bids"]) == 12  # all, replayed
    assert len(realm.invoices) == 12  # nothing created twice
    assert realm.voided == [QuickBooksLink.objects.get(object_type="invoice", object_id=invoices[0].pk).qbo_id]
    assert realm.customers[tenant.client.display_name]["PrimaryEmailAddr"]["Address"] == "changed@example.com"
    entries = entries_of(invoices)
    assert {e.create_request_id for e in entries} == {""}
    assert {e.status for e in entries} <= {"succeeded", "up_to_date"}, [(e.status, e.message) for e in entries]
    # No single create: the replay linked them all. The changed e-mail is on each invoice too (BillEmail), so the
    # replayed answers hold the older version and the single push updates the 11 that are not void.
    assert realm.singles == ["update"] * 11
    assert all(i["BillEmail"]["Address"] == "changed@example.com" for i in realm.invoices.values() if i["Balance"])


def test_a_single_push_of_an_entry_whose_batch_answer_was_lost_never_creates_twice(alpha, fake):
    """The sweeper's single push reaches an entry whose batch answer was lost before the realm's next batch turn:
    `push._create_invoice` sends that batch again (`replay_batch_create`), Intuit replays it, and the invoice is
    linked from the replayed answer: nothing created twice, no plain create under the batch's requestid."""
    from integrations.quickbooks.online.batch import replay_batch_create
    from integrations.quickbooks.online.push import invoice_payload
    from integrations.services.api import client_for
    from tests.integrations.conftest import run_due

    tenant, connection = alpha
    invoices = due_invoices(tenant, 11)
    realm = fake[REALM]
    realm.lose_next_answers = 3
    batches.drain_batch(REALM)
    entry = entries_of(invoices)[0]
    rid = entry.create_request_id
    entry, _ = run_due(entry)
    assert entry.status == "succeeded", entry.message
    assert len(realm.invoices) == 11 and realm.singles == []
    link = QuickBooksLink.objects.get(object_type="invoice", object_id=invoices[0].pk)
    assert realm.invoices[link.qbo_id]["DocNumber"] == invoices[0].number
    client = client_for(connection)
    answer = replay_batch_create(client, rid, invoices[0].pk, {"DocNumber": invoices[0].number})
    assert answer["DocNumber"] == invoices[0].number and len(realm.invoices) == 11  # found in the replay
    plan_payload = invoice_payload(
        invoices[0], customer_id="58", lines=[], profile=company_profile(connection), tax=None
    )
    fresh = replay_batch_create(client, "ob-never-sent", invoices[0].pk, {**plan_payload, "DocNumber": "NEW-1"})
    assert fresh["DocNumber"] == "NEW-1" and len(realm.invoices) == 12  # a batch never applied: applied now, once


def test_a_429_for_the_batch_uses_no_attempt_and_sends_it_later(alpha, fake):
    tenant, connection = alpha
    invoices = due_invoices(tenant, 12)
    realm = fake[REALM]
    realm.throttle_next = (1, "60")  # longer than the limiter waits in place: handed back for later
    assert batches.drain_batch(REALM) == 12
    entries = entries_of(invoices)
    assert {(e.status, e.attempts, e.throttled, e.create_request_id) for e in entries} == {("pending", 0, 1, "")}
    assert all(e.next_attempt_at > timezone.now() for e in entries) and "429" in entries[0].message
    assert realm.invoices == {}
    make_all_due()
    assert batches.drain_batch(REALM) == 12  # the realm is still blocked: paced, nothing sent, no attempt
    assert len(realm.batches) == 1
    assert {(e.status, e.attempts, e.create_request_id) for e in entries_of(invoices)} == {("pending", 0, "")}
    from integrations.models import QuickBooksRealmPace
    from integrations.quickbooks import limiter

    QuickBooksRealmPace.objects.filter(realm_id=REALM).update(
        blocked_until=0, next_call_at=0, next_batch_at=0
    )  # 60 s later
    limiter._local.clear()
    make_all_due()
    assert batches.drain_batch(REALM) == 12
    assert {e.status for e in entries_of(invoices)} == {"succeeded"} and len(realm.invoices) == 12


def test_a_429_for_one_item_inside_the_batch_sends_that_one_single(alpha, fake):
    tenant, connection = alpha
    invoices = due_invoices(tenant, 11)
    realm = fake[REALM]
    realm.item_faults[bid_for_invoice(invoices[0].pk)] = fault("3001", "ThrottleExceeded", status_type="SERVICE")
    assert batches.drain_batch(REALM) == 11
    assert realm.singles == ["create"]
    assert {e.status for e in entries_of(invoices)} == {"succeeded"} and len(realm.invoices) == 11


def test_a_mix_of_creates_and_updates_in_one_batch(alpha, fake):
    tenant, connection = alpha
    first = due_invoices(tenant, 11)
    assert batches.drain_batch(REALM) == 11
    for invoice in first[:6]:
        billing.invoice_update(invoice=invoice, memo="Edited after sending")
    billing.invoice_update(
        invoice=first[6], lines=[billing.LineData(product=tenant.product, quantity=5)], memo="Five now"
    )
    newcomers = due_invoices(tenant, 5)
    assert batches.drain_batch(REALM) == 12
    realm = fake[REALM]
    assert len(realm.batches) == 2 and sorted(realm.batches[1]["operations"]) == ["create"] * 5 + ["update"] * 7
    assert realm.singles == []
    updated = entries_of(first[:7])
    updated = [e for e in updated if e.status != "succeeded" or "Updated" in e.message]
    assert len(updated) == 7 and {e.status for e in updated} == {"succeeded"}
    qbo = realm.invoices[QuickBooksLink.objects.get(object_type="invoice", object_id=first[6].pk).qbo_id]
    assert qbo["CustomerMemo"]["value"] == "Five now" and qbo["TotalAmt"] == 275.0 and qbo["SyncToken"] == "1"
    link = QuickBooksLink.objects.get(object_type="invoice", object_id=first[0].pk)
    assert link.sync_token == "1" and link.qbo_snapshot["CustomerMemo"]["value"] == "Edited after sending"
    assert {e.status for e in entries_of(newcomers)} == {"succeeded"} and len(realm.invoices) == 16


def test_entries_a_batch_cannot_carry_are_pushed_singly_in_the_same_turn(alpha, fake):
    tenant, connection = alpha
    from tests.factories import ClientFactory

    newcomer = ClientFactory(company=tenant.company, display_name="Unlinked Client", email="u@example.com")
    plain = due_invoices(tenant, 11)
    unlinked = due_invoices(tenant, 1, client=newcomer)
    assert batches.drain_batch(REALM) == 12
    realm = fake[REALM]
    assert sorted(realm.batches[0]["bids"]) == sorted(bid_for_invoice(i.pk) for i in plain)
    assert realm.singles == ["create"] and "Unlinked Client" in realm.customers  # its customer first, then it
    assert {e.status for e in entries_of(plain + unlinked)} == {"succeeded"}


def test_two_realms_are_never_mixed_in_one_batch(alpha, fake):
    tenant, connection = alpha
    beta = make_tenant("Beta")
    beta_connection = connect(beta, OTHER_REALM)
    link_customer(beta, beta_connection, fake, qbo_id="77")
    ours = due_invoices(tenant, 12)
    theirs = due_invoices(beta, 12)
    assert batches.drain_batch(REALM) == 12
    assert fake[OTHER_REALM].batches == [] and len(fake[REALM].batches) == 1
    assert {e.status for e in entries_of(theirs)} == {"pending"}
    assert batches.drain_batch(OTHER_REALM) == 12
    assert sorted(fake[OTHER_REALM].batches[0]["bids"]) == sorted(bid_for_invoice(i.pk) for i in theirs)
    assert {e.status for e in entries_of(ours + theirs)} == {"succeeded"}
    assert {e.realm_id for e in entries_of(theirs)} == {OTHER_REALM}


def test_a_backlog_in_batches_does_not_hold_up_another_companys_single_invoice(alpha, fake, monkeypatch):
    """Fairness with batching: the drain serves realms in turn, so another company's one invoice goes right after
    the backlog's first batch call, before its second."""
    tenant, connection = alpha
    beta = make_tenant("Beta")
    beta_connection = connect(beta, OTHER_REALM)
    link_customer(beta, beta_connection, fake, qbo_id="77")
    backlog = due_invoices(tenant, 60)
    single = due_invoices(beta, 1)
    calls = []
    real_batch = batches._run

    def record_batch(entry_ids, connection, now):
        calls.append(("batch", connection.realm_id))
        return real_batch(entry_ids, connection, now)

    monkeypatch.setattr(batches, "_run", record_batch)
    real_execute = worker._execute

    def record_single(entry, connection):
        calls.append(("single", connection.realm_id))
        return real_execute(entry, connection)

    monkeypatch.setattr(worker, "_execute", record_single)
    worker.sync_drain(seconds=20)
    assert calls.index(("single", OTHER_REALM)) < calls.index(("batch", REALM), 1)  # before the second batch
    assert [len(b["bids"]) for b in fake[REALM].batches] == [30, 30]
    assert {e.status for e in entries_of(backlog + single)} == {"succeeded"}


def test_a_batch_claims_at_most_30_and_the_drain_pushes_the_rest(alpha, fake):
    """The integration: `sync_drain` tries a batch turn where more than the threshold are due (42: 30, then 12),
    and pushes one by one once no more than the threshold are left."""
    tenant, connection = alpha
    invoices = due_invoices(tenant, 42)
    worker.sync_drain(seconds=20)
    realm = fake[REALM]
    assert [len(b["bids"]) for b in realm.batches] == [30, 12]
    assert realm.singles == []
    assert {e.status for e in entries_of(invoices)} == {"succeeded"} and len(realm.invoices) == 42


def test_the_drain_pushes_one_by_one_when_no_more_than_the_threshold_are_due(alpha, fake):
    tenant, connection = alpha
    invoices = due_invoices(tenant, 10)  # the default threshold: batches need more than 10
    worker.sync_drain(seconds=20)
    realm = fake[REALM]
    assert realm.batches == [] and realm.singles == ["create"] * 10
    assert {e.status for e in entries_of(invoices)} == {"succeeded"}


@pytest.mark.postgres  # real concurrency on one table: PostgreSQL (SQLite's shared test cache locks whole tables)
@pytest.mark.django_db(transaction=True)
def test_workers_claiming_batches_at_once_never_claim_an_entry_twice(tenant, fake):
    import threading

    connection = connect(tenant, REALM)
    due_invoices(tenant, 75)
    claimed: list[list[int]] = []
    lock = threading.Lock()

    def work():
        from django.db import connections

        try:
            for _ in range(2):
                ids = batches._claim(connection, timezone.now(), "create_request_id = %s", [""])
                with lock:
                    claimed.append(ids)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [pk for ids in claimed for pk in ids]
    assert all(len(ids) <= 30 for ids in claimed)
    assert len(everything) == len(set(everything)) == 75  # each due entry claimed once, none twice
    assert QuickBooksSyncLog.objects.filter(status="running", attempts=1).count() == 75


def test_a_lost_batch_that_never_landed_then_split_into_single_pushes_creates_each_invoice_once(alpha, fake):
    """The batch never reached Intuit (say, connection errors), and its entries then go one by one at different
    times: the first single push sends the batch again with its one item (Intuit applies that and stores it under
    the requestid); the others get that stored answer back, which proves the batch never held them, so each is
    created under a requestid of its own. Every invoice once."""
    from tests.integrations.conftest import run_due

    tenant, connection = alpha
    invoices = due_invoices(tenant, 3)
    rid = "ob" + "0" * 24
    QuickBooksSyncLog.objects.filter(object_id__in=[i.pk for i in invoices]).update(create_request_id=rid)
    for entry in entries_of(invoices):
        run_due(entry)
    realm = fake[REALM]
    entries = entries_of(invoices)
    assert [e.status for e in entries] == ["succeeded"] * 3, [e.message for e in entries]
    assert [e.attempts for e in entries] == [1, 1, 1]
    assert sorted(i["DocNumber"] for i in realm.invoices.values()) == sorted(i.number for i in invoices)
    assert {e.create_request_id for e in entries} == {""}
    # Run everything again: nothing more is created.
    QuickBooksSyncLog.objects.filter(pk__in=[e.pk for e in entries]).update(
        status="pending", next_attempt_at=timezone.now(), create_request_id=rid
    )
    for entry in entries_of(invoices):
        run_due(entry)
    assert len(realm.invoices) == 3


def test_a_batch_turn_whose_replayed_answer_lacks_an_item_creates_that_one_singly(alpha, fake):
    """A regrouped lost batch whose stored answer (an earlier, smaller send under the same requestid) holds only
    some of the entries: those are linked from it, the others are created singly, once each."""
    from integrations.quickbooks.online.batch import replay_batch_create
    from integrations.services.api import client_for

    tenant, connection = alpha
    invoices = due_invoices(tenant, 12)
    rid = "ob" + "1" * 24
    first = invoices[0]
    # An earlier single push sent the batch again with its one item: QuickBooks stored that under the requestid.
    payload = {
        "DocNumber": first.number,
        "CustomerRef": {"value": "58"},
        "Line": [{"Amount": 1, "DetailType": "SalesItemLineDetail", "SalesItemLineDetail": {}}],
    }
    replay_batch_create(client_for(connection), rid, first.pk, payload)
    QuickBooksSyncLog.objects.filter(object_id__in=[i.pk for i in invoices]).update(create_request_id=rid)
    assert batches.drain_batch(REALM) == 12
    realm = fake[REALM]
    entries = entries_of(invoices)
    assert {e.status for e in entries} == {"succeeded"}, [(e.status, e.message) for e in entries]
    assert sorted(i["DocNumber"] for i in realm.invoices.values()) == sorted(i.number for i in invoices)
    assert realm.singles.count("create") == 11
