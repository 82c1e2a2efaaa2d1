"""Payments both ways in a real browser, against the simulator (issue #10's walk): a payment received in
"QuickBooks" turns the invoice here paid; a dropped webhook is repaired by the CDC schedule's task; a payment
recorded here brings QuickBooks' balance to ours, and refunding it here voids it there; the reconciliation page
then shows no difference. Adoption is walked in test_browser_reconciliation.py. Screenshots at 1280 and 390 px."""

import pytest
import requests
from playwright.sync_api import expect

from attune_qbo.billing.models import InvoiceStatus
from integrations.models import QuickBooksLink, QuickBooksSyncLog
from integrations.services.api import client_for
from integrations.services.cdc import cdc_sweep
from integrations.services.events import events_process_pending
from tests.e2e.conftest import US_REALM, control_headers
from tests.e2e.test_browser_quickbooks_pages import connect, shot, sign_in
from tests.e2e.test_browser_reconciliation import worker  # noqa: F401  (fixture)

pytestmark = pytest.mark.e2e
WEBHOOK_PATH = "/api/v1/integrations/quickbooks/webhooks"


def control(live_app: str, path: str, body: dict | None = None) -> dict:
    response = requests.post(
        f"{live_app}/simulator/control/{path}", json=body or {}, headers=control_headers(), timeout=20
    )
    assert response.status_code in (200, 201), response.text
    return response.json()


def run_worker(worker) -> None:  # noqa: F811
    worker.run_queued()
    for thread in worker.threads:
        thread.join(timeout=30)


def pushed(worker, invoice) -> QuickBooksLink:  # noqa: F811
    run_worker(worker)
    entry = QuickBooksSyncLog.objects.filter(object_id=invoice.pk, entity_type="invoice").first()
    assert entry.status == "succeeded", entry.message
    return QuickBooksLink.objects.get(object_type="invoice", object_id=invoice.pk)


def quickbooks_balance(acme, link) -> str:
    invoice = client_for(acme.company.quickbooks_connection).read("Invoice", link.qbo_id)
    return f"{invoice['Balance']:.2f}"


def test_payments_cross_both_ways_and_the_books_agree(acme, live_app, page, worker, settings, monkeypatch):  # noqa: F811
    settings.QUICKBOOKS_SIMULATOR_WEBHOOK_URL = live_app + WEBHOOK_PATH
    monkeypatch.setattr("integrations.services.events.dispatch_processing", events_process_pending)
    page.on("dialog", lambda dialog: dialog.accept())  # the data-confirm questions
    sign_in(page, "acme-admin")
    connect(page)
    invoice = acme.invoice(finalize=True)  # 108.00
    link = pushed(worker, invoice)
    control(live_app, "webhooks/flush")

    # 1. A partial payment received in QuickBooks reaches the invoice here.
    page.goto(f"/simulator/companies/{US_REALM}/invoices")
    section = page.locator("section", has_text=f"Invoice {invoice.number}")
    section.locator("input[name=amount]").fill("50.00")
    section.locator("button", has_text="Receive").last.click()
    shot(page, "30-simulator-payment-received")
    control(live_app, "webhooks/flush")  # the simulator's signed webhook reaches our endpoint
    page.goto(f"/invoices/{invoice.pk}/")
    expect(page.locator("h1 .pill")).to_have_text("Finalized")
    expect(page.locator("table", has_text="Balance due")).to_contain_text("58.00")
    expect(page.locator("h2:has-text('Payments') + .card")).to_contain_text("QuickBooks")
    shot(page, "31-invoice-partly-paid-from-quickbooks")

    # 2. The rest is received, but its webhook is lost: the CDC schedule's next run repairs it.
    control(live_app, "faults", {"target": "webhook", "kind": "drop", "count": 1})
    page.goto(f"/simulator/companies/{US_REALM}/invoices")
    page.locator("section", has_text=f"Invoice {invoice.number}").locator(
        "button", has_text="Receive payment of"
    ).click()
    flushed = control(live_app, "webhooks/flush")
    invoice.refresh_from_db()
    assert invoice.status == InvoiceStatus.FINALIZED, flushed  # nothing arrived
    assert cdc_sweep() >= 1  # what the `quickbooks-cdc` schedule runs every QUICKBOOKS_CDC_MINUTES
    page.goto(f"/invoices/{invoice.pk}/")
    expect(page.locator("h1 .pill")).to_have_text("Paid")
    expect(page.locator("table", has_text="Balance due")).to_contain_text("0.00")
    shot(page, "32-invoice-paid-after-cdc")
    assert quickbooks_balance(acme, link) == "0.00"

    # 3. A payment recorded here goes to QuickBooks, and its balance matches ours.
    second = acme.invoice(finalize=True)
    second_link = pushed(worker, second)
    page.goto(f"/invoices/{second.pk}/")
    page.fill("#id_amount", "30.00")
    page.click("button:has-text('Record payment')")
    expect(page.locator("ul.messages")).to_contain_text("Payment of 30.00 recorded")
    run_worker(worker)
    assert quickbooks_balance(acme, second_link) == "78.00"
    shot(page, "33-payment-recorded-here")

    # 4. Refunded here: QuickBooks voids its copy and the invoice is open in both places.
    page.select_option("select[name=reason]", "refunded")
    page.click("button:has-text('Remove')")
    expect(page.locator("ul.messages")).to_contain_text("refunded; invoice")
    run_worker(worker)
    assert quickbooks_balance(acme, second_link) == "108.00"
    control(live_app, "webhooks/flush")  # the void of our own payment comes back: nothing is recorded twice
    second.refresh_from_db()
    assert second.amount_paid == 0 and second.status == InvoiceStatus.FINALIZED
    shot(page, "34-payment-refunded")

    # 5. A payment received in QuickBooks as a credit (applied to nothing) is listed, and applied from here.
    customer = QuickBooksLink.objects.get(object_type="client", object_id=second.client_id)
    client_for(acme.company.quickbooks_connection).create(
        "Payment", {"CustomerRef": {"value": customer.qbo_id}, "TotalAmt": 25.0}, request_id="walk-unapplied-1"
    )
    control(live_app, "webhooks/flush")
    page.goto("/settings/integrations/quickbooks/reconciliation/")
    page.click("#recon-check")
    row = page.locator("table.recon tr", has_text="Unapplied payment")
    expect(row).to_contain_text("25.00")
    expect(row.locator("select[name=invoice_id] option")).to_have_text([f"{second.number} (108.00 due)"])
    shot(page, "35-reconciliation-unapplied-payment")
    row.locator("button", has_text="Apply to invoice").click()
    expect(page.locator("ul.messages")).to_contain_text("Applied 25.00 of QuickBooks payment")
    assert quickbooks_balance(acme, second_link) == "83.00"
    second.refresh_from_db()
    assert second.amount_paid == 25

    # 6. The reconciliation page finds no difference.
    control(live_app, "webhooks/flush")
    page.click("#recon-check")
    expect(page.locator("#recon-summary")).to_contain_text("The books agree")
    shot(page, "36-reconciliation-books-agree")
