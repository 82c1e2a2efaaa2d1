"""What one push costs, and that what it no longer reads separately is still read fresh (issue 11 item 4,
docs/decisions/0019): the claim is one `UPDATE … RETURNING` the entry; the connection, the client and the links'
keys come with the invoice in one prepared SELECT; the outcome, the create's requestid and the link are written
with SQL built once. Nothing is cached across pushes but compiled SQL, so a change made by another process
(a token rotation, a reconnect, a relinked or unlinked customer) is seen by the very next push."""

import json

import pytest
import responses
from django.db import connection as db_connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from attune_qbo.billing.services import LineData
from integrations.models import ConnectionStatus, LinkType, QuickBooksConnection, QuickBooksLink, QuickBooksSyncLog

from .conftest import API, add_customer_created, add_invoice_answer, add_no_customer, finalize, run_due

PUSH_QUERIES = 8  # claim, invoice (+ connection, client, link keys), lines, create requestid, limiter ×2, link, outcome


def sent_invoices(intuit) -> list[dict]:
    return [
        json.loads(call.request.body)
        for call in intuit.calls
        if call.request.method == "POST" and "/invoice" in call.request.url
    ]


def link_the_customer(tenant, captured, intuit) -> None:
    add_no_customer(intuit)
    add_customer_created(intuit)
    add_invoice_answer(intuit)
    _, outcome = run_due(QuickBooksSyncLog.objects.get(object_id=finalize(tenant, captured).pk))
    assert outcome == "succeeded"
    add_invoice_answer(intuit, qbo_id="131", replace=True)  # the next invoice QuickBooks makes


@pytest.mark.django_db(transaction=True)  # the worker runs in autocommit, as here
@pytest.mark.parametrize("lines", [1, 30])
def test_a_create_whose_customer_is_linked_takes_eight_queries_whatever_its_lines(
    tenant, connected, captured, intuit, lines
):
    link_the_customer(tenant, captured, intuit)
    invoice = finalize(
        tenant, captured, lines=[LineData(product=tenant.product, quantity=1 + i % 3) for i in range(lines)]
    )
    entry = QuickBooksSyncLog.objects.get(object_id=invoice.pk)
    QuickBooksSyncLog.objects.filter(pk=entry.pk).update(next_attempt_at=timezone.now())
    from integrations.outbox.worker import sync_run

    with CaptureQueriesContext(db_connection) as queries:
        assert sync_run(entry_id=entry.pk) == "succeeded"
    assert len(queries) == PUSH_QUERIES, [q["sql"][:70] for q in queries.captured_queries]
    link = QuickBooksLink.objects.get(object_type=LinkType.INVOICE, object_id=invoice.pk)
    assert len([line for line in link.qbo_snapshot["Line"] if line.get("DetailType") == "SalesItemLineDetail"]) == lines
    done = QuickBooksSyncLog.objects.get(pk=entry.pk)
    assert (done.status, done.qbo_id, done.create_request_id, done.lease_until) == ("succeeded", link.qbo_id, "", None)

    with captured(execute=True):
        from attune_qbo.billing import services

        services.invoice_update(invoice=invoice, memo="edited")
    edit = QuickBooksSyncLog.objects.filter(object_id=invoice.pk).latest("id")
    QuickBooksSyncLog.objects.filter(pk=edit.pk).update(next_attempt_at=timezone.now())
    with CaptureQueriesContext(db_connection) as queries:
        assert sync_run(entry_id=edit.pk) == "succeeded"
    assert len(queries) <= PUSH_QUERIES, [q["sql"][:70] for q in queries.captured_queries]


@pytest.mark.django_db
def test_the_claim_reads_the_entry_exactly_as_the_orm_does(tenant, connected, captured):
    from integrations.outbox.worker import _claim

    entry = QuickBooksSyncLog.objects.get(object_id=finalize(tenant, captured).pk)
    QuickBooksSyncLog.objects.filter(pk=entry.pk).update(
        next_attempt_at=timezone.now(),
        payload={"Line": [{"Amount": 12.5}], "note": "é"},
        drift={"fields": ["TotalAmt"]},
        throttled=2,
        create_request_id="aq1g1-ic",
    )
    claimed, connection = _claim(entry.pk)
    stored = QuickBooksSyncLog.objects.get(pk=entry.pk)
    for field in QuickBooksSyncLog._meta.concrete_fields:
        assert getattr(claimed, field.attname) == getattr(stored, field.attname), field.name
    assert (claimed.status, claimed.attempts, claimed.rerun_requested) == ("running", 1, False)
    assert claimed.started_at.tzinfo is not None and claimed.lease_until > claimed.started_at
    assert connection.pk == connected.pk and claimed.claimed_invoice.company.quickbooks_connection is connection
    assert _claim(entry.pk) == "not now"  # claimed once: a second worker gets nothing


