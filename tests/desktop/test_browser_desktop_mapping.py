"""The QuickBooks Desktop mapping page in a real browser: suggestions from the item list, a name Desktop would
refuse shown as an error, then saved names. Screenshots at 1280 and 390 px go to E2E_ARTIFACTS (default
/tmp/artifacts/e2e)."""

from __future__ import annotations

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from integrations.models import MappingKind, QuickBooksDesktopConnection, QuickBooksMapping
from integrations.quickbooks.desktop.services import desktop_connect
from tests.e2e.conftest import acme, live_app, page  # noqa: F401  (fixtures)
from tests.e2e.test_browser_quickbooks_pages import shot
from tests.factories import ProductFactory

pytestmark = pytest.mark.e2e


def _shot(page, name: str) -> None:  # noqa: F811
    """Full-page pictures: the sticky save bar is laid out in place so it does not cover a row."""
    page.evaluate("document.querySelectorAll('.savebar').forEach(bar => { bar.style.position = 'static'; })")
    shot(page, name)


def test_an_admin_names_things_for_quickbooks_desktop(page, acme, live_app):  # noqa: F811
    connection, _ = desktop_connect(company=acme.company, user=acme.admin)
    ProductFactory(company=acme.company, name="Website hosting (monthly plan, with backups)")
    QuickBooksDesktopConnection.objects.filter(pk=connection.pk).update(
        item_names=["Consulting", "Web:Hosting", "Web:Design", "CA Sales Tax", "Acme Widget"],
        items_read_at=timezone.now(),
    )
    page.goto("/accounts/login/")
    page.fill("#id_username", acme.admin.username)
    page.fill("#id_password", "pw")
    page.click("button[type=submit]")
    page.wait_for_url("**/invoices/")

    page.goto("/settings/integrations/quickbooks/desktop/")
    page.click("#qbd-mapping")
    expect(page.locator("h1")).to_contain_text("QuickBooks Desktop")
    _shot(page, "desktop-mapping")

    hosting = page.locator("input[name^=item_]").nth(2)
    hosting.fill("Web:Hosting")
    page.fill(f"#id_tax_{acme.tax_rate.pk}", "CA:Sales Tax")  # a sales tax item is never a sub-item
    page.fill(f"#id_code_{acme.tax_rate.pk}", "Taxable")
    page.click("#desktop-mapping-form button[type=submit]")
    expect(page.locator("#qbd-mapping-errors")).to_contain_text("Nothing was saved")
    expect(page.locator(f"#row-tax_{acme.tax_rate.pk}")).to_contain_text("cannot contain “:”")
    _shot(page, "desktop-mapping-errors")

    page.fill(f"#id_tax_{acme.tax_rate.pk}", "CA Sales Tax")
    page.fill(f"#id_code_{acme.tax_rate.pk}", "Tax")
    page.fill("#id_income_default", "Income:Services")
    page.click("#desktop-mapping-form button[type=submit]")
    expect(page.locator("body")).to_contain_text("Saved 4 names")
    _shot(page, "desktop-mapping-saved")
    names = dict(
        QuickBooksMapping.objects.filter(company=acme.company, realm_id=connection.realm_key).values_list(
            "kind", "qbo_name"
        )
    )
    assert names[MappingKind.TAX_CODE] == "CA Sales Tax"
    assert names[MappingKind.INCOME_ACCOUNT] == "Income:Services"
