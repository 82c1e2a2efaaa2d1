"""The Desktop settings page in a real browser: connect, see the password once, download the .qwc file, and
see a Web Connector run's outcome. Screenshots at 1280 and 390 px go to E2E_ARTIFACTS (default
/tmp/artifacts/e2e; the ones the customer docs use also to its docs/ folder, copied by hand into
docs/customer/integrations/screenshots/)."""

from __future__ import annotations

import shutil

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from integrations.models import QuickBooksDesktopConnection
from tests.desktop.standin import FakeQuickBooksDesktop
from tests.e2e.conftest import acme, live_app, page  # noqa: F401  (fixtures)
from tests.e2e.test_browser_quickbooks_pages import ARTIFACTS, shot

pytestmark = pytest.mark.e2e
DOCS = ARTIFACTS / "docs"  # copies live in docs/customer/integrations/screenshots/


def test_an_admin_connects_desktop_and_sees_a_run(page, acme, live_app, settings):  # noqa: F811
    settings.QUICKBOOKS_PUSH_DEBOUNCE_SECONDS = 0
    page.goto("/accounts/login/")
    page.fill("#id_username", acme.admin.username)
    page.fill("#id_password", "pw")
    page.click("button[type=submit]")
    page.wait_for_url("**/invoices/")

    page.goto("/settings/")
    page.click("text=QuickBooks Desktop")
    expect(page.locator("h1")).to_contain_text("QuickBooks Desktop")
    shot(page, "desktop-not-connected")

    page.click("text=Connect QuickBooks Desktop")
    expect(page.locator("#qbd-password-value")).to_be_visible()
    password = page.locator("#qbd-password-value").inner_text().strip()
    shot(page, "desktop-connected-password")

    with page.expect_download() as download:
        page.click("#qbd-download")
    assert download.value.suggested_filename.endswith(".qwc")

    connection = QuickBooksDesktopConnection.objects.get(company=acme.company)
    first = acme.invoice(finalize=True)
    refused = acme.invoice(finalize=True)
    quickbooks = FakeQuickBooksDesktop(
        live_app + reverse("integrations:quickbooks-desktop-qbwc") + "?wsdl",
        items=(acme.product.name,),
        sales_tax_items={acme.tax_rate.name: str(acme.tax_rate.percent)},
    )
    quickbooks.refuse[refused.number] = ("3140", 'There is an invalid reference to QuickBooks Class "West".')
    quickbooks.run(connection.username, password)
    assert quickbooks.invoice_by_ref(first.number)

    page.goto("/settings/integrations/quickbooks/desktop/")
    expect(page.locator("#qbd-password-value")).to_have_count(0)  # shown once only
    expect(page.locator("table.activity")).to_contain_text("3140")
    expect(page.locator("table.activity")).to_contain_text("Succeeded")
    shot(page, "desktop-after-run")

    DOCS.mkdir(parents=True, exist_ok=True)
    for name in ("desktop-connected-password-1280", "desktop-after-run-1280", "desktop-after-run-390"):
        shutil.copy(ARTIFACTS / f"{name}.png", DOCS / f"{name}.png")
