"""Adoption, not duplication (issue 10): candidates, decisions, and the push's policy at a 6140."""

import pytest
import responses

from attune_qbo.core.exceptions import ValidationError
from integrations.models import AdoptionDecision, QuickBooksConnection, QuickBooksLink, QuickBooksSyncLog
from integrations.services import adoption
from tests.integrations.conftest import (
    API,
    add_customer_created,
    add_invoice_answer,
    add_no_customer,
    calls_to,
    fault,
    finalize,
    query_of,
    run_due,
)

pytestmark = pytest.mark.django_db


def their_invoice(invoice, qbo_id="900", *, total=None, customer_name="Alpha Client", **extra):
    return {
        "Id": qbo_id,
        "SyncToken": "3",
        "DocNumber": invoice.number.lower(),  # matched case-insensitively
        "CustomerRef": {"value": "58", "name": customer_name},
        "TotalAmt": float(invoice.total if total is None else total),
        "Balance": float(invoice.total if total is None else total),
        "TxnDate": invoice.issue_date.isoformat(),
        **extra,
    }


def fake_reads(intuit, customers, invoices):
    """Intuit's query endpoint: one page of customers, one of invoices (each shorter than a page)."""

    def answer(request):
        statement = query_of(request.url)["query"]
        if "from Customer" in statement:
            return 200, {}, __import__("json").dumps({"QueryResponse": {"Customer": customers}})
        return 200, {}, __import__("json").dumps({"QueryResponse": {"Invoice": invoices}})

    intuit.add_callback(responses.GET, f"{API}/query", callback=answer)


def test_an_agreeing_invoice_and_customer_are_offered_with_full_scores(tenant, connected, captured, intuit):
    invoice = finalize(tenant, captured)
    fake_reads(intuit, [{"Id": "58", "DisplayName": "ALPHA client"}], [their_invoice(invoice)])
    review = adoption.adoption_check(connection=connected)
    rows = {row["kind"]: row for row in review.rows}
    assert review.reads == 2
    assert rows["client"]["qbo_id"] == "58" and rows["client"]["state"] == "agrees"
    assert rows["invoice"]["qbo_id"] == "900" and rows["invoice"]["state"] == "agrees"
    assert rows["invoice"]["score"] == 100 and rows["invoice"]["differences"] == []


def test_a_different_total_is_a_conflict_with_both_figures(tenant, connected, captured, intuit):
    invoice = finalize(tenant, captured)
    fake_reads(intuit, [], [their_invoice(invoice, total="999.00")])
    row = adoption.adoption_check(connection=connected).rows[0]
    assert row["state"] == "conflict" and row["score"] < 100
    assert row["differences"] == [
        {"field": "total", "label": "Total", "ours": f"{invoice.total:.2f}", "quickbooks": "999.00"}
    ]


def test_two_quickbooks_invoices_with_our_number_are_ambiguous_and_never_linked(tenant, connected, captured, intuit):
    invoice = finalize(tenant, captured)
    fake_reads(intuit, [], [their_invoice(invoice, "900"), their_invoice(invoice, "901")])
    row = adoption.adoption_check(connection=connected).rows[0]
    assert row["state"] == "ambiguous" and row["qbo_ids"] == ["900", "901"] and row["qbo_id"] == ""
    with pytest.raises(ValidationError):
        adoption.adoption_apply(connection=connected, decisions=[("invoice", invoice.pk, "link", "900")], user=None)
    assert not QuickBooksLink.objects.exists()


def test_link_keeps_their_object_and_leaves_the_hash_empty(tenant, connected, captured, intuit):
    invoice = finalize(tenant, captured)
    fake_reads(intuit, [{"Id": "58", "DisplayName": "Alpha Client"}], [their_invoice(invoice)])
    adoption.adoption_check(connection=connected)
    report = adoption.adoption_apply(
        connection=connected,
        decisions=[("invoice", invoice.pk, "link", "900"), ("client", tenant.client.pk, "link", "58")],
        user=tenant.admin,
    )
    assert report.linked == 2
    link = QuickBooksLink.objects.get(object_type="invoice")
    invoice.refresh_from_db()
    assert (link.qbo_id, link.sync_token, link.payload_hash) == ("900", "3", "")
    assert link.qbo_snapshot["DocNumber"] == invoice.number.lower()
    assert link.source_updated_at == invoice.updated_at  # the figures agree
    # Linked objects are no longer offered.
    review = adoption.latest_review(connection=connected, kind="adoption")
    assert adoption.open_candidates(connection=connected, review=review) == []


def test_a_conflict_linked_by_a_person_is_marked_behind(tenant, connected, captured, intuit):
    invoice = finalize(tenant, captured)
    fake_reads(intuit, [], [their_invoice(invoice, total="1.00")])
    adoption.adoption_check(connection=connected)
    adoption.adoption_apply(connection=connected, decisions=[("invoice", invoice.pk, "link", "900")], user=None)
    assert QuickBooksLink.objects.get(object_type="invoice").source_updated_at is None


