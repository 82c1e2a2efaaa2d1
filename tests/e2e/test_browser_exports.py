"""The Exports page in a real browser: staff count the invoices of a range, download the IIF and the CSV, and
see the exports listed; an empty range says so. Screenshots at 1280 and 390 px (E2E_ARTIFACTS), copies of the
summary in docs/customer/screenshots/."""

import datetime as dt
import shutil
from pathlib import Path

import pytest
from playwright.sync_api import expect

from attune_qbo.billing.services import LineData
from integrations.models import QuickBooksExport
from tests.e2e.test_browser_quickbooks_pages import ARTIFACTS, connect, shot, sign_in
from tests.exports.readers import read_csv, read_iif
from tests.factories import ClientFactory

pytestmark = pytest.mark.e2e
DOCS = Path(__file__).resolve().parents[2] / "docs" / "customer" / "screenshots"


def test_staff_export_iif_and_csv_from_the_page(acme, page):
    for n, name in enumerate(("Blue Harbor Café", "Riverside: School", 'The "Best" Diner')):
        client = ClientFactory(company=acme.company, display_name=name)
        acme.invoice(
            client=client,
            number=f"INV-{n + 1:03d}",
            issue_date=dt.date(2026, 1, 10 + n),
            lines=[LineData(product=acme.product, quantity=n + 1, tax_rate=acme.tax_rate)],
            finalize=True,
        )
    sign_in(page, "acme-staff")
    page.goto("/settings/integrations/quickbooks/")
    page.click("#exports-link a")
    page.wait_for_url("**/quickbooks/exports/")
    page.check("input[name=format][value=iif]")
    page.fill("#id_date_from", "2026-01-01")
    page.fill("#id_date_to", "2026-01-31")
    page.click("#export-preview")
    expect(page.locator("#export-summary")).to_contain_text("3 invoices")
    shot(page, "exports-summary")
    with page.expect_download() as info:
        page.click("#export-download")
    path = info.value.path()
    iif = read_iif(Path(path).read_bytes())
    assert sorted(txn.trns["NAME"] for txn in iif.transactions) == [
        "Blue Harbor Café",
        "Riverside - School",
        "The 'Best' Diner",
    ]
    page.check("input[name=format][value=csv]")
    page.click("#export-preview")
    with page.expect_download() as info:
        page.click("#export-download")
    assert len(read_csv(Path(info.value.path()).read_bytes())) == 3
    page.goto("/settings/integrations/quickbooks/exports/")
    expect(page.locator("table.exports tbody tr")).to_have_count(2)
    assert QuickBooksExport.objects.filter(completed_at__isnull=False).count() == 2
    page.fill("#id_date_from", "2030-01-01")
    page.fill("#id_date_to", "")
    page.check("#id_only_new")
    page.click("#export-preview")
    expect(page.locator("#export-empty")).to_contain_text("nothing to export")
    shot(page, "exports-empty")
    DOCS.mkdir(parents=True, exist_ok=True)
    for width in (1280, 390):
        shutil.copy(ARTIFACTS / f"exports-summary-{width}.png", DOCS / f"exports-summary-{width}.png")


def test_the_exports_tab_shows_once_quickbooks_online_is_connected(acme, page):
    acme.invoice(finalize=True)
    sign_in(page, "acme-admin")
    connect(page)
    page.click("nav.tabs >> text=Exports")
    page.wait_for_url("**/quickbooks/exports/")
    expect(page.locator("nav.tabs a.active")).to_have_text("Exports")
    page.click("#export-preview")
    expect(page.locator("#export-summary")).to_contain_text("1 invoice")
    shot(page, "exports-connected")
