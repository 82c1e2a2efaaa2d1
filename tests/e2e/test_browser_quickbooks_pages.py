"""The people's side of the QuickBooks integration in a real browser, against the simulator: an admin maps and
sees an invoice turn Synced live; a forced failure turns the pill amber and "Send now" sends it; staff retry
from the admin; members see no buttons. Every step is screenshotted at 1280 and 390 px (E2E_ARTIFACTS, default
/tmp/artifacts/e2e); the customer docs use copies of some of them."""

import os
import threading
from pathlib import Path

import pytest
import requests
from playwright.sync_api import expect

from integrations.models import QuickBooksConnection, QuickBooksSyncLog
from tests.e2e.conftest import US_REALM, control_headers

pytestmark = pytest.mark.e2e
ARTIFACTS = Path(os.environ.get("E2E_ARTIFACTS", "/tmp/artifacts/e2e"))


def shot(page, name: str) -> None:
    """Screenshots of this step at laptop and phone width."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    size = page.viewport_size
    for width in (1280, 390):
        page.set_viewport_size({"width": width, "height": 900})
        page.screenshot(path=str(ARTIFACTS / f"{name}-{width}.png"), full_page=True)
    page.set_viewport_size(size)


def doc_shot(page, selector: str, name: str) -> None:
    """A small picture of one part of the page at laptop width (copies live in docs/customer/integrations/)."""
    (ARTIFACTS / "docs").mkdir(parents=True, exist_ok=True)
    page.evaluate("document.querySelectorAll('.savebar').forEach(bar => { bar.style.position = 'static'; })")
    page.locator(selector).first.screenshot(path=str(ARTIFACTS / "docs" / f"{name}.png"))


def sign_in(page, username: str) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "pw")
    page.click("button[type=submit]")
    page.wait_for_url("**/invoices/")


def connect(page) -> None:
    page.goto("/settings/integrations/quickbooks/")
    page.click("text=Connect QuickBooks")
    page.wait_for_url("**/simulator/oauth2/authorize**")
    page.click("button[name=connect]")
    page.wait_for_url("**/settings/integrations/quickbooks/")
    # The page's own requests (htmx) may still write (e.g. the rate limiter's pace row): let them finish before
    # the test writes from its thread, or the in-memory SQLite test database answers "table is locked".
    page.wait_for_load_state("networkidle")


class Worker:
    """The worker, in-process: queued entries wait until `run_queued()`, then run in a thread, so the page can
    be seen waiting first and then changing by itself."""

    def __init__(self) -> None:
        self.queued: list[int] = []
        self.threads: list[threading.Thread] = []

    def dispatch(self, entry_id: int) -> None:
        self.queued.append(entry_id)

    def run_queued(self) -> None:
        from django.db import connections

        from integrations.outbox.worker import sync_run

        def run(ids: list[int]) -> None:
            try:
                for entry_id in ids:
                    sync_run(entry_id=entry_id)
            finally:
                connections.close_all()

        ids, self.queued = self.queued, []
        thread = threading.Thread(target=run, args=(ids,))
        self.threads.append(thread)
        thread.start()


@pytest.fixture
def worker(settings, monkeypatch):
    settings.QUICKBOOKS_PUSH_DEBOUNCE_SECONDS = 0
    worker = Worker()
    monkeypatch.setattr("integrations.outbox.enqueue.dispatch", worker.dispatch)
    yield worker
    for thread in worker.threads:
        thread.join(timeout=30)


def arm(live_app: str, kind: str, count: int) -> None:
    response = requests.post(
        f"{live_app}/simulator/control/faults",
        json={"target": "api", "realm_id": US_REALM, "kind": kind, "count": count},
        headers=control_headers(),
        timeout=10,
    )
    assert response.status_code == 201, response.text


def test_admin_maps_a_product_and_a_tax_rate_then_sees_the_invoice_turn_synced_without_a_reload(acme, page, worker):
    sign_in(page, "acme-admin")
    connect(page)
    shot(page, "01-connected")
    page.click("nav.tabs >> text=Mapping")
    page.wait_for_url("**/quickbooks/mapping/")
    product_field = f"item_{acme.product.pk}"
    page.fill(f"input[name=q_{product_field}]", "consult")  # server-side search through htmx
    # expect(), not wait_for_function: a string predicate is eval, which the Content-Security-Policy forbids.
    expect(page.locator(f"#id_{product_field} option", has_text="Consulting · Service")).to_have_count(1)
    page.select_option(f"#id_{product_field}", label="Consulting · Service")
    page.select_option(f"#id_stc_{acme.tax_rate.pk}", label="California")
    shot(page, "02-mapping")
    doc_shot(page, "#mapping-form section.card", "mapping-products")
    page.click("button[name=save]")
    assert "Saved" in page.inner_text("ul.messages")
    shot(page, "03-mapping-saved")
    doc_shot(page, "#mapping-form section.card:nth-of-type(2)", "mapping-tax-rates")

    draft = acme.invoice()
    page.goto(f"/invoices/{draft.pk}/")
    page.click("button:has-text('Finalize')")
    assert page.inner_text("#qbo-invoice-status") == "Sending…"
    shot(page, "04-invoice-sending")
    worker.run_queued()  # the push happens now; the page is not reloaded
    expect(page.locator("#qbo-invoice-status")).to_have_text("Succeeded", timeout=30000)
    assert "Open in QuickBooks" in page.inner_text("#qbo-panel")
    shot(page, "05-invoice-synced")
    doc_shot(page, "#qbo-panel", "invoice-box-synced")
    entry = QuickBooksSyncLog.objects.get(object_id=draft.pk)
    assert entry.status == "succeeded" and entry.qbo_id


def test_a_forced_failure_turns_the_pill_amber_shows_on_activity_and_send_now_sends_it(acme, page, live_app, settings):
    from integrations.outbox.worker import sync_run

    settings.QUICKBOOKS_PUSH_DEBOUNCE_SECONDS = 0
    sign_in(page, "acme-admin")
    connect(page)
    from integrations.services.mappings import mapping_set

    mapping_set(
        company=acme.company, realm_id=US_REALM, kind="sales_tax_code", local_key=str(acme.tax_rate.pk), qbo_id="2"
    )
    arm(live_app, "500", 1)
    invoice = acme.invoice(finalize=True)  # the transaction commits; the worker runs it here, once
    entry = QuickBooksSyncLog.objects.get(object_id=invoice.pk)
    sync_run(entry_id=entry.pk)
    entry.refresh_from_db()
    assert entry.status == "pending" and entry.attempts == 1  # a back-off wait after the 500

    page.goto("/settings/integrations/quickbooks/")
    assert "warn" in page.get_attribute("#qbo-status-pill", "class")
    assert "waiting to retry after a failed attempt" in page.inner_text("#qbo-health")
    shot(page, "06-settings-amber")
    doc_shot(page, "#qbo-health", "settings-amber")
    page.click("#qbo-health >> text=See them on the activity page")
    assert invoice.number in page.inner_text(f"#entry-{entry.pk}")
    shot(page, "07-activity")
    doc_shot(page, "table.activity", "activity-row")

    page.goto(f"/invoices/{invoice.pk}/")
    shot(page, "08-invoice-back-off")
    doc_shot(page, "#qbo-panel", "invoice-box-retrying")
    from django.db import connections

    import integrations.outbox.enqueue as sync_module

    def dispatch(entry_id):  # the worker, inline
        sync_run(entry_id=entry_id)

    original = sync_module.dispatch
    sync_module.dispatch = dispatch
    try:
        page.click("#qbo-panel >> button:has-text('Send now')")
        expect(page.locator("#qbo-invoice-status")).to_have_text("Succeeded")
    finally:
        sync_module.dispatch = original
        connections.close_all()
    assert QuickBooksSyncLog.objects.filter(object_id=invoice.pk).count() == 1  # moved to now, never a second
    shot(page, "09-sent-after-back-off")


def test_staff_retry_a_failed_sync_from_the_django_admin(acme, page, dispatched_entries):
    QuickBooksConnection.objects.create(company=acme.company, status="connected", realm_id=US_REALM)
    invoice = acme.invoice(finalize=True)
    QuickBooksSyncLog.objects.all().delete()  # only the failed entry below
    entry = QuickBooksSyncLog.objects.create(
        company=acme.company, object_id=invoice.pk, object_repr=invoice.number, status="failed", message="refused"
    )
    acme.staff.is_staff = True
    acme.staff.save()
    sign_in(page, "acme-staff")
    page.goto("/admin/integrations/quickbookssynclog/")
    page.check(f"input[name=_selected_action][value='{entry.pk}']")
    page.select_option("select[name=action]", "retry_selected")
    page.click("button[name=index]")
    assert "1 sync(s) queued to retry." in page.inner_text("ul.messagelist")
    shot(page, "10-admin-retry")
    doc_shot(page, "ul.messagelist", "admin-retry-message")
    entry.refresh_from_db()
    assert entry.status == "pending" and entry.generation == 2


def test_a_member_sees_no_buttons_and_no_details(acme, page):
    QuickBooksConnection.objects.create(company=acme.company, status="connected", realm_id=US_REALM)
    invoice = acme.invoice(finalize=True)
    QuickBooksSyncLog.objects.create(company=acme.company, object_id=invoice.pk, status="failed", message="secret")
    sign_in(page, "acme-member")
    page.goto("/settings/integrations/quickbooks/")
    assert page.locator("main button").count() == 0 and "secret" not in page.inner_text("main")
    shot(page, "11-member-settings")
    page.goto(f"/invoices/{invoice.pk}/")
    assert page.locator("#qbo-panel button").count() == 0
    assert page.goto("/settings/integrations/quickbooks/activity/").status == 403


@pytest.fixture
def dispatched_entries(monkeypatch):
    queued: list[int] = []
    monkeypatch.setattr("integrations.outbox.enqueue.dispatch", queued.append)
    return queued


def test_the_pages_work_with_javascript_off(acme, page, live_app):
    """Plain forms: the search posts and the page comes back with that row narrowed; saving posts; the chart is
    a link to its own page; the invoice box's Send now posts."""
    context = page.context.browser.new_context(base_url=live_app, java_script_enabled=False)
    plain = context.new_page()
    plain.set_default_timeout(15000)
    try:
        sign_in(plain, "acme-admin")
        connect(plain)
        plain.click("text=Show pushes per day")
        assert plain.locator("svg").count() == 1
        plain.goto("/settings/integrations/quickbooks/mapping/")
        field = f"item_{acme.product.pk}"
        plain.fill(f"input[name=q_{field}]", "design")
        plain.click(f"button[name=search][value={field}]")
        options = plain.locator(f"#id_{field} option").all_inner_texts()
        assert options == ["— not mapped —", "Design · Service"], options
        plain.select_option(f"#id_{field}", label="Design · Service")
        plain.click("button[name=save]")
        assert "Saved" in plain.inner_text("ul.messages")
        shot(plain, "12-no-javascript-mapping-saved")
        from integrations.models import QuickBooksMapping

        assert QuickBooksMapping.objects.get(kind="item", local_key=str(acme.product.pk)).qbo_name == "Design"
    finally:
        context.close()


def test_phone_width_keeps_total_balance_and_every_invoice_field_on_screen(acme, page):
    QuickBooksConnection.objects.create(company=acme.company, status="connected", realm_id=US_REALM)
    acme.invoice(finalize=True)
    sign_in(page, "acme-admin")
    page.set_viewport_size({"width": 390, "height": 844})
    page.goto("/invoices/")
    for header in ("Total", "Balance"):
        box = page.locator("table.invoices th", has_text=header).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 390, (header, box)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "13-phone-invoice-list")
    page.goto("/invoices/new/")
    for field in page.locator("table.lines tr td :is(input, select)").all():
        box = field.bounding_box()
        if box is not None:
            assert box["x"] >= 0 and box["x"] + box["width"] <= 390, box
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    shot(page, "14-phone-invoice-form")