@pytest.mark.parametrize(
    "decision",
    [
        ("invoice", "OUR", "link", "900"),  # forged QuickBooks id (never offered)
        ("invoice", "OTHER", "link", "900"),  # another company's invoice
        ("invoice", "OUR", "merge", "900"),  # unknown action
        ("invoice", "junk", "skip", ""),
    ],
)
def test_bad_decisions_refuse_the_whole_request(tenant, other_tenant, connected, captured, intuit, decision):
    invoice = finalize(tenant, captured)
    theirs = other_tenant.invoice(finalize=True)
    fake_reads(intuit, [], [their_invoice(invoice)])
    adoption.adoption_check(connection=connected)
    kind, our_id, action, qbo_id = decision
    our_id = {"OUR": invoice.pk, "OTHER": theirs.pk}.get(our_id, our_id)
    if decision[0:2] == ("invoice", "OUR") and action == "link":
        qbo_id = "12345"
    with pytest.raises(ValidationError):
        adoption.adoption_apply(
            connection=connected,
            decisions=[("client", tenant.client.pk, "skip", ""), (kind, our_id, action, qbo_id)],
            user=None,
        )
    assert not QuickBooksLink.objects.exists() and not AdoptionDecision.objects.exists()


def test_skip_is_remembered_and_create_queues_a_push(tenant, connected, captured, intuit):
    invoice = finalize(tenant, captured)
    QuickBooksSyncLog.objects.all().delete()
    fake_reads(intuit, [{"Id": "58", "DisplayName": "Alpha Client"}], [their_invoice(invoice, total="5")])
    adoption.adoption_check(connection=connected)
    with captured(execute=True):
        report = adoption.adoption_apply(
            connection=connected,
            decisions=[("client", tenant.client.pk, "skip", ""), ("invoice", invoice.pk, "create", "")],
            user=tenant.admin,
        )
    assert (report.skipped, report.queued) == (1, 1)
    assert QuickBooksSyncLog.objects.filter(object_id=invoice.pk, status="pending").count() == 1
    review = adoption.latest_review(connection=connected, kind="adoption")
    assert adoption.open_candidates(connection=connected, review=review) == []
    assert adoption.policy_for_invoice(connected, invoice.pk) == "create"


# --- the push at a 6140 -------------------------------------------------------------------------------------


def duplicate(intuit, invoice, found):
    add_no_customer(intuit)
    add_customer_created(intuit)
    intuit.add(responses.POST, f"{API}/invoice", status=400, json=fault("6140", "Duplicate Document Number Error"))
    intuit.replace(responses.GET, f"{API}/query", json={"QueryResponse": {}})
    intuit.add(responses.GET, f"{API}/query", json={"QueryResponse": {"Invoice": [found]}})


def test_link_policy_adopts_an_agreeing_invoice_at_a_6140(tenant, connected, captured, intuit):
    invoice = finalize(tenant, captured)
    duplicate(intuit, invoice, their_invoice(invoice))
    add_invoice_answer(intuit, "900", "4")  # the update that brings it to our version
    entry, outcome = run_due(QuickBooksSyncLog.objects.get(object_id=invoice.pk))
    assert outcome == "succeeded", entry.message
    assert QuickBooksLink.objects.get(object_type="invoice").qbo_id == "900"
    assert len(calls_to(intuit, "POST", "/invoice")) == 2  # the refused create, then the update of theirs


def test_link_policy_still_refuses_a_disagreeing_invoice(tenant, connected, captured, intuit):
    invoice = finalize(tenant, captured)
    duplicate(intuit, invoice, their_invoice(invoice, total="1.00"))
    entry, outcome = run_due(QuickBooksSyncLog.objects.get(object_id=invoice.pk))
    assert outcome == "failed" and entry.error_code == "6140"
    assert not QuickBooksLink.objects.filter(object_type="invoice").exists()


def test_skip_policy_refuses_even_an_agreeing_invoice(tenant, connected, captured, intuit):
    QuickBooksConnection.objects.filter(pk=connected.pk).update(adoption_policy="skip")
    invoice = finalize(tenant, captured)
    duplicate(intuit, invoice, their_invoice(invoice))
    entry, outcome = run_due(QuickBooksSyncLog.objects.get(object_id=invoice.pk))
    assert outcome == "failed" and entry.error_code == "6140"


def test_create_anyway_retries_with_allowduplicatedocnum(tenant, connected, captured, intuit):
    QuickBooksConnection.objects.filter(pk=connected.pk).update(adoption_policy="create")
    invoice = finalize(tenant, captured)
    duplicate(intuit, invoice, their_invoice(invoice, total="1.00"))
    add_invoice_answer(intuit, "901", "0")
    entry, outcome = run_due(QuickBooksSyncLog.objects.get(object_id=invoice.pk))
    assert outcome == "succeeded", entry.message
    creates = calls_to(intuit, "POST", "/invoice")
    assert len(creates) == 2 and query_of(creates[1].request.url)["include"] == "allowduplicatedocnum"
    assert QuickBooksLink.objects.get(object_type="invoice").qbo_id == "901"


def test_link_policy_never_adopts_when_two_quickbooks_invoices_have_the_number(tenant, connected, captured, intuit):
    invoice = finalize(tenant, captured)
    duplicate(intuit, invoice, their_invoice(invoice))
    intuit.add(
        responses.GET,
        f"{API}/query",
        json={"QueryResponse": {"Invoice": [their_invoice(invoice, "900"), their_invoice(invoice, "901")]}},
    )
    entry, outcome = run_due(QuickBooksSyncLog.objects.get(object_id=invoice.pk))
    assert outcome == "failed" and entry.error_code == "6140"
    assert not QuickBooksLink.objects.filter(object_type="invoice").exists()
    assert len(calls_to(intuit, "POST", "/invoice")) == 1  # nothing updated
