"""Send existing invoices in a real browser against the simulator's batch endpoint: the admin presses the button,
the progress bar moves by itself (htmx polling), and the card ends with the summary. Screenshots at 1280 and
390 px (E2E_ARTIFACTS, default /tmp/artifacts/e2e); copies of some are in docs/customer/screenshots/."""

import threading

import pytest
from playwright.sync_api import expect

from integrations.models import QuickBooksBackfill, QuickBooksConnection, QuickBooksLink
from tests.e2e.test_browser_quickbooks_pages import ARTIFACTS, connect, shot, sign_in

pytestmark = pytest.mark.e2e


def test_send_existing_invoices_with_a_live_progress_bar(page, acme, settings, monkeypatch):
    from django.db import connections

    from integrations.services import backfill

    settings.QUICKBOOKS_RATE_BATCHES_PER_WINDOW = 15  # the limiter's batch pace: 4 s apart, to see the bar move
    queued: list[int] = []
    monkeypatch.setattr(backfill, "dispatch_run", queued.append)
    sign_in(page, "acme-admin")
    connect(page)
    QuickBooksConnection.objects.update(auto_sync=False)  # history: issued before the connection sent anything
    for _ in range(40):
        acme.invoice(finalize=True)
    QuickBooksConnection.objects.update(auto_sync=True)

    page.goto("/settings/integrations/quickbooks/")
    card = page.locator("#qbo-backfill")
    expect(card).to_contain_text("40 finalized invoices")
    shot(page, "backfill-offer")
    card.locator("button[type=submit]").click()
    expect(card).to_contain_text("0 of 40 invoices")
    assert len(queued) == 1

    def work() -> None:
        try:
            backfill.backfill_run(queued[0])
        finally:
            connections.close_all()

    worker = threading.Thread(target=work)
    worker.start()
    expect(card).to_contain_text("30 of 40 invoices", timeout=20000)  # after the first invoice batch, by polling
    shot(page, "backfill-progress")
    page.set_viewport_size({"width": 1280, "height": 900})
    (ARTIFACTS / "docs").mkdir(parents=True, exist_ok=True)
    card.screenshot(path=str(ARTIFACTS / "docs" / "backfill-progress-1280.png"))
    expect(card).to_contain_text("Done: 40 sent", timeout=30000)
    worker.join(timeout=30)
    shot(page, "backfill-done")
    run = QuickBooksBackfill.objects.get()
    assert (run.status, run.succeeded, run.failed, run.batches_sent) == ("done", 40, 0, 3)  # customers, 30, 10
    assert QuickBooksLink.objects.filter(object_type="invoice").count() == 40