@pytest.mark.django_db
def test_a_token_rotated_by_another_process_is_used_by_the_next_push(tenant, connected, captured, intuit):
    link_the_customer(tenant, captured, intuit)
    rotated = QuickBooksConnection.objects.get(pk=connected.pk)
    rotated.access_token_cipher = "rotated-access"  # what another worker's refresh writes
    rotated.save(update_fields=["access_token_cipher"])
    _, outcome = run_due(QuickBooksSyncLog.objects.get(object_id=finalize(tenant, captured).pk))
    assert outcome == "succeeded"
    assert intuit.calls[-1].request.headers["Authorization"] == "Bearer rotated-access"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("status", "message"),
    [
        (ConnectionStatus.NEEDS_RECONNECT, "Waiting: QuickBooks needs to be reconnected. Nothing is lost."),
        (ConnectionStatus.DISCONNECTED, "Waiting: QuickBooks is not connected. This change goes as soon as it is"),
    ],
)
def test_a_connection_lost_meanwhile_parks_the_claimed_entry_without_using_an_attempt(
    tenant, connected, captured, intuit, status, message
):
    entry = QuickBooksSyncLog.objects.get(object_id=finalize(tenant, captured).pk)
    QuickBooksConnection.objects.filter(pk=connected.pk).update(status=status)
    before = len(intuit.calls)
    entry, outcome = run_due(entry)
    assert outcome == "waiting for QuickBooks to be connected"
    assert (entry.status, entry.attempts, entry.lease_until) == ("pending", 0, None)
    assert entry.message.startswith(message)
    assert len(intuit.calls) == before  # nothing sent


@pytest.mark.django_db
def test_a_customer_relinked_by_another_process_is_used_by_the_next_push(tenant, connected, captured, intuit):
    link_the_customer(tenant, captured, intuit)
    QuickBooksLink.objects.filter(object_type=LinkType.CLIENT, object_id=tenant.client.pk).update(qbo_id="77")
    _, outcome = run_due(QuickBooksSyncLog.objects.get(object_id=finalize(tenant, captured).pk))
    assert outcome == "succeeded"
    assert sent_invoices(intuit)[-1]["CustomerRef"]["value"] == "77"


@pytest.mark.django_db
def test_a_customer_unlinked_meanwhile_is_looked_up_again(tenant, connected, captured, intuit):
    link_the_customer(tenant, captured, intuit)
    QuickBooksLink.objects.filter(object_type=LinkType.CLIENT, object_id=tenant.client.pk).delete()
    intuit.replace(
        responses.GET,
        f"{API}/query",
        json={
            "QueryResponse": {"Customer": [{"Id": "91", "SyncToken": "3", "DisplayName": tenant.client.display_name}]}
        },
    )
    before = len(intuit.calls)
    run_due(QuickBooksSyncLog.objects.get(object_id=finalize(tenant, captured).pk))
    calls = intuit.calls[before:]
    assert calls[0].request.method == "GET" and "Customer" in calls[0].request.url  # looked up by name again
    assert json.loads(calls[1].request.body)["Id"] == "91"  # the customer found takes what we hold
    assert QuickBooksLink.objects.filter(object_type=LinkType.CLIENT, object_id=tenant.client.pk).exists()


@pytest.mark.django_db
def test_a_customer_changed_here_is_updated_from_its_stored_answer_read_only_then(tenant, connected, captured, intuit):
    """The client's link comes with the invoice without its stored answer; that is read when a customer update
    needs it (and the update goes with the stored SyncToken)."""
    link_the_customer(tenant, captured, intuit)
    tenant.client.email = "new@example.com"
    tenant.client.save()
    _, outcome = run_due(QuickBooksSyncLog.objects.get(object_id=finalize(tenant, captured).pk))
    assert outcome == "succeeded"
    update = next(
        json.loads(call.request.body)
        for call in reversed(intuit.calls)
        if call.request.method == "POST" and "/customer" in call.request.url
    )
    assert (update["Id"], update["SyncToken"], update["PrimaryEmailAddr"]["Address"]) == ("58", "0", "new@example.com")
    link = QuickBooksLink.objects.get(object_type=LinkType.CLIENT, object_id=tenant.client.pk)
    assert link.qbo_snapshot["PrimaryEmailAddr"]["Address"] == "new@example.com"


@pytest.mark.django_db(transaction=True)
def test_the_outcome_is_stored_as_the_orm_would_store_it(tenant, connected, captured):
    """`finish`'s prepared UPDATE: JSON as JSON, None as SQL NULL, only while the entry is this worker's."""
    from integrations.outbox.outcomes import finish
    from integrations.outbox.worker import _claim

    entry = QuickBooksSyncLog.objects.get(object_id=finalize(tenant, captured).pk)
    QuickBooksSyncLog.objects.filter(pk=entry.pk).update(next_attempt_at=timezone.now())
    running, _ = _claim(entry.pk)
    finish(running, "drift", "differs", qbo_id="130", payload={"Id": "130"}, drift={"fields": ["TotalAmt"]})
    stored = QuickBooksSyncLog.objects.get(pk=entry.pk)
    assert (stored.status, stored.qbo_id, stored.payload, stored.drift) == (
        "drift",
        "130",
        {"Id": "130"},
        {"fields": ["TotalAmt"]},
    )
    assert (stored.error_code, stored.lease_until, stored.finished_at is not None) == ("", None, True)
    assert QuickBooksSyncLog.objects.filter(pk=entry.pk, drift__fields__0="TotalAmt").exists()  # stored as JSON

    QuickBooksSyncLog.objects.filter(pk=entry.pk).update(status="pending", next_attempt_at=timezone.now())
    running, _ = _claim(entry.pk)
    finish(running, "succeeded", "matches", qbo_id="130")
    assert QuickBooksSyncLog.objects.filter(pk=entry.pk, status="succeeded", drift__isnull=True).exists()

    QuickBooksSyncLog.objects.filter(pk=entry.pk).update(status="pending", next_attempt_at=timezone.now())
    running, _ = _claim(entry.pk)
    QuickBooksSyncLog.objects.filter(pk=entry.pk).update(started_at=timezone.now())  # the sweeper gave it away
    finish(running, "failed", "too late")
    assert QuickBooksSyncLog.objects.get(pk=entry.pk).status == "running"  # not ours any more: dropped
