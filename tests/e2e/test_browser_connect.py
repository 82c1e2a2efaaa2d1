"""An admin connects QuickBooks in a real browser, against the simulator, and sees the pill turn green."""

import os

import pytest

from integrations.models import QuickBooksConnection

pytestmark = pytest.mark.e2e
SCREENSHOTS = os.environ.get("E2E_SCREENSHOTS", "")


def shot(page, name: str) -> None:
    if SCREENSHOTS:
        page.screenshot(path=os.path.join(SCREENSHOTS, f"{name}.png"), full_page=True)


def test_admin_connects_and_disconnects_quickbooks_in_the_browser(acme, page):
    page.goto("/accounts/login/")
    page.fill("#id_username", "acme-admin")
    page.fill("#id_password", "pw")
    page.click("button[type=submit]")
    page.wait_for_url("**/invoices/")

    page.click("text=Settings")
    page.click("text=QuickBooks Online")
    page.wait_for_url("**/settings/integrations/quickbooks/")
    assert page.inner_text("#qbo-status-pill") == "Not connected"
    shot(page, "1-not-connected")

    page.click("text=Connect QuickBooks")
    page.wait_for_url("**/simulator/oauth2/authorize**")
    shot(page, "2-simulator-consent")
    page.click("button[name=connect]")
    page.wait_for_url("**/settings/integrations/quickbooks/")
    assert page.inner_text("#qbo-status-pill") == "Connected"
    assert "Connected to QuickBooks (Sandbox Company US 1)." in page.inner_text("main")
    assert "acme-admin" in page.inner_text("main")
    shot(page, "3-connected")
    assert QuickBooksConnection.objects.get(company=acme.company).status == "connected"

    page.click("text=Disconnect")
    page.click("text=Yes, disconnect")
    page.wait_for_url("**/settings/integrations/quickbooks/")
    assert page.inner_text("#qbo-status-pill") == "Not connected"
    shot(page, "4-disconnected")


def test_status_pill_refreshes_itself(acme, page, browser):
    """The pill polls with htmx: a change made elsewhere shows up without reloading the page."""
    page.goto("/accounts/login/")
    page.fill("#id_username", "acme-admin")
    page.fill("#id_password", "pw")
    page.click("button[type=submit]")
    page.goto("/settings/integrations/quickbooks/")
    assert page.inner_text("#qbo-status-pill") == "Not connected"
    browser.sign_in("acme-admin")
    browser.connect_quickbooks()  # connected from another session
    # Not wait_for_function: it evaluates a string, which the Content-Security-Policy (no unsafe-eval) forbids.
    from playwright.sync_api import expect

    expect(page.locator("#qbo-status-pill")).to_have_text("Connected", timeout=20000)
