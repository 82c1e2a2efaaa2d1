"""Adoption and reconciliation in a real browser, against the simulator: QuickBooks already holds a customer and
two invoices typed in "directly" (control API) before the company connects. The adoption page offers the one
that agrees, Link links it without a duplicate in QuickBooks, the conflict shows both totals and sends nothing;
the reconciliation page shows a forced difference and "Push again" fixes it. Screenshots at 1280 and 390 px."""

import datetime as dt

import pytest
import requests
from playwright.sync_api import expect

from integrations.models import QuickBooksLink, QuickBooksSyncLog
from tests.e2e.conftest import US_REALM, control_headers
from tests.e2e.test_browser_quickbooks_pages import Worker, connect, doc_shot, shot, sign_in

pytestmark = pytest.mark.e2e


@pytest.fixture
def worker(settings, monkeypatch):
    settings.QUICKBOOKS_PUSH_DEBOUNCE_SECONDS = 0
    worker = Worker()
    monkeypatch.setattr("integrations.outbox.enqueue.dispatch", worker.dispatch)
    yield worker
    for thread in worker.threads:
        thread.join(timeout=30)


def control(live_app: str, path: str, body: dict) -> dict:
    response = requests.post(
        f"{live_app}/simulator/control/companies/{US_REALM}/{path}", json=body, headers=control_headers(), timeout=10
    )
    assert response.status_code == 201, response.text
    return response.json()


def counts(live_app: str) -> dict:
    return requests.get(
        f"{live_app}/simulator/control/state", params={"realm_id": US_REALM}, headers=control_headers(), timeout=10
    ).json()["counts"]


def direct_invoice(live_app: str, customer_id: str, invoice, amount: int) -> dict:
    """An invoice typed into QuickBooks by hand: 2 × amount/2, California sales tax (8 %)."""
    return control(
        live_app,
        "invoices",
        {
            "CustomerRef": {"value": customer_id},
            "DocNumber": invoice.number,
            "TxnDate": invoice.issue_date.isoformat(),
            "Line": [
                {
                    "Amount": amount,
                    "DetailType": "SalesItemLineDetail",
                    "SalesItemLineDetail": {
                        "ItemRef": {"value": "2"},
                        "Qty": 2,
                        "UnitPrice": amount / 2,
                        "TaxCodeRef": {"value": "TAX"},
                    },
                }
            ],
            "TxnTaxDetail": {"TxnTaxCodeRef": {"value": "2"}},
        },
    )["Invoice"]


def test_adopt_the_agreeing_invoice_flag_the_conflict_then_reconcile(acme, live_app, page, worker):
    agreeing = acme.invoice(finalize=True)  # 2 × 50.00 + 8 % = 108.00, before QuickBooks is connected
    conflicting = acme.invoice(finalize=True)
    customer = control(live_app, "customers", {"DisplayName": acme.client.display_name})["Customer"]
    theirs = direct_invoice(live_app, customer["Id"], agreeing, 100)
    direct_invoice(live_app, customer["Id"], conflicting, 300)  # 324.00: a different total
    before = counts(live_app)

    sign_in(page, "acme-admin")
    connect(page)
    expect(page.locator("#adoption-prompt")).to_be_visible()
    page.click("#adoption-prompt >> text=review the matches")
    page.wait_for_url("**/quickbooks/adoption/")
    page.click("#adoption-check")
    expect(page.locator("#adoption-checked")).to_contain_text("QuickBooks reads used")
    agree_row = page.locator(f"#candidate-invoice-{agreeing.pk}")
    conflict_row = page.locator(f"#candidate-invoice-{conflicting.pk}")
    expect(agree_row).to_contain_text("Agrees")
    expect(conflict_row).to_contain_text("Conflict")
    expect(conflict_row).to_contain_text("108.00")
    expect(conflict_row).to_contain_text("324.00")
    expect(conflict_row.locator("button", has_text="Link")).to_have_count(1)
    shot(page, "20-adoption")
    doc_shot(page, "#adoption table", "adoption-matches")

    agree_row.locator("button", has_text="Link").click()
    expect(page.locator("ul.messages")).to_contain_text("Linked 1")
    expect(page.locator(f"#candidate-invoice-{agreeing.pk}")).to_have_count(0)
    expect(page.locator(f"#candidate-invoice-{conflicting.pk}")).to_have_count(1)
    page.click("#link-all")  # the customer (same name) agrees too
    expect(page.locator(f"#candidate-client-{acme.client.pk}")).to_have_count(0)
    link = QuickBooksLink.objects.get(object_type="invoice", object_id=agreeing.pk)
    assert link.qbo_id == str(theirs["Id"]) and link.payload_hash == ""
    assert not QuickBooksLink.objects.filter(object_type="invoice", object_id=conflicting.pk).exists()
    assert worker.queued == [] and not QuickBooksSyncLog.objects.exists()  # nothing pushed
    assert counts(live_app) == before  # no duplicate in QuickBooks
    shot(page, "21-adoption-linked")

    # A forced difference: the due date changes here without a push.
    type(agreeing).objects.filter(pk=agreeing.pk).update(due_date=dt.date(2026, 3, 31))
    page.click("nav.tabs >> text=Reconciliation")
    page.wait_for_url("**/quickbooks/reconciliation/")
    expect(page.locator("#recon-summary")).to_contain_text("Not checked yet")
    page.click("#recon-check")
    expect(page.locator("#recon-checked")).to_contain_text("QuickBooks read")
    row = page.locator("table.recon tr", has_text=agreeing.number)
    expect(row).to_contain_text("Due date")
    expect(row).to_contain_text("2026-03-31")
    shot(page, "22-reconciliation")
    doc_shot(page, "#recon-summary", "reconciliation-summary")
    row.locator("button", has_text="Push again").click()
    expect(page.locator("ul.messages")).to_contain_text("being sent to QuickBooks again")
    assert len(worker.queued) == 1
    worker.run_queued()
    for thread in worker.threads:
        thread.join(timeout=30)
    assert QuickBooksSyncLog.objects.get(object_id=agreeing.pk).status in ("succeeded", "drift")
    page.click("#recon-check")
    expect(page.locator("#recon-summary")).to_contain_text("The books agree")
    assert counts(live_app)["Invoice"] == before["Invoice"]
    shot(page, "23-reconciliation-agrees")
